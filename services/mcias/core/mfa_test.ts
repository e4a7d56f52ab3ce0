import assert from "node:assert/strict";
import { join } from "node:path";
import { migrate, openDatabase } from "@mc/mcdsl/db";
import type { AuthenticationResponseJSON } from "@simplewebauthn/server";
import { createMfa } from "./mfa.ts";
import { MIGRATIONS } from "./migrations.ts";
import { type LoginCompleter, LoginFailedError, McIasError, type McIasMfa } from "./types.ts";
import { totpCode, totpStep } from "./totp.ts";

/** GNU oathtool, the real peer, at a fixed time. */
async function oathtool(base32: string, at: Date): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("oathtool", {
    args: ["--totp", "-b", base32, "--now", at.toISOString()],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout).trim();
}

/** Test scaffolding standing in for the core's LoginCompleter: records calls. */
class RecordingCompleter implements LoginCompleter {
  calls: string[] = [];
  completeLogin(username: string) {
    this.calls.push(`complete ${username}`);
    return Promise.resolve({ token: `fake-token-${username}`, expiresAt: new Date(0) });
  }
  checkThrottle(username: string, remoteAddr: string) {
    this.calls.push(`throttle ${username} ${remoteAddr}`);
  }
  recordFailure(username: string, remoteAddr: string) {
    this.calls.push(`failure ${username} ${remoteAddr}`);
  }
}

interface Env extends AsyncDisposable {
  mfa: McIasMfa;
  db: ReturnType<typeof openDatabase>;
  clock: { now: Date };
  completer: RecordingCompleter;
}

async function setup(start = new Date("2026-02-03T04:05:15Z")): Promise<Env> {
  const dir = await Deno.makeTempDir({ prefix: "mcias_mfa_" });
  const db = openDatabase(join(dir, "mcias.db"));
  migrate(db, MIGRATIONS);
  db.exec(`INSERT INTO accounts (username, type, password_hash) VALUES
    ('alice', 'human', 'x'), ('bob', 'human', 'x');
    INSERT INTO accounts (username, type) VALUES ('svc', 'system');`);
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);
  const clock = { now: start };
  const completer = new RecordingCompleter();
  const mfa = createMfa({
    db,
    issuer: "Metacircular",
    completer,
    now: () => clock.now,
    webauthn: { rpId: "localhost", rpName: "Metacircular", origins: ["https://localhost:1"] },
    async seal(plain) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const ct = new Uint8Array(
        await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, plain.slice()),
      );
      const out = new Uint8Array(12 + ct.length);
      out.set(iv);
      out.set(ct, 12);
      return out;
    },
    async unseal(sealed) {
      const iv = sealed.slice(0, 12);
      return new Uint8Array(
        await crypto.subtle.decrypt({ name: "AES-GCM", iv }, key, sealed.slice(12)),
      );
    },
  });
  return {
    mfa,
    db,
    clock,
    completer,
    async [Symbol.asyncDispose]() {
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function enrol(env: Env, username = "alice") {
  const { secret, uri } = await env.mfa.beginTotpEnrolment(username);
  const { recoveryCodes } = await env.mfa.confirmTotpEnrolment(
    username,
    await oathtool(secret, env.clock.now),
  );
  return { secret, uri, recoveryCodes };
}

Deno.test("createMfa() TOTP enrolment: oathtool code activates, ten recovery codes, sealed secret", async () => {
  await using env = await setup();
  const { secret, uri } = await env.mfa.beginTotpEnrolment("ALICE");
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.ok(uri.startsWith("otpauth://totp/Metacircular:alice?"), uri);
  assert.equal(env.mfa.totpEnabled("alice"), false, "not active before confirmation");
  const code = await oathtool(secret, env.clock.now);
  const { recoveryCodes } = await env.mfa.confirmTotpEnrolment("alice", code);
  assert.equal(recoveryCodes.length, 10);
  assert.equal(env.mfa.totpEnabled("alice"), true);
  assert.equal(env.mfa.totpEnabled("bob"), false);
  assert.equal(env.mfa.totpEnabled("nobody"), false);

  // At rest: the secret is sealed and the codes are hashes.
  const row = env.db.prepare("SELECT secret FROM totp").get() as { secret: Uint8Array };
  const stored = new TextDecoder("latin1").decode(row.secret);
  assert.ok(!stored.includes(secret));
  const hashes = env.db.prepare("SELECT code_hash FROM recovery_codes").all() as unknown as {
    code_hash: string;
  }[];
  assert.equal(hashes.length, 10);
  for (const { code_hash } of hashes) {
    assert.match(code_hash, /^[0-9a-f]{64}$/);
    assert.ok(!recoveryCodes.some((c) => code_hash.includes(c.replace("-", ""))));
  }
  // The confirmation code was consumed.
  assert.equal(await env.mfa.verifyTotp("alice", code), false);
});

Deno.test("createMfa() confirmTotpEnrolment() refuses a wrong code, no enrolment, or a second one", async () => {
  await using env = await setup();
  await assert.rejects(
    env.mfa.confirmTotpEnrolment("alice", "123456"),
    (e) => e instanceof McIasError && e.status === 400 && /No TOTP enrolment/.test(e.message),
  );
  const { secret } = await env.mfa.beginTotpEnrolment("alice");
  const right = await oathtool(secret, env.clock.now);
  const wrong = right === "000000" ? "111111" : "000000";
  await assert.rejects(
    env.mfa.confirmTotpEnrolment("alice", wrong),
    (e) => e instanceof McIasError && e.status === 400 && /does not match/.test(e.message),
  );
  await env.mfa.confirmTotpEnrolment("alice", right);
  await assert.rejects(
    env.mfa.beginTotpEnrolment("alice"),
    (e) => e instanceof McIasError && e.status === 409,
  );
  await assert.rejects(
    env.mfa.beginTotpEnrolment("nobody"),
    (e) => e instanceof McIasError && e.status === 404,
  );
  await assert.rejects(
    env.mfa.beginTotpEnrolment("svc"),
    (e) => e instanceof McIasError && e.status === 400,
  );
});

Deno.test("createMfa() verifyTotp() refuses a replayed oathtool code and accepts the next step", async () => {
  await using env = await setup();
  const { secret } = await enrol(env);
  env.clock.now = new Date(env.clock.now.getTime() + 30_000);
  const code = await oathtool(secret, env.clock.now);
  assert.equal(await env.mfa.verifyTotp("alice", code), true);
  assert.equal(await env.mfa.verifyTotp("alice", code), false, "replay refused");
  // Still refused a step later, while it is inside the window.
  env.clock.now = new Date(env.clock.now.getTime() + 30_000);
  assert.equal(await env.mfa.verifyTotp("alice", code), false);
  const next = await oathtool(secret, env.clock.now);
  assert.equal(await env.mfa.verifyTotp("alice", next), true);
  // Concurrent logins with one fresh code: exactly one wins.
  env.clock.now = new Date(env.clock.now.getTime() + 30_000);
  const fresh = await oathtool(secret, env.clock.now);
  const results = await Promise.all([
    env.mfa.verifyTotp("alice", fresh),
    env.mfa.verifyTotp("alice", fresh),
  ]);
  assert.deepEqual(results.sort(), [false, true]);
  assert.equal(await env.mfa.verifyTotp("bob", fresh), false, "bob has no TOTP");
  assert.equal(await env.mfa.verifyTotp("nobody", fresh), false);
});

Deno.test("createMfa() verifyTotp() window: ±1 step accepted, ±2 refused (oathtool --now)", async () => {
  await using env = await setup();
  const { secret } = await enrol(env);
  const base = new Date(env.clock.now.getTime() + 10 * 30_000);
  const at = (steps: number) => new Date(base.getTime() + steps * 30_000);
  env.clock.now = base;
  const late = await oathtool(secret, at(2));
  const early = await oathtool(secret, at(-2));
  const window = new Set([-1, 0, 1].map((s) => oathtoolSync(secret, at(s))));
  if (!window.has(early)) assert.equal(await env.mfa.verifyTotp("alice", early), false);
  if (!window.has(late)) assert.equal(await env.mfa.verifyTotp("alice", late), false);
  // One step behind (a slow phone), then one ahead (a fast one): both accepted in order.
  assert.equal(await env.mfa.verifyTotp("alice", await oathtool(secret, at(-1))), true);
  assert.equal(await env.mfa.verifyTotp("alice", await oathtool(secret, at(1))), true);
  // After the +1 step was used, the current step counts as a replay.
  assert.equal(await env.mfa.verifyTotp("alice", await oathtool(secret, at(0))), false);
});

function oathtoolSync(base32: string, at: Date): string {
  const { stdout } = new Deno.Command("oathtool", {
    args: ["--totp", "-b", base32, "--now", at.toISOString()],
  }).outputSync();
  return new TextDecoder().decode(stdout).trim();
}

Deno.test("createMfa() verifyTotp() accepts each recovery code once, in any case", async () => {
  await using env = await setup();
  const { recoveryCodes } = await enrol(env);
  assert.equal(await env.mfa.verifyTotp("alice", recoveryCodes[0]), true);
  assert.equal(await env.mfa.verifyTotp("alice", recoveryCodes[0]), false, "single use");
  assert.equal(await env.mfa.verifyTotp("alice", recoveryCodes[1].toUpperCase()), true);
  assert.equal(await env.mfa.verifyTotp("bob", recoveryCodes[2]), false);
  assert.equal(await env.mfa.verifyTotp("alice", "aaaaa-aaaaa"), false);
  const used = env.db.prepare("SELECT count(*) AS n FROM recovery_codes WHERE used_at IS NOT NULL")
    .get() as { n: number };
  assert.equal(used.n, 2);
  // A new enrolment replaces the old codes.
  env.mfa.disableTotp("alice");
  const { recoveryCodes: fresh } = await enrol(env);
  assert.equal(await env.mfa.verifyTotp("alice", recoveryCodes[3]), false);
  assert.equal(await env.mfa.verifyTotp("alice", fresh[3]), true);
});

Deno.test("createMfa() disableTotp() removes the secret and recovery codes", async () => {
  await using env = await setup();
  const { secret, recoveryCodes } = await enrol(env);
  env.mfa.disableTotp("alice");
  assert.equal(env.mfa.totpEnabled("alice"), false);
  env.clock.now = new Date(env.clock.now.getTime() + 60_000);
  assert.equal(await env.mfa.verifyTotp("alice", await oathtool(secret, env.clock.now)), false);
  assert.equal(await env.mfa.verifyTotp("alice", recoveryCodes[0]), false);
  const n = env.db.prepare(
    "SELECT (SELECT count(*) FROM totp) + (SELECT count(*) FROM recovery_codes) AS n",
  )
    .get() as { n: number };
  assert.equal(n.n, 0);
  assert.throws(() => env.mfa.disableTotp("nobody"), McIasError);
});

Deno.test("createMfa() verifyTotp() agrees with totpCode for the injected clock", async () => {
  await using env = await setup(new Date("2030-06-01T12:00:00Z"));
  const { secret } = await enrol(env);
  env.clock.now = new Date(env.clock.now.getTime() + 30_000);
  const { Secret } = await import("otpauth");
  const raw = Secret.fromBase32(secret).bytes;
  assert.equal(await oathtool(secret, env.clock.now), totpCode(raw, totpStep(env.clock.now)));
});

function fakeAssertion(challenge: string, id = "AAAA"): AuthenticationResponseJSON {
  const clientData = btoa(JSON.stringify({ type: "webauthn.get", challenge }))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  return {
    id,
    rawId: id,
    type: "public-key",
    clientExtensionResults: {},
    response: { clientDataJSON: clientData, authenticatorData: "AAAA", signature: "AAAA" },
  };
}

Deno.test("createMfa() finishPasskeyLogin() refuses an expired or reused challenge", async () => {
  await using env = await setup();
  const options = await env.mfa.beginPasskeyLogin();
  assert.equal(options.rpId, "localhost");
  assert.equal(options.userVerification, "required");
  env.clock.now = new Date(env.clock.now.getTime() + 5 * 60_000 + 1);
  await assert.rejects(
    env.mfa.finishPasskeyLogin(fakeAssertion(options.challenge), { remoteAddr: "192.0.2.1" }),
    (e) => e instanceof LoginFailedError && e.status === 401 && /expired/.test(e.message),
  );
  const again = await env.mfa.beginPasskeyLogin();
  // Unknown credential: counted as a failure against the address, same 401 as a bad signature.
  await assert.rejects(
    env.mfa.finishPasskeyLogin(fakeAssertion(again.challenge), { remoteAddr: "192.0.2.1" }),
    (e) => e instanceof LoginFailedError && e.status === 401 && e.message === "invalid credentials",
  );
  assert.deepEqual(env.completer.calls, ["throttle  192.0.2.1", "failure  192.0.2.1"]);
  await assert.rejects(
    env.mfa.finishPasskeyLogin(fakeAssertion(again.challenge), { remoteAddr: "192.0.2.1" }),
    (e) => e instanceof LoginFailedError && /expired/.test(e.message),
    "a challenge is single use",
  );
});

Deno.test("createMfa() passkey counts and registration options exclude existing passkeys", async () => {
  await using env = await setup();
  env.db.prepare(
    "INSERT INTO webauthn_credentials (id, account_id, public_key, transports) VALUES (?, 1, ?, ?)",
  ).run("Y3JlZC1h", new Uint8Array([1]), '["internal"]');
  assert.equal(env.mfa.passkeyCount("alice"), 1);
  assert.equal(env.mfa.passkeyCount("bob"), 0);
  const reg = await env.mfa.beginPasskeyRegistration("alice");
  assert.deepEqual(reg.excludeCredentials?.map((c) => c.id), ["Y3JlZC1h"]);
  assert.equal(reg.authenticatorSelection?.residentKey, "required");
  await assert.rejects(
    env.mfa.beginPasskeyRegistration("svc"),
    (e) => e instanceof McIasError && e.status === 400,
  );
});

Deno.test("createMfa() beginPasskeyLogin(username): discoverable options for everyone (no enumeration)", async () => {
  await using env = await setup();
  env.db.prepare(
    "INSERT INTO webauthn_credentials (id, account_id, public_key, transports) VALUES (?, 1, ?, ?)",
  ).run("Y3JlZC1h", new Uint8Array([1]), '["internal"]');
  const alice = await env.mfa.beginPasskeyLogin("alice");
  const nobody = await env.mfa.beginPasskeyLogin("nobody");
  assert.deepEqual(alice.allowCredentials ?? [], []);
  assert.deepEqual(Object.keys(alice).sort(), Object.keys(nobody).sort());
});

Deno.test("createMfa() finishPasskeyRegistration() refuses an account disabled meanwhile", async () => {
  await using env = await setup();
  const reg = await env.mfa.beginPasskeyRegistration("alice");
  env.db.exec("UPDATE accounts SET disabled = 1 WHERE username = 'alice'");
  await assert.rejects(
    env.mfa.finishPasskeyRegistration("alice", {
      id: "AAAA",
      rawId: "AAAA",
      type: "public-key",
      clientExtensionResults: {},
      response: { clientDataJSON: reg.challenge, attestationObject: "AAAA" },
    }),
    (e) => e instanceof McIasError && /disabled/.test(e.message),
  );
});

Deno.test("createMfa() reauthenticate(): TOTP code or password, throttled and counted", async () => {
  await using env = await setup();
  const { secret } = await enrol(env);
  env.completer.calls = [];
  await assert.rejects(
    env.mfa.reauthenticate("alice", { code: "000000", remoteAddr: "192.0.2.1" }),
    (e) => e instanceof LoginFailedError && e.status === 401,
  );
  assert.deepEqual(env.completer.calls, ["throttle alice 192.0.2.1", "failure alice 192.0.2.1"]);
  env.clock.now = new Date(env.clock.now.getTime() + 60_000);
  await env.mfa.reauthenticate("alice", {
    code: await oathtool(secret, env.clock.now),
    remoteAddr: "192.0.2.1",
  });
  // No password verifier in this completer: a password cannot pass.
  await assert.rejects(
    env.mfa.reauthenticate("bob", { password: "whatever password", remoteAddr: "192.0.2.1" }),
    (e) => e instanceof LoginFailedError && e.status === 401,
  );
  await assert.rejects(
    env.mfa.reauthenticate("bob", { remoteAddr: "192.0.2.1" }),
    (e) => e instanceof LoginFailedError && e.status === 401,
  );
});
