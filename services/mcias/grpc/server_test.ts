/**
 * The MCIAS gRPC API over real TLS 1.3: every method's happy path, the error
 * mapping, the access map, start-up refusal of an undeclared method, and TLS
 * 1.2 refused. Handlers run against {@linkcode fakeMcIas}, a small in-memory
 * McIas, so these tests pin down the gRPC layer alone; the core has its own.
 */

import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import type { TokenInfo } from "@mc/mcdsl/auth/types";
import { createGrpcClient, type GrpcListener } from "@mc/mcdsl/grpcserver";
import { createLogger } from "@mc/mcdsl/log";
import { createDevPki, type DevPki } from "@mc/mcdsl/tls";
import {
  type Account,
  type AccountUpdate,
  LoginFailedError,
  type LoginRequest,
  type McIas,
  McIasError,
  type NewAccount,
  type NewPolicyRule,
  type PolicyRule,
  type Role,
  type TokenGrant,
} from "../core/types.ts";
import { GRPC_ACCESS } from "./access.ts";
import { createMcIasGrpcServer, PROTO } from "./server.ts";

// ------------------------------------------------------------------ scaffolding

/** What the fake records about calls, for assertions. */
interface FakeState {
  /** `remoteAddr` of every login. */
  loginAddrs: string[];
  /** Arguments of revokeToken. */
  revoked: string[];
  /** TTLs passed to issueSystemToken. */
  systemTtls: (number | undefined)[];
}

/**
 * TEST SCAFFOLDING, not MCIAS: a small in-memory implementation of the
 * {@linkcode McIas} contract, just faithful enough to drive every gRPC
 * handler and every error class. Tokens are random strings (not JWTs).
 *
 * Login behaviour: `throttled` → 429 (retry after 60 s); service `forbidden`
 * → 403; an account with `totp` needs totp code `123456` (401
 * `totpRequired` without it); a wrong password → 401. `getAccount("boom")`
 * throws a plain Error whose message must not reach the client.
 */
function fakeMcIas(): McIas & { state: FakeState; tokenFor(username: string): string } {
  interface Stored {
    account: Account;
    password?: string;
  }
  const accounts = new Map<string, Stored>();
  const tokens = new Map<
    string,
    { username: string; jti: string; expiresAt: Date; revoked: boolean }
  >();
  let rules: PolicyRule[] = [];
  let nextRule = 1;
  const state: FakeState = { loginAddrs: [], revoked: [], systemTtls: [] };
  const created = new Date("2026-01-02T03:04:05.000Z");

  function add(username: string, type: "human" | "system", roles: Role[], password?: string) {
    accounts.set(username, {
      account: {
        username,
        type,
        roles,
        disabled: false,
        totpEnabled: username === "totp",
        passkeys: 0,
        createdAt: created,
      },
      password,
    });
  }
  add("root", "human", ["admin"], "root-password");
  add("alice", "human", ["user"], "alice-password");
  add("totp", "human", ["user"], "totp-password");
  add("robot", "system", []);

  function get(username: string): Stored {
    const stored = accounts.get(username);
    if (stored === undefined) throw new McIasError(404, `account "${username}" not found`);
    return stored;
  }
  function issue(username: string, ttlMs = 3_600_000): TokenGrant {
    const token = `tok-${crypto.randomUUID()}`;
    const expiresAt = new Date(Date.now() + ttlMs);
    tokens.set(token, { username, jti: crypto.randomUUID(), expiresAt, revoked: false });
    return { token, expiresAt };
  }
  function info(token: string): TokenInfo {
    const t = tokens.get(token);
    const stored = t && accounts.get(t.username);
    if (!t || !stored || t.revoked || stored.account.disabled || t.expiresAt <= new Date()) {
      return {
        valid: false,
        username: "",
        accountType: "human",
        roles: [],
        expiresAt: new Date(0),
      };
    }
    const { account } = stored;
    return {
      valid: true,
      username: account.username,
      accountType: account.type,
      roles: [...account.roles],
      expiresAt: t.expiresAt,
    };
  }
  function rule(id: number, r: NewPolicyRule): PolicyRule {
    return { id, ...r };
  }

  return {
    state,
    tokenFor: (username) => issue(username).token,
    login(request: LoginRequest) {
      state.loginAddrs.push(request.remoteAddr);
      if (request.username === "throttled") {
        throw new LoginFailedError(429, "too many failed logins; retry in 60 s", {
          retryAfterSeconds: 60,
        });
      }
      const stored = accounts.get(request.username);
      if (!stored || stored.password !== request.password) {
        throw new LoginFailedError(401, "invalid credentials");
      }
      if (stored.account.totpEnabled && request.totpCode !== "123456") {
        throw new LoginFailedError(401, "TOTP code required", { totpRequired: true });
      }
      if (request.serviceName === "forbidden") {
        throw new LoginFailedError(403, "denied by policy: rule 7 (no forbidden)");
      }
      return Promise.resolve(issue(request.username));
    },
    renew(token) {
      const i = info(token);
      if (!i.valid) return Promise.reject(new LoginFailedError(401, "invalid token"));
      return Promise.resolve(issue(i.username));
    },
    logout(token) {
      const t = tokens.get(token);
      if (t) t.revoked = true;
      return Promise.resolve();
    },
    validate: (token) => Promise.resolve(info(token)),
    jwks: () => ({
      keys: [{ kty: "OKP", crv: "Ed25519", x: "AAAA", alg: "EdDSA", use: "sig", kid: "k1" }],
    }),
    issueSystemToken(username, ttlMs) {
      state.systemTtls.push(ttlMs);
      if (get(username).account.type !== "system") {
        return Promise.reject(new McIasError(400, `account "${username}" is not a system account`));
      }
      return Promise.resolve(issue(username, ttlMs));
    },
    revokeToken(jtiOrToken) {
      state.revoked.push(jtiOrToken);
      for (const [token, t] of tokens) {
        if (token === jtiOrToken || t.jti === jtiOrToken) t.revoked = true;
      }
    },
    listAccounts: () => [...accounts.values()].map((s) => s.account),
    getAccount(username) {
      if (username === "boom") throw new Error("disk I/O error at /srv/mcias/mcias.db");
      return get(username).account;
    },
    createAccount(input: NewAccount) {
      if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(input.username)) {
        return Promise.reject(new McIasError(400, `invalid username "${input.username}"`));
      }
      if (accounts.has(input.username)) {
        return Promise.reject(new McIasError(409, `account "${input.username}" exists`));
      }
      add(
        input.username,
        input.type,
        input.type === "system" ? [] : input.roles ?? ["user"],
        input.password,
      );
      return Promise.resolve(get(input.username).account);
    },
    updateAccount(username, update: AccountUpdate) {
      const stored = get(username);
      if (update.roles !== undefined) stored.account.roles = update.roles;
      if (update.disabled !== undefined) stored.account.disabled = update.disabled;
      if (update.password !== undefined) stored.password = update.password;
      return Promise.resolve(stored.account);
    },
    deleteAccount(username) {
      get(username);
      accounts.delete(username);
    },
    listRules: () => [...rules],
    createRule(r) {
      const created = rule(nextRule++, r);
      rules.push(created);
      return created;
    },
    updateRule(id, r) {
      const i = rules.findIndex((x) => x.id === id);
      if (i < 0) throw new McIasError(404, `rule ${id} not found`);
      rules[i] = rule(id, r);
      return rules[i];
    },
    deleteRule(id) {
      if (!rules.some((x) => x.id === id)) throw new McIasError(404, `rule ${id} not found`);
      rules = rules.filter((x) => x.id !== id);
    },
    testPolicy(username, serviceName, _tags) {
      const { account } = get(username);
      if (account.roles.includes("admin")) {
        return { username, allowed: true, reason: "admin bypasses policy" };
      }
      const match = rules.find((r) =>
        r.serviceNames.length === 0 || r.serviceNames.includes(serviceName)
      );
      if (!match) return { username, allowed: false, reason: "no rule matched: default deny" };
      return {
        username,
        allowed: match.effect === "allow",
        rule: match,
        reason: `rule ${match.id} (${match.description})`,
      };
    },
    completeLogin: (username) => Promise.resolve(issue(username)),
    checkThrottle() {},
    recordFailure() {},
    close() {},
    [Symbol.dispose]() {},
  };
}

let pkiPromise: Promise<DevPki> | undefined;
function pki(): Promise<DevPki> {
  pkiPromise ??= createDevPki();
  return pkiPromise;
}

/** A server on a free port, its fake core, and clients that close with it. */
async function startServer(mcias: McIas = fakeMcIas()) {
  const { ca, server } = await pki();
  const lines: string[] = [];
  const logger = createLogger({ write: (line) => lines.push(line) });
  const listener: GrpcListener = await createMcIasGrpcServer({ mcias, logger }).listen({
    addr: "127.0.0.1:0",
    tls: server,
  });
  const clients: grpc.Client[] = [];
  function client<C extends grpc.Client>(
    ctor: new (a: string, c: grpc.ChannelCredentials, o?: grpc.ClientOptions) => C,
    token?: string,
  ): C {
    const c = createGrpcClient(ctor, {
      target: `localhost:${listener.port}`,
      tls: { ca: ca.cert },
      token,
    });
    clients.push(c);
    return c;
  }
  return {
    port: listener.port!,
    lines,
    auth: (token?: string) => client(PROTO.AuthService, token),
    accounts: (token?: string) => client(PROTO.AccountService, token),
    policy: (token?: string) => client(PROTO.PolicyService, token),
    async [Symbol.asyncDispose]() {
      for (const c of clients) c.close();
      await listener.shutdown(2000);
    },
  };
}

/** A unary call as a promise. */
function call<Req, Res>(
  fn: (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, (err, res) => err ? reject(err) : resolve(res!)));
}

/** Asserts the call fails with `code` and a message matching `details`. */
async function rejectsWith(
  promise: Promise<unknown>,
  code: grpc.status,
  details?: RegExp,
): Promise<grpc.ServiceError> {
  let caught: grpc.ServiceError | undefined;
  await assert.rejects(promise, (e: grpc.ServiceError) => {
    caught = e;
    assert.equal(grpc.status[e.code], grpc.status[code], e.details);
    if (details) assert.match(e.details, details);
    return true;
  });
  return caught!;
}

// ---------------------------------------------------------------- AuthService

Deno.test("AuthService: Login, ValidateToken, Renew, Logout and GetJwks over TLS", async () => {
  const fake = fakeMcIas();
  await using s = await startServer(fake);
  const auth = s.auth();
  const grant = await call(auth.Login.bind(auth), {
    username: "alice",
    password: "alice-password",
    serviceName: "mcr",
    tags: ["prod"],
  });
  assert.match(grant.token, /^tok-/);
  assert.ok(Date.parse(grant.expiresAt) > Date.now());
  // The throttling key is the client's IP, without its port.
  assert.deepEqual(fake.state.loginAddrs, ["127.0.0.1"]);

  const valid = await call(auth.ValidateToken.bind(auth), { token: grant.token });
  assert.deepEqual(valid, {
    valid: true,
    username: "alice",
    accountType: "human",
    roles: ["user"],
    expiresAt: grant.expiresAt,
  });
  const invalid = await call(auth.ValidateToken.bind(auth), { token: "nope" });
  assert.deepEqual(invalid, {
    valid: false,
    username: "",
    accountType: "",
    roles: [],
    expiresAt: "",
  });

  const mine = s.auth(grant.token);
  const renewed = await call(mine.Renew.bind(mine), {});
  assert.notEqual(renewed.token, grant.token);
  assert.equal((await call(auth.ValidateToken.bind(auth), { token: renewed.token })).valid, true);

  assert.deepEqual(await call(mine.Logout.bind(mine), {}), {});
  assert.equal((await call(auth.ValidateToken.bind(auth), { token: grant.token })).valid, false);
  // A revoked bearer token no longer passes the access check.
  await rejectsWith(call(mine.Renew.bind(mine), {}), grpc.status.UNAUTHENTICATED);

  const jwks = await call(auth.GetJwks.bind(auth), {});
  assert.deepEqual(jwks.keys, [
    { kty: "OKP", crv: "Ed25519", x: "AAAA", kid: "k1", alg: "EdDSA", use: "sig" },
  ]);
  assert.deepEqual(JSON.parse(jwks.jwksJson), fake.jwks());

  // Neither passwords nor tokens reach the log.
  const log = s.lines.join("\n");
  for (const secret of ["alice-password", grant.token, renewed.token]) {
    assert.ok(!log.includes(secret), "a secret was logged");
  }
});

Deno.test("AuthService.Login maps LoginFailedError to UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED", async () => {
  await using s = await startServer();
  const auth = s.auth();
  const login = (req: Record<string, unknown>) => call(auth.Login.bind(auth), req);

  const bad = await rejectsWith(
    login({ username: "alice", password: "wrong" }),
    grpc.status.UNAUTHENTICATED,
    /^invalid credentials$/,
  );
  assert.deepEqual(bad.metadata.get("mcias-totp-required"), []);
  await rejectsWith(login({ username: "nobody", password: "x" }), grpc.status.UNAUTHENTICATED);

  const totp = await rejectsWith(
    login({ username: "totp", password: "totp-password" }),
    grpc.status.UNAUTHENTICATED,
    /TOTP code required/,
  );
  assert.deepEqual(totp.metadata.get("mcias-totp-required"), ["true"]);
  const ok = await login({ username: "totp", password: "totp-password", totpCode: "123456" });
  assert.match(ok.token, /^tok-/);

  await rejectsWith(
    login({ username: "alice", password: "alice-password", serviceName: "forbidden" }),
    grpc.status.PERMISSION_DENIED,
    /denied by policy/,
  );

  const throttled = await rejectsWith(
    login({ username: "throttled", password: "x" }),
    grpc.status.RESOURCE_EXHAUSTED,
    /retry in 60 s/,
  );
  assert.deepEqual(throttled.metadata.get("retry-after"), ["60"]);
});

// ------------------------------------------------------------- AccountService

Deno.test("AccountService: list, get, create, update, delete, system tokens and revocation", async () => {
  const fake = fakeMcIas();
  await using s = await startServer(fake);
  const admin = s.accounts(fake.tokenFor("root"));

  const list = await call(admin.ListAccounts.bind(admin), {});
  assert.deepEqual(list.accounts.map((a) => a.username), ["root", "alice", "totp", "robot"]);
  const alice = await call(admin.GetAccount.bind(admin), { username: "alice" });
  assert.deepEqual(alice.account, {
    username: "alice",
    type: "human",
    roles: ["user"],
    disabled: false,
    totpEnabled: false,
    passkeys: 0,
    createdAt: "2026-01-02T03:04:05.000Z",
  });

  const bob = await call(admin.CreateAccount.bind(admin), {
    username: "bob",
    type: "human",
    password: "bob-password",
  });
  assert.deepEqual(bob.account?.roles, ["user"]); // empty roles: the core's default
  const svc = await call(admin.CreateAccount.bind(admin), { username: "svc", type: "system" });
  assert.equal(svc.account?.type, "system");

  // Unset fields change nothing; a set empty role list clears the roles.
  const same = await call(admin.UpdateAccount.bind(admin), { username: "bob" });
  assert.deepEqual(same.account?.roles, ["user"]);
  assert.equal(same.account?.disabled, false);
  const updated = await call(admin.UpdateAccount.bind(admin), {
    username: "bob",
    roles: { roles: ["admin", "guest"] },
    disabled: true,
  });
  assert.deepEqual(updated.account?.roles, ["admin", "guest"]);
  assert.equal(updated.account?.disabled, true);
  const cleared = await call(admin.UpdateAccount.bind(admin), {
    username: "bob",
    roles: { roles: [] },
    disabled: false,
    password: "new-password",
  });
  assert.deepEqual(cleared.account?.roles, []);
  assert.equal(cleared.account?.disabled, false);
  const auth = s.auth();
  await call(auth.Login.bind(auth), { username: "bob", password: "new-password" });

  assert.deepEqual(await call(admin.DeleteAccount.bind(admin), { username: "bob" }), {});
  await rejectsWith(
    call(admin.GetAccount.bind(admin), { username: "bob" }),
    grpc.status.NOT_FOUND,
    /account "bob" not found/,
  );

  const sys = await call(admin.IssueSystemToken.bind(admin), { username: "robot" });
  const day = await call(admin.IssueSystemToken.bind(admin), {
    username: "robot",
    ttlSeconds: 86_400,
  });
  assert.deepEqual(fake.state.systemTtls, [undefined, 86_400_000]);
  const check = (token: string) => call(auth.ValidateToken.bind(auth), { token });
  assert.equal((await check(sys.token)).accountType, "system");

  assert.deepEqual(await call(admin.RevokeToken.bind(admin), { token: sys.token }), {});
  assert.equal((await check(sys.token)).valid, false);
  await call(admin.RevokeToken.bind(admin), { jti: "some-jti" });
  assert.deepEqual(fake.state.revoked, [sys.token, "some-jti"]);
  assert.equal((await check(day.token)).valid, true);
});

Deno.test("AccountService maps McIasError to INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS and hides internals", async () => {
  const fake = fakeMcIas();
  await using s = await startServer(fake);
  const admin = s.accounts(fake.tokenFor("root"));
  await rejectsWith(
    call(admin.CreateAccount.bind(admin), { username: "-bad", type: "human", password: "p" }),
    grpc.status.INVALID_ARGUMENT,
    /invalid username "-bad"/,
  );
  await rejectsWith(
    call(admin.CreateAccount.bind(admin), { username: "alice", type: "human", password: "p" }),
    grpc.status.ALREADY_EXISTS,
    /exists/,
  );
  await rejectsWith(
    call(admin.DeleteAccount.bind(admin), { username: "ghost" }),
    grpc.status.NOT_FOUND,
  );
  await rejectsWith(
    call(admin.IssueSystemToken.bind(admin), { username: "alice" }),
    grpc.status.INVALID_ARGUMENT,
    /not a system account/,
  );
  // Values the gRPC layer checks itself.
  await rejectsWith(
    call(admin.CreateAccount.bind(admin), { username: "x", type: "robot" }),
    grpc.status.INVALID_ARGUMENT,
    /type: expected "human" or "system", got "robot"/,
  );
  await rejectsWith(
    call(admin.UpdateAccount.bind(admin), { username: "alice", roles: { roles: ["root"] } }),
    grpc.status.INVALID_ARGUMENT,
    /roles\.roles\[0\]: expected one of "admin", "user", "guest"/,
  );
  await rejectsWith(
    call(admin.RevokeToken.bind(admin), {}),
    grpc.status.INVALID_ARGUMENT,
    /set jti or token/,
  );
  // An unexpected error is logged; the client learns nothing of it.
  const internal = await rejectsWith(
    call(admin.GetAccount.bind(admin), { username: "boom" }),
    grpc.status.INTERNAL,
    /^internal error; see the MCIAS log$/,
  );
  assert.ok(!internal.details.includes("/srv"));
  assert.ok(s.lines.some((l) => l.includes("disk I/O error")));
});

// -------------------------------------------------------------- PolicyService

Deno.test("PolicyService: list, create, update, delete and test rules", async () => {
  const fake = fakeMcIas();
  await using s = await startServer(fake);
  const admin = s.policy(fake.tokenFor("root"));
  assert.deepEqual(await call(admin.ListRules.bind(admin), {}), { rules: [] });

  const created = await call(admin.CreateRule.bind(admin), {
    priority: 10,
    effect: "deny",
    roles: ["guest"],
    accountTypes: ["human"],
    serviceNames: ["mcr"],
    tags: ["prod"],
    description: "no guests on prod mcr",
  });
  assert.deepEqual(created.rule, {
    id: 1,
    priority: 10,
    effect: "deny",
    roles: ["guest"],
    accountTypes: ["human"],
    serviceNames: ["mcr"],
    tags: ["prod"],
    description: "no guests on prod mcr",
  });
  const updated = await call(admin.UpdateRule.bind(admin), {
    id: 1,
    priority: 5,
    effect: "allow",
    serviceNames: ["mcr"],
    description: "mcr for all",
  });
  assert.deepEqual(updated.rule, {
    id: 1,
    priority: 5,
    effect: "allow",
    roles: [],
    accountTypes: [],
    serviceNames: ["mcr"],
    tags: [],
    description: "mcr for all",
  });
  assert.deepEqual((await call(admin.ListRules.bind(admin), {})).rules, [updated.rule]);

  const allowed = await call(admin.TestPolicy.bind(admin), {
    username: "alice",
    serviceName: "mcr",
    tags: ["prod"],
  });
  assert.deepEqual(allowed, {
    username: "alice",
    allowed: true,
    reason: "rule 1 (mcr for all)",
    rule: updated.rule,
  });
  const bypass = await call(admin.TestPolicy.bind(admin), { username: "root", serviceName: "x" });
  assert.deepEqual(bypass, {
    username: "root",
    allowed: true,
    reason: "admin bypasses policy",
    rule: null,
  });

  assert.deepEqual(await call(admin.DeleteRule.bind(admin), { id: 1 }), {});
  const denied = await call(admin.TestPolicy.bind(admin), {
    username: "alice",
    serviceName: "mcr",
  });
  assert.equal(denied.allowed, false);
  assert.equal(denied.rule, null);

  await rejectsWith(call(admin.DeleteRule.bind(admin), { id: 1 }), grpc.status.NOT_FOUND);
  await rejectsWith(
    call(admin.UpdateRule.bind(admin), { id: 9, effect: "allow" }),
    grpc.status.NOT_FOUND,
    /rule 9 not found/,
  );
  await rejectsWith(
    call(admin.CreateRule.bind(admin), { effect: "maybe" }),
    grpc.status.INVALID_ARGUMENT,
    /effect: expected "allow" or "deny", got "maybe"/,
  );
  await rejectsWith(
    call(admin.CreateRule.bind(admin), { effect: "allow", accountTypes: ["robot"] }),
    grpc.status.INVALID_ARGUMENT,
    /account_types\[0\]/,
  );
  await rejectsWith(
    call(admin.TestPolicy.bind(admin), { username: "ghost" }),
    grpc.status.NOT_FOUND,
  );
});

// ------------------------------------------------------------------ access map

Deno.test("createMcIasGrpcServer enforces the access map before handlers run", async () => {
  const fake = fakeMcIas();
  await using s = await startServer(fake);
  // Public without a token.
  const anon = s.auth();
  await call(anon.GetJwks.bind(anon), {});
  // Authenticated: no token, a bad token.
  await rejectsWith(
    call(anon.Renew.bind(anon), {}),
    grpc.status.UNAUTHENTICATED,
    /missing bearer token/,
  );
  await rejectsWith(call(anon.Logout.bind(anon), {}), grpc.status.UNAUTHENTICATED);
  const forged = s.auth("forged");
  await rejectsWith(
    call(forged.Renew.bind(forged), {}),
    grpc.status.UNAUTHENTICATED,
    /invalid or expired/,
  );
  // Admin: a user's token is refused on every account and policy method.
  const user = fake.tokenFor("alice");
  const userAuth = s.auth(user);
  await call(userAuth.Renew.bind(userAuth), {});
  const accounts = s.accounts(user);
  const policy = s.policy(user);
  const denied = [
    call(accounts.ListAccounts.bind(accounts), {}),
    call(accounts.GetAccount.bind(accounts), { username: "alice" }),
    call(accounts.CreateAccount.bind(accounts), { username: "x", type: "system" }),
    call(accounts.UpdateAccount.bind(accounts), { username: "alice", disabled: true }),
    call(accounts.DeleteAccount.bind(accounts), { username: "root" }),
    call(accounts.IssueSystemToken.bind(accounts), { username: "robot" }),
    call(accounts.RevokeToken.bind(accounts), { jti: "x" }),
    call(policy.ListRules.bind(policy), {}),
    call(policy.CreateRule.bind(policy), { effect: "allow" }),
    call(policy.UpdateRule.bind(policy), { id: 1, effect: "allow" }),
    call(policy.DeleteRule.bind(policy), { id: 1 }),
    call(policy.TestPolicy.bind(policy), { username: "alice" }),
  ];
  for (const result of await Promise.allSettled(denied)) {
    assert.equal(result.status, "rejected");
    const e = (result as PromiseRejectedResult).reason as grpc.ServiceError;
    assert.equal(grpc.status[e.code], "PERMISSION_DENIED", e.details);
    assert.match(e.details, /requires the admin role/);
  }
  // Nothing ran: alice is still enabled and root still exists.
  assert.equal(fake.getAccount("alice").disabled, false);
  assert.equal(fake.getAccount("root").username, "root");
  const anonAccounts = s.accounts();
  await rejectsWith(
    call(anonAccounts.ListAccounts.bind(anonAccounts), {}),
    grpc.status.UNAUTHENTICATED,
  );
});

Deno.test("GRPC_ACCESS declares every method; an undeclared or stale one stops start-up", () => {
  const logger = createLogger({ write: () => {} });
  const mcias = fakeMcIas();
  const paths = [PROTO.AuthService, PROTO.AccountService, PROTO.PolicyService]
    .flatMap((s) => Object.values(s.service).map((m) => m.path)).sort();
  assert.deepEqual(Object.keys(GRPC_ACCESS).sort(), paths);
  for (const [path, level] of Object.entries(GRPC_ACCESS)) {
    const expected = /\/(Login|ValidateToken|GetJwks)$/.test(path)
      ? "public"
      : /\/(Renew|Logout)$/.test(path)
      ? "authenticated"
      : "admin";
    assert.equal(level, expected, path);
  }
  createMcIasGrpcServer({ mcias, logger });

  const { ["/mcias.v1.PolicyService/TestPolicy"]: _gone, ...missing } = GRPC_ACCESS;
  assert.throws(
    () => createMcIasGrpcServer({ mcias, logger, access: missing }),
    (e: Error) =>
      e.name === "AccessMapError" && e.message.includes("undeclared methods") &&
      e.message.includes("/mcias.v1.PolicyService/TestPolicy"),
  );
  assert.throws(
    () =>
      createMcIasGrpcServer({
        mcias,
        logger,
        access: { ...GRPC_ACCESS, "/mcias.v1.AuthService/Register": "public" },
      }),
    (e: Error) => e.name === "AccessMapError" && e.message.includes("stale entries"),
  );
});

// ------------------------------------------------------------------ transport

async function sClient(port: number, version: "-tls1_2" | "-tls1_3") {
  const out = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", version],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, text: d.decode(out.stdout) + d.decode(out.stderr) };
}

Deno.test("createMcIasGrpcServer refuses TLS 1.2 and serves TLS 1.3", async () => {
  await using s = await startServer();
  const old = await sClient(s.port, "-tls1_2");
  assert.notEqual(old.code, 0, "TLS 1.2 was accepted");
  assert.match(old.text, /alert protocol version|no protocols available|wrong version/i);
  const ok = await sClient(s.port, "-tls1_3");
  assert.equal(ok.code, 0, ok.text);
  assert.match(ok.text, /TLSv1\.3/);
});
