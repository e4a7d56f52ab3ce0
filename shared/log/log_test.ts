import assert from "node:assert/strict";
import { createLogger, isSecretKey, redact, REDACTED } from "./mod.ts";

function capture(level?: "debug" | "info" | "warn" | "error") {
  const lines: string[] = [];
  const log = createLogger({
    level,
    write: (l) => lines.push(l),
    now: () => new Date("2026-01-02T03:04:05Z"),
  });
  return { log, records: () => lines.map((l) => JSON.parse(l)), lines };
}

Deno.test("createLogger() writes one JSON object per line with time, level and msg", () => {
  const { log, records, lines } = capture();
  log.info("started", { port: 8443 });
  assert.equal(lines.length, 1);
  assert.ok(!lines[0].includes("\n"));
  assert.deepEqual(records()[0], {
    time: "2026-01-02T03:04:05.000Z",
    level: "info",
    msg: "started",
    port: 8443,
  });
});

Deno.test("createLogger() drops records below its level", () => {
  const { log, records } = capture("warn");
  log.debug("a");
  log.info("b");
  log.warn("c");
  log.error("d");
  assert.deepEqual(records().map((r) => r.msg), ["c", "d"]);
});

Deno.test("createLogger() rejects an unknown level naming it", () => {
  assert.throws(
    () => createLogger({ level: "loud" as "info" }),
    (e: Error) => e instanceof RangeError && e.message.includes('"loud"'),
  );
});

Deno.test("Logger.child() adds fields to every record and keeps the level", () => {
  const { log, records } = capture("info");
  const child = log.child({ service: "mcns", request_id: "r1" });
  child.debug("hidden");
  child.info("hello");
  assert.equal(child.level, "info");
  assert.deepEqual(records(), [{
    time: "2026-01-02T03:04:05.000Z",
    level: "info",
    msg: "hello",
    service: "mcns",
    request_id: "r1",
  }]);
});

Deno.test("createLogger() never writes secret values, however deep", () => {
  const { log, lines } = capture("debug");
  const secrets = ["hunter2", "Bearer eyJabc", "sess=xyz", "tok-123", "pk-456"];
  log.info("request", {
    password: secrets[0],
    headers: new Headers({ authorization: secrets[1], cookie: secrets[2], accept: "x" }),
    body: { nested: [{ refresh_token: secrets[3] }] },
    private_key: secrets[4],
  });
  const out = lines.join("\n");
  for (const s of secrets) assert.ok(!out.includes(s), `leaked ${s}`);
  assert.ok(out.includes('"accept":"x"'));
});

Deno.test("redact() handles cycles, errors, dates, bytes and bigints", () => {
  const a: Record<string, unknown> = { name: "a" };
  a.self = a;
  assert.deepEqual(redact(a), { name: "a", self: "[Circular]" });
  assert.deepEqual(redact(new TypeError("bad")), { name: "TypeError", message: "bad" });
  assert.equal(redact(new Date(0)), "1970-01-01T00:00:00.000Z");
  assert.equal(redact(new Uint8Array(3)), "[3 bytes]");
  assert.equal(redact(10n), "10");
  assert.deepEqual(redact({ apiKey: 1 }), { apiKey: REDACTED });
});

Deno.test("isSecretKey() matches secret names in any case and separator style", () => {
  for (const k of ["Password", "Set-Cookie", "api_key", "x_token", "clientSecret", "totp_code"]) {
    assert.equal(isSecretKey(k), true, k);
  }
  for (const k of ["username", "path", "status", "token_count_total"]) {
    assert.equal(isSecretKey(k), false, k);
  }
});
