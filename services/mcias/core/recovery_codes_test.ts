import assert from "node:assert/strict";
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  looksLikeRecoveryCode,
} from "./recovery_codes.ts";

Deno.test("generateRecoveryCodes() gives ten distinct codes of the recovery shape", () => {
  const codes = generateRecoveryCodes();
  assert.equal(codes.length, 10);
  assert.equal(new Set(codes).size, 10);
  for (const code of codes) {
    assert.match(code, /^[a-km-np-z2-9]{5}-[a-km-np-z2-9]{5}$/);
    assert.ok(looksLikeRecoveryCode(code));
    assert.ok(looksLikeRecoveryCode(code.toUpperCase().replace("-", " ")));
  }
});

Deno.test("looksLikeRecoveryCode() refuses TOTP codes and other text", () => {
  for (const s of ["123456", "", "abcde-fghj", "abcde-fghjkl", "abcde-fgh0k"]) {
    assert.equal(looksLikeRecoveryCode(s), false, s);
  }
});

Deno.test("hashRecoveryCode() is SHA-256 hex of the normalized code", async () => {
  const hash = await hashRecoveryCode("ABCDE-FGHJK");
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.equal(hash, await hashRecoveryCode("abcdefghjk"));
  assert.notEqual(hash, await hashRecoveryCode("abcdefghjm"));
});
