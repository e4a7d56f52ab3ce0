import assert from "node:assert/strict";
import { join } from "node:path";
import { migrate, openDatabase } from "@mc/mcdsl/db";
import { MIGRATIONS } from "./migrations.ts";
import { MasterKey } from "./secrets.ts";
import { SigningKeys } from "./signing.ts";
import { tokenHash, TokenSigner } from "./tokens.ts";

async function setup() {
  const dir = await Deno.makeTempDir();
  const db = openDatabase(join(dir, "t.db"));
  migrate(db, MIGRATIONS);
  const masterKey = new MasterKey(crypto.getRandomValues(new Uint8Array(32)));
  const clock = { now: Date.now() };
  const keys = new SigningKeys(db, masterKey, () => clock.now);
  const signer = new TokenSigner(keys, { issuer: "https://mcias.test", now: () => clock.now });
  return {
    dir,
    db,
    masterKey,
    keys,
    signer,
    clock,
    async [Symbol.asyncDispose]() {
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

function b64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replaceAll("=", "");
}

function fromB64url(text: string): Uint8Array {
  const b64 = text.replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(atob(b64 + "=".repeat((4 - b64.length % 4) % 4)), (c) => c.charCodeAt(0));
}

/** Ed25519 SPKI PEM from the JWK's raw `x`. */
function spkiPem(x: string): string {
  const prefix = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
  const der = new Uint8Array([...prefix, ...fromB64url(x)]);
  return `-----BEGIN PUBLIC KEY-----\n${
    btoa(String.fromCharCode(...der))
  }\n-----END PUBLIC KEY-----\n`;
}

async function opensslVerify(dir: string, pem: string, data: string, sig: Uint8Array) {
  await Deno.writeTextFile(join(dir, "pub.pem"), pem);
  await Deno.writeTextFile(join(dir, "data"), data);
  await Deno.writeFile(join(dir, "sig"), sig);
  const out = await new Deno.Command("openssl", {
    args: [
      "pkeyutl",
      "-verify",
      "-pubin",
      "-inkey",
      join(dir, "pub.pem"),
      "-rawin",
      "-in",
      join(dir, "data"),
      "-sigfile",
      join(dir, "sig"),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, text: new TextDecoder().decode(out.stdout) };
}

Deno.test("TokenSigner.issue(): EdDSA JWT with kid, verified by openssl against the JWKS key", async () => {
  await using t = await setup();
  const { token, claims } = await t.signer.issue({
    username: "alice",
    roles: ["user"],
    accountType: "human",
    kind: "session",
    ttlMs: 3600_000,
  });
  const [h, p, s] = token.split(".");
  const header = JSON.parse(new TextDecoder().decode(fromB64url(h)));
  const payload = JSON.parse(new TextDecoder().decode(fromB64url(p)));
  assert.equal(header.alg, "EdDSA");
  const jwks = t.keys.jwks();
  assert.equal(jwks.keys.length, 1);
  const jwk = jwks.keys[0] as JsonWebKey & { kid: string };
  assert.equal(header.kid, jwk.kid);
  assert.equal(jwk.d, undefined, "JWKS must not publish the private key");
  assert.deepEqual(payload, claims);
  assert.deepEqual(Object.keys(payload).sort(), [
    "account_type",
    "exp",
    "iat",
    "iss",
    "jti",
    "roles",
    "sub",
    "typ",
  ]);
  assert.equal(payload.exp - payload.iat, 3600);
  const pem = spkiPem(jwk.x!);
  const good = await opensslVerify(t.dir, pem, `${h}.${p}`, fromB64url(s));
  assert.equal(good.code, 0, good.text);
  assert.match(good.text, /Signature Verified Successfully/);
  const forged = b64url(new TextEncoder().encode(JSON.stringify({ ...payload, roles: ["admin"] })));
  const bad = await opensslVerify(t.dir, pem, `${h}.${forged}`, fromB64url(s));
  assert.notEqual(bad.code, 0);
});

Deno.test("TokenSigner.verify() refuses expired, foreign-issuer, tampered and alg-none tokens", async () => {
  await using t = await setup();
  const { token } = await t.signer.issue({
    username: "alice",
    roles: [],
    accountType: "human",
    kind: "session",
    ttlMs: 60_000,
  });
  assert.equal((await t.signer.verify(token))?.sub, "alice");
  const [h, p, s] = token.split(".");
  const payload = JSON.parse(new TextDecoder().decode(fromB64url(p)));
  const tampered = `${h}.${
    b64url(new TextEncoder().encode(JSON.stringify({ ...payload, sub: "root" })))
  }.${s}`;
  assert.equal(await t.signer.verify(tampered), undefined);
  const none = `${b64url(new TextEncoder().encode('{"alg":"none"}'))}.${p}.`;
  assert.equal(await t.signer.verify(none), undefined);
  assert.equal(await t.signer.verify(""), undefined);
  assert.equal(await t.signer.verify("x".repeat(20_000)), undefined);
  const other = new TokenSigner(t.keys, { issuer: "https://elsewhere", now: () => t.clock.now });
  assert.equal(await other.verify(token), undefined);
  t.clock.now += 61_000;
  assert.equal(await t.signer.verify(token), undefined, "expired (even from the cache)");
});

Deno.test("SigningKeys: one key per database, private key sealed, found again after reopening", async () => {
  await using t = await setup();
  const first = t.keys.active();
  const row = t.db.prepare("SELECT private_key, public_jwk FROM signing_keys").get() as {
    private_key: Uint8Array;
    public_jwk: string;
  };
  assert.ok(!new TextDecoder().decode(row.private_key).includes(first.privateJwk.d!));
  assert.equal(JSON.parse(row.public_jwk).d, undefined);
  const again = new SigningKeys(t.db, t.masterKey);
  assert.equal(again.active().kid, first.kid);
  const wrongKey = new MasterKey(crypto.getRandomValues(new Uint8Array(32)));
  assert.throws(() => new SigningKeys(t.db, wrongKey), /wrong master key/);
});

Deno.test("tokenHash() is the SHA-256 hex of the token", () => {
  assert.equal(
    tokenHash("abc"),
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
  );
});
