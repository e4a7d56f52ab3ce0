/**
 * One MC-Proxy listener: a node:net server and the per-connection pipeline
 *
 *   accept → (trusted peer: PROXY header) → firewall → ClientHello → route
 *          → RST | L4 relay | hand to the L7 terminator
 *
 * Every refusal is a TCP RST (`resetAndDestroy()`): no TLS alert, no error
 * page, nothing a scanner can fingerprint beyond "closed". Everything read
 * before routing is bounded in size (PROXY header, ClientHello) and time
 * (the connect timeout).
 *
 * @module
 */

import { createServer, type Server, type Socket } from "node:net";
import { Buffer } from "node:buffer";
import { parseListenAddr } from "@mc/mcdsl/config";
import type { Logger } from "@mc/mcdsl/log";
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from "./client_hello.ts";
import type { Firewall } from "./firewall.ts";
import { type Cidr, cidrContains, formatIp, parseCidr, parseIp } from "./ip.ts";
import { relayL4 } from "./l4.ts";
import { parseProxyHeader } from "./proxy_protocol.ts";
import type {
  BlockReason,
  ClientInfo,
  L7Terminator,
  ListenerSpec,
  ProxyObserver,
  Route,
} from "./types.ts";

/** What a listener needs. */
export interface ListenerOptions {
  /** Address and trusted proxies. */
  spec: ListenerSpec;
  /** This listener's current routes by lower-case hostname (read per connection). */
  routes: () => ReadonlyMap<string, Route> | undefined;
  /** The shared firewall. */
  firewall: Firewall;
  /** Metrics hooks. */
  observer: ProxyObserver;
  /** The L7 side; without it l7 routes are refused (RST). */
  l7?: L7Terminator;
  /** Bounds the wait for the PROXY header and ClientHello, and the backend connect, ms. */
  connectTimeoutMs: number;
  /** L4 idle timeout, ms. */
  idleTimeoutMs: number;
  /** Logger (debug: refusals; warn: backend failures). */
  logger: Logger;
  /** @default {16 KiB} */
  maxClientHelloBytes?: number;
}

const PROXY_V1_FIRST = 0x50; // "P"
const PROXY_V2_FIRST = 0x0d;

/** Parses a trusted-proxies list (IPs or CIDRs). */
function parseTrusted(list: readonly string[]): Cidr[] {
  const out: Cidr[] = [];
  for (const t of list) {
    const c = parseCidr(t);
    if (c === undefined) {
      throw new RangeError(`Cannot trust proxy "${t}": expected an IP address or CIDR prefix`);
    }
    out.push(c);
  }
  return out;
}

/** A running listener. */
export class ProxyListener {
  readonly #opts: ListenerOptions;
  #trusted: Cidr[];
  readonly #server: Server;
  readonly #clients = new Set<Socket>();
  readonly #backends = new Set<Socket>();
  #port = 0;
  #closed = false;
  #serverClosed: Promise<void> = Promise.resolve();

  /**
   * @param options Spec, routes, firewall, observer, L7, timeouts, logger.
   * @throws {RangeError} When a trusted proxy entry is not an IP or CIDR.
   */
  constructor(options: ListenerOptions) {
    this.#opts = options;
    this.#trusted = parseTrusted(options.spec.trustedProxies);
    this.#server = createServer(
      { allowHalfOpen: true, pauseOnConnect: true },
      (s) => this.#accept(s),
    );
    this.#server.on(
      "error",
      (e) =>
        options.logger.error("listener error", { listener: options.spec.addr, error: e.message }),
    );
  }

  /** The configured address (the routes' `listener` key). */
  get addr(): string {
    return this.#opts.spec.addr;
  }

  /** The bound port (after {@linkcode listen}). */
  get port(): number {
    return this.#port;
  }

  /** Client connections open now. */
  get liveConnections(): number {
    return this.#clients.size;
  }

  /** Backend connections open now (L4). */
  get liveBackends(): number {
    return this.#backends.size;
  }

  /** Replaces the trusted-proxy list (new connections only). */
  setTrustedProxies(list: readonly string[]): void {
    this.#trusted = parseTrusted(list);
  }

  /**
   * Binds the address.
   *
   * @returns The bound port.
   */
  listen(): Promise<number> {
    const { hostname, port } = parseListenAddr(this.#opts.spec.addr);
    return new Promise((resolve, reject) => {
      this.#server.once("error", reject);
      this.#server.listen({ host: hostname, port }, () => {
        this.#server.off("error", reject);
        const a = this.#server.address();
        this.#port = typeof a === "object" && a !== null ? a.port : port;
        resolve(this.#port);
      });
    });
  }

  /**
   * Stops accepting; open connections go on. (node's `server.close()` calls
   * back only once every connection is gone: {@linkcode drain} awaits that.)
   */
  stopAccepting(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#serverClosed = new Promise((resolve) => this.#server.close(() => resolve()));
  }

  /**
   * Waits for open connections to finish until `deadline` (epoch ms), then
   * destroys the rest.
   *
   * @param deadline Epoch ms.
   * @returns How many connections had to be destroyed.
   */
  async drain(deadline: number): Promise<number> {
    while (this.#clients.size > 0 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, Math.min(50, Math.max(1, deadline - Date.now()))));
    }
    const left = this.#clients.size;
    for (const s of this.#clients) s.destroy();
    for (const s of this.#backends) s.destroy();
    // Let the close events run so the counters settle.
    for (let i = 0; i < 20 && this.#clients.size > 0; i++) {
      await new Promise((r) => setTimeout(r, 5));
    }
    this.stopAccepting();
    await this.#serverClosed;
    return left;
  }

  #isTrusted(ip: Uint8Array | undefined): boolean {
    if (ip === undefined || this.#trusted.length === 0) return false;
    return this.#trusted.some((c) => cidrContains(c, ip));
  }

  #accept(socket: Socket): void {
    const { observer, firewall, spec, logger } = this.#opts;
    const listener = spec.addr;
    // The L4 relay passes a FIN on as a FIN (half-close); Deno's node:net
    // does not carry the server's allowHalfOpen to accepted sockets.
    socket.allowHalfOpen = true;
    this.#clients.add(socket);
    observer.connectionOpened(listener);
    socket.once("close", () => {
      this.#clients.delete(socket);
      observer.connectionClosed(listener);
    });
    // Peers vanish mid-handshake all the time; never let that throw.
    socket.on("error", () => {});

    const peerBytes = parseIp(socket.remoteAddress ?? "");
    const client: ClientInfo = {
      address: peerBytes === undefined ? (socket.remoteAddress ?? "") : formatIp(peerBytes),
      port: socket.remotePort ?? 0,
      localAddress: canonical(socket.localAddress ?? ""),
      localPort: socket.localPort ?? 0,
      viaProxyProtocol: false,
    };
    const trusted = this.#isTrusted(peerBytes);

    const refuse = (reason: BlockReason) => {
      cleanup();
      observer.blocked(reason);
      logger.debug("refused", { listener, client: client.address, reason });
      if (!socket.destroyed) socket.resetAndDestroy();
    };

    // Untrusted peers meet the firewall before a single byte is read.
    if (!trusted) {
      const reason = firewall.check(client.address);
      if (reason !== undefined) {
        socket.resetAndDestroy();
        observer.blocked(reason);
        logger.debug("refused", { listener, client: client.address, reason });
        return;
      }
    }

    const maxHello = this.#opts.maxClientHelloBytes ?? MAX_CLIENT_HELLO_BYTES;
    let buf: Buffer = Buffer.alloc(0);
    let stage: "proxy" | "hello" = trusted ? "proxy" : "hello";
    let helloStart = 0; // where the ClientHello begins in `buf` (after a PROXY header)

    const timer = setTimeout(() => refuse("bad_client_hello"), this.#opts.connectTimeoutMs);
    const cleanup = () => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("close", cleanup);
    };
    const onEnd = () => refuse("bad_client_hello");
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      if (stage === "proxy") {
        if (buf[0] !== PROXY_V1_FIRST && buf[0] !== PROXY_V2_FIRST) {
          // A trusted peer may also connect directly (no header).
          stage = "hello";
        } else {
          const r = parseProxyHeader(buf);
          if (r.status === "incomplete") return;
          if (r.status === "invalid") return refuse("bad_proxy_header");
          if (r.source !== undefined) {
            client.address = r.source.address;
            client.port = r.source.port;
            client.localAddress = r.source.localAddress;
            client.localPort = r.source.localPort;
            client.viaProxyProtocol = true;
          }
          helloStart = r.length;
          stage = "hello";
          const reason = firewall.check(client.address);
          if (reason !== undefined) return refuse(reason);
        }
        if (helloStart === 0) {
          // No header: the peer itself is the client.
          const reason = firewall.check(client.address);
          if (reason !== undefined) return refuse(reason);
        }
      }
      const hello = parseClientHello(buf.subarray(helloStart), maxHello);
      if (hello.status === "incomplete") return;
      if (hello.status === "invalid") return refuse("bad_client_hello");
      if (hello.sni === undefined) return refuse("no_sni");
      if (!hello.tls13) return refuse("not_tls13");
      const route = this.#opts.routes()?.get(hello.sni);
      if (route === undefined) return refuse("unknown_sni");
      socket.pause();
      cleanup();
      this.#route(socket, route, client, buf.subarray(helloStart));
    };
    socket.on("data", onData);
    socket.once("end", onEnd);
    // Gone before routing (reset, destroyed at shutdown): just stop waiting.
    socket.once("close", cleanup);
    socket.resume();
  }

  #route(socket: Socket, route: Route, client: ClientInfo, peeked: Buffer): void {
    const { observer, logger } = this.#opts;
    if (route.mode === "l7") {
      const l7 = this.#opts.l7;
      if (l7 === undefined) {
        logger.warn("l7 route without an L7 terminator", { hostname: route.hostname });
        socket.resetAndDestroy();
        return;
      }
      observer.routed(route);
      // The TLS server owns both directions now: a client FIN ends the
      // socket instead of leaving it half open (the L4 relay wants half-open).
      socket.allowHalfOpen = false;
      socket.unshift(peeked);
      try {
        l7.handle(socket, route, client);
      } catch (e) {
        logger.error("l7 handoff failed", {
          hostname: route.hostname,
          error: (e as Error).message,
        });
        if (!socket.destroyed) socket.resetAndDestroy();
      }
      return;
    }
    observer.routed(route);
    relayL4(socket, route, client, peeked, {
      connectTimeoutMs: this.#opts.connectTimeoutMs,
      idleTimeoutMs: this.#opts.idleTimeoutMs,
      observer,
      onBackend: (b) => {
        this.#backends.add(b);
        b.once("close", () => this.#backends.delete(b));
      },
      onConnectError: (e) =>
        logger.warn("backend connect failed", {
          hostname: route.hostname,
          backend: route.backend,
          error: e.message,
        }),
    });
  }
}

function canonical(ip: string): string {
  const b = parseIp(ip);
  return b === undefined ? ip : formatIp(b);
}
