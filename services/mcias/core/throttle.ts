/**
 * Failure throttling: a key (an account, a client address) that fails
 * `limit` times within `windowMs` is locked for `windowMs`.
 *
 * In memory: the server is the only process that logs users in, and a
 * restart forgetting counters only gives back what a lockout took.
 *
 * @module
 */

/** Options for {@linkcode Throttle}. */
export interface ThrottleOptions {
  /** Failures within the window that lock the key. */
  limit: number;
  /** Counting window and lockout length, in milliseconds. */
  windowMs: number;
  /**
   * Most keys tracked; the oldest unlocked keys are forgotten first (a
   * locked key is only dropped when every key is locked, soonest-ending
   * lock first).
   * @default {100_000}
   */
  maxKeys?: number;
  /**
   * Current time in epoch milliseconds.
   * @default {Date.now}
   */
  now?: () => number;
}

interface Entry {
  failures: number[];
  lockedUntil: number;
}

/** Counts failures per key and locks keys over budget. */
export class Throttle {
  #limit: number;
  #windowMs: number;
  #maxKeys: number;
  #now: () => number;
  #entries = new Map<string, Entry>();
  #pending = new Map<string, number>();

  /** @throws {RangeError} When limit or window is not positive. */
  constructor(options: ThrottleOptions) {
    const { limit, windowMs, maxKeys = 100_000, now = Date.now } = options;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new RangeError(`Cannot create throttle: limit must be >= 1, got ${limit}`);
    }
    if (!(windowMs > 0)) {
      throw new RangeError(`Cannot create throttle: windowMs must be > 0, got ${windowMs}`);
    }
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#maxKeys = maxKeys;
    this.#now = now;
  }

  /** Seconds until `key` may try again; 0 when it is not locked. */
  retryAfterSeconds(key: string): number {
    const entry = this.#entries.get(key);
    if (entry === undefined) return 0;
    const now = this.#now();
    if (entry.lockedUntil > now) return Math.max(1, Math.ceil((entry.lockedUntil - now) / 1000));
    if (entry.lockedUntil !== 0) this.#entries.delete(key);
    return 0;
  }

  /** Counts one failure for `key`; locks it when this reaches the limit. */
  fail(key: string): void {
    const now = this.#now();
    let entry = this.#entries.get(key);
    if (entry === undefined) {
      if (this.#entries.size >= this.#maxKeys) this.#evict(now);
      entry = { failures: [], lockedUntil: 0 };
      this.#entries.set(key, entry);
    }
    if (entry.lockedUntil > now) return;
    entry.failures = entry.failures.filter((t) => t > now - this.#windowMs);
    entry.failures.push(now);
    if (entry.failures.length >= this.#limit) {
      entry.lockedUntil = now + this.#windowMs;
      entry.failures = [];
    }
  }

  /**
   * Reserves an attempt for `key` before its (slow) check: the attempt
   * counts against the budget until released, so concurrent attempts
   * cannot all pass the throttle before any failure is recorded.
   *
   * @returns A release function (call it once, after recording any
   *   failure), or `undefined` when failures plus attempts in flight
   *   already reach the limit.
   */
  reserve(key: string): (() => void) | undefined {
    const now = this.#now();
    const entry = this.#entries.get(key);
    const failures = entry === undefined
      ? 0
      : entry.lockedUntil > now
      ? this.#limit
      : entry.failures.filter((t) => t > now - this.#windowMs).length;
    const pending = this.#pending.get(key) ?? 0;
    if (failures + pending >= this.#limit) return undefined;
    this.#pending.set(key, pending + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#pending.get(key) ?? 1) - 1;
      if (left <= 0) this.#pending.delete(key);
      else this.#pending.set(key, left);
    };
  }

  // Makes room for a new key: drops the oldest entry that is not locked
  // (a locked key must never be flushed out by a flood of new keys); when
  // every entry is locked, the one whose lock ends first.
  #evict(now: number): void {
    let victim: string | undefined;
    let soonest = Infinity;
    for (const [key, entry] of this.#entries) {
      if (entry.lockedUntil <= now) {
        victim = key;
        break;
      }
      if (entry.lockedUntil < soonest) {
        soonest = entry.lockedUntil;
        victim = key;
      }
    }
    if (victim !== undefined) this.#entries.delete(victim);
  }

  /** Forgets `key`'s failures (after a successful login). */
  reset(key: string): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined && entry.lockedUntil <= this.#now()) this.#entries.delete(key);
  }

  /** Number of keys tracked. */
  get size(): number {
    return this.#entries.size;
  }
}

/**
 * The throttle key for a client address: IPv4 (and IPv4-mapped IPv6) whole,
 * other IPv6 by its /64, since one host usually holds a whole /64.
 *
 * @param address A peer address as the transport reports it.
 */
export function addressKey(address: string): string {
  const addr = String(address).replace(/^\[|\]$/g, "").replace(/%.*$/, "");
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (mapped !== null) return mapped[1];
  if (!addr.includes(":")) return addr;
  const [head, tail = ""] = addr.split("::", 2);
  const left = head === "" ? [] : head.split(":");
  const right = addr.includes("::") ? (tail === "" ? [] : tail.split(":")) : [];
  if (right.some((g) => g.includes(".")) || left.some((g) => g.includes("."))) {
    // Embedded IPv4 tail: only the first 64 bits matter; treat it as 2 groups.
    const fix = (gs: string[]) => gs.flatMap((g) => (g.includes(".") ? ["0", "0"] : [g]));
    left.splice(0, left.length, ...fix(left));
    right.splice(0, right.length, ...fix(right));
  }
  const zeros = addr.includes("::") ? Math.max(0, 8 - left.length - right.length) : 0;
  const groups = [...left, ...Array(zeros).fill("0"), ...right];
  const prefix = groups.slice(0, 4).map((g) => (parseInt(g, 16) || 0).toString(16));
  return `${prefix.join(":")}::/64`;
}
