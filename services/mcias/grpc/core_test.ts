/**
 * The MCIAS gRPC API on the real core (createMcIas on a SQLite file in a
 * temporary data directory), over TLS 1.3: one walk through login, admin
 * operations, policy and revocation, checking the codes a client sees.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { parseConfig } from "@mc/mcdsl/config";
import { createGrpcClient } from "@mc/mcdsl/grpcserver";
import { createLogger } from "@mc/mcdsl/log";
import { createDevPki } from "@mc/mcdsl/tls";
import { CONFIG_SCHEMA, SERVICE } from "../config.ts";
import { createMcIas, initMcIas, openMcIasDatabase } from "../core/mcias.ts";
import { McIasError } from "../core/types.ts";
import { grpcError } from "./grpc_error.ts";
import { createMcIasGrpcServer, PROTO } from "./server.ts";

function call<Req, Res>(
  fn: (req: Req, cb: (err: grpc.ServiceError | null, res?: Res) => void) => unknown,
  req: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => fn(req, (err, res) => err ? reject(err) : resolve(res!)));
}

async function code(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "OK";
  } catch (e) {
    return grpc.status[(e as grpc.ServiceError).code];
  }
}

Deno.test("createMcIasGrpcServer serves the real core over TLS 1.3", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcias_grpc_" });
  await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
  const clients: grpc.Client[] = [];
  const config = parseConfig(
    `[server]
listen_addr = "127.0.0.1:0"
grpc_addr = "127.0.0.1:0"
tls_cert = "cert.pem"
tls_key = "key.pem"

[database]
path = "mcias.db"

[auth]
issuer = "https://localhost"
`,
    CONFIG_SCHEMA,
    { service: SERVICE, baseDir: dir, env: () => undefined },
  );
  using mcias = createMcIas({
    db: openMcIasDatabase(join(dir, "mcias.db")),
    dataDir: dir,
    config,
  });
  await initMcIas(mcias, { username: "root", password: "root-password-123" });
  const pki = await createDevPki();
  const lines: string[] = [];
  await using listener = await createMcIasGrpcServer({
    mcias,
    logger: createLogger({ write: (l) => lines.push(l) }),
  }).listen({ addr: "127.0.0.1:0", tls: pki.server });
  // Disposed first: clients close before the listener shuts down.
  using _clients = { [Symbol.dispose]: () => clients.forEach((c) => c.close()) };
  function client<C extends grpc.Client>(
    ctor: new (a: string, c: grpc.ChannelCredentials, o?: grpc.ClientOptions) => C,
    token?: string,
  ): C {
    const c = createGrpcClient(ctor, {
      target: `localhost:${listener.port}`,
      tls: { ca: pki.ca.cert },
      token,
    });
    clients.push(c);
    return c;
  }

  const auth = client(PROTO.AuthService);
  const login = (req: Record<string, unknown>) => call(auth.Login.bind(auth), req);
  const root = await login({ username: "root", password: "root-password-123" });
  const rootInfo = await call(auth.ValidateToken.bind(auth), { token: root.token });
  assert.equal(rootInfo.valid, true);
  assert.equal(rootInfo.username, "root");
  assert.deepEqual(rootInfo.roles, ["admin"]);
  assert.equal(
    await code(login({ username: "root", password: "wrong-password-1" })),
    "UNAUTHENTICATED",
  );

  const accounts = client(PROTO.AccountService, root.token);
  const alice = await call(accounts.CreateAccount.bind(accounts), {
    username: "alice",
    type: "human",
    password: "alice-password-123",
  });
  assert.deepEqual(alice.account?.roles, ["user"]);
  assert.ok(!Number.isNaN(Date.parse(alice.account!.createdAt)));
  assert.equal(
    await code(call(accounts.CreateAccount.bind(accounts), {
      username: "alice",
      type: "human",
      password: "alice-password-123",
    })),
    "ALREADY_EXISTS",
  );
  assert.equal(
    await code(call(accounts.CreateAccount.bind(accounts), {
      username: "bob",
      type: "human",
      password: "short",
    })),
    "INVALID_ARGUMENT",
  );
  assert.equal(
    await code(call(accounts.GetAccount.bind(accounts), { username: "ghost" })),
    "NOT_FOUND",
  );
  const names = (await call(accounts.ListAccounts.bind(accounts), {})).accounts
    .map((a) => a.username);
  assert.deepEqual(names, ["alice", "root"]);

  // A user logs in under the seeded rule, renews, and is refused admin methods.
  const user = await login({ username: "alice", password: "alice-password-123" });
  const aliceAuth = client(PROTO.AuthService, user.token);
  const renewed = await call(aliceAuth.Renew.bind(aliceAuth), {});
  assert.equal((await call(auth.ValidateToken.bind(auth), { token: renewed.token })).valid, true);
  // The token is for MCIAS itself: another service's validation refuses it.
  assert.equal(
    (await call(auth.ValidateToken.bind(auth), { token: renewed.token, serviceName: "wiki" }))
      .valid,
    false,
  );
  assert.equal(
    (await call(auth.ValidateToken.bind(auth), { token: renewed.token, serviceName: "mcias" }))
      .valid,
    true,
  );
  // Renewal revoked the parent.
  assert.equal((await call(auth.ValidateToken.bind(auth), { token: user.token })).valid, false);
  const aliceAccounts = client(PROTO.AccountService, renewed.token);
  assert.equal(
    await code(call(aliceAccounts.ListAccounts.bind(aliceAccounts), {})),
    "PERMISSION_DENIED",
  );

  // Policy: a deny rule for guests on "mcr"; MCAT explains the decision.
  const policy = client(PROTO.PolicyService, root.token);
  const rules = (await call(policy.ListRules.bind(policy), {})).rules;
  assert.equal(rules.length, 1);
  const deny = await call(policy.CreateRule.bind(policy), {
    priority: 10,
    effect: "deny",
    roles: ["user"],
    serviceNames: ["mcr"],
    description: "no users on mcr",
  });
  const tested = await call(policy.TestPolicy.bind(policy), {
    username: "alice",
    serviceName: "mcr",
  });
  assert.equal(tested.allowed, false);
  assert.equal(tested.rule?.id, deny.rule?.id);
  assert.equal(
    await code(login({ username: "alice", password: "alice-password-123", serviceName: "mcr" })),
    "PERMISSION_DENIED",
  );
  assert.equal(await code(call(policy.DeleteRule.bind(policy), { id: 9999 })), "NOT_FOUND");

  // System token, revocation, JWKS, logout.
  await call(accounts.CreateAccount.bind(accounts), { username: "robot", type: "system" });
  const sys = await call(accounts.IssueSystemToken.bind(accounts), {
    username: "robot",
    ttlSeconds: 3600,
  });
  const sysInfo = await call(auth.ValidateToken.bind(auth), { token: sys.token });
  assert.equal(sysInfo.accountType, "system");
  await call(accounts.RevokeToken.bind(accounts), { token: sys.token });
  assert.equal((await call(auth.ValidateToken.bind(auth), { token: sys.token })).valid, false);
  const jwks = await call(auth.GetJwks.bind(auth), {});
  assert.equal(jwks.keys[0]?.kty, "OKP");
  assert.equal(jwks.keys[0]?.crv, "Ed25519");
  assert.ok(jwks.keys[0]?.kid);
  assert.deepEqual(JSON.parse(jwks.jwksJson), mcias.jwks());
  const renewedAuth = client(PROTO.AuthService, renewed.token);
  await call(renewedAuth.Logout.bind(renewedAuth), {});
  assert.equal((await call(auth.ValidateToken.bind(auth), { token: renewed.token })).valid, false);

  const log = lines.join("\n");
  for (const secret of ["root-password-123", "alice-password-123", root.token, sys.token]) {
    assert.ok(!log.includes(secret), "a secret was logged");
  }
});

Deno.test("grpcError(): a 409 precondition is FAILED_PRECONDITION, a duplicate ALREADY_EXISTS", () => {
  const logger = createLogger({ write: () => {} });
  const pre = new McIasError(409, "last enabled admin", { reason: "failed_precondition" });
  assert.equal(grpcError(pre, logger, "/m").code, grpc.status.FAILED_PRECONDITION);
  const dup = new McIasError(409, "exists");
  assert.equal(grpcError(dup, logger, "/m").code, grpc.status.ALREADY_EXISTS);
});
