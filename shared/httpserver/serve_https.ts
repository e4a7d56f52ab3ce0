/**
 * Serving a fetch handler (a Hono app) over HTTPS with TLS 1.3 only, and
 * graceful shutdown.
 *
 * `Deno.serve` cannot refuse TLS 1.2, so this runs on `node:https` with
 * `minVersion: "TLSv1.3"` through `@hono/node-server`'s request listener.
 *
 * @module
 */

import { createPrivateKey, X509Certificate } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { ListenOptions, Socket } from "node:net";
import { getRequestListener, RequestError } from "@hono/node-server";
import { parseListenAddr } from "../config/listen_addr.ts";
import type { Logger } from "../log/mod.ts";
import { errorResponse } from "./http_error.ts";
import { serveDenoEngine } from "./_deno_engine.ts";

/**
 * What {@linkcode serveHttps} passes as a fetch handler's second argument
 * (Hono's `c.env`): the Node request and response, whose `incoming.socket`
 * holds the peer address.
 */
export interface HttpsBindings {
  /** The Node request. */
  incoming: IncomingMessage;
  /** The Node response. */
  outgoing: ServerResponse;
}

/** A fetch handler. */
export type FetchHandler = (
  request: Request,
  env: HttpsBindings,
) => Response | Promise<Response>;

/** Anything with a fetch handler, such as a Hono app. */
export interface Fetchable {
  /** Answers one request. */
  // deno-lint-ignore no-explicit-any
  fetch(request: Request, env?: any): Response | Promise<Response>;
}

/** A bound address. */
export interface ServerAddr {
  /** IP the server listens on, IPv6 without brackets. */
  hostname: string;
  /** Port, the real one when 0 was asked for. */
  port: number;
}

/** Options for {@linkcode serveHttps}. */
export interface ServeHttpsOptions {
  /** `host:port` to listen on (`server.listen_addr`): `":8443"`, `"127.0.0.1:0"`, `"[::1]:8443"`. */
  listenAddr: string;
  /** Path of the PEM certificate, leaf first (`server.tls_cert`). */
  tlsCert: string;
  /** Path of the PEM private key (`server.tls_key`). */
  tlsKey: string;
  /** Logs start, stop, handshake failures and unhandled errors. */
  logger: Logger;
  /** Aborting it shuts the server down gracefully, as {@linkcode HttpsServer.shutdown}. */
  signal?: AbortSignal;
  /**
   * Called once listening.
   * @default {logs "https server listening" at info}
   */
  onListen?: (addr: ServerAddr) => void;
  /**
   * Lets several processes listen on the same address (Linux
   * `SO_REUSEPORT`; the kernel spreads connections over them), to use more
   * than one core.
   * @default {false}
   */
  reusePort?: boolean;
  /**
   * How long a shutdown waits for in-flight requests before closing their
   * connections, in milliseconds.
   * @default {10000}
   */
  graceMs?: number;
  /**
   * Which HTTP stack serves the requests.
   *
   * - `"node"`: `node:https` with `minVersion: "TLSv1.3"` under
   *   `@hono/node-server`; `env` holds the real Node request and response.
   * - `"deno"`: `Deno.serve` (1.5–2× the requests per second of `"node"`
   *   for a light handler, wrk on 2 cores) behind a TCP front that reads
   *   each ClientHello and answers a `protocol_version` alert unless it
   *   offers TLS 1.3, then relays the encrypted bytes to `Deno.serve` on
   *   `127.0.0.1:<ephemeral>`, which answers only relayed connections (403
   *   otherwise). Differences: ALPN offers `h2` as well as `http/1.1`; `env`
   *   is only `{ incoming: { socket: { remoteAddress, remotePort } } }`;
   *   a request without `Host` is not refused; only handshakes refused for
   *   their version are logged. Needs net permission for `127.0.0.1` (any
   *   port) besides the listen address; `reusePort` needs `--unstable-net`.
   *   For a handler doing real work the relay eats the gain (MCIAS token
   *   validation: 10.9k against 12.2k req/s for `"node"`, see
   *   services/mcias/ARCHITECTURE.md), so no service uses it.
   *
   * @default {"node"}
   */
  engine?: "node" | "deno";
}

/** A running HTTPS server. */
export interface HttpsServer extends AsyncDisposable {
  /** Where it listens. */
  readonly addr: ServerAddr;
  /** Settles once the server has stopped and every connection is closed. */
  readonly finished: Promise<void>;
  /**
   * Stops accepting connections, closes idle keep-alive connections, lets
   * in-flight requests finish (their connections then close), and after
   * `graceMs` closes whatever is left. Calling it again returns the same
   * promise.
   *
   * @param graceMs Grace period; defaults to the `graceMs` option.
   * @returns {@linkcode HttpsServer.finished}.
   */
  shutdown(graceMs?: number): Promise<void>;
}

const DEFAULT_GRACE_MS = 10_000;

/**
 * Serves `app` over HTTPS on `listenAddr`, TLS 1.3 only (a TLS 1.2 client
 * gets a `protocol_version` alert), ALPN `http/1.1`.
 *
 * The certificate and key are read and checked before listening: a missing
 * or unreadable file, a file that is not PEM, or a key that does not match
 * the certificate stops start-up with a message naming the config key
 * (`server.tls_cert` / `server.tls_key`) and the path. Needs read permission
 * on both files and net permission for `listenAddr`.
 *
 * @param app A Hono app or any object with `fetch`, or a fetch function.
 * @param options Address, certificate, key, logger, signal and grace period.
 * @returns The running server, once listening.
 * @throws {TypeError} If `tlsCert` or `tlsKey` is empty.
 * @throws {SyntaxError} If `listenAddr` is not `host:port`.
 * @throws {RangeError} If the port or `graceMs` is out of range.
 * @throws {Error} If a file cannot be read or used, or the address cannot be bound.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { createLogger } from "../log/mod.ts";
 * import { createDevPki, writeDevPki } from "../tls/mod.ts";
 * import { serveHttps } from "./serve_https.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const paths = await writeDevPki(dir, await createDevPki());
 * const app = new Hono().get("/v1/health", (c) => c.json({ ok: true }));
 * const server = await serveHttps(app, {
 *   listenAddr: "127.0.0.1:0",
 *   tlsCert: paths.cert,
 *   tlsKey: paths.key,
 *   logger: createLogger({ write: () => {} }),
 * });
 * using client = Deno.createHttpClient({ caCerts: [await Deno.readTextFile(paths.caCert)] });
 * const response = await fetch(`https://127.0.0.1:${server.addr.port}/v1/health`, { client });
 * assert.deepEqual(await response.json(), { ok: true });
 * await server.shutdown();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function serveHttps(
  app: Fetchable | FetchHandler,
  options: ServeHttpsOptions,
): Promise<HttpsServer> {
  const {
    listenAddr,
    tlsCert,
    tlsKey,
    logger,
    signal,
    onListen,
    reusePort = false,
    graceMs: defaultGraceMs = DEFAULT_GRACE_MS,
    engine = "node",
  } = options;
  if (engine !== "node" && engine !== "deno") {
    throw new TypeError(
      `Cannot start HTTPS server: "engine" must be "node" or "deno", got ${String(engine)}`,
    );
  }
  checkGrace(defaultGraceMs, "start HTTPS server");
  const { hostname, port } = parseListenAddr(listenAddr);
  const { cert, key } = await loadKeyPair(tlsCert, tlsKey, logger);
  signal?.throwIfAborted();

  const fetch = typeof app === "function" ? app : app.fetch.bind(app);
  if (engine === "deno") {
    return serveDenoEngine({
      hostname,
      port,
      listenAddr,
      reusePort,
      cert,
      key,
      fetch: fetch as FetchHandler,
      logger,
      signal,
      onListen,
      defaultGraceMs,
      checkGrace,
      formatAddr,
    });
  }
  const listener = getRequestListener(
    fetch as (request: Request, env: unknown) => Response | Promise<Response>,
    {
      // The default swaps globalThis.Request/Response for its own classes,
      // which would change them for every other module in the process.
      overrideGlobalObjects: false,
      errorHandler(error) {
        if (error instanceof RequestError) return errorResponse(400, "bad request");
        logger.error("unhandled error", {
          error: error instanceof Error ? { name: error.name, message: error.message } : error,
          stack: error instanceof Error ? error.stack : undefined,
        });
        return errorResponse(500, "internal error");
      },
    },
  );

  // Active requests per connection, so shutdown can tell idle keep-alive
  // connections (closed at once) from busy ones (closed after the response).
  const connections = new Map<Socket, number>();
  const responses = new Set<ServerResponse>();
  let closing = false;

  function closeIfIdle(socket: Socket): void {
    // end() rather than destroy(): it sends TLS close_notify, so the client
    // sees a clean close instead of a truncated connection.
    if (connections.get(socket) === 0) socket.end();
  }

  function handleRequest(request: IncomingMessage, response: ServerResponse): void {
    const socket = request.socket;
    connections.set(socket, (connections.get(socket) ?? 0) + 1);
    responses.add(response);
    if (closing) response.setHeader("connection", "close");
    response.once("close", () => {
      responses.delete(response);
      const active = connections.get(socket);
      if (active === undefined) return;
      connections.set(socket, active - 1);
      if (closing) closeIfIdle(socket);
    });
    // Handle a rejection rather than leave it unhandled; the listener
    // answers errors itself, so there is nothing to send here.
    listener(request, response).catch((error) => {
      logger.error("request listener failed", { error: String(error) });
    });
  }

  const server: Server = createServer({
    cert,
    key,
    minVersion: "TLSv1.3",
    ALPNProtocols: ["http/1.1"],
  }, handleRequest);

  let drained!: () => void;
  const allClosed = new Promise<void>((resolve) => drained = resolve);
  let serverClosed = false;
  // Every TCP connection, from accept on: a client that connects and never
  // finishes the TLS handshake never reaches `connections`, yet keeps the
  // server from closing until it is destroyed.
  const transports = new Set<Socket>();
  function checkFinished(): void {
    if (serverClosed && connections.size === 0 && transports.size === 0) drained();
  }
  server.on("connection", (socket: Socket) => {
    transports.add(socket);
    socket.once("close", () => {
      transports.delete(socket);
      checkFinished();
    });
  });
  server.on("secureConnection", (socket: Socket) => {
    connections.set(socket, connections.get(socket) ?? 0);
    socket.once("close", () => {
      connections.delete(socket);
      checkFinished();
    });
  });
  server.on("tlsClientError", (error: Error, socket: Socket & { _parent?: Socket }) => {
    // Scanners and TLS 1.2 clients end up here; not worth more than debug.
    // Deno's TLS socket forgets its peer after a failed handshake; the TCP
    // socket under it still knows.
    logger.debug("tls handshake failed", {
      remoteAddr: socket?.remoteAddress ?? socket?._parent?.remoteAddress,
      error: error.message,
    });
  });
  server.once("close", () => {
    serverClosed = true;
    checkFinished();
  });

  await listen(server, { host: hostname, port, reusePort }, listenAddr);
  server.on("error", (error: Error) => {
    logger.error("https server error", { error: { name: error.name, message: error.message } });
  });
  const bound = server.address();
  const addr: ServerAddr = typeof bound === "object" && bound !== null
    ? { hostname: bound.address, port: bound.port }
    : { hostname, port };

  let forceTimer: ReturnType<typeof setTimeout> | undefined;
  const finished = allClosed.then(() => {
    clearTimeout(forceTimer);
    signal?.removeEventListener("abort", onAbort);
    logger.info("https server stopped", { addr: formatAddr(addr) });
  });

  function shutdown(graceMs: number = defaultGraceMs): Promise<void> {
    if (closing) return finished;
    checkGrace(graceMs, "shut down HTTPS server");
    closing = true;
    logger.info("https server shutting down", { addr: formatAddr(addr), graceMs });
    server.close();
    // Tell clients of in-flight requests not to reuse the connection.
    for (const response of responses) {
      if (!response.headersSent) response.setHeader("connection", "close");
    }
    for (const socket of connections.keys()) closeIfIdle(socket);
    forceTimer = setTimeout(() => {
      for (const socket of connections.keys()) socket.destroy();
      for (const socket of transports) socket.destroy();
    }, graceMs);
    checkFinished();
    return finished;
  }

  function onAbort(): void {
    shutdown().catch(() => {});
  }
  signal?.addEventListener("abort", onAbort, { once: true });

  if (onListen === undefined) {
    logger.info("https server listening", { addr: formatAddr(addr) });
  } else {
    onListen(addr);
  }

  return {
    addr,
    finished,
    shutdown,
    [Symbol.asyncDispose]: () => shutdown(),
  };
}

async function loadKeyPair(
  tlsCert: string,
  tlsKey: string,
  logger: Logger,
): Promise<{ cert: string; key: string }> {
  for (
    const [name, value, what] of [
      ["server.tls_cert", tlsCert, "PEM certificate"],
      ["server.tls_key", tlsKey, "PEM private key"],
    ]
  ) {
    if (typeof value !== "string" || value === "") {
      throw new TypeError(
        `Cannot start HTTPS server: ${name} is not set; set it to the path of the ${what} ` +
          `(TLS is required, there is no plain-HTTP mode)`,
      );
    }
  }
  const cert = await readPem("server.tls_cert", tlsCert);
  const key = await readPem("server.tls_key", tlsKey);
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(cert);
  } catch (error) {
    throw new Error(
      `Cannot start HTTPS server: server.tls_cert "${tlsCert}" is not a PEM certificate: ` +
        `${(error as Error).message}`,
      { cause: error },
    );
  }
  let privateKey: ReturnType<typeof createPrivateKey>;
  try {
    privateKey = createPrivateKey(key);
  } catch (error) {
    throw new Error(
      `Cannot start HTTPS server: server.tls_key "${tlsKey}" is not a PEM private key ` +
        `(unencrypted PKCS#8, SEC1 or PKCS#1)`,
      { cause: error },
    );
  }
  if (!certificate.checkPrivateKey(privateKey)) {
    throw new Error(
      `Cannot start HTTPS server: server.tls_key "${tlsKey}" is not the private key of ` +
        `server.tls_cert "${tlsCert}"; point both at the same key pair`,
    );
  }
  const now = Date.now();
  if (now > Date.parse(certificate.validTo) || now < Date.parse(certificate.validFrom)) {
    // Still start: a reachable server with an expired certificate is
    // easier to diagnose than one that is down.
    logger.warn("tls certificate is not valid now", {
      cert: tlsCert,
      validFrom: certificate.validFrom,
      validTo: certificate.validTo,
    });
  }
  return { cert, key };
}

async function readPem(name: string, path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (error) {
    const hint = error instanceof Deno.errors.NotFound
      ? "the file does not exist"
      : error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
      ? "read access is denied; grant it (--allow-read) or fix the file mode"
      : (error as Error).message;
    throw new Error(`Cannot start HTTPS server: cannot read ${name} "${path}": ${hint}`, {
      cause: error,
    });
  }
}

function listen(server: Server, at: ListenOptions, listenAddr: string): Promise<void> {
  return new Promise((resolve, reject) => {
    function fail(error: Error): void {
      reject(
        new Error(
          `Cannot start HTTPS server: cannot listen on "${listenAddr}" (server.listen_addr): ` +
            error.message,
          { cause: error },
        ),
      );
    }
    server.once("error", fail);
    try {
      server.listen(at, () => {
        server.off("error", fail);
        resolve();
      });
    } catch (error) {
      server.off("error", fail);
      fail(error as Error);
    }
  });
}

function checkGrace(graceMs: number, action: string): void {
  if (!Number.isFinite(graceMs) || graceMs < 0) {
    throw new RangeError(
      `Cannot ${action}: "graceMs" must be a non-negative number of milliseconds, got ${graceMs}`,
    );
  }
}

function formatAddr(addr: ServerAddr): string {
  return addr.hostname.includes(":")
    ? `[${addr.hostname}]:${addr.port}`
    : `${addr.hostname}:${addr.port}`;
}
