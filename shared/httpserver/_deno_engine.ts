/**
 * The `engine: "deno"` path of `serveHttps`: `Deno.serve` (rustls + hyper,
 * several times faster than `node:https` under Deno) behind a TCP front that
 * refuses every client not offering TLS 1.3.
 *
 * `Deno.serve` has no minimum-version option, so the front accepts on the
 * public address, reads the ClientHello, answers a `protocol_version` alert
 * and closes unless its `supported_versions` extension lists TLS 1.3 (0x0304;
 * rustls then always picks 1.3), and otherwise relays the still-encrypted
 * bytes to a `Deno.serve` TLS listener on `127.0.0.1:<ephemeral>`. That inner
 * listener answers only connections opened by the front (a local client
 * dialling it directly gets 403), and the fetch handler sees the real peer in
 * `env.incoming.socket.remoteAddress`.
 *
 * Needs, besides read of the certificate and key and net for the listen
 * address, net for `127.0.0.1` (listen on port 0 and connect to it).
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";
import { errorResponse } from "./http_error.ts";
import type { FetchHandler, HttpsBindings, HttpsServer, ServerAddr } from "./serve_https.ts";

/** What `serveHttps` hands over once options are checked and files read. */
export interface DenoEngineParams {
  hostname: string;
  port: number;
  listenAddr: string;
  reusePort: boolean;
  cert: string;
  key: string;
  fetch: FetchHandler;
  logger: Logger;
  signal?: AbortSignal;
  onListen?: (addr: ServerAddr) => void;
  defaultGraceMs: number;
  checkGrace: (graceMs: number, action: string) => void;
  formatAddr: (addr: ServerAddr) => string;
}

/** TLS alert record: fatal (2), protocol_version (70). */
const PROTOCOL_VERSION_ALERT = new Uint8Array([21, 3, 3, 0, 2, 2, 70]);
/** Largest ClientHello the front buffers before giving up. */
const MAX_HELLO = 64 * 1024;
const BUFFER_SIZE = 16 * 1024 + 256;
/** How long the front waits for a complete ClientHello. */
const HELLO_TIMEOUT_MS = 10_000;

/**
 * Looks for TLS 1.3 in a ClientHello's supported_versions.
 *
 * @param data Bytes received so far.
 * @returns `true` if offered, `false` if not (or not a ClientHello),
 *   `undefined` if more bytes are needed.
 */
export function offersTls13(data: Uint8Array): boolean | undefined {
  // Reassemble the handshake message from consecutive handshake records.
  const hs: number[] = [];
  let p = 0;
  let needed = -1;
  while (true) {
    if (data.length < p + 5) return undefined;
    if (data[p] !== 22) return false; // not a handshake record
    const len = (data[p + 3] << 8) | data[p + 4];
    if (len === 0 || len > 16384 + 256) return false;
    if (data.length < p + 5 + len) return undefined;
    for (let i = p + 5; i < p + 5 + len; i++) hs.push(data[i]);
    p += 5 + len;
    if (needed < 0 && hs.length >= 4) {
      if (hs[0] !== 1) return false; // not a ClientHello
      needed = 4 + ((hs[1] << 16) | (hs[2] << 8) | hs[3]);
      if (needed > MAX_HELLO) return false;
    }
    if (needed >= 0 && hs.length >= needed) break;
  }
  const end = needed;
  let q = 4 + 2 + 32; // header, legacy_version, random
  if (q >= end) return false;
  q += 1 + hs[q]; // session id
  if (q + 2 > end) return false;
  q += 2 + ((hs[q] << 8) | hs[q + 1]); // cipher suites
  if (q >= end) return false;
  q += 1 + hs[q]; // compression methods
  if (q + 2 > end) return false; // no extensions: TLS 1.2 or older
  const extEnd = Math.min(end, q + 2 + ((hs[q] << 8) | hs[q + 1]));
  q += 2;
  while (q + 4 <= extEnd) {
    const type = (hs[q] << 8) | hs[q + 1];
    const len = (hs[q + 2] << 8) | hs[q + 3];
    q += 4;
    if (type === 43) { // supported_versions
      const listEnd = Math.min(q + len, q + 1 + hs[q], extEnd);
      for (let i = q + 1; i + 2 <= listEnd; i += 2) {
        if (hs[i] === 3 && hs[i + 1] === 4) return true;
      }
      return false;
    }
    q += len;
  }
  return false;
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < data.length) offset += await conn.write(data.subarray(offset));
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // already closed
  }
}

/** Serves `fetch` with `Deno.serve`, TLS 1.3 only. */
export async function serveDenoEngine(params: DenoEngineParams): Promise<HttpsServer> {
  const { hostname, port, listenAddr, reusePort, cert, key, fetch, logger, signal, onListen } =
    params;
  const { defaultGraceMs, checkGrace, formatAddr } = params;

  /** Front connections by the local port of their relay to the inner server. */
  const peers = new Map<number, Deno.NetAddr>();
  const inner = serveInner({
    hostname: "127.0.0.1",
    port: 0,
    cert,
    key,
    onListen() {},
    onError(error) {
      logger.error("unhandled error", {
        error: error instanceof Error ? { name: error.name, message: error.message } : error,
        stack: error instanceof Error ? error.stack : undefined,
      });
      return errorResponse(500, "internal error");
    },
  }, async (request, info) => {
    const peer = peers.get(info.remoteAddr.port);
    if (peer === undefined || info.remoteAddr.hostname !== "127.0.0.1") {
      return errorResponse(403, "forbidden", { connection: "close" });
    }
    const env = {
      incoming: { socket: { remoteAddress: peer.hostname, remotePort: peer.port } },
    } as unknown as HttpsBindings;
    try {
      return await fetch(request, env);
    } catch (error) {
      logger.error("unhandled error", {
        error: error instanceof Error ? { name: error.name, message: error.message } : error,
        stack: error instanceof Error ? error.stack : undefined,
      });
      return errorResponse(500, "internal error");
    }
  });
  const innerPort = inner.addr.port;

  function serveInner(
    options: Deno.ServeTcpOptions & Deno.TlsCertifiedKeyPem,
    handler: Deno.ServeHandler<Deno.NetAddr>,
  ): Deno.HttpServer<Deno.NetAddr> {
    try {
      return Deno.serve(options, handler);
    } catch (error) {
      if (
        error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
      ) {
        throw new Error(
          `Cannot start HTTPS server: engine "deno" relays to an internal listener on ` +
            `127.0.0.1 and needs net access to it; grant --allow-net=127.0.0.1 ` +
            `(or use engine "node")`,
          { cause: error },
        );
      }
      throw error;
    }
  }

  let listener: Deno.TcpListener;
  try {
    // reusePort on Deno.listen needs --unstable-net (Deno.serve's does not).
    listener = Deno.listen(
      reusePort
        ? { hostname, port, transport: "tcp", reusePort } as Deno.TcpListenOptions
        : { hostname, port, transport: "tcp" },
    );
  } catch (error) {
    await inner.shutdown();
    throw new Error(
      `Cannot start HTTPS server: cannot listen on "${listenAddr}" (server.listen_addr): ` +
        (error as Error).message,
      { cause: error },
    );
  }

  /** Every accepted front connection; `true` once it is relayed. */
  const fronts = new Map<Deno.Conn, boolean>();
  const relays = new Set<Deno.Conn>();
  let closing = false;
  let listenerClosed = false;
  let drained!: () => void;
  const frontsClosed = new Promise<void>((resolve) => drained = resolve);
  function checkDrained(): void {
    if (listenerClosed && fronts.size === 0) drained();
  }

  async function relay(from: Deno.Conn, to: Deno.Conn, buffer: Uint8Array): Promise<void> {
    try {
      while (true) {
        const n = await from.read(buffer);
        if (n === null) break;
        await writeAll(to, buffer.subarray(0, n));
      }
    } catch {
      // reset or closed: the finally of handle() closes both sides
    }
  }

  async function handle(conn: Deno.TcpConn): Promise<void> {
    fronts.set(conn, false);
    const remote = conn.remoteAddr as Deno.NetAddr;
    let upstream: Deno.TcpConn | undefined;
    // A client that connects and sends no ClientHello is dropped, as
    // node:tls drops a handshake that does not finish.
    const helloTimer = setTimeout(() => closeQuietly(conn), HELLO_TIMEOUT_MS);
    try {
      const buffer = new Uint8Array(BUFFER_SIZE);
      let hello = new Uint8Array(BUFFER_SIZE);
      let length = 0;
      let verdict: boolean | undefined;
      while (verdict === undefined) {
        if (length === hello.length) {
          if (hello.length >= MAX_HELLO) {
            verdict = false;
            break;
          }
          const bigger = new Uint8Array(hello.length * 2);
          bigger.set(hello);
          hello = bigger;
        }
        const n = await conn.read(hello.subarray(length));
        if (n === null) return;
        length += n;
        verdict = offersTls13(hello.subarray(0, length));
      }
      clearTimeout(helloTimer);
      if (!verdict) {
        logger.debug("tls handshake failed", {
          remoteAddr: remote.hostname,
          error: "client does not offer TLS 1.3 (protocol_version alert sent)",
        });
        await writeAll(conn, PROTOCOL_VERSION_ALERT).catch(() => {});
        return;
      }
      if (closing) return;
      upstream = await Deno.connect({ hostname: "127.0.0.1", port: innerPort });
      peers.set((upstream.localAddr as Deno.NetAddr).port, remote);
      relays.add(upstream);
      fronts.set(conn, true);
      conn.setNoDelay(true);
      upstream.setNoDelay(true);
      await writeAll(upstream, hello.subarray(0, length));
      const up = upstream;
      // The inner server ends the connection: done. The client ends its
      // side: pass that on and let the server finish.
      const fromServer = relay(up, conn, buffer);
      relay(conn, up, new Uint8Array(BUFFER_SIZE)).then(() => up.closeWrite().catch(() => {}));
      await fromServer;
    } catch {
      // reset, or the inner server is gone
    } finally {
      clearTimeout(helloTimer);
      if (upstream !== undefined) {
        peers.delete((upstream.localAddr as Deno.NetAddr).port);
        relays.delete(upstream);
        closeQuietly(upstream);
      }
      closeQuietly(conn);
      fronts.delete(conn);
      checkDrained();
    }
  }

  (async () => {
    try {
      for await (const conn of listener) handle(conn);
    } catch {
      // closed
    }
  })();

  const bound = listener.addr as Deno.NetAddr;
  const addr: ServerAddr = { hostname: bound.hostname, port: bound.port };

  let forceTimer: ReturnType<typeof setTimeout> | undefined;
  let forced!: () => void;
  const forcedPromise = new Promise<void>((resolve) => forced = resolve);
  const done = Promise.withResolvers<void>();
  let stopping: Promise<void> | undefined;

  function shutdown(graceMs: number = defaultGraceMs): Promise<void> {
    if (stopping !== undefined) return done.promise;
    checkGrace(graceMs, "shut down HTTPS server");
    closing = true;
    logger.info("https server shutting down", { addr: formatAddr(addr), graceMs });
    try {
      listener.close();
    } catch {
      // already closed
    }
    listenerClosed = true;
    // Connections still in their handshake never reach the inner server.
    for (const [conn, relayed] of fronts) if (!relayed) closeQuietly(conn);
    const innerDone = inner.shutdown();
    forceTimer = setTimeout(() => {
      for (const conn of relays) closeQuietly(conn);
      for (const conn of fronts.keys()) closeQuietly(conn);
      forced();
    }, graceMs);
    checkDrained();
    stopping = Promise.all([frontsClosed, Promise.race([innerDone, forcedPromise])]).then(() => {
      clearTimeout(forceTimer);
      signal?.removeEventListener("abort", onAbort);
      logger.info("https server stopped", { addr: formatAddr(addr) });
      done.resolve();
    });
    return done.promise;
  }

  function onAbort(): void {
    shutdown().catch(() => {});
  }
  if (signal?.aborted) {
    shutdown();
  } else {
    signal?.addEventListener("abort", onAbort, { once: true });
  }

  if (onListen === undefined) {
    logger.info("https server listening", { addr: formatAddr(addr), engine: "deno" });
  } else {
    onListen(addr);
  }

  return {
    addr,
    finished: done.promise,
    shutdown,
    [Symbol.asyncDispose]: () => shutdown(),
  };
}
