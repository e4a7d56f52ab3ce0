import assert from "node:assert/strict";
import { supervise } from "./supervise.ts";

Deno.test("supervise() restarts a dying child with backoff until it exits 0", async () => {
  const dir = await Deno.makeTempDir();
  const counter = `${dir}/runs`;
  try {
    // Dies twice (abort, as nghttp2 does), then exits cleanly.
    const script = `
      const p = ${JSON.stringify(counter)};
      let n = 0; try { n = Number(Deno.readTextFileSync(p)); } catch {}
      Deno.writeTextFileSync(p, String(n + 1));
      if (n < 2) Deno.kill(Deno.pid, "SIGABRT");
      else Deno.exit(0);
    `;
    const starts: number[] = [];
    const sup = supervise({
      args: ["eval", script],
      minBackoffMs: 50,
      maxBackoffMs: 1000,
      onStart: () => starts.push(performance.now()),
    });
    const status = await sup.done;
    assert.equal(status.code, 0);
    assert.equal(sup.restarts, 2);
    assert.equal(await Deno.readTextFile(counter), "3");
    assert.equal(starts.length, 3);
    // Second restart waited about twice as long as the first.
    assert.ok(starts[2] - starts[1] >= 100, `second delay ${starts[2] - starts[1]} ms`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("supervise() stops the child and resolves when the signal aborts", async () => {
  const controller = new AbortController();
  const sup = supervise({
    args: ["eval", "setInterval(() => {}, 1000)"],
    signal: controller.signal,
    onStart: () => queueMicrotask(() => controller.abort()),
  });
  const status = await sup.done;
  assert.equal(status.signal, "SIGTERM");
  assert.equal(sup.restarts, 0);
  assert.equal(sup.child, undefined);
});

Deno.test("supervise() throws RangeError for an inverted backoff", () => {
  assert.throws(() => supervise({ args: [], minBackoffMs: 10, maxBackoffMs: 5 }), {
    name: "RangeError",
    message:
      "Cannot supervise: need 0 <= minBackoffMs <= maxBackoffMs and resetAfterMs >= 0, got 10, 5, 60000",
  });
});
