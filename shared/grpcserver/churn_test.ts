// The churn test: a server in its own process, hammered by driver processes
// (raw sockets that vanish mid-call, reset streams and send GOAWAYs; grpc-js
// channels that cancel, miss deadlines, close mid-stream, close idle and exit
// with calls in flight), over TLS and a unix socket. Servers run with glibc's
// MALLOC_PERTURB_, which turns the use-after-free in Deno's node:http2 into
// an immediate crash; the naive grpc-js control must die, the mcdsl server
// must not. See CHURN.md for the investigation and longer trials.
import assert from "node:assert/strict";
import { type ChurnResult, measureRecovery, runChurn } from "./testdata/churn.ts";

function summary(r: ChurnResult): string {
  return `${r.server}/${r.transport}: crashed=${r.crashed} code=${r.code} signal=${r.signal} ` +
    `raw=${r.rawConnections} channels=${r.grpcChannels} calls=${r.grpcCalls} ` +
    `drivers=${JSON.stringify(r.driverFailures)} ${r.crashLines.join(" | ")}`;
}

Deno.test("naive grpc-js server dies under churn (control: the churn reaches the crash)", async () => {
  const r = await runChurn({ server: "naive", transport: "tls", seconds: 10, perturb: true });
  assert.equal(
    r.crashed,
    true,
    `the naive server survived: Deno may have fixed denoland/deno#36788; re-run the CHURN.md trials and consider removing http2_fix.ts (${
      summary(r)
    })`,
  );
});

Deno.test("createGrpcServer() survives churn over TLS", async () => {
  const r = await runChurn({ server: "mcdsl", transport: "tls", seconds: 15, perturb: true });
  assert.equal(r.crashed, false, summary(r));
  assert.equal(r.code, 0, summary(r));
  assert.equal(r.servesAfter, true, summary(r));
  assert.deepEqual(r.driverFailures, [], summary(r));
  assert.ok(r.rawConnections > 1000, summary(r));
  assert.ok(r.grpcChannels > 500, summary(r));
});

Deno.test("createGrpcServer() survives churn over a unix socket", async () => {
  const r = await runChurn({ server: "mcdsl", transport: "unix", seconds: 10, perturb: true });
  assert.equal(r.crashed, false, summary(r));
  assert.equal(r.code, 0, summary(r));
  assert.equal(r.servesAfter, true, summary(r));
  assert.deepEqual(r.driverFailures, [], summary(r));
  assert.ok(r.rawConnections > 1000, summary(r));
  assert.ok(r.grpcChannels > 500, summary(r));
});

Deno.test("supervise() brings a crashed server back within seconds", async () => {
  // A real crash: the naive server killed by idle-session GOAWAYs.
  const real = await measureRecovery({
    server: "naive",
    transport: "tls",
    crashes: 2,
    how: "goaway",
  });
  assert.deepEqual(real.deaths.slice(0, 2).map((d) => d === "SIGSEGV" || d === "SIGABRT"), [
    true,
    true,
  ]);
  // An abort of the mcdsl server on a unix socket: the restart must replace
  // the socket file the dead process left.
  const abort = await measureRecovery({
    server: "mcdsl",
    transport: "unix",
    crashes: 2,
    how: "abort",
  });
  assert.deepEqual(abort.deaths.slice(0, 2), ["SIGABRT", "SIGABRT"]);
  for (const ms of [...real.recoveryMs, ...abort.recoveryMs]) {
    assert.ok(ms < 10_000, `recovery took ${ms} ms`);
  }
  console.log(
    `recovery ms: naive/tls real crash ${real.recoveryMs.join(", ")}; mcdsl/unix abort ${
      abort.recoveryMs.join(", ")
    }`,
  );
});
