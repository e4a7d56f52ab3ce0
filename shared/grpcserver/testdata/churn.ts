// The churn harness: a server in its own process, hammered by driver
// processes, and a verdict from its exit code. Used by churn_test.ts and, as
// a CLI, for the trials recorded in CHURN.md:
//
//   deno run --allow-read --allow-write --allow-net --allow-env --allow-run --allow-sys churn.ts --server mcdsl|naive --transport tls|unix --seconds S
//     [--trials N] [--perturb]
//
// --perturb runs the server with MALLOC_PERTURB_ so that glibc fills freed
// memory: a use-after-free then crashes at once instead of once in a while.
import { parseArgs } from "node:util";
import { createDevPki, writeDevPki } from "../../tls/mod.ts";
import { createGrpcClient } from "../client.ts";
import { supervise } from "../supervise.ts";
import { Echo } from "./echo_service.ts";
import type { EchoClient } from "./gen/mcdsl/test/v1/Echo.ts";

const HERE = new URL(".", import.meta.url).pathname;
const CONFIG = new URL("../../../deno.json", import.meta.url).pathname;

/** Options for {@linkcode runChurn}. */
export interface ChurnOptions {
  server: "mcdsl" | "naive" | "naive-tuned";
  transport: "tls" | "unix";
  seconds: number;
  perturb?: boolean;
  /** Raw-socket connections in flight at once. */
  rawConcurrency?: number;
  /** grpc-js channels in flight at once, per driver process. */
  channels?: number;
}

/** What one churn run observed. */
export interface ChurnResult {
  server: string;
  transport: string;
  perturb: boolean;
  seconds: number;
  /** The server died before the end. */
  crashed: boolean;
  /** When it died: ms after it was ready. */
  crashedAfterMs: number | null;
  /** Server exit code and signal (after SIGTERM when it survived). */
  code: number;
  signal: Deno.Signal | null;
  /** After the churn, a fresh client's Ping succeeded. */
  servesAfter: boolean | null;
  rawConnections: number;
  grpcChannels: number;
  grpcCalls: number;
  /** Driver processes that did not exit 0. */
  driverFailures: string[];
  /** Lines of the server's stderr that name an abort or memory error. */
  crashLines: string[];
}

// The same capabilities `deno task test` grants: these are test drivers, not services.
const TEST_PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-net",
  "--allow-env",
  "--allow-run",
  "--allow-sys",
];

function denoArgs(script: string, args: string[]): string[] {
  return ["run", "--quiet", "--config", CONFIG, ...TEST_PERMISSIONS, `${HERE}${script}`, ...args];
}

/** A started churn_server.ts. */
export interface ServerProcess {
  child: Deno.ChildProcess;
  /** `localhost:PORT` or `unix:///path`, for grpc-js. */
  target: string;
  /** `localhost:PORT` or the socket path, for the raw driver. */
  rawAddr: string;
  stderr: Promise<string>;
}

/** Starts churn_server.ts and waits for READY (up to 30 s). */
export async function startServer(
  options: { server: "mcdsl" | "naive" | "naive-tuned"; addr: string; certs?: string; perturb?: boolean },
): Promise<ServerProcess> {
  const args = ["--mode", options.server, "--addr", options.addr];
  if (options.certs) args.push("--certs", options.certs);
  const env: Record<string, string> = options.perturb ? { MALLOC_PERTURB_: "165" } : {};
  const child = new Deno.Command(Deno.execPath(), {
    args: denoArgs("churn_server.ts", args),
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = new Response(child.stderr).text();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
  try {
    while (!/READY (\S+)/.test(text)) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`churn server exited before READY: ${await stderr}`);
      text += value;
    }
  } finally {
    clearTimeout(timer);
  }
  // Keep draining stdout so the child never blocks on a full pipe.
  (async () => {
    while (!(await reader.read()).done) { /* drain */ }
  })();
  const ready = /READY (\S+)/.exec(text)![1];
  const unix = options.addr.startsWith("unix:");
  return {
    child,
    target: unix ? `unix://${ready}` : `localhost:${ready}`,
    rawAddr: unix ? ready : `localhost:${ready}`,
    stderr,
  };
}

const drivers = new Set<Deno.ChildProcess>();

async function runDriver(script: string, args: string[], limitMs: number): Promise<Deno.CommandOutput> {
  const child = new Deno.Command(Deno.execPath(), {
    args: denoArgs(script, args),
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  drivers.add(child);
  const timer = setTimeout(() => kill(child), limitMs);
  try {
    return await child.output();
  } finally {
    clearTimeout(timer);
    drivers.delete(child);
  }
}

function kill(child: Deno.ChildProcess): void {
  try {
    child.kill("SIGKILL");
  } catch {
    // Already exited.
  }
}

function lastJson(output: Deno.CommandOutput): Record<string, number> {
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  try {
    return JSON.parse(lines.at(-1) ?? "{}");
  } catch {
    return {};
  }
}

/** One Ping from a fresh process; true when it succeeded. */
export async function pingOk(target: string, ca: string | undefined, limitMs = 10_000): Promise<boolean> {
  const args = ["--target", target];
  if (ca) args.push("--ca", ca);
  const out = await runDriver("ping.ts", args, limitMs);
  return out.success;
}

/**
 * Starts a server, churns it for `seconds`, then checks that it still serves
 * and stops it. Bounded: every process is killed when its time is up.
 */
export async function runChurn(options: ChurnOptions): Promise<ChurnResult> {
  const { server, transport, seconds, perturb = false, rawConcurrency = 24, channels = 16 } = options;
  const dir = await Deno.makeTempDir({ prefix: "mcdsl-churn-" });
  try {
    let certs: string | undefined;
    let ca: string | undefined;
    if (transport === "tls") {
      certs = dir;
      ca = (await writeDevPki(dir, await createDevPki({ hosts: ["localhost", "127.0.0.1"] }))).caCert;
    }
    const addr = transport === "tls" ? "127.0.0.1:0" : `unix://${dir}/churn.sock`;
    const srv = await startServer({ server, addr, certs, perturb });
    let died = false;
    const readyAt = performance.now();
    let diedAt: number | null = null;
    const status = srv.child.status.then((s) => {
      died = true;
      diedAt = Math.round(performance.now() - readyAt);
      // Nothing left to test: stop the drivers now.
      for (const d of drivers) kill(d);
      return s;
    });
    const until = Date.now() + seconds * 1000;
    const result: ChurnResult = {
      server,
      transport,
      perturb,
      seconds,
      crashed: false,
      crashedAfterMs: null,
      code: 0,
      signal: null,
      servesAfter: null,
      rawConnections: 0,
      grpcChannels: 0,
      grpcCalls: 0,
      driverFailures: [],
      crashLines: [],
    };
    const caArgs = ca ? ["--ca", ca] : [];
    const token = ["--token", "user-token"];
    const raw = runDriver("churn_raw.ts", [
      "--transport",
      transport,
      "--addr",
      srv.rawAddr,
      "--seconds",
      String(seconds),
      "--concurrency",
      String(rawConcurrency),
      ...caArgs,
      ...token,
    ], seconds * 1000 + 15_000).then((out) => {
      const s = lastJson(out);
      result.rawConnections += s.connections ?? 0;
      if (!out.success && !died) result.driverFailures.push(`churn_raw exit ${out.code} ${out.signal ?? ""}`);
    });
    const grpcLoop = (async () => {
      // Short-lived driver processes: each ends by exiting with calls in flight.
      while (Date.now() < until - 500 && !died) {
        const left = Math.max(1, Math.min(3, (until - Date.now()) / 1000 - 0.5));
        const out = await runDriver("churn_grpc.ts", [
          "--target",
          srv.target,
          "--seconds",
          left.toFixed(1),
          "--channels",
          String(channels),
          ...caArgs,
          ...token,
        ], left * 1000 + 20_000);
        const s = lastJson(out);
        result.grpcChannels += s.channels ?? 0;
        result.grpcCalls += (s.ok ?? 0) + (s.failed ?? 0);
        if (!out.success && !died) result.driverFailures.push(`churn_grpc exit ${out.code} ${out.signal ?? ""}`);
      }
    })();
    await Promise.all([raw, grpcLoop]);
    if (!died) result.servesAfter = await pingOk(srv.target, ca);
    result.crashed = died;
    result.crashedAfterMs = diedAt;
    if (!died) srv.child.kill("SIGTERM");
    const killTimer = setTimeout(() => kill(srv.child), 10_000);
    const st = await status;
    clearTimeout(killTimer);
    result.code = st.code;
    result.signal = st.signal;
    result.crashLines = (await srv.stderr).split("\n")
      .filter((l) => /Assertion|free\(\)|Segmentation|Aborted|panicked|double free|corrupt/i.test(l))
      .slice(0, 3);
    return result;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Options for {@linkcode measureRecovery}. */
export interface RecoveryOptions {
  server: "mcdsl" | "naive";
  transport: "tls" | "unix";
  /** How many crashes to cause. */
  crashes: number;
  /**
   * `abort`: SIGABRT, as nghttp2's failed assertion does. `goaway`: the real
   * thing, idle-session GOAWAYs against a server with MALLOC_PERTURB_ set
   * (only the naive server dies of it).
   */
  how: "abort" | "goaway";
  /**
   * Wait this long after each recovery before the next crash. Above the
   * supervisor's reset time (500 ms) every restart gets the minimum backoff;
   * at 0 the crashes form a crash loop and the backoff grows.
   */
  spacingMs?: number;
}

/** What {@linkcode measureRecovery} observed. */
export interface RecoveryResult {
  /** Per crash: ms from the child's death to the first successful Ping. */
  recoveryMs: number[];
  /** How each child died. */
  deaths: string[];
  restarts: number;
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/**
 * Runs a server under {@linkcode supervise}, crashes it `crashes` times and
 * measures how long until a client's Ping succeeds again each time.
 */
export async function measureRecovery(options: RecoveryOptions): Promise<RecoveryResult> {
  const { server, transport, crashes, how, spacingMs = 0 } = options;
  const dir = await Deno.makeTempDir({ prefix: "mcdsl-recovery-" });
  const controller = new AbortController();
  let client: EchoClient | undefined;
  let sup: ReturnType<typeof supervise> | undefined;
  try {
    let ca: string | undefined;
    const args = ["--mode", server];
    let target: string;
    let rawAddr: string;
    if (transport === "tls") {
      ca = (await writeDevPki(dir, await createDevPki({ hosts: ["localhost", "127.0.0.1"] }))).caCert;
      const port = freePort();
      args.push("--addr", `127.0.0.1:${port}`, "--certs", dir);
      target = `localhost:${port}`;
      rawAddr = target;
    } else {
      args.push("--addr", `unix://${dir}/r.sock`);
      target = `unix://${dir}/r.sock`;
      rawAddr = `${dir}/r.sock`;
    }
    const deaths: string[] = [];
    let diedAt = 0;
    let current: Deno.ChildProcess | undefined;
    sup = supervise({
      args: denoArgs("churn_server.ts", args),
      env: how === "goaway" ? { MALLOC_PERTURB_: "165" } : {},
      minBackoffMs: 100,
      maxBackoffMs: 2000,
      resetAfterMs: 500,
      signal: controller.signal,
      stdout: "null",
      onStart: (child) => {
        current = child;
        child.status.then((s) => {
          diedAt = performance.now();
          deaths.push(s.signal ?? `exit ${s.code}`);
        });
      },
    });
    client = createGrpcClient(Echo, {
      target,
      tls: ca ? { ca: await Deno.readTextFile(ca) } : undefined,
      channelOptions: { "grpc.initial_reconnect_backoff_ms": 20, "grpc.max_reconnect_backoff_ms": 50 },
    }) as unknown as EchoClient;
    const ping = () =>
      new Promise<boolean>((resolve) =>
        client!.Ping({ message: "r" }, { deadline: Date.now() + 250 }, (e) => resolve(e === null))
      );
    const untilServing = async (limitMs: number) => {
      const end = performance.now() + limitMs;
      while (performance.now() < end) {
        if (await ping()) return performance.now();
        await new Promise((r) => setTimeout(r, 10));
      }
      throw new Error(`server did not serve within ${limitMs} ms`);
    };
    await untilServing(30_000);
    const recoveryMs: number[] = [];
    for (let i = 0; i < crashes; i++) {
      if (spacingMs > 0) await new Promise((r) => setTimeout(r, spacingMs));
      const victim = current!;
      if (how === "abort") {
        victim.kill("SIGABRT");
      } else {
        const driver = runDriver("churn_raw.ts", [
          "--transport",
          transport,
          "--addr",
          rawAddr,
          "--seconds",
          "20",
          "--goaway-only",
          ...(ca ? ["--ca", ca] : []),
        ], 25_000);
        await victim.status;
        for (const d of drivers) kill(d);
        await driver;
      }
      await victim.status;
      const ready = await untilServing(30_000);
      recoveryMs.push(Math.round(ready - diedAt));
    }
    return { recoveryMs, deaths, restarts: sup.restarts };
  } finally {
    client?.close();
    controller.abort();
    await sup?.done;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      server: { type: "string", default: "mcdsl" },
      transport: { type: "string", default: "tls" },
      seconds: { type: "string", default: "20" },
      trials: { type: "string", default: "1" },
      perturb: { type: "boolean", default: false },
      recovery: { type: "string" },
      how: { type: "string", default: "abort" },
      spacing: { type: "string", default: "0" },
    },
  });
  if (values.recovery) {
    const r = await measureRecovery({
      server: values.server as "mcdsl" | "naive",
      transport: values.transport as "tls" | "unix",
      crashes: Number(values.recovery),
      how: values.how as "abort" | "goaway",
      spacingMs: Number(values.spacing),
    });
    console.log(JSON.stringify(r));
    Deno.exit(0);
  }
  for (let i = 0; i < Number(values.trials); i++) {
    const r = await runChurn({
      server: values.server as "mcdsl" | "naive" | "naive-tuned",
      transport: values.transport as "tls" | "unix",
      seconds: Number(values.seconds),
      perturb: values.perturb,
    });
    console.log(JSON.stringify(r));
  }
}
