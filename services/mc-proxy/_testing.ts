/**
 * Test helpers for MC-Proxy: HAProxy as a real PROXY-protocol peer, a
 * capturing TCP server, a TLS backend, and waiting for ports. Test-only.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { connect, createServer, type Server, type Socket } from "node:net";

/** A running HAProxy. */
export interface Haproxy extends AsyncDisposable {
  /** Stops it. */
  stop(): Promise<void>;
}

/** Waits (up to `ms`) until something accepts TCP on 127.0.0.1:`port`. */
export async function waitForPort(port: number, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      return;
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  throw new Error(`nothing listens on 127.0.0.1:${port} after ${ms} ms`);
}

/**
 * Starts HAProxy (foreground) with a TCP-mode config body after a minimal
 * `defaults` section, and waits for `port`.
 */
export async function startHaproxy(body: string, port: number): Promise<Haproxy> {
  const dir = await Deno.makeTempDir({ prefix: "mcproxy_haproxy_" });
  const cfg = `${dir}/haproxy.cfg`;
  await Deno.writeTextFile(
    cfg,
    `global\n  maxconn 256\ndefaults\n  mode tcp\n  timeout connect 2s\n  timeout client 10s\n  timeout server 10s\n${body}\n`,
  );
  const child = new Deno.Command("haproxy", {
    args: ["-f", cfg, "-db"],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stop = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.stderr.cancel().catch(() => {});
    await child.status;
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  try {
    await waitForPort(port);
  } catch (e) {
    await stop();
    throw e;
  }
  return { stop, [Symbol.asyncDispose]: stop };
}

/** A TCP server recording what each connection sends. */
export interface CaptureServer extends AsyncDisposable {
  port: number;
  /** Resolves with the first connection's bytes once `done(bytes)` says so (or 3 s). */
  next(done: (bytes: Uint8Array) => boolean): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Starts a capturing server on 127.0.0.1. */
export async function startCaptureServer(): Promise<CaptureServer> {
  const waiters: ((s: Socket) => void)[] = [];
  const pending: Socket[] = [];
  const server: Server = createServer((s) => {
    s.on("error", () => {});
    const w = waiters.shift();
    if (w !== undefined) w(s);
    else pending.push(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const close = async () => {
    for (const s of pending) s.destroy();
    await new Promise((r) => server.close(r));
  };
  return {
    port,
    async next(done) {
      const s = pending.shift() ?? await new Promise<Socket>((r) => waiters.push(r));
      const chunks: Buffer[] = [];
      return await new Promise<Uint8Array>((resolve) => {
        const timer = setTimeout(() => finish(), 3000);
        const finish = () => {
          clearTimeout(timer);
          s.destroy();
          resolve(Buffer.concat(chunks));
        };
        s.on("data", (c: Buffer) => {
          chunks.push(c);
          if (done(Buffer.concat(chunks))) finish();
        });
        s.on("close", finish);
      });
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** Connects to 127.0.0.1:`port`, writes `data`, returns the socket. */
export function sendTo(port: number, data: Uint8Array | string, host = "127.0.0.1"): Socket {
  const s = connect({ host, port });
  s.on("error", () => {});
  s.write(data);
  return s;
}
