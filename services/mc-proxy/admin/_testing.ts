/**
 * Test helpers: an MC-Proxy data directory with a dev PKI and a config, the
 * real `server` process started under its sandbox manifest (as
 * `deno task mc-proxy server` would), and `mcproxyctl` runs through the
 * launcher. Used by the admin process tests and the churn test.
 *
 * @module
 */

import { join } from "node:path";
import { freePort } from "@mc/mcdsl/testing";
import { createDevPki, type DevPki } from "@mc/mcdsl/tls";
import { planService } from "../../../tasks/_launcher.ts";
import { connectAdmin } from "./client.ts";

/** A temporary MC-Proxy data directory. */
export interface ProxyDir extends AsyncDisposable {
  /** The data directory (0700). */
  dataDir: string;
  /** Its config file. */
  config: string;
  /** The admin socket path. */
  socket: string;
  /** The listener's port (127.0.0.1). */
  port: number;
  /** The listener address as configured. */
  listener: string;
  /** Metrics port (127.0.0.1). */
  metricsPort: number;
  /** Dev PKI; the server cert is valid for every `hosts` name. */
  pki: DevPki;
  /** Paths of the server cert and key in the data directory (for l7 routes). */
  cert: string;
  key: string;
}

/** Options for {@linkcode makeProxyDir}. */
export interface ProxyDirOptions {
  /** Names the dev certificate holds. */
  hosts: string[];
  /** `[[listeners.routes]]` TOML appended after the listener (use `${cert}`/`${key}` paths from the result). */
  routes?: (paths: { cert: string; key: string }) => string;
  /** Extra `[proxy] backend_hosts`. */
  backendHosts?: string[];
}

/**
 * Creates a data directory with a config: one listener on a free loopback
 * port, the given routes, no rate limit, short timeouts, admin socket and
 * metrics.
 */
export async function makeProxyDir(options: ProxyDirOptions): Promise<ProxyDir> {
  const root = await Deno.makeTempDir({ prefix: "mc-proxy_" });
  const dataDir = join(root, "mc-proxy");
  await Deno.mkdir(dataDir, { mode: 0o700 });
  const pki = await createDevPki({ hosts: [...options.hosts, "localhost", "127.0.0.1"] });
  const cert = join(dataDir, "cert.pem");
  const key = join(dataDir, "key.pem");
  await Deno.writeTextFile(cert, pki.server.cert);
  await Deno.writeTextFile(key, pki.server.key, { mode: 0o600 });
  const port = freePort();
  const metricsPort = freePort();
  const listener = `127.0.0.1:${port}`;
  const socket = join(dataDir, "mc-proxy.sock");
  const config = join(dataDir, "mc-proxy.toml");
  await Deno.writeTextFile(
    config,
    `[database]
path = "${join(dataDir, "mc-proxy.db")}"

[[listeners]]
addr = "${listener}"
${options.routes?.({ cert, key }) ?? ""}

[firewall]
rate_limit = 0

[proxy]
connect_timeout = "2s"
idle_timeout = "20s"
shutdown_timeout = "2s"
backend_hosts = ${JSON.stringify(options.backendHosts ?? ["127.0.0.1"])}

[admin]
socket = "${socket}"

[metrics]
listen_addr = "127.0.0.1:${metricsPort}"

[log]
level = "warn"
`,
  );
  return {
    dataDir,
    config,
    socket,
    port,
    listener,
    metricsPort,
    pki,
    cert,
    key,
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

/** The running server process. */
export interface ProxyProcess extends AsyncDisposable {
  /** The process. */
  child: Deno.ChildProcess;
  /** True once it exited. */
  exited(): boolean;
  /** Its stderr so far. */
  stderr(): string;
  /** SIGTERM, wait; the exit code. */
  stop(): Promise<number>;
}

/**
 * Starts `mc-proxy server --config <config>` under its manifest's flags and
 * waits (bounded) until the admin socket answers `GetStatus` and the
 * listener accepts TCP.
 *
 * @throws {Error} With its stderr when it exits or does not come up in time.
 */
export async function startProxyProcess(dir: ProxyDir, timeoutMs = 30_000): Promise<ProxyProcess> {
  const plan = await planService("mc-proxy", "server", ["--config", dir.config]);
  const child = new Deno.Command(Deno.execPath(), {
    args: plan.argv,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
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
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    const s = await status;
    await pump;
    return s.code;
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`mc-proxy did not come up (exited: ${exited}):\n${err}`);
    }
    try {
      using c = connectAdmin(dir.socket, { timeoutMs: 1000 });
      await c.getStatus();
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: dir.port });
      conn.close();
      break;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    exited: () => exited,
    stderr: () => err,
    stop,
    [Symbol.asyncDispose]: async () => void await stop(),
  };
}

/** Runs `deno task mc-proxy <args>` the way the task does: through the launcher's plan. */
export async function mcproxyctl(
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [subcommand, ...rest] = args;
  const plan = await planService("mc-proxy", subcommand, rest);
  const out = await new Deno.Command(Deno.execPath(), {
    args: plan.argv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const d = new TextDecoder();
  return { code: out.code, stdout: d.decode(out.stdout), stderr: d.decode(out.stderr) };
}

/**
 * Polls until `check()` is true, at most `timeoutMs`.
 *
 * @returns Whether it became true.
 */
export async function waitFor(
  check: () => Promise<boolean> | boolean,
  timeoutMs: number,
  intervalMs = 100,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
