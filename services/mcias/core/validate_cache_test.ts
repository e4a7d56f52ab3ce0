// validate() remembers what the database said about each token id while
// the database is unchanged: these tests warm that memory before every
// change and check the very next validation sees the change, whether it
// came from this process or from another connection (mciasctl beside the
// server, here and over HTTPS in the last test).

import assert from "node:assert/strict";
import { createMcIas, initMcIas, openMcIasDatabase } from "./mcias.ts";
import type { McIas } from "./types.ts";
import {
  makeMcIasDir,
  makeTestCore,
  mciasctl,
  startMcIasProcess,
  testConfig,
} from "../_testing.ts";

const PW = "correct horse battery staple";
const ADDR = "192.0.2.10";

function jtiOf(token: string): string {
  return JSON.parse(atob(token.split(".")[1].replaceAll("-", "+").replaceAll("_", "/"))).jti;
}

/** Validates a few times, so the answer is the remembered one. */
async function warm(mcias: McIas, token: string): Promise<void> {
  for (let i = 0; i < 3; i++) assert.equal((await mcias.validate(token)).valid, true);
}

Deno.test("validate(): a remembered answer never outlives a change made in this process", async () => {
  await using t = await makeTestCore();
  const m = t.mcias;
  await initMcIas(m, { username: "root", password: PW });
  await m.createAccount({ username: "alice", type: "human", password: PW, roles: ["user"] });
  const login = () => m.login({ username: "alice", password: PW, remoteAddr: ADDR });

  // Roles.
  const a = await login();
  await warm(m, a.token);
  await m.updateAccount("alice", { roles: ["user", "admin"] });
  assert.deepEqual((await m.validate(a.token)).roles, ["admin", "user"]);
  // The answer handed out is a copy: changing it changes nothing remembered.
  (await m.validate(a.token)).roles.push("injected");
  assert.deepEqual((await m.validate(a.token)).roles, ["admin", "user"]);
  // Revocation by jti, logout, renewal of the parent.
  await warm(m, a.token);
  m.revokeToken(jtiOf(a.token));
  assert.equal((await m.validate(a.token)).valid, false);
  const b = await login();
  await warm(m, b.token);
  await m.logout(b.token);
  assert.equal((await m.validate(b.token)).valid, false);
  const c = await login();
  await warm(m, c.token);
  const c2 = await m.renew(c.token);
  assert.equal((await m.validate(c.token)).valid, false);
  // Disabling, and enabling again (which revives nothing).
  await warm(m, c2.token);
  await m.updateAccount("alice", { disabled: true });
  assert.equal((await m.validate(c2.token)).valid, false);
  await m.updateAccount("alice", { disabled: false });
  assert.equal((await m.validate(c2.token)).valid, false);
  // Deleting the account.
  const d = await login();
  await warm(m, d.token);
  m.deleteAccount("alice");
  assert.equal((await m.validate(d.token)).valid, false);
});

Deno.test("validate(): a change committed by another connection is seen by the next validation", async () => {
  await using t = await makeTestCore();
  const m = t.mcias;
  await initMcIas(m, { username: "root", password: PW });
  await m.createAccount({ username: "alice", type: "human", password: PW, roles: ["user"] });
  // What mciasctl does: its own connection and core on the same file.
  using other = createMcIas({
    db: openMcIasDatabase(t.dbPath),
    dataDir: t.dataDir,
    config: testConfig(),
  });
  const login = () => m.login({ username: "alice", password: PW, remoteAddr: ADDR });

  const a = await login();
  await warm(m, a.token);
  await other.updateAccount("alice", { roles: ["admin"] });
  assert.deepEqual((await m.validate(a.token)).roles, ["admin"]);
  await warm(m, a.token);
  other.revokeToken(jtiOf(a.token));
  assert.equal((await m.validate(a.token)).valid, false);

  const b = await login();
  await warm(m, b.token);
  await other.updateAccount("alice", { disabled: true });
  assert.equal((await m.validate(b.token)).valid, false);
  await other.updateAccount("alice", { disabled: false });

  const c = await login();
  await warm(m, c.token);
  other.deleteAccount("alice");
  assert.equal((await m.validate(c.token)).valid, false);
});

Deno.test("POST /v1/token/validate: mciasctl revoking or disabling beside the server counts at once", async () => {
  await using dir = await makeMcIasDir();
  const init = await mciasctl(dir, ["init", "--username", "root", "--password-stdin"], `${PW}\n`);
  assert.equal(init.code, 0, init.stderr);
  const created = await mciasctl(
    dir,
    ["account", "create", "bot", "--type", "system"],
  );
  assert.equal(created.code, 0, created.stderr);
  await using _server = await startMcIasProcess(dir);
  using client = Deno.createHttpClient({ caCerts: [dir.ca] });
  const validate = async (token: string) => {
    const res = await fetch(`${dir.url}/v1/token/validate`, {
      client,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    assert.equal(res.status, 200);
    return (await res.json()).valid as boolean;
  };
  const issue = async () => {
    const out = await mciasctl(dir, ["token", "issue", "bot", "--ttl", "1h"]);
    assert.equal(out.code, 0, out.stderr);
    return out.stdout.trim();
  };

  const first = await issue();
  for (let i = 0; i < 3; i++) assert.equal(await validate(first), true);
  const revoked = await mciasctl(dir, ["token", "revoke", jtiOf(first)]);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.equal(await validate(first), false);

  const second = await issue();
  for (let i = 0; i < 3; i++) assert.equal(await validate(second), true);
  const disabled = await mciasctl(dir, ["account", "update", "bot", "--disable"]);
  assert.equal(disabled.code, 0, disabled.stderr);
  assert.equal(await validate(second), false);
});
