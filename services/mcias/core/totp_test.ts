import assert from "node:assert/strict";
import { matchTotp, totpBase32, totpCode, totpStep, totpUri } from "./totp.ts";

/** The real peer: GNU oathtool's TOTP for a base32 secret at a fixed time. */
async function oathtool(base32: string, at: Date): Promise<string> {
  const { code, stdout, stderr } = await new Deno.Command("oathtool", {
    args: ["--totp", "-b", base32, "--now", at.toISOString()],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(code, 0, new TextDecoder().decode(stderr));
  return new TextDecoder().decode(stdout).trim();
}

const RFC_SECRET = new TextEncoder().encode("12345678901234567890");

Deno.test("totpCode() matches RFC 6238 SHA-1 test vectors, truncated to six digits", () => {
  assert.equal(totpCode(RFC_SECRET, totpStep(new Date(59_000))), "287082");
  assert.equal(totpCode(RFC_SECRET, totpStep(new Date(1_111_111_109_000))), "081804");
  assert.equal(totpCode(RFC_SECRET, totpStep(new Date(2_000_000_000_000))), "279037");
});

Deno.test("totpCode() agrees with oathtool for random secrets and times", async () => {
  for (let i = 0; i < 5; i++) {
    const secret = crypto.getRandomValues(new Uint8Array(20));
    const at = new Date(Date.UTC(2026, 0, 1) + i * 7_777_777_000);
    assert.equal(totpCode(secret, totpStep(at)), await oathtool(totpBase32(secret), at));
  }
});

Deno.test("totpUri() names issuer, account and the RFC 6238 parameters", () => {
  const secret = crypto.getRandomValues(new Uint8Array(20));
  const uri = new URL(totpUri(secret, { issuer: "Metacircular", account: "alice" }));
  assert.equal(uri.protocol, "otpauth:");
  assert.equal(uri.host, "totp");
  assert.equal(decodeURIComponent(uri.pathname), "/Metacircular:alice");
  assert.equal(uri.searchParams.get("issuer"), "Metacircular");
  assert.equal(uri.searchParams.get("secret"), totpBase32(secret));
  assert.equal(uri.searchParams.get("algorithm"), "SHA1");
  assert.equal(uri.searchParams.get("digits"), "6");
  assert.equal(uri.searchParams.get("period"), "30");
});

Deno.test("matchTotp() accepts oathtool codes one step either side and refuses two", async () => {
  const secret = crypto.getRandomValues(new Uint8Array(20));
  const b32 = totpBase32(secret);
  const now = new Date("2026-03-04T05:06:15Z");
  const step = totpStep(now);
  for (const offset of [-1, 0, 1]) {
    const code = await oathtool(b32, new Date(now.getTime() + offset * 30_000));
    assert.equal(matchTotp(secret, code, now, 0), step + offset, `offset ${offset}`);
  }
  for (const offset of [-2, 2]) {
    const code = await oathtool(b32, new Date(now.getTime() + offset * 30_000));
    // A code from two steps away could collide with a window code by chance (1e-6).
    if (
      code === totpCode(secret, step - 1) || code === totpCode(secret, step) ||
      code === totpCode(secret, step + 1)
    ) continue;
    assert.equal(matchTotp(secret, code, now, 0), undefined, `offset ${offset}`);
  }
});

Deno.test("matchTotp() refuses a step at or before lastStep and malformed input", async () => {
  const secret = crypto.getRandomValues(new Uint8Array(20));
  const now = new Date("2026-03-04T05:06:15Z");
  const step = totpStep(now);
  const code = await oathtool(totpBase32(secret), now);
  assert.equal(matchTotp(secret, code, now, step), undefined);
  assert.equal(matchTotp(secret, code, now, step + 1), undefined);
  assert.equal(matchTotp(secret, code, now, step - 1), step);
  assert.equal(matchTotp(secret, `${code.slice(0, 3)} ${code.slice(3)}`, now, 0), step);
  for (const bad of ["", "12345", "1234567", "abcdef", "12345a"]) {
    assert.equal(matchTotp(secret, bad, now, 0), undefined, bad);
  }
});
