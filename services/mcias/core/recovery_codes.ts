/**
 * TOTP recovery codes: ten random single-use codes per enrolment, shown once
 * and stored only as SHA-256 hashes.
 *
 * @module
 */

/** Codes issued per TOTP enrolment. */
export const RECOVERY_CODE_COUNT = 10;

// 32 symbols without look-alikes (no 0/o, 1/l): each random byte masked to
// 5 bits picks one uniformly; 10 symbols give 50 bits per code.
const ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789";
const CODE_SYMBOLS = 10;

/**
 * Generates `count` recovery codes, formatted `xxxxx-xxxxx`.
 *
 * @param count How many.
 * @returns The plain codes, to show the user once.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { generateRecoveryCodes } from "./recovery_codes.ts";
 *
 * const codes = generateRecoveryCodes();
 * assert.equal(codes.length, 10);
 * assert.match(codes[0], /^[a-z2-9]{5}-[a-z2-9]{5}$/);
 * ```
 */
export function generateRecoveryCodes(count: number = RECOVERY_CODE_COUNT): string[] {
  const codes: string[] = [];
  for (let i = 0; i < count; i++) {
    const bytes = crypto.getRandomValues(new Uint8Array(CODE_SYMBOLS));
    const symbols = Array.from(bytes, (b) => ALPHABET[b & 31]).join("");
    codes.push(`${symbols.slice(0, 5)}-${symbols.slice(5)}`);
  }
  return codes;
}

/**
 * Whether `input` has the shape of a recovery code (case, dashes and spaces
 * ignored), as opposed to a six-digit TOTP code.
 *
 * @param input What the user typed.
 * @returns True for ten symbols of the recovery alphabet.
 */
export function looksLikeRecoveryCode(input: string): boolean {
  return new RegExp(`^[${ALPHABET}]{${CODE_SYMBOLS}}$`).test(normalize(input));
}

/**
 * The stored form of a recovery code: SHA-256 (hex) of the code without
 * case, dashes or spaces, so `ABCDE-FGHJK` and `abcdefghjk` match.
 *
 * @param code A recovery code as typed.
 * @returns Lowercase hex digest.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashRecoveryCode } from "./recovery_codes.ts";
 *
 * assert.equal(await hashRecoveryCode("ABCDE-FGHJK"), await hashRecoveryCode("abcdefghjk"));
 * ```
 */
export async function hashRecoveryCode(code: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(normalize(code)),
  );
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function normalize(code: string): string {
  return code.toLowerCase().replace(/[\s-]/g, "");
}
