/**
 * The types MC-Proxy's parts share: routes, listeners, firewall rules, the
 * client a connection belongs to, and the observer the metrics implement.
 * The listener core (listener.ts, l4.ts), the L7 terminator (l7/), the store
 * and the admin API (admin/) and the metrics (metrics.ts) meet here.
 *
 * @module
 */

import type { Socket } from "node:net";

/** How a route proxies: raw TCP relay, or TLS termination + HTTP reverse proxy. */
export type RouteMode = "l4" | "l7";

/** One route: an SNI hostname on one listener, and where it goes. */
export interface Route {
  /** The listener's address as configured (`[[listeners]] addr`), e.g. `":443"`. */
  listener: string;
  /** Exact SNI hostname, stored lower case, no trailing dot. */
  hostname: string;
  /** Backend `host:port`. */
  backend: string;
  /** `l4` relays bytes; `l7` terminates TLS with `tlsCert`/`tlsKey`. */
  mode: RouteMode;
  /** L7: path of the PEM certificate chain presented to clients. */
  tlsCert?: string;
  /** L7: path of its PEM private key. */
  tlsKey?: string;
  /** L7: talk TLS (h2 over TLS) to the backend rather than h2c. */
  backendTls: boolean;
  /** Send a PROXY protocol v2 header to the backend before any byte. */
  sendProxyProtocol: boolean;
}

/** One listener: an address, its routes, and whether it trusts PROXY headers. */
export interface ListenerSpec {
  /** `host:port` or `:port` as configured. */
  addr: string;
  /**
   * Accept a PROXY v1/v2 header first, only from these addresses (IPs or
   * CIDRs); empty means PROXY headers are not accepted on this listener.
   */
  trustedProxies: string[];
}

/** Kinds of firewall rule. */
export type FirewallRuleKind = "ip" | "cidr" | "country" | "user_agent";

/** One block rule (global: every listener shares the firewall). */
export interface FirewallRule {
  kind: FirewallRuleKind;
  /**
   * `ip`: an IPv4/IPv6 address; `cidr`: a v4/v6 prefix; `country`: an
   * ISO 3166-1 alpha-2 code; `user_agent`: a case-insensitive substring
   * (L7 only, answered 403).
   */
  value: string;
}

/** Connection-rate limit (per client IP). */
export interface RateLimit {
  /** Connections allowed per window; 0 disables the limit. */
  limit: number;
  /** Window length, ms. */
  windowMs: number;
}

/** Who a connection is from: the real client, after any trusted PROXY header. */
export interface ClientInfo {
  /** Client IP (IPv4 dotted or IPv6 text, no brackets, no `::ffff:` prefix for v4). */
  address: string;
  /** Client port. */
  port: number;
  /** The address the client connected to (after PROXY, the original destination). */
  localAddress: string;
  /** Its port. */
  localPort: number;
  /** True when the address came from a trusted PROXY header. */
  viaProxyProtocol: boolean;
}

/** Why a connection or request was refused (a metrics label). */
export type BlockReason =
  | "ip"
  | "cidr"
  | "country"
  | "rate_limit"
  | "user_agent"
  | "unknown_sni"
  | "no_sni"
  | "not_tls13"
  | "bad_client_hello"
  | "bad_proxy_header";

/**
 * Hooks the proxy calls as traffic flows; metrics.ts implements them with
 * prom-client, tests may count them. Every method must be cheap and must
 * never throw.
 */
export interface ProxyObserver {
  /** A TCP connection was accepted on `listener`. */
  connectionOpened(listener: string): void;
  /** It ended (any reason). */
  connectionClosed(listener: string): void;
  /** Refused by the firewall or the router. */
  blocked(reason: BlockReason): void;
  /** Routed to `route` (L4: one per connection; L7: one per connection). */
  routed(route: Route): void;
  /** Bytes relayed for a route: `in` client → backend, `out` backend → client. */
  bytes(route: Route, direction: "in" | "out", n: number): void;
  /**
   * L4: time to connect to the backend; L7: one request's time to response
   * headers. Seconds.
   */
  latency(route: Route, seconds: number): void;
  /** L7: one request finished with `status`. */
  request(route: Route, status: number): void;
}

/** An observer that does nothing (tests, metrics off). */
export const NULL_OBSERVER: ProxyObserver = {
  connectionOpened() {},
  connectionClosed() {},
  blocked() {},
  routed() {},
  bytes() {},
  latency() {},
  request() {},
};

/**
 * The L7 side, as the listener core sees it: it hands over a routed
 * connection whose peeked ClientHello bytes were pushed back (`unshift`), so
 * the TLS server reads the handshake from the start.
 */
export interface L7Terminator {
  /** Terminates TLS on `socket` with `route`'s certificate and proxies HTTP. */
  handle(socket: Socket, route: Route, client: ClientInfo): void;
  /** Routes changed (certificates may have to be (re)loaded). */
  updateRoutes(routes: readonly Route[]): void;
  /** Stops accepting, drains in-flight requests up to the deadline, then closes. */
  close(deadline: number): Promise<void>;
}
