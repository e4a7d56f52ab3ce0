/**
 * Go-style duration strings ("500ms", "10s", "1h30m") to milliseconds.
 *
 * @module
 */

const UNIT_MS: Readonly<Record<string, bigint>> = {
  h: 3_600_000n,
  m: 60_000n,
  s: 1_000n,
  ms: 1n,
};

// Longest unit first, so "ms" is tried before "m".
const PART = /^(\d+(?:\.\d*)?|\.\d+)(ms|h|m|s)(?![A-Za-zµμ])/;

const EXAMPLES = `such as "500ms", "10s", "5m" or "1h30m"`;

/** @internal The outcome of reading a duration: milliseconds, or why it is not one. */
export type DurationCheck = { ms: number } | { reason: string; range?: boolean };

/**
 * @internal Reads a duration without throwing, so the config loader can
 * report every bad value at once.
 */
export function checkDuration(text: string): DurationCheck {
  if (text === "") return { reason: "the value is empty" };
  if (text === "0") return { ms: 0 };
  if (text.startsWith("-")) return { reason: "negative durations are not allowed", range: true };
  let rest = text.startsWith("+") ? text.slice(1) : text;
  // Exact arithmetic: 1.1s must be 1100 ms, not 1100.0000000000002.
  let total = 0n;
  let parts = 0;
  while (rest !== "") {
    const match = PART.exec(rest);
    if (match === null) {
      const number = /^(\d+(?:\.\d*)?|\.\d+)/.exec(rest);
      if (number === null) return { reason: `"${rest}" does not start with a number` };
      const unit = /^[a-zA-Zµμ]+/.exec(rest.slice(number[0].length));
      return unit === null
        ? { reason: `"${number[0]}" is missing a unit (h, m, s or ms)` }
        : { reason: `unknown unit "${unit[0]}" (use h, m, s or ms)` };
    }
    const [whole, frac = ""] = match[1].split(".");
    const scale = 10n ** BigInt(frac.length);
    const scaled = BigInt((whole || "0") + frac) * UNIT_MS[match[2]];
    if (scaled % scale !== 0n) {
      return { reason: `"${match[0]}" is finer than a millisecond`, range: true };
    }
    total += scaled / scale;
    rest = rest.slice(match[0].length);
    parts++;
  }
  if (parts === 0) return { reason: "no number and unit found" };
  if (total > BigInt(Number.MAX_SAFE_INTEGER)) {
    return { reason: "the value is too large", range: true };
  }
  return { ms: Number(total) };
}

/**
 * Parses a duration written the way Go's `time.ParseDuration` writes it, a
 * sequence of decimal numbers each followed by a unit (`h`, `m`, `s`, `ms`),
 * and returns it in milliseconds. `"0"` alone is also accepted.
 *
 * Units finer than a millisecond and negative durations are rejected: config
 * durations are timeouts and intervals, and JavaScript timers count whole
 * milliseconds.
 *
 * @param text The duration, for example `"1h30m"` or `"1.5s"`.
 * @returns The duration in milliseconds.
 * @throws {SyntaxError} If `text` is not a duration (no unit, unknown unit).
 * @throws {RangeError} If it is negative, finer than 1 ms or too large.
 *
 * @example Parse durations
 * ```ts
 * import { parseDuration } from "@mc/mcdsl/config";
 * import assert from "node:assert/strict";
 *
 * assert.equal(parseDuration("500ms"), 500);
 * assert.equal(parseDuration("1h30m"), 5_400_000);
 * assert.equal(parseDuration("1.5s"), 1500);
 * assert.throws(() => parseDuration("10"), SyntaxError);
 * ```
 */
export function parseDuration(text: string): number {
  const result = checkDuration(text);
  if ("ms" in result) return result.ms;
  const message = `Cannot parse duration "${text}": ${result.reason}; ` +
    `write a number followed by a unit, ${EXAMPLES}`;
  throw result.range ? new RangeError(message) : new SyntaxError(message);
}

/** @internal Used in messages: what a duration looks like. */
export const DURATION_EXPECTED = `a duration ${EXAMPLES}`;
