/**
 * Bounded cache of token validation answers, keyed by SHA-256 of the token.
 *
 * @module
 */

import { createHash } from "node:crypto";
import type { TokenInfo } from "./types.ts";

/** Options for {@linkcode TokenCache}. */
export interface TokenCacheOptions {
  /**
   * How long a `valid: true` answer is reused, in milliseconds. A token
   * revoked at MCIAS is still accepted here for at most this long.
   *
   * @default {30_000}
   */
  ttlMs?: number;
  /**
   * How long a `valid: false` answer is reused, in milliseconds. Shorter than
   * `ttlMs`: it only shields MCIAS from a client retrying a bad token, and a
   * short life bounds the harm of a wrong negative answer.
   *
   * @default {5_000}
   */
  negativeTtlMs?: number;
  /**
   * Most answers kept; past it the least recently used is evicted, so a flood
   * of distinct tokens cannot grow memory without bound.
   *
   * @default {10_000}
   */
  maxEntries?: number;
  /**
   * Current time in epoch milliseconds; tests inject a fake clock.
   *
   * @default {Date.now}
   */
  now?: () => number;
}

interface Entry {
  info: TokenInfo;
  /** Epoch milliseconds after which the entry is stale. */
  staleAt: number;
}

/**
 * Caches {@linkcode TokenInfo} answers so that MCIAS sees at most one
 * validation per token per TTL, and shares one in-flight request among
 * concurrent callers for the same token.
 *
 * Raw tokens are never stored: keys are the hex SHA-256 of the token. An
 * answer is never reused past the token's own `expiresAt`. Failed loads are
 * not cached.
 *
 * @example Caching a loader's answer
 * ```ts
 * import assert from "node:assert/strict";
 * import { TokenCache } from "./token_cache.ts";
 *
 * let now = 0;
 * const cache = new TokenCache({ now: () => now });
 * let calls = 0;
 * const load = () => {
 *   calls++;
 *   return Promise.resolve({
 *     valid: true,
 *     username: "alice",
 *     accountType: "human" as const,
 *     roles: ["user"],
 *     expiresAt: new Date(3_600_000),
 *   });
 * };
 * await cache.validate("t0ken", load);
 * now = 29_999;
 * await cache.validate("t0ken", load);
 * assert.equal(calls, 1);
 * now = 30_000;
 * await cache.validate("t0ken", load);
 * assert.equal(calls, 2);
 * ```
 */
export class TokenCache {
  #ttlMs: number;
  #negativeTtlMs: number;
  #maxEntries: number;
  #now: () => number;
  // Map iteration order is insertion order: re-inserting on every hit keeps
  // the least recently used entry first, which is the one evicted.
  #entries = new Map<string, Entry>();
  #inFlight = new Map<string, Promise<TokenInfo>>();

  /**
   * Creates an empty cache.
   *
   * @param options TTLs, size bound and clock.
   * @throws {RangeError} When a TTL is negative or `maxEntries` is not a positive integer.
   */
  constructor(options: TokenCacheOptions = {}) {
    const { ttlMs = 30_000, negativeTtlMs = 5_000, maxEntries = 10_000, now = Date.now } = options;
    checkDuration("ttlMs", ttlMs);
    checkDuration("negativeTtlMs", negativeTtlMs);
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(
        `Cannot create token cache: "maxEntries" must be a positive integer, got ${maxEntries}`,
      );
    }
    this.#ttlMs = ttlMs;
    this.#negativeTtlMs = negativeTtlMs;
    this.#maxEntries = maxEntries;
    this.#now = now;
  }

  /**
   * Answers from the cache, joins an in-flight load of the same token, or
   * calls `load` and caches its answer.
   *
   * @param token The bearer token; only its SHA-256 is kept.
   * @param load Asks MCIAS; called at most once per token at a time.
   * @returns A copy of the cached or loaded answer.
   * @throws Whatever `load` throws; failures are not cached.
   */
  async validate(token: string, load: (token: string) => Promise<TokenInfo>): Promise<TokenInfo> {
    // Hashed synchronously, so that the lookup and the in-flight check
    // happen in the same turn as the call: concurrent callers then always
    // find each other's request.
    const key = tokenKey(token);
    const cached = this.#get(key);
    if (cached !== undefined) return copy(cached);
    const pending = this.#inFlight.get(key) ?? this.#start(key, token, load);
    return copy(await pending);
  }

  /**
   * Forgets the answer for `token`, and makes an in-flight load for it not
   * store its answer. Call after revoking the token (logout).
   *
   * @param token The bearer token.
   */
  delete(token: string): void {
    const key = tokenKey(token);
    this.#entries.delete(key);
    this.#inFlight.delete(key);
  }

  /** Forgets every answer. */
  clear(): void {
    this.#entries.clear();
    this.#inFlight.clear();
  }

  /** Number of answers held, stale ones included until touched. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * The cache keys (hex SHA-256 of each token), least recently used first.
   *
   * @returns An iterator over the keys.
   */
  keys(): IterableIterator<string> {
    return this.#entries.keys();
  }

  #start(key: string, token: string, load: (token: string) => Promise<TokenInfo>) {
    // The slot is settled only if it is still ours: delete() or clear() may
    // have dropped it, and then the answer must not be stored, since it may
    // predate a revocation.
    const pending: Promise<TokenInfo> = new Promise<TokenInfo>((resolve) => resolve(load(token)))
      .then(
        (info) => {
          if (this.#inFlight.get(key) === pending) {
            this.#inFlight.delete(key);
            this.#set(key, info);
          }
          return info;
        },
        (error: unknown) => {
          if (this.#inFlight.get(key) === pending) this.#inFlight.delete(key);
          throw error;
        },
      );
    this.#inFlight.set(key, pending);
    return pending;
  }

  #get(key: string): TokenInfo | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    if (this.#now() >= entry.staleAt) return undefined;
    this.#entries.set(key, entry);
    return entry.info;
  }

  #set(key: string, info: TokenInfo): void {
    const now = this.#now();
    const ttl = info.valid ? this.#ttlMs : this.#negativeTtlMs;
    const staleAt = info.valid ? Math.min(now + ttl, info.expiresAt.getTime()) : now + ttl;
    if (staleAt <= now) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { info: copy(info), staleAt });
  }
}

/**
 * Hex SHA-256 of `token`: the only form in which a token is kept in memory.
 *
 * @param token The bearer token.
 * @returns 64 lowercase hex digits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenKey } from "./token_cache.ts";
 *
 * assert.equal(
 *   tokenKey("abc"),
 *   "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
 * );
 * ```
 */
export function tokenKey(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

function checkDuration(name: string, value: number): void {
  if (!Number.isFinite(value) || value < 0) {
    throw new RangeError(
      `Cannot create token cache: "${name}" must be a non-negative number of milliseconds, got ${value}`,
    );
  }
}

function copy(info: TokenInfo): TokenInfo {
  return { ...info, roles: [...info.roles], expiresAt: new Date(info.expiresAt.getTime()) };
}
