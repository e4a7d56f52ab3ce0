import assert from "node:assert/strict";
import { loadMasterKey, MasterKey, masterKeyPath, UnsealError } from "./secrets.ts";

Deno.test("loadMasterKey() creates a 0600 key once and reads it back", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const key = loadMasterKey(dir);
    const info = await Deno.stat(masterKeyPath(dir));
    assert.equal(info.mode! & 0o777, 0o600);
    assert.equal(info.size, 32);
    assert.equal(loadMasterKey(dir).equals(key), true);
    await Deno.writeFile(masterKeyPath(dir), new Uint8Array(5));
    assert.throws(() => loadMasterKey(dir), /expected 32 bytes, got 5/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("MasterKey.seal() round-trips and binds the context", () => {
  const key = new MasterKey(crypto.getRandomValues(new Uint8Array(32)));
  const sealed = key.seal("top secret", "totp:1");
  assert.ok(!new TextDecoder().decode(sealed).includes("top secret"));
  assert.equal(key.openText(sealed, "totp:1"), "top secret");
  assert.throws(() => key.open(sealed, "totp:2"), UnsealError);
  const tampered = new Uint8Array(sealed);
  tampered[20] ^= 1;
  assert.throws(() => key.open(tampered, "totp:1"), UnsealError);
  const other = new MasterKey(crypto.getRandomValues(new Uint8Array(32)));
  assert.throws(() => other.open(sealed, "totp:1"), /wrong master key or tampered data/);
  assert.throws(() => new MasterKey(new Uint8Array(16)), RangeError);
  // Same plaintext, different ciphertext (fresh IV).
  assert.notDeepEqual(key.seal("top secret", "totp:1"), sealed);
});
