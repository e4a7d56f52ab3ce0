/**
 * Test helpers: an MCNS data directory with a config on free ports, the
 * server started as a real sandboxed process under its declared flags, and
 * `dig` runs.
 *
 * @module
 */

import { createSocket } from "node:dgram";
import { join } from "node:path";
import { freePort, run } from "@mc/mcdsl/testing";
import { createDevPki, writeDevPki } from "@mc/mcdsl/tls";
import { planService, type ServicePlan } from "../../tasks/_launcher.ts";

export { freePort, run };

/** A temporary MCNS data directory. */
export interface McnsDir extends AsyncDisposable {
  /** Holds everything; removed on dispose. */
  root: string;
  /** The data directory (`root/mcns`). */
  dataDir: string;
  /** The config file inside it. */
  config: string;
  /** The DNS port (UDP and TCP). */
  dnsPort: number;
  /** The seeded domain. */
  domain: string;
  /** The record API's HTTPS port. */
  httpsPort: number;
  /** The record API's gRPC port (listening only when `grpc` was asked for). */
  grpcPort: number;
  /** CA certificate (PEM) of the API's TLS certificate. */
  ca: string;
}

/** Options for {@linkcode makeMcnsDir}. */
export interface McnsDirOptions {
  /** `[mcias] server_url`. @default {"https://localhost:9"} (nothing listens; no token validates) */
  mciasUrl?: string;
  /** `[mcias] ca_cert`: path of MCIAS's CA certificate. */
  mciasCa?: string;
  /** Also serve gRPC on `grpcPort`. @default {false} */
  grpc?: boolean;
  /** `[dns] reload_interval`. @default {"100ms"} */
  reloadInterval?: string;
}

/** Whether UDP `port` on 127.0.0.1 can be bound (node:dgram: tests run without --unstable-net). */
function udpFree(port: number): Promise<boolean> {
  const socket = createSocket("udp4");
  return new Promise((resolve) => {
    socket.once("error", () => {
      socket.close();
      resolve(false);
    });
    socket.bind(port, "127.0.0.1", () => socket.close(() => resolve(true)));
  });
}

/** A free port on 127.0.0.1 for both TCP and UDP. */
export async function freeDnsPort(): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = freePort();
    if (await udpFree(port)) return port;
  }
  throw new Error("Cannot find a port free for both TCP and UDP on 127.0.0.1");
}

/**
 * Creates a data directory with a dev PKI in `certs/` and a config listening
 * on free ports (DNS, the record API's HTTPS and, with `grpc`, gRPC).
 */
export async function makeMcnsDir(extraDns = "", options: McnsDirOptions = {}): Promise<McnsDir> {
  const { mciasUrl = "https://localhost:9", mciasCa, grpc = false, reloadInterval = "100ms" } =
    options;
  const dnsPort = await freeDnsPort();
  const httpsPort = freePort();
  const grpcPort = freePort();
  const root = await Deno.makeTempDir({ prefix: "mcns_" });
  const dataDir = join(root, "mcns");
  await Deno.mkdir(join(dataDir, "certs"), { recursive: true });
  const pki = await writeDevPki(join(dataDir, "certs"), await createDevPki());
  const config = join(dataDir, "mcns.toml");
  const domain = "example.test";
  await Deno.writeTextFile(
    config,
    `[server]
listen_addr = "127.0.0.1:${httpsPort}"
${grpc ? `grpc_addr = "127.0.0.1:${grpcPort}"\n` : ""}tls_cert = "certs/cert.pem"
tls_key = "certs/key.pem"

[mcias]
server_url = "${mciasUrl}"
${mciasCa === undefined ? "" : `ca_cert = ${JSON.stringify(mciasCa)}\n`}service_name = "mcns"

[database]
path = "mcns.db"

[dns]
listen_addr = "127.0.0.1:${dnsPort}"
domain = "${domain}"
reload_interval = "${reloadInterval}"
${extraDns}`,
  );
  return {
    root,
    dataDir,
    config,
    dnsPort,
    domain,
    httpsPort,
    grpcPort,
    ca: await Deno.readTextFile(pki.caCert),
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

/** A query for `<zone>. SOA` over TCP: the health check. */
export function soaQuery(zone: string): Uint8Array {
  const labels = zone.split(".").map((l) => [l.length, ...new TextEncoder().encode(l)]);
  return new Uint8Array([
    0x12,
    0x34,
    0,
    0,
    0,
    1,
    0,
    0,
    0,
    0,
    0,
    0,
    ...labels.flat(),
    0,
    0,
    6,
    0,
    1,
  ]);
}

/**
 * Sends one DNS message over TCP and returns the reply, or throws.
 *
 * @param port The server's port on 127.0.0.1.
 * @param message The query.
 */
export async function tcpQuery(port: number, message: Uint8Array): Promise<Uint8Array> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const framed = new Uint8Array(message.length + 2);
    framed[0] = message.length >> 8;
    framed[1] = message.length & 0xff;
    framed.set(message, 2);
    await conn.write(framed);
    const chunks: Uint8Array[] = [];
    let total = 0;
    const buf = new Uint8Array(65537);
    const timer = setTimeout(() => conn.close(), 2000);
    try {
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) throw new Error("Connection closed before a reply");
        chunks.push(buf.slice(0, n));
        total += n;
        const all = new Uint8Array(total);
        let off = 0;
        for (const c of chunks) all.set(c, (off += c.length) - c.length);
        if (total >= 2 && total >= 2 + ((all[0] << 8) | all[1])) {
          return all.subarray(2, 2 + ((all[0] << 8) | all[1]));
        }
      }
    } finally {
      clearTimeout(timer);
    }
  } finally {
    try {
      conn.close();
    } catch { /* closed by the timer */ }
  }
}

/** An MCNS process started under its declared flags. */
export interface McnsProcess extends AsyncDisposable {
  /** The plan it was started with. */
  plan: ServicePlan;
  /** Everything it wrote to stderr and stdout so far. */
  output(): string;
  /** Sends SIGTERM and waits; returns the exit code. */
  stop(): Promise<number>;
}

/**
 * Starts `mcns server --config <config>` exactly as `deno task mcns` would,
 * and waits until it answers a SOA query over TCP.
 */
export async function startMcnsProcess(
  dir: McnsDir,
  env: Record<string, string> = {},
  timeoutMs = 30_000,
): Promise<McnsProcess> {
  const plan = await planService("mcns", "server", ["--config", dir.config]);
  const child = new Deno.Command(Deno.execPath(), {
    args: plan.argv,
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const decoder = new TextDecoder();
  const sink = () =>
    new WritableStream<Uint8Array>({ write: (c) => void (out += decoder.decode(c)) });
  const pumps = Promise.all([child.stdout.pipeTo(sink()), child.stderr.pipeTo(sink())]);
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    const s = await status;
    await pumps;
    return s.code;
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`mcns did not answer (exited: ${exited}):\n${out}`);
    }
    try {
      const reply = await tcpQuery(dir.dnsPort, soaQuery(`svc.mcp.${dir.domain}`));
      if (reply.length > 12 && (reply[3] & 0x0f) === 0) break;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { plan, output: () => out, stop, [Symbol.asyncDispose]: async () => void await stop() };
}

/** Runs `dig` against the server with `+norec` and the given arguments. */
export async function dig(port: number, ...args: string[]): Promise<string> {
  const out = await run("dig", [
    "@127.0.0.1",
    "-p",
    String(port),
    "+norec",
    "+time=2",
    "+tries=1",
    ...args,
  ]);
  return out.stdout + out.stderr;
}
