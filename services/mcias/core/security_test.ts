import assert from "node:assert/strict";
import { makeTestCore } from "../_testing.ts";
import { initMcIas, MCIAS_SERVICE_NAME } from "./mcias.ts";
import { MAX_PASSWORD_LENGTH } from "./passwords.ts";
import { addressKey, Throttle } from "./throttle.ts";
import { LoginFailedError, McIasError } from "./types.ts";

const PW = "a long enough password";
const ADDR = "192.0.2.1";

function status(s: number) {
  return (e: unknown) =>
    (e instanceof LoginFailedError || e instanceof McIasError) && e.status === s;
}

function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(atob(token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/")));
}

Deno.test("renew(): system tokens are refused (reissued by an admin)", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "bot", type: "system" });
  const grant = await t.mcias.issueSystemToken("bot", 60_000);
  await assert.rejects(
    t.mcias.renew(grant.token),
    (e: LoginFailedError) =>
      e instanceof LoginFailedError && e.status === 403 &&
      e.message.includes("system tokens are reissued by an admin"),
  );
});

Deno.test("renew(): re-runs policy on the token's service and tags", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "alice", type: "human", password: PW });
  const a = await t.mcias.login({
    username: "alice",
    password: PW,
    serviceName: "wiki",
    tags: ["env:prod"],
    remoteAddr: ADDR,
  });
  t.mcias.createRule({
    priority: 1,
    effect: "deny",
    roles: [],
    accountTypes: [],
    serviceNames: ["wiki"],
    tags: ["env:prod"],
    description: "no prod wiki",
  });
  await assert.rejects(t.mcias.renew(a.token), status(403));
});

Deno.test("renew(): revokes the parent and caps at the session start + max_session", async () => {
  await using t = await makeTestCore({ extraToml: `max_session = "2h"\n` });
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "alice", type: "human", password: PW });
  const start = t.clock.now;
  const a = await t.mcias.login({ username: "alice", password: PW, remoteAddr: ADDR });
  t.clock.now += 30 * 60_000;
  const b = await t.mcias.renew(a.token);
  assert.equal((await t.mcias.validate(a.token)).valid, false, "parent revoked");
  assert.equal((await t.mcias.validate(b.token)).valid, true);
  await assert.rejects(t.mcias.renew(a.token), status(401));
  t.clock.now += 50 * 60_000;
  const c = await t.mcias.renew(b.token);
  t.clock.now += 30 * 60_000;
  const d = await t.mcias.renew(c.token);
  assert.ok(d.expiresAt.getTime() <= start + 2 * 3600_000, "capped at session start + 2h");
  t.clock.now = start + 2 * 3600_000 + 1000;
  await assert.rejects(t.mcias.renew(d.token), status(401));
});

Deno.test("tokens carry their service as aud; validate checks an optional service name", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "alice", type: "human", password: PW });
  await t.mcias.createAccount({ username: "bot", type: "system" });
  const a = await t.mcias.login({
    username: "alice",
    password: PW,
    serviceName: "wiki",
    remoteAddr: ADDR,
  });
  assert.equal(claimsOf(a.token).aud, "wiki");
  assert.equal((await t.mcias.validate(a.token, "wiki")).valid, true);
  assert.equal((await t.mcias.validate(a.token, "vault")).valid, false);
  assert.equal((await t.mcias.validate(a.token)).valid, true);
  const w = await t.mcias.login({ username: "alice", password: PW, remoteAddr: ADDR });
  assert.equal(claimsOf(w.token).aud, MCIAS_SERVICE_NAME);
  assert.equal((await t.mcias.validate(w.token, "wiki")).valid, false);
  assert.equal((await t.mcias.validate(w.token, MCIAS_SERVICE_NAME)).valid, true);
  const r = await t.mcias.renew(a.token);
  assert.equal(claimsOf(r.token).aud, "wiki");
  const s = await t.mcias.issueSystemToken("bot");
  assert.equal((await t.mcias.validate(s.token, "vault")).valid, true, "system: any service");
});

Deno.test("login(): concurrent wrong passwords are throttled (attempts reserved)", async () => {
  await using t = await makeTestCore({
    extraToml: `[throttle]\naccount_failures = 10\nip_failures = 1000\n`,
  });
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "alice", type: "human", password: PW });
  const results = await Promise.allSettled(
    Array.from(
      { length: 40 },
      () => t.mcias.login({ username: "alice", password: "wrong password!", remoteAddr: ADDR }),
    ),
  );
  const codes = results.map((r) =>
    r.status === "rejected" ? (r.reason as LoginFailedError).status : 200
  );
  assert.ok(codes.filter((c) => c === 401).length <= 10, codes.join(","));
  assert.ok(codes.filter((c) => c === 429).length >= 30, codes.join(","));
});

Deno.test("login(): over-long passwords cost the same and count for every account", async () => {
  await using t = await makeTestCore({ extraToml: `[throttle]\naccount_failures = 3\n` });
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "alice", type: "human", password: PW });
  const long = "x".repeat(MAX_PASSWORD_LENGTH + 1);
  const median = async (username: (i: number) => string) => {
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const start = performance.now();
      await assert.rejects(
        t.mcias.login({ username: username(i), password: long, remoteAddr: ADDR }),
        (e: LoginFailedError) => e.status === 401 && e.message === "invalid credentials",
      );
      times.push(performance.now() - start);
    }
    return times.sort((a, b) => a - b)[1];
  };
  const known = await median(() => "alice");
  const unknown = await median((i) => `ghost${i}`);
  const ratio = unknown / known;
  assert.ok(ratio > 0.5 && ratio < 2, `unknown ${unknown} ms vs known ${known} ms`);
  await assert.rejects(
    t.mcias.login({ username: "alice", password: PW, remoteAddr: ADDR }),
    status(429),
  );
});

Deno.test("updateAccount(): disabling revokes every token; enabling does not revive them", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "alice", type: "human", password: PW });
  await t.mcias.createAccount({ username: "bot", type: "system" });
  const a = await t.mcias.login({ username: "alice", password: PW, remoteAddr: ADDR });
  const s = await t.mcias.issueSystemToken("bot");
  await t.mcias.updateAccount("alice", { disabled: true });
  await t.mcias.updateAccount("bot", { disabled: true });
  await t.mcias.updateAccount("alice", { disabled: false });
  await t.mcias.updateAccount("bot", { disabled: false });
  assert.equal((await t.mcias.validate(a.token)).valid, false);
  assert.equal((await t.mcias.validate(s.token)).valid, false);
});

Deno.test("McIasError: last-admin and disabled-account conflicts carry a precondition reason", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "bot", type: "system" });
  await t.mcias.updateAccount("bot", { disabled: true });
  await assert.rejects(
    t.mcias.updateAccount("root", { disabled: true }),
    (e: McIasError) => e.status === 409 && e.reason === "failed_precondition",
  );
  await assert.rejects(
    t.mcias.issueSystemToken("bot"),
    (e: McIasError) => e.status === 409 && e.reason === "failed_precondition",
  );
  await assert.rejects(
    t.mcias.createAccount({ username: "bot", type: "system" }),
    (e: McIasError) => e.status === 409 && e.reason === undefined,
  );
});

Deno.test("Throttle: a full map never evicts a locked key", () => {
  const u = new Throttle({ limit: 5, windowMs: 60_000, maxKeys: 3, now: () => 0 });
  for (let i = 0; i < 5; i++) u.fail("victim");
  for (let i = 0; i < 100; i++) u.fail(`rand${i}`);
  assert.ok(u.retryAfterSeconds("victim") > 0);
  assert.ok(u.size <= 3);
});

Deno.test("addressKey(): IPv6 by /64, IPv4 (and IPv4-mapped) whole", () => {
  assert.equal(addressKey("2001:db8:1:2:3:4:5:6"), addressKey("2001:db8:1:2:ffff::1"));
  assert.notEqual(addressKey("2001:db8:1:2::1"), addressKey("2001:db8:1:3::1"));
  assert.equal(addressKey("2001:db8::1"), addressKey("2001:0db8:0:0:9::"));
  assert.equal(addressKey("192.0.2.1"), "192.0.2.1");
  assert.equal(addressKey("::ffff:192.0.2.1"), "192.0.2.1");
  assert.notEqual(addressKey("192.0.2.1"), addressKey("192.0.2.2"));
});
