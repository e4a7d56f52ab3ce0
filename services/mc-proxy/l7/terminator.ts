/**
 * The L7 terminator: TLS 1.3 termination with each route's certificate
 * (ALPN `h2` and `http/1.1`), and an HTTP reverse proxy to the route's
 * backend over h2c or h2 over TLS, with streamed bodies, trailers (gRPC),
 * WebSocket upgrades and user-agent blocks.
 *
 * @module
 */

import http2 from "node:http2";
import type {
  ClientHttp2Stream,
  Http2SecureServer,
  IncomingHttpHeaders,
  OutgoingHttpHeaders,
  ServerHttp2Session,
  ServerHttp2Stream,
} from "node:http2";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { installHttp2Fix } from "@mc/mcdsl/grpcserver";
import type { Logger } from "@mc/mcdsl/log";
import type { ClientInfo, L7Terminator, ProxyObserver, Route } from "../types.ts";
import { NULL_OBSERVER } from "../types.ts";
import { BackendPool, BackendTimeoutError } from "./backend_pool.ts";
import { backendRequestHeaders, clientResponseHeaders } from "./headers.ts";
import { openTunnel } from "./websocket.ts";

const {
  NGHTTP2_CANCEL,
  NGHTTP2_FLAG_END_STREAM,
  NGHTTP2_INTERNAL_ERROR,
  NGHTTP2_NO_ERROR,
  NGHTTP2_REFUSED_STREAM,
} = http2.constants;

/** Options for {@linkcode createL7Terminator}. */
export interface L7TerminatorOptions {
  /** The firewall's user-agent rule (the only one that needs HTTP). */
  firewall: { blockedUserAgent(userAgent: string): boolean };
  /**
   * Metrics hooks.
   * @default {NULL_OBSERVER}
   */
  observer?: ProxyObserver;
  /**
   * Time allowed for the client's TLS handshake and for each backend
   * connection, ms.
   * @default {5000}
   */
  connectTimeoutMs?: number;
  /**
   * A client connection with no traffic either way for this long is closed;
   * unused backend sessions too, ms.
   * @default {300000}
   */
  idleTimeoutMs?: number;
  /**
   * PEM CA certificates TLS backends (`backendTls`) must chain to, with the
   * route's hostname checked. Absent: backend certificates are not verified
   * (seed 004's trusted internal backends).
   */
  backendCa?: string;
  /**
   * Reads a certificate or key file.
   * @default {Deno.readFile}
   */
  readFile?: (path: string) => Promise<Uint8Array>;
  /** Where failures are logged (never with secrets); silent when absent. */
  logger?: Logger;
}

/** The terminator, with certificate reloads the caller can await. */
export interface L7Proxy extends L7Terminator {
  /**
   * Loads (or reloads, when a file's content changed) the certificate of
   * every `l7` route and forgets routes no longer listed. Connections
   * already open keep their certificate.
   *
   * @returns Settles when every certificate was tried; failures are logged.
   */
  updateRoutes(routes: readonly Route[]): Promise<void>;
}

/** One route's TLS server (never listening: connections are handed in). */
interface RouteTls {
  certPath: string;
  keyPath: string;
  cert: Uint8Array;
  key: Uint8Array;
  server: Http2SecureServer;
}

/** A handed-over connection: its route and real client. */
interface Conn {
  route: Route;
  client: ClientInfo;
  raw: Socket;
}

/** Symbol under which the connection is attached to its TLS socket. */
const CONN = Symbol("mc-proxy.l7.conn");

type WithConn = { [CONN]?: Conn; _parent?: Socket };

function routeKey(route: Route): string {
  return `${route.listener}\u0000${route.hostname}`;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A short plain-text answer, for errors the proxy makes itself. */
const REASONS: Record<number, string> = {
  403: "Forbidden",
  405: "Method Not Allowed",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

/**
 * Builds the L7 terminator the listener core hands `l7` connections to.
 *
 * @param options Firewall, observer, timeouts, backend CA, file reader.
 * @returns The terminator.
 * @throws {RangeError} When a timeout is not a positive number.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { createL7Terminator } from "./terminator.ts";
 * const l7 = createL7Terminator({ firewall: { blockedUserAgent: () => false } });
 * await l7.updateRoutes([]);
 * await l7.close(Date.now());
 * assert.ok(l7);
 * ```
 */
export function createL7Terminator(options: L7TerminatorOptions): L7Proxy {
  return new Terminator(options);
}

class Terminator implements L7Proxy {
  #firewall: L7TerminatorOptions["firewall"];
  #observer: ProxyObserver;
  #connectTimeoutMs: number;
  #idleTimeoutMs: number;
  #backendCa: string | undefined;
  #readFile: (path: string) => Promise<Uint8Array>;
  #logger: Logger | undefined;
  #pool: BackendPool;
  #tls = new Map<string, RouteTls>();
  #loading = new Map<string, Promise<RouteTls>>();
  #raw = new Set<Socket>();
  #sessions = new Set<ServerHttp2Session>();
  #tunnels = new Set<Socket>();
  #inflight = 0;
  #closing = false;
  #drained: (() => void) | undefined;

  constructor(options: L7TerminatorOptions) {
    const {
      firewall,
      observer = NULL_OBSERVER,
      connectTimeoutMs = 5000,
      idleTimeoutMs = 300_000,
      backendCa,
      readFile = Deno.readFile,
      logger,
    } = options;
    for (
      const [name, value] of [["connectTimeoutMs", connectTimeoutMs], [
        "idleTimeoutMs",
        idleTimeoutMs,
      ]] as const
    ) {
      if (!(value > 0) || !Number.isFinite(value)) {
        throw new RangeError(
          `Cannot create L7 terminator: ${name} must be a positive number of ms, got ${value}`,
        );
      }
    }
    installHttp2Fix();
    this.#firewall = firewall;
    this.#observer = observer;
    this.#connectTimeoutMs = connectTimeoutMs;
    this.#idleTimeoutMs = idleTimeoutMs;
    this.#backendCa = backendCa;
    this.#readFile = readFile;
    this.#logger = logger;
    this.#pool = new BackendPool({ connectTimeoutMs, idleTimeoutMs, backendCa });
  }

  handle(socket: Socket, route: Route, client: ClientInfo): void {
    socket.on("error", () => {});
    if (this.#closing || route.mode !== "l7") {
      socket.resetAndDestroy();
      return;
    }
    this.#observer.routed(route);
    this.#raw.add(socket);
    socket.once("close", () => this.#raw.delete(socket));
    // Bounds the handshake; raised to the idle timeout once TLS is up.
    socket.setTimeout(this.#connectTimeoutMs, () => socket.destroy());
    const conn: Conn = { route, client, raw: socket };
    (socket as WithConn)[CONN] = conn;
    const tls = this.#tls.get(routeKey(route));
    if (tls !== undefined && tls.certPath === route.tlsCert && tls.keyPath === route.tlsKey) {
      tls.server.emit("connection", socket);
      return;
    }
    this.#ensure(route).then(
      (loaded) => {
        if (socket.destroyed) return;
        if (this.#closing) return socket.resetAndDestroy();
        loaded.server.emit("connection", socket);
      },
      (error) => {
        this.#logger?.warn("l7 certificate unavailable", {
          hostname: route.hostname,
          error: String(error),
        });
        if (!socket.destroyed) socket.resetAndDestroy();
      },
    );
  }

  async updateRoutes(routes: readonly Route[]): Promise<void> {
    const keep = new Set<string>();
    const loads: Promise<unknown>[] = [];
    for (const route of routes) {
      if (route.mode !== "l7") continue;
      keep.add(routeKey(route));
      loads.push(
        this.#ensure(route, true).catch((error) => {
          this.#logger?.warn("l7 certificate load failed", {
            hostname: route.hostname,
            error: String(error),
          });
        }),
      );
    }
    for (const key of this.#tls.keys()) if (!keep.has(key)) this.#tls.delete(key);
    await Promise.all(loads);
  }

  async close(deadline: number): Promise<void> {
    // A small number is taken as a duration rather than a point in time.
    const until = deadline < 1e11 ? Date.now() + deadline : deadline;
    this.#closing = true;
    for (const session of this.#sessions) session.close();
    if (this.#inflight > 0 || this.#tunnels.size > 0) {
      const { promise, resolve } = Promise.withResolvers<void>();
      this.#drained = resolve;
      const timer = setTimeout(resolve, Math.max(0, until - Date.now()));
      await promise;
      clearTimeout(timer);
      this.#drained = undefined;
    }
    for (const tunnel of this.#tunnels) tunnel.destroy();
    for (const session of this.#sessions) session.destroy();
    for (const socket of this.#raw) socket.destroy();
    this.#pool.close();
    this.#tls.clear();
  }

  /** One request or tunnel fewer; wakes `close()` when all are done. */
  #done(): void {
    this.#inflight--;
    if (this.#inflight === 0 && this.#tunnels.size === 0) this.#drained?.();
  }

  /** The route's TLS server, (re)loading its files when needed. */
  #ensure(route: Route, reload = false): Promise<RouteTls> {
    const key = routeKey(route);
    const pending = this.#loading.get(key);
    if (pending !== undefined) return pending;
    const current = this.#tls.get(key);
    if (
      !reload && current !== undefined && current.certPath === route.tlsCert &&
      current.keyPath === route.tlsKey
    ) {
      return Promise.resolve(current);
    }
    const load = this.#load(route).finally(() => this.#loading.delete(key));
    this.#loading.set(key, load);
    return load;
  }

  async #load(route: Route): Promise<RouteTls> {
    const { tlsCert, tlsKey } = route;
    if (tlsCert === undefined || tlsKey === undefined) {
      throw new TypeError(
        `Cannot terminate TLS for "${route.hostname}": an l7 route needs tls_cert and tls_key`,
      );
    }
    const [cert, key] = await Promise.all([this.#readFile(tlsCert), this.#readFile(tlsKey)]);
    const mapKey = routeKey(route);
    const current = this.#tls.get(mapKey);
    if (
      current !== undefined && current.certPath === tlsCert && current.keyPath === tlsKey &&
      sameBytes(current.cert, cert) && sameBytes(current.key, key)
    ) {
      return current;
    }
    const loaded: RouteTls = {
      certPath: tlsCert,
      keyPath: tlsKey,
      cert,
      key,
      server: this.#createServer(cert, key),
    };
    this.#tls.set(mapKey, loaded);
    return loaded;
  }

  #createServer(cert: Uint8Array, key: Uint8Array): Http2SecureServer {
    const server = http2.createSecureServer({
      cert: Buffer.from(cert),
      key: Buffer.from(key),
      minVersion: "TLSv1.3",
      allowHTTP1: true,
      ALPNProtocols: ["h2", "http/1.1"],
      settings: { maxConcurrentStreams: 256, enablePush: false },
    });
    server.on("secureConnection", (tlsSocket: TLSSocket) => {
      tlsSocket.on("error", () => {});
      const raw = (tlsSocket as WithConn)._parent;
      const conn = raw === undefined ? undefined : (raw as WithConn)[CONN];
      // Defence in depth: the core refuses ClientHellos without TLS 1.3.
      if (conn === undefined || tlsSocket.getProtocol() !== "TLSv1.3") {
        tlsSocket.destroy();
        raw?.destroy();
        return;
      }
      (tlsSocket as WithConn)[CONN] = conn;
      conn.raw.setTimeout(this.#idleTimeoutMs, () => conn.raw.destroy());
    });
    server.on("session", (session: ServerHttp2Session) => {
      session.on("error", () => {});
      this.#sessions.add(session);
      session.once("close", () => this.#sessions.delete(session));
      if (this.#closing) session.close();
    });
    server.on("request", (req: IncomingMessage, res: ServerResponse) => {
      if (req.httpVersionMajor !== 1) return; // HTTP/2: the "stream" handler.
      req.on("error", () => {});
      res.on("error", () => {});
      const conn = (req.socket as WithConn)[CONN];
      if (conn === undefined) {
        res.destroy();
        return;
      }
      this.#onRequest(req, res, conn);
    });
    // Adding a "request" listener (needed for HTTP/1.1) makes node:http2
    // also wrap every HTTP/2 stream in its compatibility API, which sends
    // its own (empty) trailers on "wantTrailers" and so loses the backend's
    // (gRPC status). HTTP/2 streams are handled raw, below, instead.
    server.removeAllListeners("stream");
    server.on(
      "stream",
      (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number) => {
        stream.on("error", () => {});
        const conn = (stream.session?.socket as WithConn | undefined)?.[CONN];
        if (conn === undefined) {
          stream.close(NGHTTP2_REFUSED_STREAM);
          return;
        }
        this.#onStream(stream, headers, flags, conn);
      },
    );
    server.on("upgrade", (req: IncomingMessage, socket: Socket, head: Buffer) => {
      socket.on("error", () => {});
      const conn = (socket as WithConn)[CONN];
      if (conn === undefined) {
        socket.destroy();
        return;
      }
      this.#onUpgrade(req, socket, head, conn);
    });
    server.on("tlsClientError", (error: Error, tlsSocket: TLSSocket) => {
      this.#logger?.debug("l7 tls handshake failed", { error: error.message });
      tlsSocket.destroy();
      (tlsSocket as WithConn)._parent?.destroy();
    });
    server.on("sessionError", () => {});
    server.on("error", () => {});
    return server;
  }

  /** An HTTP/2 client stream: proxied to the backend as one stream. */
  #onStream(
    stream: ServerHttp2Stream,
    headers: IncomingHttpHeaders,
    flags: number,
    conn: Conn,
  ): void {
    const { route, client } = conn;
    const method = headers[":method"] ?? "GET";
    if (method === "CONNECT") {
      this.#observer.request(route, 405);
      respondPlain(stream, 405);
      return;
    }
    if (this.#firewall.blockedUserAgent(headers["user-agent"] ?? "")) {
      this.#observer.blocked("user_agent");
      this.#observer.request(route, 403);
      respondPlain(stream, 403);
      return;
    }
    const outgoing = backendRequestHeaders(headers, {
      method,
      path: headers[":path"] ?? "/",
      authority: headers[":authority"] ?? headers.host,
      scheme: route.backendTls ? "https" : "http",
      clientAddress: client.address,
    });
    const endStream = (flags & NGHTTP2_FLAG_END_STREAM) !== 0;
    this.#inflight++;
    let status = 0;
    let upstream: ClientHttp2Stream | undefined;
    stream.once("close", () => {
      if (upstream !== undefined && !upstream.closed) upstream.close(NGHTTP2_CANCEL);
      this.#observer.request(route, status === 0 ? 499 : status);
      this.#done();
    });
    let requestTrailers: OutgoingHttpHeaders | undefined;
    stream.once("trailers", (trailers: IncomingHttpHeaders) => {
      requestTrailers = clientResponseHeaders(trailers);
    });
    const started = performance.now();
    this.#open(route, outgoing, endStream).then((up) => {
      if (stream.closed || stream.destroyed) {
        up.close(NGHTTP2_CANCEL);
        return;
      }
      upstream = up;
      if (endStream) {
        stream.resume();
      } else {
        up.on("wantTrailers", () => {
          try {
            up.sendTrailers(requestTrailers ?? {});
          } catch {
            up.close(NGHTTP2_INTERNAL_ERROR);
          }
        });
        stream.on("data", (chunk: Uint8Array) => this.#observer.bytes(route, "in", chunk.length));
        stream.pipe(up);
      }
      let responseTrailers: OutgoingHttpHeaders | undefined;
      up.once("response", (response: IncomingHttpHeaders, responseFlags: number) => {
        this.#observer.latency(route, (performance.now() - started) / 1000);
        status = Number(response[":status"]) || 502;
        if (stream.closed || stream.destroyed) return;
        const out = { ...clientResponseHeaders(response), ":status": status };
        try {
          if ((responseFlags & NGHTTP2_FLAG_END_STREAM) !== 0) {
            // Trailers-only (a gRPC error) or an empty response.
            stream.respond(out, { endStream: true });
            return;
          }
          stream.respond(out, { waitForTrailers: true });
        } catch {
          stream.close(NGHTTP2_INTERNAL_ERROR);
          return;
        }
        stream.on("wantTrailers", () => {
          try {
            stream.sendTrailers(responseTrailers ?? {});
          } catch {
            stream.close(NGHTTP2_INTERNAL_ERROR);
          }
        });
        up.on("data", (chunk: Uint8Array) => this.#observer.bytes(route, "out", chunk.length));
        up.pipe(stream);
      });
      up.once("trailers", (trailers: IncomingHttpHeaders) => {
        responseTrailers = clientResponseHeaders(trailers);
      });
      up.once("close", () => {
        if (stream.closed || stream.destroyed) return;
        const code = up.rstCode ?? NGHTTP2_NO_ERROR;
        if (!stream.headersSent) {
          status = 502;
          respondPlain(stream, 502);
        } else if (code !== NGHTTP2_NO_ERROR) {
          // The backend reset mid-response: pass the reset on.
          stream.close(code);
        } else if (!up.readableEnded) {
          stream.close(NGHTTP2_INTERNAL_ERROR);
        }
      });
    }, (error) => {
      status = error instanceof BackendTimeoutError ? 504 : 502;
      this.#logger?.debug("l7 backend unavailable", {
        backend: route.backend,
        error: String(error),
      });
      if (!stream.closed && !stream.destroyed) respondPlain(stream, status);
    });
  }

  /** Opens a backend stream (connecting the pooled session if needed). */
  async #open(
    route: Route,
    headers: OutgoingHttpHeaders,
    endStream: boolean,
  ): Promise<ClientHttp2Stream> {
    const session = await this.#pool.get(route);
    const up = session.request(headers, { endStream, waitForTrailers: !endStream });
    up.on("error", () => {});
    return up;
  }

  /** An HTTP/1.1 request: proxied to the backend as one HTTP/2 stream. */
  #onRequest(req: IncomingMessage, res: ServerResponse, conn: Conn): void {
    const { route, client } = conn;
    const method = req.method ?? "GET";
    const length = Number(req.headers["content-length"] ?? 0);
    const hasBody = req.headers["transfer-encoding"] !== undefined || length > 0;
    // Deno's HTTP/1.1 side of node:http2 drops a handed-over connection
    // after one response anyway (README.md, "Known limits"); saying so lets
    // clients reconnect instead of racing a second request into the close.
    res.shouldKeepAlive = false;
    if (method === "CONNECT") {
      this.#observer.request(route, 405);
      respondPlain1(res, 405);
      return;
    }
    if (this.#firewall.blockedUserAgent(req.headers["user-agent"] ?? "")) {
      this.#observer.blocked("user_agent");
      this.#observer.request(route, 403);
      respondPlain1(res, 403, hasBody);
      return;
    }
    const outgoing = backendRequestHeaders(req.headers, {
      method,
      path: req.url ?? "/",
      authority: req.headers.host,
      scheme: route.backendTls ? "https" : "http",
      clientAddress: client.address,
    });
    const endStream = !hasBody;
    this.#inflight++;
    let status = 0;
    let upstream: ClientHttp2Stream | undefined;
    res.once("close", () => {
      if (upstream !== undefined && !upstream.closed) upstream.close(NGHTTP2_CANCEL);
      this.#observer.request(route, status === 0 ? 499 : status);
      this.#done();
    });
    const started = performance.now();
    this.#open(route, outgoing, endStream).then((up) => {
      if (res.destroyed || res.writableEnded) {
        up.close(NGHTTP2_CANCEL);
        return;
      }
      upstream = up;
      // A bodiless request is not resume()d: in Deno that ends keep-alive.
      if (!endStream) {
        up.on("wantTrailers", () => {
          try {
            up.sendTrailers(clientResponseHeaders(req.trailers));
          } catch {
            up.close(NGHTTP2_INTERNAL_ERROR);
          }
        });
        req.on("data", (chunk: Uint8Array) => this.#observer.bytes(route, "in", chunk.length));
        req.pipe(up);
      }
      up.once("response", (response: IncomingHttpHeaders, responseFlags: number) => {
        this.#observer.latency(route, (performance.now() - started) / 1000);
        status = Number(response[":status"]) || 502;
        if (res.destroyed) return;
        try {
          res.writeHead(status, clientResponseHeaders(response) as Record<string, string>);
        } catch {
          res.destroy();
          return;
        }
        if ((responseFlags & NGHTTP2_FLAG_END_STREAM) !== 0) {
          res.end();
          return;
        }
        up.on("data", (chunk: Uint8Array) => this.#observer.bytes(route, "out", chunk.length));
        up.pipe(res);
      });
      up.once("trailers", (trailers: IncomingHttpHeaders) => {
        try {
          res.addTrailers(clientResponseHeaders(trailers) as Record<string, string>);
        } catch {
          // An HTTP/1.1 response may not carry them; the body still ends.
        }
      });
      up.once("close", () => {
        if (res.writableEnded || res.destroyed) return;
        if (!res.headersSent) {
          status = 502;
          respondPlain1(res, 502);
        } else if ((up.rstCode ?? NGHTTP2_NO_ERROR) !== NGHTTP2_NO_ERROR || !up.readableEnded) {
          res.destroy();
        }
      });
    }, (error) => {
      status = error instanceof BackendTimeoutError ? 504 : 502;
      this.#logger?.debug("l7 backend unavailable", {
        backend: route.backend,
        error: String(error),
      });
      if (!res.destroyed && !res.headersSent) respondPlain1(res, status, hasBody);
    });
  }

  /** An HTTP/1.1 `Upgrade: websocket`: a byte tunnel to the backend. */
  #onUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, conn: Conn): void {
    const { route, client } = conn;
    const refuse = (code: number) => {
      this.#observer.request(route, code);
      const reason = REASONS[code] ?? "Error";
      socket.end(
        `HTTP/1.1 ${code} ${reason}\r\ncontent-type: text/plain\r\ncontent-length: ${
          reason.length + 1
        }\r\nconnection: close\r\n\r\n${reason}\n`,
      );
    };
    if (String(req.headers.upgrade ?? "").toLowerCase() !== "websocket" || this.#closing) {
      refuse(this.#closing ? 503 : 400);
      return;
    }
    if (this.#firewall.blockedUserAgent(req.headers["user-agent"] ?? "")) {
      this.#observer.blocked("user_agent");
      refuse(403);
      return;
    }
    this.#tunnels.add(socket);
    const started = performance.now();
    openTunnel({
      client: socket,
      head,
      method: req.method ?? "GET",
      path: req.url ?? "/",
      headers: req.headers,
      clientAddress: client.address,
      route,
      connectTimeoutMs: this.#connectTimeoutMs,
      idleTimeoutMs: this.#idleTimeoutMs,
      backendCa: this.#backendCa,
      onConnected: () => {
        this.#observer.latency(route, (performance.now() - started) / 1000);
      },
      onBytes: (direction, n) => this.#observer.bytes(route, direction, n),
      onFailed: (error) => {
        const code = error instanceof BackendTimeoutError ? 504 : 502;
        this.#logger?.debug("l7 websocket backend unavailable", {
          backend: route.backend,
          error: String(error),
        });
        if (!socket.destroyed) refuse(code);
      },
      onClosed: (upgraded) => {
        if (upgraded) this.#observer.request(route, 101);
        this.#tunnels.delete(socket);
        if (this.#inflight === 0 && this.#tunnels.size === 0) this.#drained?.();
      },
    });
  }
}

function respondPlain(stream: ServerHttp2Stream, status: number): void {
  const body = `${REASONS[status] ?? "Error"}\n`;
  try {
    stream.respond({
      ":status": status,
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(body.length),
    });
    stream.end(body);
  } catch {
    stream.close(NGHTTP2_INTERNAL_ERROR);
  }
}

/**
 * An HTTP/1.1 answer of the proxy's own. When the request's body is left
 * unread, the connection closes after the answer rather than read it.
 */
function respondPlain1(res: ServerResponse, status: number, unreadBody = false): void {
  const body = `${REASONS[status] ?? "Error"}\n`;
  try {
    res.writeHead(status, {
      "content-type": "text/plain; charset=utf-8",
      "content-length": String(body.length),
      ...(unreadBody ? { connection: "close" } : {}),
    });
    res.end(body);
  } catch {
    res.destroy();
  }
}
