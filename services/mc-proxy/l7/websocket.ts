/**
 * WebSocket upgrades: the client's HTTP/1.1 `Upgrade: websocket` request is
 * re-sent to the backend over its own TCP (or TLS) connection, with the
 * forwarding headers added, and from then on bytes are relayed both ways
 * (the backend's `101 Switching Protocols` included).
 *
 * @module
 */

import net from "node:net";
import type { Socket } from "node:net";
import tls from "node:tls";
import type { IncomingHttpHeaders } from "node:http";
import type { Route } from "../types.ts";
import { BackendTimeoutError } from "./backend_pool.ts";
import { backendRequestHeaders } from "./headers.ts";

/** What {@linkcode openTunnel} needs. */
export interface TunnelOptions {
  /** The client's (TLS) socket, after the upgrade request was parsed. */
  client: Socket;
  /** Bytes the client sent after the request head. */
  head: Uint8Array;
  /** Request method. */
  method: string;
  /** Request target. */
  path: string;
  /** The client's request headers. */
  headers: IncomingHttpHeaders;
  /** The real client IP. */
  clientAddress: string;
  /** Backend address, transport and name. */
  route: Pick<Route, "backend" | "backendTls" | "hostname">;
  /** Time allowed to connect to the backend, ms. */
  connectTimeoutMs: number;
  /** No traffic either way for this long closes both sides, ms. */
  idleTimeoutMs: number;
  /** PEM CAs a TLS backend must chain to; unverified when absent. */
  backendCa?: string;
  /** The backend connection is up and the request was sent. */
  onConnected(): void;
  /** Bytes relayed: `in` client → backend, `out` backend → client. */
  onBytes(direction: "in" | "out", n: number): void;
  /** The backend could not be reached; the client is still open. */
  onFailed(error: Error): void;
  /** Both sides are closed; `upgraded` when the relay had started. */
  onClosed(upgraded: boolean): void;
}

/** Splits `host:port`, `[v6]:port`. */
function splitHostPort(addr: string): { host: string; port: number } {
  const match = /^\[?(.*?)\]?:(\d+)$/.exec(addr);
  if (match === null) throw new TypeError(`Cannot parse backend "${addr}": expected host:port`);
  return { host: match[1], port: Number(match[2]) };
}

/** Builds the HTTP/1.1 upgrade request sent to the backend. */
export function upgradeRequestHead(options: TunnelOptions): string {
  const h2 = backendRequestHeaders(options.headers, {
    method: options.method,
    path: options.path,
    authority: options.headers.host,
    scheme: options.route.backendTls ? "https" : "http",
    clientAddress: options.clientAddress,
  });
  const lines = [`${options.method} ${options.path} HTTP/1.1`];
  if (options.headers.host !== undefined) lines.push(`host: ${options.headers.host}`);
  for (const [name, value] of Object.entries(h2)) {
    if (name.startsWith(":") || value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`);
  }
  lines.push("connection: Upgrade", "upgrade: websocket");
  return `${lines.join("\r\n")}\r\n\r\n`;
}

/**
 * Connects to the backend and relays the upgrade both ways.
 *
 * @param options Client socket, request, backend and callbacks.
 */
export function openTunnel(options: TunnelOptions): void {
  const { client, route } = options;
  let upgraded = false;
  let finished = false;
  let backend: Socket | undefined;
  const connect: { timer?: ReturnType<typeof setTimeout> } = {};
  const finish = () => {
    if (finished) return;
    finished = true;
    clearTimeout(connect.timer);
    client.destroy();
    backend?.destroy();
    options.onClosed(upgraded);
  };
  client.once("close", finish);
  client.on("error", finish);
  let target: { host: string; port: number };
  try {
    target = splitHostPort(route.backend);
  } catch (error) {
    options.onFailed(error as Error);
    return;
  }
  const connectEvent = route.backendTls ? "secureConnect" : "connect";
  if (route.backendTls) {
    backend = tls.connect({
      host: target.host,
      port: target.port,
      servername: net.isIP(route.hostname) === 0 ? route.hostname : undefined,
      minVersion: "TLSv1.3",
      ALPNProtocols: ["http/1.1"],
      ca: options.backendCa,
      rejectUnauthorized: options.backendCa !== undefined,
    });
  } else {
    backend = net.connect({ host: target.host, port: target.port });
  }
  const connecting = backend;
  connect.timer = setTimeout(() => {
    connecting.destroy();
    options.onFailed(new BackendTimeoutError(route.backend, options.connectTimeoutMs));
  }, options.connectTimeoutMs);
  backend.on("error", (error) => {
    clearTimeout(connect.timer);
    if (!upgraded && !finished) {
      options.onFailed(error);
      return;
    }
    finish();
  });
  connecting.once(connectEvent, () => {
    const backend = connecting;
    clearTimeout(connect.timer);
    if (client.destroyed) return finish();
    upgraded = true;
    options.onConnected();
    backend.write(upgradeRequestHead(options));
    if (options.head.length > 0) {
      options.onBytes("in", options.head.length);
      backend.write(options.head);
    }
    client.on("data", (chunk: Uint8Array) => options.onBytes("in", chunk.length));
    backend.on("data", (chunk: Uint8Array) => options.onBytes("out", chunk.length));
    client.pipe(backend);
    backend.pipe(client);
    client.setTimeout(options.idleTimeoutMs, finish);
    backend.setTimeout(options.idleTimeoutMs, finish);
    backend.once("close", finish);
  });
}
