/**
 * The L4 relay: connect to the route's backend, optionally send a PROXY v2
 * header carrying the real client, replay the peeked ClientHello bytes, then
 * copy bytes both ways (with backpressure) until either side is done or the
 * connection idles out. The backend sees the client's own TLS handshake.
 *
 * @module
 */

import { connect, type Socket } from "node:net";
import { encodeProxyV2 } from "./proxy_protocol.ts";
import type { ClientInfo, ProxyObserver, Route } from "./types.ts";

/** How often a relayed pair reports its byte counts (and checks idleness), ms. */
const FLUSH_MS = 1000;

/** Options for {@linkcode relayL4}. */
export interface RelayOptions {
  /** Backend connect timeout, ms. */
  connectTimeoutMs: number;
  /** Close the pair after this long without a byte either way, ms. */
  idleTimeoutMs: number;
  /** Metrics hooks. */
  observer: ProxyObserver;
  /** Called with the backend socket once created (for tracking). */
  onBackend?: (backend: Socket) => void;
  /** Called once when connecting to the backend failed (refused, timed out). */
  onConnectError?: (error: Error) => void;
}

/**
 * Splits a `host:port` backend address.
 *
 * @param backend `host:port` or `[v6]:port`.
 * @returns Host and port.
 * @throws {RangeError} When it is not `host:port`.
 */
export function splitBackend(backend: string): { host: string; port: number } {
  const m = /^(?:\[([0-9A-Fa-f:.]+)\]|([^:\[\]]+)):(\d{1,5})$/.exec(backend);
  const port = m === null ? 0 : Number(m[3]);
  if (m === null || port < 1 || port > 65535) {
    throw new RangeError(
      `Cannot use backend "${backend}": expected host:port such as "127.0.0.1:8443" or "[::1]:8443"`,
    );
  }
  return { host: m[1] ?? m[2], port };
}

/**
 * Relays `client` to `route.backend`. `client` must be paused with nothing
 * buffered beyond `peeked` (the bytes already read from it).
 *
 * @param client The accepted connection.
 * @param route Its route (mode l4).
 * @param info The real client, for the PROXY header.
 * @param peeked The bytes read so far (the ClientHello), sent first.
 * @param options Timeouts, observer, hooks.
 */
export function relayL4(
  client: Socket,
  route: Route,
  info: ClientInfo,
  peeked: Uint8Array,
  options: RelayOptions,
): void {
  const { observer } = options;
  const started = performance.now();
  let target: { host: string; port: number };
  try {
    target = splitBackend(route.backend);
  } catch (e) {
    options.onConnectError?.(e as Error);
    client.resetAndDestroy();
    return;
  }
  // A FIN may arrive with the ClientHello, before the backend is connected.
  let clientEnded = client.readableEnded;
  client.once("end", () => {
    clientEnded = true;
    if (connected) backend.end();
  });
  const backend = connect({ host: target.host, port: target.port, allowHalfOpen: true });
  options.onBackend?.(backend);
  backend.setNoDelay(true);
  client.setNoDelay(true);
  let connected = false;
  let finished = false;

  const fail = (error?: Error) => {
    if (finished) return;
    finished = true;
    clearTimeout(connectTimer);
    if (!connected && error !== undefined) options.onConnectError?.(error);
    // An abrupt end on one side is passed on abruptly (RST), not as a clean FIN.
    if (!client.destroyed) client.resetAndDestroy();
    if (!backend.destroyed) backend.destroy();
  };

  const connectTimer = setTimeout(
    () => fail(new Error(`connect to ${route.backend} timed out`)),
    options.connectTimeoutMs,
  );
  backend.once("error", fail);
  client.once("error", fail);
  client.once("close", () => {
    clearTimeout(connectTimer);
    finished = true;
    if (!backend.destroyed) backend.destroy();
  });
  backend.once("close", () => {
    clearTimeout(connectTimer);
    // The backend is gone: let the client finish reading what was flushed.
    if (!client.destroyed) client.end();
  });

  backend.once("connect", () => {
    connected = true;
    clearTimeout(connectTimer);
    if (finished || client.destroyed) {
      backend.destroy();
      return;
    }
    observer.latency(route, (performance.now() - started) / 1000);
    if (route.sendProxyProtocol) {
      backend.write(encodeProxyV2({
        address: info.address,
        port: info.port,
        localAddress: info.localAddress,
        localPort: info.localPort,
      }));
    }
    if (peeked.length > 0) {
      backend.write(peeked);
      observer.bytes(route, "in", peeked.length);
    }
    // Hot path: per chunk a flag, an addition and the write. One timer per
    // pair checks idleness and flushes the byte counts to the observer.
    let active = false;
    let quietMs = 0;
    let bytesIn = 0;
    let bytesOut = 0;
    const flush = () => {
      if (bytesIn > 0) observer.bytes(route, "in", bytesIn);
      if (bytesOut > 0) observer.bytes(route, "out", bytesOut);
      bytesIn = bytesOut = 0;
    };
    const tick = Math.min(options.idleTimeoutMs, FLUSH_MS);
    const idleTimer = setInterval(() => {
      flush();
      quietMs = active ? 0 : quietMs + tick;
      active = false;
      if (quietMs >= options.idleTimeoutMs) fail();
    }, tick);
    client.once("close", () => {
      clearInterval(idleTimer);
      flush();
    });
    // Copy with backpressure (what pipe() does, minus its bookkeeping);
    // a FIN is passed on as a FIN (half-close).
    client.on("data", (chunk: Uint8Array) => {
      bytesIn += chunk.length;
      active = true;
      if (!backend.write(chunk)) client.pause();
    });
    backend.on("data", (chunk: Uint8Array) => {
      bytesOut += chunk.length;
      active = true;
      if (!client.write(chunk)) backend.pause();
    });
    backend.on("drain", () => client.resume());
    client.on("drain", () => backend.resume());
    backend.once("end", () => client.end());
    if (clientEnded) backend.end();
    else client.resume();
  });
}
