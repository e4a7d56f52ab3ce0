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
   * Most keys tracked; the oldest are forgotten first.
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
      if (this.#entries.size >= this.#maxKeys) {
        // Maps iterate in insertion order: the first key is the oldest.
        this.#entries.delete(this.#entries.keys().next().value!);
      }
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
