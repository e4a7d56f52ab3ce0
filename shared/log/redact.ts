/**
 * Key-based redaction of secrets in structured values.
 *
 * @module
 */

/** What replaces a secret value. */
export const REDACTED = "[REDACTED]";

// Keys whose values are secrets wherever they appear (compared lowercased,
// with `-` and `_` removed, so `Set-Cookie`, `api_key` and `apiKey` all match).
const SECRET_KEY =
  /^(password|passwd|passphrase|secret|token|authorization|cookie|setcookie|key|privatekey|apikey|totp|totpcode|code|codeverifier|credentials?|session)$|(password|secret|token|privatekey|apikey)$/;

const MAX_DEPTH = 8;

/**
 * Whether a field named `key` holds a secret.
 *
 * @example Usage
 * ```ts
 * import { isSecretKey } from "./redact.ts";
 * import assert from "node:assert/strict";
 * assert.equal(isSecretKey("Authorization"), true);
 * assert.equal(isSecretKey("refresh_token"), true);
 * assert.equal(isSecretKey("username"), false);
 * ```
 */
export function isSecretKey(key: string): boolean {
  return SECRET_KEY.test(key.toLowerCase().replace(/[-_]/g, ""));
}

/**
 * Returns a copy of `value` in which every value under a secret-looking key
 * is replaced by {@linkcode REDACTED}, recursively through objects, arrays,
 * `Map`s and `Headers`.
 *
 * @param value Anything about to be logged.
 * @returns A JSON-safe copy with secrets removed.
 *
 * @example Usage
 * ```ts
 * import { redact } from "./redact.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(redact({ user: "ana", password: "hunter2" }), { user: "ana", password: "[REDACTED]" });
 * ```
 */
export function redact(value: unknown): unknown {
  return redactAt(value, 0, new WeakSet());
}

function redactAt(value: unknown, depth: number, seen: WeakSet<object>): unknown {
  if (value === null || typeof value !== "object") {
    return typeof value === "bigint" ? value.toString() : value;
  }
  if (seen.has(value)) return "[Circular]";
  if (depth >= MAX_DEPTH) return "[Truncated]";
  seen.add(value);
  if (value instanceof Error) {
    return { name: value.name, message: value.message };
  }
  if (value instanceof Date) return value.toISOString();
  if (value instanceof Uint8Array) return `[${value.byteLength} bytes]`;
  if (Array.isArray(value)) return value.map((v) => redactAt(v, depth + 1, seen));
  const entries: Iterable<[string, unknown]> = value instanceof Headers || value instanceof Map
    ? value.entries()
    : Object.entries(value);
  const out: Record<string, unknown> = {};
  for (const [k, v] of entries) {
    out[k] = isSecretKey(k) ? REDACTED : redactAt(v, depth + 1, seen);
  }
  return out;
}
