import assert from "node:assert/strict";
import { makeTestCore } from "../_testing.ts";
import { DEFAULT_RULE, initMcIas } from "./mcias.ts";
import { LoginFailedError, McIasError, type SecondFactorCheck } from "./types.ts";

const PW = "a long enough password";
const ADDR = "192.0.2.1";

function status(s: number) {
  return (e: unknown) =>
    (e instanceof LoginFailedError || e instanceof McIasError) && e.status === s;
}

Deno.test("initMcIas() creates the first admin and the default rule, once", async () => {
  await using t = await makeTestCore();
  const result = await initMcIas(t.mcias, { username: "root", password: PW });
  assert.deepEqual(result.admin.roles, ["admin"]);
  assert.deepEqual({ ...result.rule, id: undefined }, { ...DEFAULT_RULE, id: undefined });
  await assert.rejects(initMcIas(t.mcias, { username: "root2", password: PW }), status(409));
  assert.equal(t.mcias.listRules().length, 1);
});

Deno.test("McIas.login(): same 401 for wrong password, unknown, disabled and system accounts", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "alice", type: "human", password: PW });
  await t.mcias.createAccount({ username: "carol", type: "human", password: PW });
  await t.mcias.updateAccount("carol", { disabled: true });
  await t.mcias.createAccount({ username: "bot", type: "system" });
  const attempts = [
    { username: "alice", password: "wrong password!!" },
    { username: "nobody", password: PW },
    { username: "carol", password: PW },
    { username: "bot", password: PW },
    { username: "bad name!", password: PW },
    { username: "alice", password: "" },
  ];
  for (const a of attempts) {
    await assert.rejects(
      t.mcias.login({ ...a, remoteAddr: ADDR }),
      (e: LoginFailedError) =>
        e instanceof LoginFailedError && e.status === 401 && e.message === "invalid credentials",
      a.username,
    );
  }
  // Usernames are case-insensitive.
  const grant = await t.mcias.login({ username: "ALICE", password: PW, remoteAddr: ADDR });
  const info = await t.mcias.validate(grant.token);
  assert.deepEqual({ ...info, expiresAt: undefined }, {
    valid: true,
    username: "alice",
    accountType: "human",
    roles: ["user"],
    expiresAt: undefined,
  });
  assert.equal(grant.expiresAt.getTime(), info.expiresAt.getTime());
});

Deno.test("McIas.login(): throttles per account and per address with Retry-After", async () => {
  await using t = await makeTestCore({
    extraToml: `[throttle]\naccount_failures = 3\nip_failures = 5\nwindow = "10m"\n`,
  });
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "alice", type: "human", password: PW });
  for (let i = 0; i < 3; i++) {
    await assert.rejects(
      t.mcias.login({ username: "alice", password: "nope nope nope", remoteAddr: ADDR }),
      status(401),
    );
  }
  // Locked even with the right password, from any address.
  await assert.rejects(
    t.mcias.login({ username: "alice", password: PW, remoteAddr: "198.51.100.7" }),
    (e: LoginFailedError) => e.status === 429 && e.options.retryAfterSeconds === 600,
  );
  // Two more failures from ADDR on other names reach the address budget.
  for (const u of ["x1", "x2"]) {
    await assert.rejects(
      t.mcias.login({ username: u, password: "nope nope nope", remoteAddr: ADDR }),
      status(401),
    );
  }
  await assert.rejects(
    t.mcias.login({ username: "bob", password: PW, remoteAddr: ADDR }),
    status(429),
  );
  t.clock.now += 600_000;
  await t.mcias.login({ username: "alice", password: PW, remoteAddr: ADDR });
});

Deno.test("McIas.login(): TOTP required when the second factor says so", async () => {
  const codes: string[] = [];
  const secondFactor: SecondFactorCheck = {
    totpEnabled: (u) => u === "alice",
    verifyTotp: (_u, code) => {
      codes.push(code);
      return Promise.resolve(code === "123456");
    },
    passkeyCount: () => 0,
  };
  await using t = await makeTestCore({ secondFactor });
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "alice", type: "human", password: PW });
  await assert.rejects(
    t.mcias.login({ username: "alice", password: PW, remoteAddr: ADDR }),
    (e: LoginFailedError) =>
      e.status === 401 && e.options.totpRequired === true && e.message === "TOTP code required",
  );
  await assert.rejects(
    t.mcias.login({ username: "alice", password: PW, totpCode: "000000", remoteAddr: ADDR }),
    (e: LoginFailedError) => e.status === 401 && e.options.totpRequired === true,
  );
  // A wrong password never reaches the TOTP check.
  await assert.rejects(
    t.mcias.login({
      username: "alice",
      password: "wrong password!",
      totpCode: "123456",
      remoteAddr: ADDR,
    }),
    (e: LoginFailedError) => e.status === 401 && e.options.totpRequired === undefined,
  );
  await t.mcias.login({ username: "alice", password: PW, totpCode: "123456", remoteAddr: ADDR });
  assert.deepEqual(codes, ["000000", "123456"]);
});

Deno.test("McIas.login(): policy denies guests on env:restricted, admin bypasses, default deny", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "gus", type: "human", password: PW, roles: ["guest"] });
  const deny = t.mcias.createRule({
    priority: 10,
    effect: "deny",
    roles: ["guest"],
    accountTypes: [],
    serviceNames: [],
    tags: ["env:restricted"],
    description: "no guests in restricted",
  });
  t.mcias.createRule({
    priority: 20,
    effect: "allow",
    roles: ["guest"],
    accountTypes: [],
    serviceNames: [],
    tags: [],
    description: "guests elsewhere",
  });
  const ctx = { serviceName: "mcr", tags: ["env:restricted"], remoteAddr: ADDR };
  await assert.rejects(
    t.mcias.login({ username: "gus", password: PW, ...ctx }),
    (e: LoginFailedError) =>
      e.status === 403 && e.options.decision?.rule?.id === deny.id &&
      e.message === `login denied by policy: rule ${deny.id} (no guests in restricted)`,
  );
  await t.mcias.login({
    username: "gus",
    password: PW,
    serviceName: "mcr",
    tags: [],
    remoteAddr: ADDR,
  });
  await t.mcias.login({ username: "root", password: PW, ...ctx });
  const mcat = t.mcias.testPolicy("gus", "mcr", ["env:restricted"]);
  assert.deepEqual([mcat.allowed, mcat.rule?.id, mcat.username], [false, deny.id, "gus"]);
  assert.equal(
    t.mcias.testPolicy("root", "mcr", ["env:restricted"]).reason,
    "admin bypasses policy",
  );
  for (const r of t.mcias.listRules()) t.mcias.deleteRule(r.id);
  const none = t.mcias.testPolicy("gus", "", []);
  assert.deepEqual([none.allowed, none.reason], [false, "no rule matched: default deny"]);
  assert.throws(() => t.mcias.deleteRule(999), status(404));
});

Deno.test("McIas tokens: logout and revocation take effect at once; renew; disabled accounts", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "alice", type: "human", password: PW });
  const a = await t.mcias.login({ username: "alice", password: PW, remoteAddr: ADDR });
  const b = await t.mcias.renew(a.token);
  assert.equal((await t.mcias.validate(b.token)).valid, true);
  assert.equal((await t.mcias.validate(a.token)).valid, false, "renewal revokes the parent");
  await t.mcias.logout(a.token);
  await t.mcias.logout(a.token); // idempotent
  assert.equal((await t.mcias.validate(a.token)).valid, false);
  await assert.rejects(t.mcias.renew(a.token), status(401));
  // Admin revocation by jti.
  const jti = JSON.parse(atob(b.token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/"))).jti;
  t.mcias.revokeToken(jti);
  assert.equal((await t.mcias.validate(b.token)).valid, false);
  assert.throws(() => t.mcias.revokeToken("no-such-jti"), status(404));
  // Disabling stops validation and revokes: enabling does not bring it back.
  const c0 = await t.mcias.login({ username: "alice", password: PW, remoteAddr: ADDR });
  await t.mcias.updateAccount("alice", { disabled: true });
  assert.equal((await t.mcias.validate(c0.token)).valid, false);
  await t.mcias.updateAccount("alice", { disabled: false });
  assert.equal((await t.mcias.validate(c0.token)).valid, false);
  const c = await t.mcias.login({ username: "alice", password: PW, remoteAddr: ADDR });
  // Role changes show at once.
  await t.mcias.updateAccount("alice", { roles: ["user", "admin"] });
  assert.deepEqual((await t.mcias.validate(c.token)).roles, ["admin", "user"]);
  // A password change revokes sessions.
  await t.mcias.updateAccount("alice", { password: "another good password" });
  assert.equal((await t.mcias.validate(c.token)).valid, false);
  // Expiry.
  const d = await t.mcias.login({
    username: "alice",
    password: "another good password",
    remoteAddr: ADDR,
  });
  t.clock.now += 3600_000 + 1000;
  assert.equal((await t.mcias.validate(d.token)).valid, false);
  // The database holds hashes, never tokens.
  const db = (await import("@mc/mcdsl/db")).openDatabase(t.dbPath);
  try {
    const dump = JSON.stringify(db.prepare("SELECT * FROM tokens").all());
    assert.ok(!dump.includes(d.token) && !dump.includes(d.token.split(".")[2]));
  } finally {
    db.close();
  }
});

Deno.test("McIas system tokens: only for system accounts, accepted by validate", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "mcp-agent", type: "system" });
  const grant = await t.mcias.issueSystemToken("mcp-agent");
  const info = await t.mcias.validate(grant.token);
  assert.deepEqual([info.valid, info.accountType, info.roles], [true, "system", []]);
  const days = (grant.expiresAt.getTime() - t.clock.now) / 86_400_000;
  assert.ok(days > 364 && days <= 365, String(days));
  await assert.rejects(t.mcias.issueSystemToken("root"), status(400));
  await assert.rejects(t.mcias.issueSystemToken("ghost"), status(404));
  await assert.rejects(t.mcias.issueSystemToken("mcp-agent", 10), status(400));
  await assert.rejects(
    t.mcias.login({ username: "mcp-agent", password: PW, remoteAddr: ADDR }),
    status(401),
  );
});

Deno.test("McIas accounts: validation, conflicts and the last admin", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  const bad = [
    { username: "-lead", type: "human" as const, password: PW },
    { username: "x".repeat(65), type: "human" as const, password: PW },
    { username: "ok", type: "human" as const, password: "short" },
    { username: "ok", type: "human" as const },
    { username: "ok", type: "system" as const, password: PW },
    { username: "ok", type: "system" as const, roles: ["user" as const] },
    { username: "ok", type: "human" as const, password: PW, roles: ["root" as never] },
  ];
  for (const input of bad) await assert.rejects(t.mcias.createAccount(input), status(400));
  await assert.rejects(
    t.mcias.createAccount({ username: "ROOT", type: "human", password: PW }),
    status(409),
  );
  assert.throws(() => t.mcias.getAccount("ghost"), status(404));
  await assert.rejects(t.mcias.updateAccount("root", { roles: ["user"] }), status(409));
  await assert.rejects(t.mcias.updateAccount("root", { disabled: true }), status(409));
  assert.throws(() => t.mcias.deleteAccount("root"), status(409));
  await t.mcias.createAccount({ username: "root2", type: "human", password: PW, roles: ["admin"] });
  t.mcias.deleteAccount("root");
  assert.deepEqual(t.mcias.listAccounts().map((a) => a.username), ["root2"]);
  const acct = t.mcias.getAccount("root2");
  assert.deepEqual([acct.totpEnabled, acct.passkeys, acct.disabled], [false, 0, false]);
});

Deno.test("McIas.jwks() publishes the Ed25519 public key only", async () => {
  await using t = await makeTestCore();
  const { keys } = t.mcias.jwks();
  assert.equal(keys.length, 1);
  assert.deepEqual(
    { ...keys[0], x: undefined, kid: undefined },
    { kty: "OKP", crv: "Ed25519", alg: "EdDSA", use: "sig", x: undefined, kid: undefined },
  );
});

Deno.test("McIas.login(): unknown users cost the same time as wrong passwords", async () => {
  await using t = await makeTestCore();
  await initMcIas(t.mcias, { username: "root", password: PW });
  await t.mcias.createAccount({ username: "alice", type: "human", password: PW });
  const median = async (username: (i: number) => string) => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      await assert.rejects(
        t.mcias.login({ username: username(i), password: "wrong password!", remoteAddr: ADDR }),
        status(401),
      );
      times.push(performance.now() - start);
    }
    return times.sort((a, b) => a - b)[2];
  };
  const wrong = await median(() => "alice");
  const unknown = await median((i) => `ghost${i}`);
  const ratio = unknown / wrong;
  assert.ok(ratio > 0.6 && ratio < 1.6, `unknown ${unknown} ms vs wrong password ${wrong} ms`);
});
