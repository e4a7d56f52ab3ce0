import assert from "node:assert/strict";
import { parseDuration } from "./duration.ts";

Deno.test("parseDuration() returns milliseconds for each unit and for sequences", () => {
  assert.equal(parseDuration("500ms"), 500);
  assert.equal(parseDuration("10s"), 10_000);
  assert.equal(parseDuration("5m"), 300_000);
  assert.equal(parseDuration("2h"), 7_200_000);
  assert.equal(parseDuration("1h30m"), 5_400_000);
  assert.equal(parseDuration("1m30s250ms"), 90_250);
  assert.equal(parseDuration("0"), 0);
  assert.equal(parseDuration("0s"), 0);
  assert.equal(parseDuration("+3s"), 3000);
});

Deno.test("parseDuration() reads decimal numbers exactly", () => {
  assert.equal(parseDuration("1.1s"), 1100);
  assert.equal(parseDuration("1.5h"), 5_400_000);
  assert.equal(parseDuration(".5s"), 500);
  assert.equal(parseDuration("0.001s"), 1);
});

Deno.test("parseDuration() throws SyntaxError naming the text when it is not a duration", () => {
  const cases: [string, RegExp][] = [
    ["10", /"10" is missing a unit \(h, m, s or ms\)/],
    ["10sec", /unknown unit "sec"/],
    ["5d", /unknown unit "d"/],
    ["", /the value is empty/],
    ["s", /"s" does not start with a number/],
    ["1h 30m", /" 30m" does not start with a number/],
  ];
  for (const [text, reason] of cases) {
    assert.throws(() => parseDuration(text), (error: unknown) => {
      assert.ok(error instanceof SyntaxError, `${text}: ${error}`);
      assert.ok(error.message.startsWith(`Cannot parse duration "${text}": `), error.message);
      assert.match(error.message, reason);
      assert.match(error.message, /such as "500ms", "10s", "5m" or "1h30m"/);
      return true;
    });
  }
});

Deno.test("parseDuration() throws RangeError for negative, sub-millisecond and huge durations", () => {
  const cases: [string, RegExp][] = [
    ["-5s", /negative durations are not allowed/],
    ["1.5ms", /"1.5ms" is finer than a millisecond/],
    ["0.0001s", /finer than a millisecond/],
    ["99999999999999999h", /too large/],
  ];
  for (const [text, reason] of cases) {
    assert.throws(() => parseDuration(text), (error: unknown) => {
      assert.ok(error instanceof RangeError, `${text}: ${error}`);
      assert.match(error.message, reason);
      return true;
    });
  }
});
