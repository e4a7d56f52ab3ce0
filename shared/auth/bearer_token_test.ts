import assert from "node:assert/strict";
import { bearerToken } from "./bearer_token.ts";

function withAuthorization(value: string): Request {
  return new Request("https://mcr.example/v1/repos", { headers: { authorization: value } });
}

Deno.test("bearerToken() returns the token of a well-formed Bearer header", () => {
  const jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
  assert.equal(bearerToken(withAuthorization(`Bearer ${jwt}`)), jwt);
  assert.equal(bearerToken(withAuthorization(`bearer ${jwt}`)), jwt);
  assert.equal(bearerToken(withAuthorization(`BEARER   ${jwt}  `)), jwt);
  assert.equal(bearerToken(withAuthorization("Bearer abc+/_~-.==")), "abc+/_~-.==");
});

Deno.test("bearerToken() returns undefined when there is no Authorization header", () => {
  assert.equal(bearerToken(new Request("https://mcr.example/")), undefined);
});

Deno.test("bearerToken() returns undefined for a malformed Authorization header", () => {
  for (
    const value of [
      "",
      "Bearer",
      "Bearer ",
      "Basic YWxpY2U6aHVudGVyMg==",
      "Bearertoken",
      "Bearer a b",
      "Bearer a, Bearer b",
      "Bearer a=b",
      "Bearer tok\u00e9n",
      "Token abc",
    ]
  ) {
    assert.equal(bearerToken(withAuthorization(value)), undefined, JSON.stringify(value));
  }
});
