import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import { HealthService } from "./_health.ts";

class FakeWatch extends EventEmitter {
  written: unknown[] = [];
  ended = false;
  constructor(readonly request: { service: string }) {
    super();
  }
  write(message: unknown): boolean {
    this.written.push(message);
    return true;
  }
  end(): void {
    this.ended = true;
  }
}

function watch(health: HealthService, service: string): FakeWatch {
  const call = new FakeWatch({ service });
  // deno-lint-ignore no-explicit-any
  (health.implementation.Watch as any)(call);
  return call;
}

Deno.test("HealthService Watch keeps no state for cancelled or unknown services", () => {
  const health = new HealthService();
  health.setStatus("", "SERVING");
  health.setStatus("echo.v1.Echo", "SERVING");
  for (let i = 0; i < 1000; i++) {
    const call = watch(health, `random-${i}`);
    assert.deepEqual(call.written, [{ status: "SERVICE_UNKNOWN" }]);
    assert.equal(call.ended, true);
    call.emit("cancelled");
  }
  assert.equal(health.watchedServiceCount, 0);
  const known = watch(health, "echo.v1.Echo");
  const server = watch(health, "");
  assert.equal(health.watchedServiceCount, 2);
  health.setStatus("echo.v1.Echo", "NOT_SERVING");
  assert.deepEqual(known.written, [{ status: "SERVING" }, { status: "NOT_SERVING" }]);
  assert.equal(known.ended, false);
  known.emit("cancelled");
  server.emit("cancelled");
  assert.equal(health.watchedServiceCount, 0);
});
