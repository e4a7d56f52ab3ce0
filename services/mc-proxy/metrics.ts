/**
 * MC-Proxy's Prometheus metrics: a prom-client implementation of
 * {@linkcode ProxyObserver} and the loopback `GET /metrics` listener.
 *
 * Series (all prefixed `mcproxy_`):
 *
 * | name | type | labels |
 * |---|---|---|
 * | `connections_opened_total` | counter | `listener` |
 * | `connections_active` | gauge | `listener` |
 * | `blocks_total` | counter | `reason` |
 * | `route_connections_total` | counter | `listener`, `route`, `mode` |
 * | `route_bytes_total` | counter | `listener`, `route`, `direction` (`in` client → backend, `out` back) |
 * | `route_requests_total` | counter | `listener`, `route`, `status_class` (`2xx`…) |
 * | `route_latency_seconds` | histogram | `listener`, `route`, `mode` (L4: backend connect; L7: time to response headers) |
 *
 * The observer's methods sit on the hot path (`bytes` runs per relayed
 * chunk): label children are cached per route, and every method swallows its
 * own errors, since a metrics bug must never drop a connection.
 *
 * @module
 */

import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { BlockReason, ProxyObserver, Route } from "./types.ts";

/** The live metrics listener. */
export interface MetricsListener {
  /** The bound port. */
  readonly port: number;
  /** Stops listening. */
  close(): Promise<void>;
}

/** What {@linkcode createMetrics} returns. */
export interface Metrics {
  /** Feed this to the listener core and the L7 terminator. */
  readonly observer: ProxyObserver;
  /** The prom-client registry holding MC-Proxy's series. */
  readonly registry: Registry;
  /** Connections open right now, over every listener. */
  liveConnections(): number;
  /** Connections open right now by listener (a copy). */
  activeConnections(): ReadonlyMap<string, number>;
  /** The exposition text `GET /metrics` answers. */
  render(): Promise<string>;
  /**
   * Serves `GET /metrics` over plain HTTP on a loopback address.
   *
   * @param addr `127.0.0.1:9100`, `[::1]:9100` or `localhost:9100`; port 0 picks one.
   * @returns The bound listener.
   * @throws {RangeError} When `addr` is not a loopback `host:port` (see {@linkcode parseMetricsAddr}).
   */
  serve(addr: string): Promise<MetricsListener>;
}

/** Latency buckets, seconds: 0.5 ms to 10 s. */
const LATENCY_BUCKETS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];

interface RouteChildren {
  connections: Counter.Internal;
  bytesIn: Counter.Internal;
  bytesOut: Counter.Internal;
  latency: Histogram.Internal<string>;
  requests: Map<string, Counter.Internal>;
}

/**
 * Checks a metrics listen address: `host:port` where host is a loopback
 * literal (`127.0.0.0/8`, `::1`) or `localhost`. Metrics are plain HTTP
 * without authentication, so they never face the network; Prometheus on
 * another node scrapes through the overlay from a local agent, not directly.
 *
 * @param addr The configured `[metrics] listen_addr`.
 * @returns The host (unbracketed) and port.
 * @throws {RangeError} When the address is malformed or not loopback.
 *
 * @example Loopback only
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMetricsAddr } from "./metrics.ts";
 * assert.deepEqual(parseMetricsAddr("127.0.0.1:9100"), { hostname: "127.0.0.1", port: 9100 });
 * assert.throws(() => parseMetricsAddr(":9100"), RangeError);
 * ```
 */
export function parseMetricsAddr(addr: string): { hostname: string; port: number } {
  const match = /^(?:\[([^\]]+)\]|([^:\[\]]*)):(\d{1,5})$/.exec(addr);
  const port = match ? Number(match[3]) : NaN;
  if (!match || port > 65535) {
    throw new RangeError(
      `Cannot use metrics listen_addr "${addr}": expected host:port, e.g. "127.0.0.1:9100"`,
    );
  }
  const hostname = match[1] ?? match[2];
  const loopback = hostname === "localhost" || hostname === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(hostname);
  if (!loopback) {
    throw new RangeError(
      `Cannot use metrics listen_addr "${addr}": metrics are unauthenticated plain HTTP and must ` +
        `listen on loopback; use 127.0.0.1:<port> or [::1]:<port>`,
    );
  }
  return { hostname, port };
}

function statusClass(status: number): string {
  return status >= 100 && status < 600 ? `${Math.floor(status / 100)}xx` : "other";
}

/**
 * Builds MC-Proxy's metrics in a registry of their own.
 *
 * @returns The observer, the registry and the listener factory.
 *
 * @example Count a connection and read it back
 * ```ts
 * import assert from "node:assert/strict";
 * import { createMetrics } from "./metrics.ts";
 * const m = createMetrics();
 * m.observer.connectionOpened(":443");
 * assert.equal(m.liveConnections(), 1);
 * assert.match(await m.render(), /mcproxy_connections_active\{listener=":443"\} 1/);
 * ```
 */
export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const opened = new Counter({
    name: "mcproxy_connections_opened_total",
    help: "TCP connections accepted, by listener",
    labelNames: ["listener"],
    registers,
  });
  const active = new Gauge({
    name: "mcproxy_connections_active",
    help: "TCP connections open now, by listener",
    labelNames: ["listener"],
    registers,
  });
  const blocks = new Counter({
    name: "mcproxy_blocks_total",
    help: "Connections or requests refused, by reason",
    labelNames: ["reason"],
    registers,
  });
  const routeConnections = new Counter({
    name: "mcproxy_route_connections_total",
    help: "Connections routed, by listener and route",
    labelNames: ["listener", "route", "mode"],
    registers,
  });
  const routeBytes = new Counter({
    name: "mcproxy_route_bytes_total",
    help: "Bytes relayed; direction in is client to backend, out is backend to client",
    labelNames: ["listener", "route", "direction"],
    registers,
  });
  const routeRequests = new Counter({
    name: "mcproxy_route_requests_total",
    help: "L7 requests finished, by listener, route and status class",
    labelNames: ["listener", "route", "status_class"],
    registers,
  });
  const routeLatency = new Histogram({
    name: "mcproxy_route_latency_seconds",
    help: "L4: backend connect time; L7: time to response headers",
    labelNames: ["listener", "route", "mode"],
    buckets: LATENCY_BUCKETS,
    registers,
  });

  const activeByListener = new Map<string, number>();
  let live = 0;
  const children = new Map<string, RouteChildren>();

  function routeChildren(route: Route): RouteChildren {
    const key = `${route.listener}\0${route.hostname}\0${route.mode}`;
    let c = children.get(key);
    if (c === undefined) {
      const base = { listener: route.listener, route: route.hostname };
      c = {
        connections: routeConnections.labels({ ...base, mode: route.mode }),
        bytesIn: routeBytes.labels({ ...base, direction: "in" }),
        bytesOut: routeBytes.labels({ ...base, direction: "out" }),
        latency: routeLatency.labels({ ...base, mode: route.mode }),
        requests: new Map(),
      };
      children.set(key, c);
    }
    return c;
  }

  const observer: ProxyObserver = {
    connectionOpened(listener: string) {
      try {
        live++;
        activeByListener.set(listener, (activeByListener.get(listener) ?? 0) + 1);
        opened.inc({ listener });
        active.inc({ listener });
      } catch { /* metrics never break traffic */ }
    },
    connectionClosed(listener: string) {
      try {
        const n = activeByListener.get(listener) ?? 0;
        // A close without an open (a caller bug) must not drive the gauge negative.
        if (n <= 0) return;
        live--;
        activeByListener.set(listener, n - 1);
        active.dec({ listener });
      } catch { /* metrics never break traffic */ }
    },
    blocked(reason: BlockReason) {
      try {
        blocks.inc({ reason });
      } catch { /* metrics never break traffic */ }
    },
    routed(route: Route) {
      try {
        routeChildren(route).connections.inc();
      } catch { /* metrics never break traffic */ }
    },
    bytes(route: Route, direction: "in" | "out", n: number) {
      try {
        if (!(n > 0)) return;
        const c = routeChildren(route);
        (direction === "in" ? c.bytesIn : c.bytesOut).inc(n);
      } catch { /* metrics never break traffic */ }
    },
    latency(route: Route, seconds: number) {
      try {
        if (!(seconds >= 0) || !Number.isFinite(seconds)) return;
        routeChildren(route).latency.observe(seconds);
      } catch { /* metrics never break traffic */ }
    },
    request(route: Route, status: number) {
      try {
        const c = routeChildren(route);
        const cls = statusClass(status);
        let child = c.requests.get(cls);
        if (child === undefined) {
          child = routeRequests.labels({
            listener: route.listener,
            route: route.hostname,
            status_class: cls,
          });
          c.requests.set(cls, child);
        }
        child.inc();
      } catch { /* metrics never break traffic */ }
    },
  };

  function render(): Promise<string> {
    return registry.metrics();
  }

  async function serve(addr: string): Promise<MetricsListener> {
    const { hostname, port } = parseMetricsAddr(addr);
    const { promise, resolve, reject } = Promise.withResolvers<MetricsListener>();
    let server: Deno.HttpServer<Deno.NetAddr>;
    try {
      server = Deno.serve({
        hostname,
        port,
        onListen: (a) => resolve({ port: a.port, close: () => server.shutdown() }),
        onError: () => new Response("internal error\n", { status: 500 }),
      }, async (req) => {
        const path = new URL(req.url).pathname;
        if (path !== "/metrics") return new Response("not found\n", { status: 404 });
        if (req.method !== "GET" && req.method !== "HEAD") {
          return new Response("method not allowed\n", { status: 405, headers: { allow: "GET" } });
        }
        return new Response(req.method === "HEAD" ? null : await render(), {
          headers: { "content-type": registry.contentType },
        });
      });
    } catch (e) {
      reject(e);
    }
    return await promise;
  }

  return {
    observer,
    registry,
    liveConnections: () => live,
    activeConnections: () => new Map(activeByListener),
    render,
    serve,
  };
}
