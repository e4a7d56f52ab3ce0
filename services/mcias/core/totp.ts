/**
 * TOTP (RFC 6238) as authenticator apps implement it: HMAC-SHA-1, six
 * digits, 30-second steps, one step of drift allowed either way. Callers
 * keep the last step accepted and pass it back, so a code is accepted once.
 *
 * @module
 */

import { HOTP, Secret, TOTP } from "otpauth";

/** Seconds per step. */
export const TOTP_PERIOD = 30;
/** Digits per code. */
export const TOTP_DIGITS = 6;
/** Steps of clock drift accepted either side of now. */
export const TOTP_WINDOW = 1;
/** Secret length in bytes (160 bits, the RFC 4226 recommendation). */
export const TOTP_SECRET_BYTES = 20;

/**
 * A new random TOTP secret.
 *
 * @returns {@linkcode TOTP_SECRET_BYTES} random bytes.
 */
export function generateTotpSecret(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(TOTP_SECRET_BYTES));
}

/**
 * The base32 form of a secret, as typed into an authenticator app.
 *
 * @param secret Raw secret bytes.
 * @returns RFC 4648 base32, no padding.
 */
export function totpBase32(secret: Uint8Array): string {
  return new Secret({ buffer: secret.slice().buffer }).base32;
}

/**
 * The `otpauth://totp/…` URI an authenticator app enrols from.
 *
 * @param secret Raw secret bytes.
 * @param options `issuer` (the platform name the app shows) and `account`
 *   (the username).
 * @returns The key URI.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { totpUri } from "./totp.ts";
 *
 * const uri = totpUri(new Uint8Array(20), { issuer: "Metacircular", account: "alice" });
 * assert.match(uri, /^otpauth:\/\/totp\/Metacircular:alice\?/);
 * assert.match(uri, /secret=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/);
 * ```
 */
export function totpUri(secret: Uint8Array, options: { issuer: string; account: string }): string {
  return new TOTP({
    issuer: options.issuer,
    label: options.account,
    secret: new Secret({ buffer: secret.slice().buffer }),
    algorithm: "SHA1",
    digits: TOTP_DIGITS,
    period: TOTP_PERIOD,
  }).toString();
}

/**
 * The time step `at` falls in.
 *
 * @param at A time.
 * @returns `floor(unix seconds / 30)`.
 */
export function totpStep(at: Date): number {
  return Math.floor(at.getTime() / 1000 / TOTP_PERIOD);
}

/**
 * The code for one step.
 *
 * @param secret Raw secret bytes.
 * @param step The time step.
 * @returns Six digits.
 */
export function totpCode(secret: Uint8Array, step: number): string {
  return HOTP.generate({
    secret: new Secret({ buffer: secret.slice().buffer }),
    algorithm: "SHA1",
    digits: TOTP_DIGITS,
    counter: step,
  });
}

/**
 * Checks `code` against the steps around `at`, refusing steps at or before
 * `lastStep` (already used, or older than a used one). Every step in the
 * window is computed and compared in constant time, so timing does not tell
 * which step matched.
 *
 * @param secret Raw secret bytes.
 * @param code What the user typed (spaces ignored).
 * @param at Now.
 * @param lastStep The last step accepted for this secret (0 when none).
 * @returns The matched step, to store as the new `lastStep`, or `undefined`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { matchTotp, totpCode, totpStep } from "./totp.ts";
 *
 * const secret = new Uint8Array(20).fill(7);
 * const now = new Date("2026-01-01T00:00:00Z");
 * const step = totpStep(now);
 * assert.equal(matchTotp(secret, totpCode(secret, step), now, 0), step);
 * assert.equal(matchTotp(secret, totpCode(secret, step), now, step), undefined);
 * ```
 */
export function matchTotp(
  secret: Uint8Array,
  code: string,
  at: Date,
  lastStep: number,
): number | undefined {
  const typed = code.replace(/\s/g, "");
  if (!new RegExp(`^\\d{${TOTP_DIGITS}}$`).test(typed)) return undefined;
  const current = totpStep(at);
  let matched: number | undefined;
  for (let step = current - TOTP_WINDOW; step <= current + TOTP_WINDOW; step++) {
    const equal = constantTimeEqual(totpCode(secret, step), typed);
    if (equal && step > lastStep && matched === undefined) matched = step;
  }
  return matched;
}

function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i);
  return diff === 0;
}
