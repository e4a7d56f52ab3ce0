import assert from "node:assert/strict";
import { Throttle } from "./throttle.ts";

Deno.test("Throttle locks a key at the limit for the window, with an injected clock", () => {
  const clock = { now: 0 };
  const t = new Throttle({ limit: 3, windowMs: 60_000, now: () => clock.now });
  t.fail("a");
  t.fail("a");
  assert.equal(t.retryAfterSeconds("a"), 0);
  clock.now = 10_000;
  t.fail("a");
  assert.equal(t.retryAfterSeconds("a"), 60);
  assert.equal(t.retryAfterSeconds("b"), 0);
  clock.now = 69_500;
  assert.equal(t.retryAfterSeconds("a"), 1);
  t.reset("a"); // a success does not lift a lock
  assert.equal(t.retryAfterSeconds("a"), 1);
  clock.now = 70_000;
  assert.equal(t.retryAfterSeconds("a"), 0);
});

Deno.test("Throttle forgets failures older than the window", () => {
  const clock = { now: 0 };
  const t = new Throttle({ limit: 2, windowMs: 1000, now: () => clock.now });
  t.fail("a");
  clock.now = 1500;
  t.fail("a");
  assert.equal(t.retryAfterSeconds("a"), 0);
  t.fail("a");
  assert.equal(t.retryAfterSeconds("a"), 1);
});

Deno.test("Throttle.reset() clears failures and maxKeys bounds memory", () => {
  const t = new Throttle({ limit: 2, windowMs: 1000, maxKeys: 10, now: () => 0 });
  t.fail("a");
  t.reset("a");
  t.fail("a");
  assert.equal(t.retryAfterSeconds("a"), 0);
  for (let i = 0; i < 100; i++) t.fail(`k${i}`);
  assert.equal(t.size, 10);
  assert.throws(() => new Throttle({ limit: 0, windowMs: 1 }), RangeError);
});
