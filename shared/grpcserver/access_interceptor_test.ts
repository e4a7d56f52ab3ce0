import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { bearerToken, tokenInfo } from "./access_interceptor.ts";

function md(...values: string[]): grpc.Metadata {
  const m = new grpc.Metadata();
  for (const v of values) m.add("authorization", v);
  return m;
}

Deno.test("bearerToken() returns the token of a Bearer entry", () => {
  assert.equal(bearerToken(md("Bearer abc.def-ghi")), "abc.def-ghi");
  assert.equal(bearerToken(md("bearer xyz")), "xyz");
});

Deno.test("bearerToken() returns undefined without an authorization entry", () => {
  assert.equal(bearerToken(new grpc.Metadata()), undefined);
});

Deno.test("bearerToken() throws SyntaxError for other schemes and repeated entries", () => {
  const message = 'authorization metadata must be one "Bearer <token>" entry';
  assert.throws(() => bearerToken(md("Basic dXNlcjpwYXNz")), { name: "SyntaxError", message });
  assert.throws(() => bearerToken(md("Bearer")), { name: "SyntaxError", message });
  assert.throws(() => bearerToken(md("Bearer a b")), { name: "SyntaxError", message });
  assert.throws(() => bearerToken(md("Bearer a", "Bearer b")), { name: "SyntaxError", message });
});

Deno.test("tokenInfo() returns undefined for a call the interceptor did not see", () => {
  assert.equal(tokenInfo({ metadata: new grpc.Metadata() }), undefined);
});
