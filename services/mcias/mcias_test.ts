/**
 * MCIAS end to end: the real server as a sandboxed process with real TLS,
 * `mciasctl` subcommands under their declared flags, openssl and the mcdsl
 * auth client as third-party clients.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createAuthClient } from "@mc/mcdsl/auth";
import { createGrpcClient } from "@mc/mcdsl/grpcserver";
import { loadConfig } from "@mc/mcdsl/config";
import { planService, ROOT } from "../../tasks/_launcher.ts";
import { CONFIG_SCHEMA, SERVICE } from "./config.ts";
import { createMcIas, openMcIasDatabase } from "./core/mcias.ts";
import { PROTO } from "./grpc/server.ts";
import { makeMcIasDir, mciasctl, run, startMcIasProcess } from "./_testing.ts";

const ADMIN_PASSWORD = "correct horse battery staple";
const USER_PASSWORD = "user password 12345";

async function api(
  client: Deno.HttpClient,
  url: string,
  method: string,
  body?: unknown,
  token?: string,
  rawBody?: string,
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const headers: Record<string, string> = {};
  if (body !== undefined || rawBody !== undefined) headers["content-type"] = "application/json";
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, {
    client,
    method,
    headers,
    body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await res.text();
  return { status: res.status, json: text === "" ? {} : JSON.parse(text), headers: res.headers };
}

Deno.test("mcias end to end: init, login, validate, renew, logout, policy, system tokens", async () => {
  await using dir = await makeMcIasDir();
  const init = await mciasctl(dir, ["init", "--password-stdin"], ADMIN_PASSWORD + "\n");
  assert.equal(init.code, 0, init.stderr);
  assert.ok(!init.stdout.includes(ADMIN_PASSWORD) && !init.stderr.includes(ADMIN_PASSWORD));
  const again = await mciasctl(dir, ["init", "--password-stdin"], ADMIN_PASSWORD + "\n");
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /already initialised/);

  await using proc = await startMcIasProcess(dir);
  const client = Deno.createHttpClient({ caCerts: [dir.ca] });
  try {
    const u = (p: string) => `${dir.url}${p}`;
    // Login as admin, validate, renew, logout.
    const login = await api(client, u("/v1/auth/login"), "POST", {
      username: "admin",
      password: ADMIN_PASSWORD,
    });
    assert.equal(login.status, 200, JSON.stringify(login.json));
    const token = login.json.token as string;
    assert.ok(Date.parse(login.json.expires_at as string) > Date.now());
    const valid = await api(client, u("/v1/token/validate"), "POST", { token });
    assert.equal(valid.json.valid, true);
    assert.equal(valid.json.username, "admin");
    assert.equal(valid.json.account_type, "human");
    assert.deepEqual(valid.json.roles, ["admin"]);
    const renewed = await api(client, u("/v1/auth/renew"), "POST", {}, token);
    assert.equal(renewed.status, 200, JSON.stringify(renewed.json));
    const token2 = renewed.json.token as string;
    assert.notEqual(token2, token);
    // Renewal revoked the parent; logout revokes the new one.
    assert.equal((await api(client, u("/v1/token/validate"), "POST", { token })).json.valid, false);
    assert.equal(
      (await api(client, u("/v1/token/validate"), "POST", { token: token2 })).json.valid,
      true,
    );
    const again = await api(client, u("/v1/auth/login"), "POST", {
      username: "admin",
      password: ADMIN_PASSWORD,
    });
    const token3 = again.json.token as string;
    const out = await api(client, u("/v1/auth/logout"), "POST", undefined, token3);
    assert.equal(out.status, 204);
    assert.equal(
      (await api(client, u("/v1/token/validate"), "POST", { token: token3 })).json.valid,
      false,
    );

    // 401 (wrong password, unknown user: same answer) vs 403 (policy).
    const wrong = await api(client, u("/v1/auth/login"), "POST", {
      username: "admin",
      password: "not the password",
    });
    const unknown = await api(client, u("/v1/auth/login"), "POST", {
      username: "nobody",
      password: "not the password",
    });
    assert.deepEqual([wrong.status, wrong.json], [401, { error: "invalid credentials" }]);
    assert.deepEqual([unknown.status, unknown.json], [401, { error: "invalid credentials" }]);
    const created = await api(client, u("/v1/accounts"), "POST", {
      username: "guest1",
      password: USER_PASSWORD,
      roles: ["guest"],
    }, token2);
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const guest = await api(client, u("/v1/auth/login"), "POST", {
      username: "guest1",
      password: USER_PASSWORD,
      service_name: "mcr",
    });
    assert.equal(guest.status, 403);
    assert.match(guest.json.error as string, /no rule matched: default deny/);
    // Non-admin on an admin route: 403; no token: 401.
    await api(client, u("/v1/accounts"), "POST", {
      username: "alice",
      password: USER_PASSWORD,
    }, token2);
    const alice = await api(client, u("/v1/auth/login"), "POST", {
      username: "alice",
      password: USER_PASSWORD,
      service_name: "mcr",
      tags: ["env:test"],
    });
    assert.equal(alice.status, 200);
    assert.equal(
      (await api(client, u("/v1/accounts"), "GET", undefined, alice.json.token as string)).status,
      403,
    );
    assert.equal((await api(client, u("/v1/accounts"), "GET")).status, 401);

    // System account: token issued by the admin is accepted by validate.
    const sys = await api(client, u("/v1/accounts"), "POST", {
      username: "mcp-agent",
      type: "system",
    }, token2);
    assert.equal(sys.status, 201, JSON.stringify(sys.json));
    const sysToken = await api(client, u("/v1/accounts/mcp-agent/tokens"), "POST", {
      ttl: "720h",
    }, token2);
    assert.equal(sysToken.status, 201, JSON.stringify(sysToken.json));
    const sysValid = await api(client, u("/v1/token/validate"), "POST", {
      token: sysToken.json.token,
    });
    assert.deepEqual(
      { ...sysValid.json, expires_at: undefined },
      {
        valid: true,
        username: "mcp-agent",
        account_type: "system",
        roles: [],
        expires_at: undefined,
      },
    );
    // The CLI issues one too, beside the running server.
    const cliToken = await mciasctl(dir, ["token", "issue", "mcp-agent", "--ttl", "1h"]);
    assert.equal(cliToken.code, 0, cliToken.stderr);
    const cliValid = await api(client, u("/v1/token/validate"), "POST", {
      token: cliToken.stdout.trim(),
    });
    assert.equal(cliValid.json.valid, true);

    // Bad bodies.
    const malformed = await api(client, u("/v1/auth/login"), "POST", undefined, undefined, "{");
    assert.equal(malformed.status, 400);
    const extra = await api(client, u("/v1/auth/login"), "POST", {
      username: "admin",
      password: ADMIN_PASSWORD,
      admin: true,
    });
    assert.equal(extra.status, 400);
    assert.match(extra.json.error as string, /unknown field "admin"/);
    const big = await api(client, u("/v1/auth/login"), "POST", {
      username: "admin",
      password: "x".repeat(100_000),
    });
    assert.equal(big.status, 413);

    // JWKS.
    const jwks = await api(client, u("/.well-known/jwks.json"), "GET");
    assert.equal((jwks.json.keys as { crv: string }[])[0].crv, "Ed25519");
  } finally {
    client.close();
  }
  assert.equal(await proc.stop(), 0, proc.stderr());
});

Deno.test("mcias refuses TLS 1.2 and serves TLS 1.3 on REST and gRPC", async () => {
  await using dir = await makeMcIasDir();
  assert.equal((await mciasctl(dir, ["init", "--password-stdin"], ADMIN_PASSWORD + "\n")).code, 0);
  await using proc = await startMcIasProcess(dir);
  for (const port of [dir.httpsPort, dir.grpcPort]) {
    const s_client = (v: string) =>
      run("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${port}`,
        "-servername",
        "localhost",
        v,
      ], { stdin: "" });
    const old = await s_client("-tls1_2");
    assert.notEqual(old.code, 0, `TLS 1.2 accepted on ${port}`);
    assert.match(
      old.stdout + old.stderr,
      /alert protocol version|no protocols available|wrong version/i,
    );
    const ok = await s_client("-tls1_3");
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /TLSv1\.3/);
  }
  // The gRPC API answers on the same core.
  const auth = createGrpcClient(PROTO.AuthService, {
    target: `localhost:${dir.grpcPort}`,
    tls: { ca: dir.ca },
  });
  try {
    const unary = <Req, Res>(
      fn: (req: Req, cb: (err: Error | null, res?: Res) => void) => unknown,
      req: Req,
    ) => new Promise<Res>((resolve, reject) => fn(req, (e, r) => e ? reject(e) : resolve(r!)));
    const login = await unary(auth.Login.bind(auth), {
      username: "admin",
      password: ADMIN_PASSWORD,
    }) as { token: string };
    const info = await unary(auth.ValidateToken.bind(auth), { token: login.token }) as {
      valid: boolean;
      username: string;
    };
    assert.deepEqual([info.valid, info.username], [true, "admin"]);
  } finally {
    auth.close();
  }
  assert.equal(await proc.stop(), 0, proc.stderr());
});

Deno.test("createAuthClient against the real MCIAS: login with service and tags, cached validate, revocation after cache expiry", async () => {
  await using dir = await makeMcIasDir();
  const init = await mciasctl(dir, ["init", "--password-stdin"], ADMIN_PASSWORD + "\n");
  assert.equal(init.code, 0, init.stderr);
  const rule = await mciasctl(dir, [
    "policy",
    "add",
    "--priority",
    "10",
    "--effect",
    "deny",
    "--service",
    "mcr",
    "--tag",
    "env:restricted",
    "--description",
    "nobody into restricted mcr",
  ]);
  assert.equal(rule.code, 0, rule.stderr);
  const create = await mciasctl(
    dir,
    ["account", "create", "bob", "--password-stdin"],
    USER_PASSWORD + "\n",
  );
  assert.equal(create.code, 0, create.stderr);
  await using proc = await startMcIasProcess(dir);
  const clock = { now: 1_000_000 };
  const common = {
    serverUrl: dir.url,
    caCert: dir.ca,
    serviceName: "mcr",
    now: () => clock.now,
  };
  using restricted = createAuthClient({ ...common, tags: ["env:restricted"] });
  await assert.rejects(
    restricted.login({ username: "bob", password: USER_PASSWORD }),
    (e: Error & { status?: number }) => e.name === "LoginError" && e.status === 403,
  );
  using client = createAuthClient({ ...common, tags: ["env:test"] });
  const grant = await client.login({ username: "bob", password: USER_PASSWORD });
  const info = await client.validate(grant.token);
  assert.equal(info.valid, true);
  assert.equal(info.username, "bob");
  assert.deepEqual(info.roles, ["user"]);
  // Revoked elsewhere (the admin CLI, by jti): the cache still vouches until it expires.
  const jti = JSON.parse(atob(grant.token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/")))
    .jti;
  const revoke = await mciasctl(dir, ["token", "revoke", jti]);
  assert.equal(revoke.code, 0, revoke.stderr);
  assert.equal((await client.validate(grant.token)).valid, true);
  clock.now += 31_000;
  assert.equal((await client.validate(grant.token)).valid, false);
  assert.equal(await proc.stop(), 0, proc.stderr());
});

Deno.test("mciasctl admin commands work on the database: accounts, policy test, --help", async () => {
  await using dir = await makeMcIasDir();
  const help = await run(Deno.execPath(), [
    "run",
    "--allow-read",
    "--allow-env",
    "--allow-run=deno",
    join(ROOT, "tasks/service.ts"),
    "mcias",
    "--help",
  ]);
  assert.equal(help.code, 0, help.stderr);
  for (const cmd of ["server", "init", "account", "token", "policy", "snapshot", "restore"]) {
    assert.match(help.stdout, new RegExp(`\\b${cmd}\\b`));
  }
  // Not a terminal and no --password-stdin: refuse rather than read a password blindly.
  const noTty = await mciasctl(dir, ["init"]);
  assert.notEqual(noTty.code, 0);
  assert.match(noTty.stderr, /--password-stdin/);
  assert.equal((await mciasctl(dir, ["init", "--password-stdin"], ADMIN_PASSWORD + "\n")).code, 0);
  const short = await mciasctl(dir, ["account", "create", "eve", "--password-stdin"], "short\n");
  assert.notEqual(short.code, 0);
  assert.match(short.stderr, /too short/);
  const guest = await mciasctl(
    dir,
    ["account", "create", "gus", "--role", "guest", "--password-stdin"],
    USER_PASSWORD + "\n",
  );
  assert.equal(guest.code, 0, guest.stderr);
  const list = await mciasctl(dir, ["account", "list"]);
  assert.match(list.stdout, /admin\s+human\s+admin/);
  assert.match(list.stdout, /gus\s+human\s+guest/);
  const denied = await mciasctl(dir, ["policy", "test", "gus", "--service", "mcr"]);
  assert.equal(denied.code, 3);
  assert.match(denied.stdout, /deny: no rule matched: default deny/);
  const allowed = await mciasctl(dir, ["policy", "test", "admin", "--service", "mcr"]);
  assert.deepEqual([allowed.code, allowed.stdout.trim()], [0, "allow: admin bypasses policy"]);
  const rules = await mciasctl(dir, ["policy", "list"]);
  assert.match(rules.stdout, /1000 allow roles=user/);
  const human = await mciasctl(dir, ["token", "issue", "gus"]);
  assert.notEqual(human.code, 0);
  assert.match(human.stderr, /only for system accounts/);
});

Deno.test("mcias snapshot while running restores to a working service with its keys", async () => {
  await using dir = await makeMcIasDir();
  assert.equal((await mciasctl(dir, ["init", "--password-stdin"], ADMIN_PASSWORD + "\n")).code, 0);
  const archive = join(dir.root, "snap.tar.zst");
  let token: string;
  {
    await using proc = await startMcIasProcess(dir);
    const client = Deno.createHttpClient({ caCerts: [dir.ca] });
    try {
      const login = await api(client, `${dir.url}/v1/auth/login`, "POST", {
        username: "admin",
        password: ADMIN_PASSWORD,
      });
      token = login.json.token as string;
    } finally {
      client.close();
    }
    const snap = await mciasctl(dir, ["snapshot", "--output", archive]);
    assert.equal(snap.code, 0, snap.stderr);
    assert.equal(snap.stdout.trim(), archive);
    assert.equal(await proc.stop(), 0);
  }
  const listing = await run("tar", ["--zstd", "-tf", archive]);
  const names = listing.stdout.trim().split("\n").map((n) => n.replace(/^\.\//, ""));
  for (const want of ["mcias.db", "mcias.toml", "keys/master.key", "certs/cert.pem"]) {
    assert.ok(names.includes(want), `${want} missing from ${names}`);
  }
  const restored = join(dir.root, "restored");
  const plan = await planService("mcias", "restore", ["--from", archive, "--to", restored]);
  const out = await run(Deno.execPath(), plan.argv);
  assert.equal(out.code, 0, out.stderr);
  // The restored directory validates the token issued before the snapshot.
  const config = await loadConfig(join(restored, "mcias.toml"), CONFIG_SCHEMA, {
    service: SERVICE,
    env: () => undefined,
  });
  using mcias = createMcIas({
    db: openMcIasDatabase(config.database.path),
    dataDir: restored,
    config,
  });
  assert.equal((await mcias.validate(token)).username, "admin");
});

Deno.test("mcias TOTP through the real server: enrol with oathtool, then login needs a code", async () => {
  await using dir = await makeMcIasDir();
  assert.equal((await mciasctl(dir, ["init", "--password-stdin"], ADMIN_PASSWORD + "\n")).code, 0);
  await using proc = await startMcIasProcess(dir);
  const client = Deno.createHttpClient({ caCerts: [dir.ca] });
  try {
    const u = (p: string) => `${dir.url}${p}`;
    const creds = { username: "admin", password: ADMIN_PASSWORD };
    const { token } = (await api(client, u("/v1/auth/login"), "POST", creds)).json as {
      token: string;
    };
    const enrol = await api(client, u("/v1/account/totp/enrol"), "POST", {}, token);
    assert.equal(enrol.status, 201, JSON.stringify(enrol.json));
    const code = await run("oathtool", ["--totp", "-b", enrol.json.secret as string]);
    const confirm = await api(client, u("/v1/account/totp/confirm"), "POST", {
      code: code.stdout.trim(),
    }, token);
    assert.equal(confirm.status, 200, JSON.stringify(confirm.json));
    const recovery = confirm.json.recovery_codes as string[];
    assert.equal(recovery.length, 10);
    const without = await api(client, u("/v1/auth/login"), "POST", creds);
    assert.deepEqual([without.status, without.json], [401, {
      error: "TOTP code required",
      totp_required: true,
    }]);
    const wrong = await api(client, u("/v1/auth/login"), "POST", { ...creds, totp_code: "000000" });
    assert.equal(wrong.status, 401);
    const ok = await api(client, u("/v1/auth/login"), "POST", {
      ...creds,
      totp_code: recovery[0],
    });
    assert.equal(ok.status, 200, JSON.stringify(ok.json));
    const reused = await api(client, u("/v1/auth/login"), "POST", {
      ...creds,
      totp_code: recovery[0],
    });
    assert.equal(reused.status, 401, "a recovery code is single use");
  } finally {
    client.close();
  }
  assert.equal(await proc.stop(), 0, proc.stderr());
});
