/**
 * `deno task bench proxy`: MC-Proxy against HAProxy on the same TLS backend,
 * with h2load, same parameters for every leg, in one run.
 *
 * Legs (all HTTP/2 over TLS 1.3 from h2load's side):
 *
 *   direct        h2load → backend (TLS)
 *   haproxy-l4    h2load → HAProxy (mode tcp, `req.ssl_sni`) → backend (TLS)
 *   mc-proxy-l4   h2load → MC-Proxy (l4 route) → backend (TLS)
 *   haproxy-l7    h2load → HAProxy (mode http, TLS terminated, h2) → backend (h2c)
 *   mc-proxy-l7   h2load → MC-Proxy (l7 route) → backend (h2c)
 *
 * The backend is a separate HAProxy process answering every request itself
 * (`http-request return`), on a TLS port and an h2c port: a native server, so
 * the backend is never what limits a leg. The front HAProxy runs with one
 * thread (`BENCH_HAPROXY_THREADS`, default 1), like MC-Proxy's one event
 * loop. MC-Proxy runs as a real process under its sandbox manifest.
 *
 * Each leg runs twice: a throughput pass (many clients and streams) and a
 * latency pass (one client, one stream at a time), so the added p99 is what
 * the proxy adds, not queueing. p50/p99 come from h2load's per-request log
 * (`--log-file`). Targets: L4 ≥ 0.8× HAProxy req/s with ≤ 1 ms added p99;
 * L7 ≥ 0.5× HAProxy req/s. Numbers are printed, not asserted; the machine's
 * load average is printed with them.
 *
 * Env: BENCH_SECONDS (8), BENCH_LATENCY_SECONDS (3), BENCH_CLIENTS (16),
 * BENCH_STREAMS (8 per client),
 * BENCH_HAPROXY_THREADS (1), BENCH_LEGS (comma-separated subset of the legs; all).
 *
 * @module
 */

import { join } from "node:path";
import { freePort } from "@mc/mcdsl/testing";
import { createDevPki } from "@mc/mcdsl/tls";
import { planService } from "../_launcher.ts";

const L4_HOST = "bench-l4.test";
const L7_HOST = "bench-l7.test";

/** One h2load run's numbers. */
export interface LegResult {
  name: string;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  succeeded: number;
  failed: number;
}

interface Proc extends AsyncDisposable {
  stderr(): string;
}

function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

function spawn(cmd: string, args: string[], label: string): Proc {
  const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "piped" })
    .spawn();
  let err = "";
  const decoder = new TextDecoder();
  const pump = child.stderr.pipeTo(
    new WritableStream({ write: (c) => void (err += decoder.decode(c)) }),
  ).catch(() => {});
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  return {
    stderr: () => `${label}: ${err}`,
    async [Symbol.asyncDispose]() {
      if (!exited) child.kill("SIGTERM");
      await status;
      await pump;
    },
  };
}

/** Waits until `port` on 127.0.0.1 accepts TCP (bounded). */
async function waitPort(port: number, proc: Proc, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const c = await Deno.connect({ hostname: "127.0.0.1", port });
      c.close();
      return;
    } catch {
      if (Date.now() > deadline) {
        throw new Error(`port ${port} did not open in ${timeoutMs} ms\n${proc.stderr()}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function h2load(
  name: string,
  port: number,
  host: string,
  opts: { seconds: number; clients: number; streams: number; dir: string },
): Promise<LegResult> {
  const log = join(opts.dir, `${name}.log`);
  const out = await new Deno.Command("h2load", {
    args: [
      `-c${opts.clients}`,
      `-m${opts.streams}`,
      `-D${opts.seconds}`,
      "--warm-up-time=1",
      `--connect-to=127.0.0.1:${port}`,
      `--log-file=${log}`,
      `https://${host}/`,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output().catch((e) => {
    throw new Error(`h2load is needed for this benchmark (apt-get install nghttp2-client): ${e}`);
  });
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  const rps = Number(/finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(text)?.[1] ?? NaN);
  const req = /requests: \d+ total, \d+ started, \d+ done, (\d+) succeeded, (\d+) failed/.exec(
    text,
  );
  const lines = (await Deno.readTextFile(log).catch(() => "")).split("\n");
  const times = new Float64Array(lines.length);
  let n = 0;
  for (const line of lines) {
    const cols = line.split("\t");
    if (cols.length >= 3 && cols[1] === "200") times[n++] = Number(cols[2]) / 1000;
  }
  const sorted = times.subarray(0, n).sort();
  const result = {
    name,
    rps,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    succeeded: Number(req?.[1] ?? 0),
    failed: Number(req?.[2] ?? 0),
  };
  if (!(rps > 0) || result.succeeded === 0) {
    // A leg that cannot be measured is reported, not fatal: the others still count.
    const reason = text.split("\n").filter((l) => /requests:|status codes:|error|fail/i.test(l))
      .slice(0, 3).join("; ");
    console.error(`${name}: no successful requests (${reason})`);
    return { ...result, rps: NaN };
  }
  return result;
}

function backendConfig(pem: string, tlsPort: number, h2cPort: number): string {
  return `global
  nbthread 1
  tune.ssl.default-dh-param 2048
defaults
  mode http
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend tls
  bind 127.0.0.1:${tlsPort} ssl crt ${pem} alpn h2,http/1.1 ssl-min-ver TLSv1.3
  http-request return status 200 content-type text/plain string "ok"
frontend h2c
  bind 127.0.0.1:${h2cPort} proto h2
  http-request return status 200 content-type text/plain string "ok"
`;
}

function frontConfig(
  pem: string,
  threads: number,
  l4Port: number,
  l7Port: number,
  tlsPort: number,
  h2cPort: number,
): string {
  return `global
  nbthread ${threads}
defaults
  timeout connect 5s
  timeout client 30s
  timeout server 30s
frontend l4
  mode tcp
  bind 127.0.0.1:${l4Port}
  tcp-request inspect-delay 5s
  tcp-request content accept if { req.ssl_hello_type 1 }
  use_backend be_tls if { req.ssl_sni -i ${L4_HOST} }
backend be_tls
  mode tcp
  server b 127.0.0.1:${tlsPort}
frontend l7
  mode http
  bind 127.0.0.1:${l7Port} ssl crt ${pem} alpn h2,http/1.1 ssl-min-ver TLSv1.3
  option forwardfor
  default_backend be_h2c
backend be_h2c
  mode http
  server b 127.0.0.1:${h2cPort} proto h2
`;
}

/** MC-Proxy's config for the bench: one listener, an l4 and an l7 route. */
export function mcProxyConfig(
  dataDir: string,
  listenPort: number,
  metricsPort: number,
  tlsPort: number,
  h2cPort: number,
): string {
  return `[database]
path = "${join(dataDir, "mc-proxy.db")}"

[[listeners]]
addr = "127.0.0.1:${listenPort}"

[[listeners.routes]]
hostname = "${L4_HOST}"
backend = "127.0.0.1:${tlsPort}"
mode = "l4"

[[listeners.routes]]
hostname = "${L7_HOST}"
backend = "127.0.0.1:${h2cPort}"
mode = "l7"
tls_cert = "${join(dataDir, "cert.pem")}"
tls_key = "${join(dataDir, "key.pem")}"

[firewall]
rate_limit = 0

[proxy]
connect_timeout = "5s"
idle_timeout = "60s"
shutdown_timeout = "2s"

[admin]
socket = "${join(dataDir, "mc-proxy.sock")}"

[metrics]
listen_addr = "127.0.0.1:${metricsPort}"

[log]
level = "warn"
`;
}

async function startMcProxy(config: string): Promise<Proc> {
  const plan = await planService("mc-proxy", "server", ["--config", config]);
  return spawn(Deno.execPath(), plan.argv, "mc-proxy");
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "-";
}

/** Runs the proxy benchmark and prints its table. */
export async function run(): Promise<void> {
  const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? "8");
  const clients = Number(Deno.env.get("BENCH_CLIENTS") ?? "16");
  const streams = Number(Deno.env.get("BENCH_STREAMS") ?? "8");
  const threads = Number(Deno.env.get("BENCH_HAPROXY_THREADS") ?? "1");
  const latencySeconds = Number(Deno.env.get("BENCH_LATENCY_SECONDS") ?? "3");
  const root = await Deno.makeTempDir({ prefix: "bench_proxy_" });
  try {
    const dataDir = join(root, "mc-proxy");
    await Deno.mkdir(dataDir, { mode: 0o700 });
    const pki = await createDevPki({ hosts: [L4_HOST, L7_HOST, "localhost", "127.0.0.1"] });
    const pem = join(root, "combined.pem");
    await Deno.writeTextFile(pem, `${pki.server.cert}\n${pki.server.key}\n`, { mode: 0o600 });
    await Deno.writeTextFile(join(dataDir, "cert.pem"), pki.server.cert);
    await Deno.writeTextFile(join(dataDir, "key.pem"), pki.server.key, { mode: 0o600 });

    const [tlsPort, h2cPort, l4Port, l7Port, mcPort, metricsPort] = [
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
      freePort(),
    ];
    const backendCfg = join(root, "backend.cfg");
    const frontCfg = join(root, "front.cfg");
    await Deno.writeTextFile(backendCfg, backendConfig(pem, tlsPort, h2cPort));
    await Deno.writeTextFile(
      frontCfg,
      frontConfig(pem, threads, l4Port, l7Port, tlsPort, h2cPort),
    );
    const mcConfig = join(dataDir, "mc-proxy.toml");
    await Deno.writeTextFile(
      mcConfig,
      mcProxyConfig(dataDir, mcPort, metricsPort, tlsPort, h2cPort),
    );

    await using backend = spawn("haproxy", ["-db", "-f", backendCfg], "backend haproxy");
    await using front = spawn("haproxy", ["-db", "-f", frontCfg], "front haproxy");
    const legs = ([
      ["direct", tlsPort, L4_HOST],
      ["haproxy-l4", l4Port, L4_HOST],
      ["mc-proxy-l4", mcPort, L4_HOST],
      ["haproxy-l7", l7Port, L7_HOST],
      ["mc-proxy-l7", mcPort, L7_HOST],
    ] as const).filter(([name]) => {
      const only = Deno.env.get("BENCH_LEGS");
      return only === undefined || only.split(",").includes(name);
    });
    const withMc = legs.some(([name]) => name.startsWith("mc-proxy"));
    await using mc = withMc ? await startMcProxy(mcConfig) : undefined;
    await waitPort(tlsPort, backend);
    await waitPort(h2cPort, backend);
    await waitPort(l4Port, front);
    await waitPort(l7Port, front);
    if (mc !== undefined) await waitPort(mcPort, mc);

    const load0 = Deno.loadavg().map((n) => n.toFixed(2)).join(" ");
    // Throughput: many clients and streams. Latency: one client, one stream
    // at a time, so p99 shows what the proxy adds rather than queueing.
    const results: LegResult[] = [];
    const latency: LegResult[] = [];
    for (const [name, port, host] of legs) {
      results.push(await h2load(name, port, host, { seconds, clients, streams, dir: root }));
      latency.push(
        await h2load(`${name}-lat`, port, host, {
          seconds: latencySeconds,
          clients: 1,
          streams: 1,
          dir: root,
        }),
      );
    }
    const load1 = Deno.loadavg().map((n) => n.toFixed(2)).join(" ");

    console.log(
      `h2load, TLS 1.3, h2; throughput -c${clients} -m${streams} -D${seconds}, latency -c1 -m1 ` +
        `-D${latencySeconds} (1 s warm-up each); front HAProxy nbthread ${threads}`,
    );
    console.log(
      `load average before: ${load0}, after: ${load1} (${navigator.hardwareConcurrency} CPUs; ` +
        `other work on this machine shares them)`,
    );
    console.log(
      "leg            req/s     p50 ms   p99 ms   | 1×1 req/s  p50 ms   p99 ms   | ok / failed",
    );
    for (const [i, r] of results.entries()) {
      const l = latency[i];
      console.log(
        `${r.name.padEnd(14)} ${fmt(r.rps).padStart(8)}  ${fmt(r.p50Ms, 2).padStart(7)}  ${
          fmt(r.p99Ms, 2).padStart(7)
        }  | ${fmt(l.rps).padStart(8)}  ${fmt(l.p50Ms, 2).padStart(7)}  ${
          fmt(l.p99Ms, 2).padStart(7)
        }  | ${r.succeeded} / ${r.failed}`,
      );
    }
    const NONE = { rps: NaN, p50Ms: NaN, p99Ms: NaN };
    const by = (n: string) => results.find((r) => r.name === n) ?? NONE;
    const lat = (n: string) => latency.find((r) => r.name === `${n}-lat`) ?? NONE;
    const l4 = by("mc-proxy-l4").rps / by("haproxy-l4").rps;
    const l4p99 = lat("mc-proxy-l4").p99Ms - lat("haproxy-l4").p99Ms;
    const l4p99Loaded = by("mc-proxy-l4").p99Ms - by("haproxy-l4").p99Ms;
    const l7 = by("mc-proxy-l7").rps / by("haproxy-l7").rps;
    const l7p99 = lat("mc-proxy-l7").p99Ms - lat("haproxy-l7").p99Ms;
    const mark = (ok: boolean) => ok ? "meets target" : "MISSES target";
    console.log(
      `L4: MC-Proxy/HAProxy req/s = ${fmt(l4, 2)}× (target ≥ 0.80×: ${mark(l4 >= 0.8)}); ` +
        `added p99 vs HAProxy ${fmt(l4p99, 2)} ms at 1×1 (target ≤ 1 ms: ${mark(l4p99 <= 1)}), ` +
        `${fmt(l4p99Loaded, 2)} ms under load`,
    );
    console.log(
      `L7: MC-Proxy/HAProxy req/s = ${fmt(l7, 2)}× (target ≥ 0.50×: ${mark(l7 >= 0.5)}); ` +
        `added p99 vs HAProxy ${fmt(l7p99, 2)} ms at 1×1`,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}
