/**
 * WebAuthn plumbing for passkeys: the server-side challenge store (single
 * use, five minutes) and reading the challenge a browser signed.
 *
 * @module
 */

/** How long a challenge stays usable. */
export const CHALLENGE_TTL_MS = 5 * 60_000;

/** Most challenges held at once; beyond it the oldest are dropped. */
export const MAX_CHALLENGES = 10_000;

/**
 * Outstanding WebAuthn challenges, in memory: each is taken at most once
 * and expires after {@linkcode CHALLENGE_TTL_MS}. The store is bounded, so
 * a flood of option requests cannot grow it without limit.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { ChallengeStore } from "./webauthn.ts";
 *
 * const store = new ChallengeStore<string>(() => new Date());
 * store.put("abc", "alice");
 * assert.equal(store.take("abc"), "alice");
 * assert.equal(store.take("abc"), undefined);
 * ```
 */
export class ChallengeStore<T> {
  #entries = new Map<string, { value: T; expiresAt: number }>();
  #now: () => Date;
  #max: number;

  /**
   * @param now The clock.
   * @param max Most entries held.
   */
  constructor(now: () => Date, max: number = MAX_CHALLENGES) {
    this.#now = now;
    this.#max = max;
  }

  /**
   * Remembers `value` under `key` (a challenge or a username) for five
   * minutes, replacing an earlier entry with the same key.
   */
  put(key: string, value: T): void {
    const now = this.#now().getTime();
    this.#entries.delete(key);
    for (const [k, entry] of this.#entries) {
      if (this.#entries.size < this.#max && entry.expiresAt > now) break;
      this.#entries.delete(k);
    }
    this.#entries.set(key, { value, expiresAt: now + CHALLENGE_TTL_MS });
  }

  /** Removes and returns the entry for `key`, or `undefined` if absent or expired. */
  take(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    this.#entries.delete(key);
    return entry.expiresAt > this.#now().getTime() ? entry.value : undefined;
  }

  /** Entries held (expired ones included until they are pruned). */
  get size(): number {
    return this.#entries.size;
  }
}

/**
 * The challenge inside a WebAuthn response's `clientDataJSON`.
 *
 * @param clientDataJSON Base64url JSON from the browser.
 * @returns The base64url challenge, or `undefined` when unreadable.
 */
export function clientDataChallenge(clientDataJSON: unknown): string | undefined {
  if (typeof clientDataJSON !== "string" || clientDataJSON.length > 16_384) return undefined;
  try {
    const b64 = clientDataJSON.replace(/-/g, "+").replace(/_/g, "/");
    const json = new TextDecoder().decode(Uint8Array.from(atob(b64), (c) => c.charCodeAt(0)));
    const challenge = (JSON.parse(json) as { challenge?: unknown }).challenge;
    return typeof challenge === "string" ? challenge : undefined;
  } catch {
    return undefined;
  }
}
