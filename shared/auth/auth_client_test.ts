// These tests run against the stand-in MCIAS in _test_mcias.ts; they switch
// to the real MCIAS when it lands.
import assert from "node:assert/strict";
import { createDevPki } from "../tls/mod.ts";
import { startTestMcias, type TestAccount } from "./_test_mcias.ts";
import { type AuthClientOptions, createAuthClient } from "./auth_client.ts";
import { LoginError, MciasError, MciasUnreachableError } from "./errors.ts";
import { tokenKey } from "./token_cache.ts";
import { allows } from "./types.ts";

const pki = await createDevPki();
const accounts: Record<string, TestAccount> = {
  alice: { password: "correct horse", roles: ["user"] },
  root: { password: "s3cret", roles: ["admin"], totpCode: "123456" },
  bob: { password: "pw", roles: ["user"], deniedServices: ["mcr"] },
  "mcp-agent": { password: "agent", accountType: "system" },
};

async function setup(options: Partial<AuthClientOptions> = {}) {
  const mcias = await startTestMcias({ pki, accounts });
  const clock = { now: 1_000_000 };
  const client = createAuthClient({
    serverUrl: mcias.url,
    caCert: pki.ca.cert,
    serviceName: "mcr",
    tags: ["env:test", "tier:1"],
    now: () => clock.now,
    ...options,
  });
  return {
    mcias,
    client,
    clock,
    async [Symbol.asyncDispose]() {
      client.close();
      await mcias.close();
    },
  };
}

Deno.test("AuthClient.login() forwards service_name, tags and totp_code and returns the token", async () => {
  await using t = await setup();
  const before = Date.now();
  const grant = await t.client.login({ username: "root", password: "s3cret", totpCode: "123456" });
  assert.match(grant.token, /^eyJ/);
  assert.ok(grant.expiresAt.getTime() >= before + 3_500_000);
  const login = t.mcias.requests.find((r) => r.path === "/v1/auth/login");
  assert.deepEqual(login?.body, {
    username: "root",
    password: "s3cret",
    totp_code: "123456",
    service_name: "mcr",
    tags: ["env:test", "tier:1"],
  });
});

Deno.test("AuthClient.login() omits totp_code when none is given", async () => {
  await using t = await setup({ tags: undefined });
  await t.client.login({ username: "alice", password: "correct horse" });
  assert.deepEqual(t.mcias.requests[0].body, {
    username: "alice",
    password: "correct horse",
    service_name: "mcr",
    tags: [],
  });
});

Deno.test("AuthClient.login() throws LoginError with status 401 for bad credentials", async () => {
  await using t = await setup();
  const error = await t.client.login({ username: "alice", password: "wrong" }).catch((e) => e);
  assert.ok(error instanceof LoginError);
  assert.equal(error.name, "LoginError");
  assert.equal(error.status, 401);
  assert.equal(error.reason, "invalid credentials");
  assert.equal(error.message, 'MCIAS rejected login for "alice" (HTTP 401): invalid credentials');
  assert.ok(!error.message.includes("wrong"));
});

Deno.test("AuthClient.login() throws LoginError with status 401 for a missing TOTP code", async () => {
  await using t = await setup();
  const error = await t.client.login({ username: "root", password: "s3cret" }).catch((e) => e);
  assert.ok(error instanceof LoginError);
  assert.equal(error.status, 401);
});

Deno.test("AuthClient.login() throws LoginError with status 403 when login policy denies", async () => {
  await using t = await setup();
  const error = await t.client.login({ username: "bob", password: "pw" }).catch((e) => e);
  assert.ok(error instanceof LoginError);
  assert.equal(error.status, 403);
  assert.equal(error.message, 'MCIAS denied login for "bob" (HTTP 403): login denied by policy');
});

Deno.test("AuthClient.validate() answers from the cache for 30 s, then asks MCIAS again", async () => {
  await using t = await setup();
  const { token } = await t.client.login({ username: "alice", password: "correct horse" });
  const first = await t.client.validate(token);
  assert.equal(first.valid, true);
  assert.equal(first.username, "alice");
  assert.equal(first.accountType, "human");
  assert.deepEqual(first.roles, ["user"]);
  assert.equal(t.mcias.count("/v1/token/validate"), 1);

  t.clock.now += 29_999;
  assert.deepEqual(await t.client.validate(token), first);
  assert.equal(t.mcias.count("/v1/token/validate"), 1);

  t.clock.now += 1;
  assert.equal((await t.client.validate(token)).valid, true);
  assert.equal(t.mcias.count("/v1/token/validate"), 2);
});

Deno.test("AuthClient.validate() sees a revocation only once the cache entry expires", async () => {
  await using t = await setup();
  const { token } = await t.client.login({ username: "alice", password: "correct horse" });
  assert.equal((await t.client.validate(token)).valid, true);
  t.mcias.revoke(token);
  assert.equal((await t.client.validate(token)).valid, true);
  t.clock.now += 30_000;
  const after = await t.client.validate(token);
  assert.deepEqual(after, {
    valid: false,
    username: "",
    accountType: "human",
    roles: [],
    expiresAt: new Date(0),
  });
});

Deno.test("AuthClient.validate() caches a valid: false answer for 5 s only", async () => {
  await using t = await setup();
  assert.equal((await t.client.validate("not.a.token")).valid, false);
  t.clock.now += 4_999;
  assert.equal((await t.client.validate("not.a.token")).valid, false);
  assert.equal(t.mcias.count("/v1/token/validate"), 1);
  t.clock.now += 1;
  await t.client.validate("not.a.token");
  assert.equal(t.mcias.count("/v1/token/validate"), 2);
});

Deno.test("AuthClient.validate() keys its cache by the SHA-256 of the token, never the token", async () => {
  await using t = await setup();
  const alice = await t.client.login({ username: "alice", password: "correct horse" });
  const agent = await t.client.login({ username: "mcp-agent", password: "agent" });
  await t.client.validate(alice.token);
  assert.equal((await t.client.validate(agent.token)).accountType, "system");
  const keys = [...t.client.cache.keys()];
  assert.deepEqual(keys, [tokenKey(alice.token), tokenKey(agent.token)]);
  for (const key of keys) {
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.ok(!key.includes(alice.token) && !key.includes(agent.token));
  }
});

Deno.test("AuthClient.validate() shares one MCIAS request among concurrent callers", async () => {
  await using t = await setup();
  const { token } = await t.client.login({ username: "alice", password: "correct horse" });
  const answers = await Promise.all(Array.from({ length: 8 }, () => t.client.validate(token)));
  assert.equal(t.mcias.count("/v1/token/validate"), 1);
  assert.ok(answers.every((info) => info.valid && info.username === "alice"));
  answers[0].roles.push("admin");
  assert.deepEqual(answers[1].roles, ["user"]);
});

Deno.test("AuthClient.validate() answers valid: false for an empty token without asking MCIAS", async () => {
  await using t = await setup();
  assert.equal((await t.client.validate("")).valid, false);
  assert.equal((await t.client.validate("x".repeat(20_000))).valid, false);
  assert.equal(t.mcias.count("/v1/token/validate"), 0);
});

Deno.test("AuthClient.validate() throws MciasError on an MCIAS error and does not cache it", async () => {
  await using t = await setup();
  const { token } = await t.client.login({ username: "alice", password: "correct horse" });
  t.mcias.failValidate(500);
  const error = await t.client.validate(token).catch((e) => e);
  assert.ok(error instanceof MciasError);
  assert.equal(error.status, 500);
  assert.equal(error.message, "MCIAS refused to validate a token (HTTP 500): database is locked");
  assert.ok(!error.message.includes(token));
  t.mcias.failValidate(undefined);
  assert.equal((await t.client.validate(token)).valid, true);
  assert.equal(t.mcias.count("/v1/token/validate"), 2);
});

Deno.test("allows() grants admin only to tokens carrying the MCIAS admin role", async () => {
  await using t = await setup();
  const user = await t.client.validate(
    (await t.client.login({ username: "alice", password: "correct horse" })).token,
  );
  const admin = await t.client.validate(
    (await t.client.login({ username: "root", password: "s3cret", totpCode: "123456" })).token,
  );
  assert.equal(allows("authenticated", user), true);
  assert.equal(allows("admin", user), false);
  assert.equal(allows("admin", admin), true);
});

Deno.test("AuthClient.renew() returns a new token and MCIAS retires the old one", async () => {
  await using t = await setup();
  const old = await t.client.login({ username: "alice", password: "correct horse" });
  assert.equal((await t.client.validate(old.token)).valid, true);
  const renewed = await t.client.renew(old.token);
  assert.equal((await t.client.validate(old.token)).valid, false);
  assert.notEqual(renewed.token, old.token);
  assert.equal(
    t.mcias.requests.find((r) => r.path === "/v1/auth/renew")?.authorization,
    `Bearer ${old.token}`,
  );
  assert.equal((await t.client.validate(renewed.token)).valid, true);
  const error = await t.client.renew(old.token).catch((e) => e);
  assert.ok(error instanceof MciasError);
  assert.equal(error.status, 401);
  assert.equal(
    error.message,
    "MCIAS refused to renew the token (HTTP 401): invalid token; log in again",
  );
});

Deno.test("AuthClient.logout() revokes the token and drops it from the cache at once", async () => {
  await using t = await setup();
  const { token } = await t.client.login({ username: "alice", password: "correct horse" });
  assert.equal((await t.client.validate(token)).valid, true);
  await t.client.logout(token);
  assert.equal(t.client.cache.size, 0);
  assert.equal((await t.client.validate(token)).valid, false);
  // A second logout of the same token is not an error.
  await t.client.logout(token);
});

Deno.test("AuthClient refuses an MCIAS whose certificate is signed by an untrusted CA", async () => {
  const other = await createDevPki({ caName: "Some Other CA" });
  await using t = await setup({ caCert: other.ca.cert });
  const error = await t.client.login({ username: "alice", password: "correct horse" })
    .catch((e) => e);
  assert.ok(error instanceof MciasUnreachableError);
  assert.equal(error.url, `${t.mcias.url}/v1/auth/login`);
  assert.ok(
    error.message.startsWith(`Cannot reach MCIAS at "${t.mcias.url}/v1/auth/login": `),
    error.message,
  );
  assert.match(
    error.message,
    /: client error \(Connect\): invalid peer certificate: UnknownIssuer; /,
  );
  assert.match(error.message, /check \[mcias\] server_url and ca_cert/);
  assert.equal(t.mcias.requests.length, 0);
});

Deno.test("AuthClient refuses a private-CA MCIAS when no caCert is given", async () => {
  await using t = await setup({ caCert: undefined });
  const error = await t.client.validate("abc").catch((e) => e);
  assert.ok(error instanceof MciasUnreachableError);
  assert.match(
    error.message,
    /invalid peer certificate: UnknownIssuer; check \[mcias\] server_url/,
  );
});

Deno.test("AuthClient throws MciasUnreachableError naming the timeout when MCIAS hangs", async () => {
  // Accepts the connection and never answers, not even the TLS handshake.
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted = listener.accept();
  using client = createAuthClient({
    serverUrl: `https://127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    caCert: pki.ca.cert,
    serviceName: "mcr",
    timeoutMs: 200,
  });
  const error = await client.validate("abc").catch((e) => e);
  (await accepted).close();
  listener.close();
  assert.ok(error instanceof MciasUnreachableError);
  assert.match(error.message, /validate": no answer within 200 ms; check \[mcias\]/);
});

Deno.test("AuthClient throws MciasUnreachableError naming the URL when nothing listens", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  using client = createAuthClient({
    serverUrl: `https://127.0.0.1:${port}/mcias`,
    caCert: pki.ca.cert,
    serviceName: "mcr",
  });
  const error = await client.logout("abc").catch((e) => e);
  assert.ok(error instanceof MciasUnreachableError);
  assert.ok(
    error.message.startsWith(
      `Cannot reach MCIAS at "https://127.0.0.1:${port}/mcias/v1/auth/logout": client error`,
    ),
    error.message,
  );
});

Deno.test("createAuthClient() throws TypeError naming the config key for bad options", () => {
  assert.throws(
    () => createAuthClient({ serverUrl: "http://mcias.example", serviceName: "mcr" }),
    {
      name: "TypeError",
      message: 'Cannot create MCIAS client: "serverUrl" must be an https:// URL such as ' +
        '"https://mcias.example:8443", got "http://mcias.example"; set [mcias] server_url',
    },
  );
  assert.throws(
    () => createAuthClient({ serverUrl: "https://mcias.example", serviceName: "" }),
    {
      name: "TypeError",
      message:
        'Cannot create MCIAS client: "serviceName" must be a non-empty string, got ""; set [mcias] service_name',
    },
  );
  assert.throws(
    () =>
      createAuthClient({
        serverUrl: "https://mcias.example",
        serviceName: "mcr",
        caCert: "/srv/mcr/ca.pem",
      }),
    {
      name: "TypeError",
      message: "Cannot use CA certificate from [mcias] ca_cert: expected PEM text starting with " +
        '"-----BEGIN CERTIFICATE-----", got "/srv/mcr/ca.pem"; read the file and pass its contents',
    },
  );
  assert.throws(
    () =>
      createAuthClient({ serverUrl: "https://mcias.example", serviceName: "mcr", cacheTtlMs: -1 }),
    RangeError,
  );
});

Deno.test("AuthClient throws MciasError once closed instead of dropping the custom CA", async () => {
  await using t = await setup();
  t.client.close();
  await assert.rejects(t.client.login({ username: "alice", password: "correct horse" }), {
    name: "MciasError",
    message:
      `Cannot call MCIAS at "${t.mcias.url}/v1/auth/login": the client is closed; create a new one`,
  });
  assert.equal(t.mcias.requests.length, 0);
});

Deno.test("AuthClient refuses a redirect instead of resending the password to its target", async () => {
  const stolen: string[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: pki.server.cert,
    key: pki.server.key,
    onListen() {},
  }, async (request) => {
    const body = await request.text();
    if (new URL(request.url).pathname === "/stolen") {
      stolen.push(body);
      return Response.json({ token: "t", expires_at: new Date(Date.now() + 60_000) });
    }
    return new Response(null, { status: 307, headers: { location: "/stolen" } });
  });
  try {
    using client = createAuthClient({
      serverUrl: `https://127.0.0.1:${server.addr.port}`,
      caCert: pki.ca.cert,
      serviceName: "mcr",
    });
    const error = await client.login({ username: "alice", password: "correct horse" }).catch((e) =>
      e
    );
    assert.ok(error instanceof MciasError, String(error));
    assert.deepEqual(stolen, []);
  } finally {
    await server.shutdown();
  }
});
