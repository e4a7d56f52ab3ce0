import assert from "node:assert/strict";
import { Hono } from "hono";
import { createDevPki } from "../tls/mod.ts";
import { startTestMcias } from "./_test_mcias.ts";
import { createAuthClient } from "./auth_client.ts";
import { type AuthVariables, requireAccess } from "./require_access.ts";
import type { Access, TokenValidator } from "./types.ts";

function appFor(validator: TokenValidator, access: Access, onError?: (error: unknown) => void) {
  return new Hono<{ Variables: AuthVariables }>().get(
    "/thing",
    requireAccess({ validator, access, realm: "mcr", onError }),
    (c) => c.json({ user: c.get("tokenInfo")?.username ?? null }),
  );
}

Deno.test("requireAccess() enforces public, authenticated and admin against a real MCIAS client", async () => {
  // Runs against the stand-in MCIAS; switches to the real MCIAS when it lands.
  const pki = await createDevPki();
  await using mcias = await startTestMcias({
    pki,
    accounts: {
      alice: { password: "pw", roles: ["user"] },
      root: { password: "pw", roles: ["admin"] },
    },
  });
  using client = createAuthClient({
    serverUrl: mcias.url,
    caCert: pki.ca.cert,
    serviceName: "mcr",
  });
  const alice = (await client.login({ username: "alice", password: "pw" })).token;
  const root = (await client.login({ username: "root", password: "pw" })).token;

  async function call(access: Access, token?: string) {
    const headers: HeadersInit = token === undefined ? {} : { authorization: `Bearer ${token}` };
    const response = await appFor(client, access).request("/thing", { headers });
    return {
      status: response.status,
      type: response.headers.get("content-type"),
      challenge: response.headers.get("www-authenticate"),
      body: await response.json(),
    };
  }

  assert.deepEqual(await call("public"), {
    status: 200,
    type: "application/json",
    challenge: null,
    body: { user: null },
  });
  assert.equal(mcias.count("/v1/token/validate"), 0);

  const missing = await call("authenticated");
  assert.equal(missing.status, 401);
  assert.equal(missing.type, "application/problem+json");
  assert.equal(missing.challenge, 'Bearer realm="mcr"');
  assert.deepEqual(missing.body, {
    type: "about:blank",
    title: "Authentication required",
    status: 401,
    detail: "Send an MCIAS token as Authorization: Bearer",
  });

  const bad = await call("authenticated", "bogus");
  assert.equal(bad.status, 401);
  assert.equal(bad.challenge, 'Bearer realm="mcr", error="invalid_token"');

  assert.deepEqual((await call("authenticated", alice)).body, { user: "alice" });

  const notAdmin = await call("admin", alice);
  assert.equal(notAdmin.status, 403);
  assert.equal(notAdmin.challenge, 'Bearer realm="mcr", error="insufficient_scope"');
  assert.equal(notAdmin.body.detail, "This needs the MCIAS admin role");

  assert.deepEqual(await call("admin", root), {
    status: 200,
    type: "application/json",
    challenge: null,
    body: { user: "root" },
  });
});

Deno.test("requireAccess() answers 503 and reports the error when the validator throws", async () => {
  const reported: unknown[] = [];
  const failing: TokenValidator = { validate: () => Promise.reject(new Error("MCIAS down")) };
  const response = await appFor(failing, "authenticated", (error) => reported.push(error))
    .request("/thing", { headers: { authorization: "Bearer abc" } });
  assert.equal(response.status, 503);
  assert.equal((await response.json()).title, "Identity service unavailable");
  assert.deepEqual(reported.map((e) => (e as Error).message), ["MCIAS down"]);
});

Deno.test("requireAccess() throws TypeError for an unknown access level", () => {
  const validator: TokenValidator = { validate: () => Promise.reject(new Error("unused")) };
  assert.throws(() => requireAccess({ validator, access: "root" as Access }), {
    name: "TypeError",
    message:
      'Cannot build access middleware: "access" must be one of "public", "authenticated", "admin", got "root"',
  });
});
