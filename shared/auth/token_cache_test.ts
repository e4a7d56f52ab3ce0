import assert from "node:assert/strict";
import { TokenCache, tokenKey } from "./token_cache.ts";
import type { TokenInfo } from "./types.ts";

function valid(username: string, expiresAt = 10_000_000): TokenInfo {
  return {
    valid: true,
    username,
    accountType: "human",
    roles: ["user"],
    expiresAt: new Date(expiresAt),
  };
}

/** A loader that counts its calls and answers from `answers` by token. */
function loader(answers: Record<string, TokenInfo>) {
  const calls: string[] = [];
  return {
    calls,
    load(token: string): Promise<TokenInfo> {
      calls.push(token);
      return Promise.resolve(answers[token]);
    },
  };
}

Deno.test("TokenCache.validate() never reuses an answer past the token's expiry", async () => {
  let now = 0;
  const cache = new TokenCache({ now: () => now });
  const { calls, load } = loader({ short: valid("alice", 10_000) });
  await cache.validate("short", load);
  now = 9_999;
  await cache.validate("short", load);
  assert.equal(calls.length, 1);
  now = 10_000;
  await cache.validate("short", load);
  assert.equal(calls.length, 2);
});

Deno.test("TokenCache.validate() does not store a valid answer that has already expired", async () => {
  const cache = new TokenCache({ now: () => 50_000 });
  const { calls, load } = loader({ stale: valid("alice", 40_000) });
  assert.equal((await cache.validate("stale", load)).valid, true);
  await cache.validate("stale", load);
  assert.equal(calls.length, 2);
  assert.equal(cache.size, 0);
});

Deno.test("TokenCache.validate() evicts the least recently used answer past maxEntries", async () => {
  const cache = new TokenCache({ maxEntries: 2, now: () => 0 });
  const { calls, load } = loader({ a: valid("a"), b: valid("b"), c: valid("c") });
  await cache.validate("a", load);
  await cache.validate("b", load);
  await cache.validate("a", load);
  await cache.validate("c", load);
  assert.deepEqual([...cache.keys()], [tokenKey("a"), tokenKey("c")]);
  assert.deepEqual(calls, ["a", "b", "c"]);
});

Deno.test("TokenCache.validate() shares a failure among concurrent callers and does not cache it", async () => {
  const cache = new TokenCache({ now: () => 0 });
  let calls = 0;
  const failing = () => {
    calls++;
    return Promise.reject(new Error("MCIAS down"));
  };
  const results = await Promise.allSettled([
    cache.validate("t", failing),
    cache.validate("t", failing),
  ]);
  assert.deepEqual(results.map((r) => r.status), ["rejected", "rejected"]);
  assert.equal(calls, 1);
  await assert.rejects(cache.validate("t", failing), { message: "MCIAS down" });
  assert.equal(calls, 2);
});

Deno.test("TokenCache.delete() keeps an answer loaded before it out of the cache", async () => {
  const cache = new TokenCache({ now: () => 0 });
  const { promise: answer, resolve } = Promise.withResolvers<TokenInfo>();
  const pending = cache.validate("t", () => answer);
  cache.delete("t");
  resolve(valid("alice"));
  assert.equal((await pending).valid, true);
  assert.equal(cache.size, 0);
});

Deno.test("TokenCache.validate() returns copies the caller cannot use to alter the cache", async () => {
  const cache = new TokenCache({ now: () => 0 });
  const { load } = loader({ t: valid("alice") });
  const first = await cache.validate("t", load);
  first.roles.push("admin");
  first.expiresAt.setTime(0);
  const second = await cache.validate("t", load);
  assert.deepEqual(second.roles, ["user"]);
  assert.equal(second.expiresAt.getTime(), 10_000_000);
});

Deno.test("TokenCache.clear() forgets every answer", async () => {
  const cache = new TokenCache({ now: () => 0 });
  const { calls, load } = loader({ t: valid("alice") });
  await cache.validate("t", load);
  cache.clear();
  assert.equal(cache.size, 0);
  await cache.validate("t", load);
  assert.equal(calls.length, 2);
});

Deno.test("TokenCache() throws RangeError naming the option that is out of range", () => {
  assert.throws(() => new TokenCache({ maxEntries: 0 }), {
    name: "RangeError",
    message: 'Cannot create token cache: "maxEntries" must be a positive integer, got 0',
  });
  assert.throws(() => new TokenCache({ negativeTtlMs: Number.NaN }), {
    name: "RangeError",
    message:
      'Cannot create token cache: "negativeTtlMs" must be a non-negative number of milliseconds, got NaN',
  });
});

Deno.test("tokenKey() is the hex SHA-256 of the token", () => {
  // Expected value from `printf 'eyJ.payload.sig' | sha256sum`.
  assert.equal(
    tokenKey("eyJ.payload.sig"),
    "d372580744b07e1d47b0d6974afc33501982483e430a0927cc1d391eeef79887",
  );
});
