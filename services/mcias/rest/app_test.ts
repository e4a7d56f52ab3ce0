import assert from "node:assert/strict";
import { Hono } from "hono";
import { AccessMapError } from "@mc/mcdsl/httpserver";
import { createLogger } from "@mc/mcdsl/log";
import { makeTestCore } from "../_testing.ts";
import { initMcIas } from "../core/mcias.ts";
import { createRestApp, REST_ACCESS } from "./app.ts";

const logger = createLogger({ write: () => {} });
const PW = "a long enough password";
// What serveHttps hands the app: the socket carries the client address.
const env = { incoming: { socket: { remoteAddress: "192.0.2.9" } } };

function post(path: string, body: unknown, token?: string): Request {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  return new Request(`https://mcias.test${path}`, {
    method: "POST",
    headers,
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
}

Deno.test("createRestApp() refuses an undeclared route and an unknown extension", async () => {
  await using t = await makeTestCore();
  const { ["POST /v1/policy/test"]: _gone, ...partial } = REST_ACCESS;
  assert.throws(
    () => createRestApp({ mcias: t.mcias, logger, access: partial }),
    (e: Error) => e instanceof AccessMapError && e.message.includes("POST /v1/policy/test"),
  );
  const extra = new Hono().get("/v1/account/totp", (c) => c.json({ ok: true }));
  assert.throws(
    () => createRestApp({ mcias: t.mcias, logger, extraRoutes: [{ app: extra, access: {} }] }),
    AccessMapError,
  );
  const app = createRestApp({
    mcias: t.mcias,
    logger,
    extraRoutes: [{ app: extra, access: { "GET /v1/account/totp": "authenticated" } }],
  });
  const res = await app.request("/v1/account/totp", {}, env);
  assert.equal(res.status, 401);
  await res.body?.cancel();
});

Deno.test("REST login: 401, then 429 with Retry-After, throttled by socket address", async () => {
  await using t = await makeTestCore({ extraToml: `[throttle]\naccount_failures = 2\n` });
  await initMcIas(t.mcias, { username: "root", password: PW });
  const app = createRestApp({ mcias: t.mcias, logger });
  for (let i = 0; i < 2; i++) {
    const res = await app.fetch(
      post("/v1/auth/login", { username: "root", password: "wrong wrong wrong" }),
      env,
    );
    assert.deepEqual([res.status, await res.json()], [401, { error: "invalid credentials" }]);
  }
  const locked = await app.fetch(post("/v1/auth/login", { username: "root", password: PW }), env);
  assert.equal(locked.status, 429);
  assert.equal(locked.headers.get("retry-after"), "900");
  assert.deepEqual(await locked.json(), {
    error: "too many failed logins: retry in 900 seconds",
    retry_after_seconds: 900,
  });
  // A forged X-Forwarded-For changes nothing: the socket address counts.
  const forged = new Request(post("/v1/auth/login", { username: "root", password: PW }), {
    headers: { "content-type": "application/json", "x-forwarded-for": "203.0.113.5" },
  });
  const still = await app.fetch(forged, env);
  assert.equal(still.status, 429);
  await still.body?.cancel();
});

Deno.test("REST validate, renew, logout and admin routes", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  const app = createRestApp({ mcias: t.mcias, logger });
  const login = await app.fetch(post("/v1/auth/login", { username: "root", password: PW }), env);
  const { token, expires_at } = await login.json();
  assert.ok(typeof token === "string" && typeof expires_at === "string");
  const v = await (await app.fetch(post("/v1/token/validate", { token }), env)).json();
  assert.deepEqual(v, {
    valid: true,
    username: "root",
    account_type: "human",
    roles: ["admin"],
    expires_at,
  });
  const bad = await (await app.fetch(post("/v1/token/validate", { token: "x.y.z" }), env)).json();
  assert.equal(bad.valid, false);
  const noToken = await app.fetch(post("/v1/token/validate", {}), env);
  assert.equal(noToken.status, 400);
  await noToken.body?.cancel();

  const created = await app.fetch(
    post("/v1/accounts", { username: "bot", type: "system" }, token),
    env,
  );
  assert.equal(created.status, 201);
  assert.deepEqual({ ...(await created.json()), created_at: undefined }, {
    username: "bot",
    type: "system",
    roles: [],
    disabled: false,
    totp_enabled: false,
    passkeys: 0,
    created_at: undefined,
  });
  const auth = { headers: { authorization: `Bearer ${token}` } };
  const dup = await app.fetch(
    post("/v1/accounts", { username: "BOT", type: "system" }, token),
    env,
  );
  assert.deepEqual([dup.status, await dup.json()], [409, {
    error: 'account "BOT" already exists',
  }]);
  const missing = await app.request("/v1/accounts/ghost", auth, env);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const patched = await app.request("/v1/accounts/bot", {
    method: "PATCH",
    headers: { ...auth.headers, "content-type": "application/json" },
    body: JSON.stringify({ disabled: true }),
  }, env);
  assert.equal((await patched.json()).disabled, true);

  const rule = await app.fetch(
    post("/v1/policy/rules", { priority: 5, effect: "deny", tags: ["env:restricted"] }, token),
    env,
  );
  assert.equal(rule.status, 201);
  const { id } = await rule.json();
  const test = await app.fetch(
    post(
      "/v1/policy/test",
      { username: "root", service_name: "mcr", tags: ["env:restricted"] },
      token,
    ),
    env,
  );
  assert.deepEqual(await test.json(), {
    username: "root",
    allowed: true,
    reason: "admin bypasses policy",
    rule: null,
  });
  const list = await (await app.request("/v1/policy/rules", auth, env)).json();
  assert.equal(list.rules.length, 2);
  const put = await app.request(`/v1/policy/rules/${id}`, {
    method: "PUT",
    headers: { ...auth.headers, "content-type": "application/json" },
    body: JSON.stringify({ priority: 6, effect: "allow", unknown: 1 }),
  }, env);
  assert.equal(put.status, 400);
  await put.body?.cancel();
  const del = await app.request(`/v1/policy/rules/${id}`, { method: "DELETE", ...auth }, env);
  assert.equal(del.status, 204);

  const renew = await app.fetch(post("/v1/auth/renew", "", token), env);
  assert.equal(renew.status, 200, await renew.clone().text());
  const renewed = (await renew.json()).token;
  // validate with service_name checks the token's audience (here MCIAS itself).
  for (const [service, valid] of [["wiki", false], ["mcias", true]] as const) {
    const v = await app.fetch(
      post("/v1/token/validate", { token: renewed, service_name: service }),
      env,
    );
    assert.equal((await v.json()).valid, valid, service);
  }
  // Renewal revoked the parent: it can neither renew again nor log out.
  const again = await app.fetch(post("/v1/auth/renew", {}, token), env);
  assert.equal(again.status, 401);
  await again.body?.cancel();
  const logout = await app.fetch(post("/v1/auth/logout", {}, renewed), env);
  assert.equal(logout.status, 204);
  const after = await app.fetch(post("/v1/auth/renew", {}, renewed), env);
  assert.equal(after.status, 401);
  await after.body?.cancel();
  const jwks = await (await app.request("/.well-known/jwks.json", {}, env)).json();
  assert.equal(jwks.keys[0].kty, "OKP");
  void renewed;
});
