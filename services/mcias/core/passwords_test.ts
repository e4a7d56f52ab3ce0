import assert from "node:assert/strict";
import {
  checkPasswordPolicy,
  DEFAULT_ARGON2,
  DummyVerifier,
  hashPassword,
  needsRehash,
  verifyPassword,
} from "./passwords.ts";

const SMALL = { memoryKib: 64, iterations: 1, parallelism: 1 };

Deno.test("hashPassword() makes a PHC string that verifyPassword() accepts", async () => {
  const phc = await hashPassword("correct horse battery", SMALL);
  assert.match(phc, /^\$argon2id\$v=19\$m=64,t=1,p=1\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$/);
  assert.equal(await verifyPassword("correct horse battery", phc), true);
  assert.equal(await verifyPassword("correct horse batterY", phc), false);
  assert.equal(await verifyPassword("correct horse battery", phc.slice(0, -2)), false);
  assert.equal(await verifyPassword("x", "not a hash"), false);
  // Fresh salt every time.
  assert.notEqual(await hashPassword("correct horse battery", SMALL), phc);
});

Deno.test("needsRehash() tells hashes made with other parameters", async () => {
  const phc = await hashPassword("correct horse battery", SMALL);
  assert.equal(needsRehash(phc, SMALL), false);
  assert.equal(needsRehash(phc, DEFAULT_ARGON2), true);
});

Deno.test("checkPasswordPolicy() wants 12 to 1024 characters", () => {
  assert.throws(() => checkPasswordPolicy("short"), /too short: 5 characters, at least 12/);
  assert.throws(() => checkPasswordPolicy("x".repeat(1025)), /too long/);
  assert.throws(() => checkPasswordPolicy(42), TypeError);
  checkPasswordPolicy("twelve chars");
});

Deno.test("DummyVerifier.verify() always answers false", async () => {
  const dummy = new DummyVerifier(SMALL);
  assert.equal(await dummy.verify("anything at all"), false);
  assert.equal(await dummy.verify(""), false);
});

Deno.test("verifyPassword() with the default parameters: p50 login cost", async () => {
  const phc = await hashPassword("correct horse battery", DEFAULT_ARGON2);
  const times: number[] = [];
  for (let i = 0; i < 7; i++) {
    const start = performance.now();
    assert.equal(await verifyPassword("correct horse battery", phc), true);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  console.log(`argon2id m=19456 t=2 p=1 verify p50: ${times[3].toFixed(1)} ms`);
  assert.ok(times[3] < 2000, `p50 ${times[3]} ms`);
});
