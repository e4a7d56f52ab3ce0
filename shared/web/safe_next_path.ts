/**
 * Open-redirect guard for `next` parameters.
 *
 * @module
 */

/** Longest `next` value kept; longer ones are refused rather than truncated. */
const MAX_LENGTH = 2048;

/**
 * Returns `value` when it is a same-origin path that is safe to redirect to
 * after sign-in, else `fallback`.
 *
 * Safe means: starts with exactly one `/` (so not `//evil.com`, which
 * browsers read as another host), holds no backslash (browsers turn `/\evil.com`
 * into `//evil.com`), no control characters (browsers drop tabs and newlines,
 * so `/\t/evil.com` would become `//evil.com`) and resolves to the same
 * origin it started from.
 *
 * @param value The requested path, e.g. the `next` query parameter.
 * @param fallback What to use instead of an unsafe or missing value.
 * @returns `value` or `fallback`.
 *
 * @example
 * ```ts
 * import { safeNextPath } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * assert.equal(safeNextPath("/repos?page=2"), "/repos?page=2");
 * assert.equal(safeNextPath("//evil.com"), "/");
 * assert.equal(safeNextPath("https://evil.com", "/home"), "/home");
 * ```
 */
export function safeNextPath(value: string | null | undefined, fallback = "/"): string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_LENGTH) return fallback;
  if (value[0] !== "/" || value[1] === "/" || value.includes("\\")) return fallback;
  // deno-lint-ignore no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) return fallback;
  const base = "https://next.invalid";
  let url: URL;
  try {
    url = new URL(value, base);
  } catch {
    return fallback;
  }
  return url.origin === base ? value : fallback;
}
