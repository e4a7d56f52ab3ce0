/**
 * Byte helpers shared by the CSRF and SSO code: random tokens, base64url and
 * constant-time comparison. Package-private.
 *
 * @module
 */

/**
 * Returns `size` random bytes from the platform CSPRNG as unpadded base64url.
 *
 * @param size How many random bytes to draw.
 * @returns The bytes, base64url-encoded without padding.
 */
export function randomToken(size = 32): string {
  return encodeBase64Url(crypto.getRandomValues(new Uint8Array(size)));
}

/**
 * Encodes bytes as unpadded base64url (RFC 4648 §5).
 *
 * @param bytes The bytes to encode.
 * @returns The encoded text.
 */
export function encodeBase64Url(bytes: Uint8Array): string {
  return bytes.toBase64({ alphabet: "base64url", omitPadding: true });
}

/**
 * Decodes unpadded base64url, or returns `undefined` when `text` is not
 * base64url: callers treat undecodable input as a failed check, not a crash.
 *
 * @param text The text to decode.
 * @returns The bytes, or `undefined`.
 */
export function decodeBase64Url(text: string): Uint8Array | undefined {
  try {
    return Uint8Array.fromBase64(text, { alphabet: "base64url" });
  } catch {
    return undefined;
  }
}

/**
 * Compares two byte strings in time that depends only on their lengths, so
 * an attacker cannot learn a secret one matching byte at a time.
 *
 * @param a First value.
 * @param b Second value.
 * @returns Whether they are equal.
 */
export function timingSafeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < a.byteLength; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Compares two strings in constant time (for equal lengths).
 *
 * @param a First value.
 * @param b Second value.
 * @returns Whether they are equal.
 */
export function timingSafeEqualText(a: string, b: string): boolean {
  const encoder = new TextEncoder();
  return timingSafeEqual(encoder.encode(a), encoder.encode(b));
}
