/**
 * MC-Proxy's L7 side: TLS 1.3 termination with each route's certificate
 * (ALPN `h2`, `http/1.1`) and an HTTP reverse proxy to h2c or TLS backends,
 * with streamed bodies, trailers (gRPC), WebSocket upgrades and user-agent
 * blocks. The listener core hands it routed connections.
 *
 * ```ts
 * import { createL7Terminator } from "./mod.ts";
 * const l7 = createL7Terminator({ firewall: { blockedUserAgent: () => false } });
 * await l7.close(Date.now());
 * ```
 *
 * @module
 */

export * from "./terminator.ts";
export * from "./backend_pool.ts";
export * from "./headers.ts";
export * from "./websocket.ts";
