/**
 * MC-Proxy's config (seed 004's edge shape): `[database]`, `[[listeners]]`
 * each with its `[[listeners.routes]]`, the global `[firewall]`, `[proxy]`
 * timeouts and the run-time backend allow-list, `[admin]` (the unix socket),
 * `[metrics]` and `[log]`. Listeners, routes and firewall rules seed the
 * database on first start; after that the database is the truth.
 *
 * Env overrides: `MC_PROXY_<SECTION>_<KEY>` (the dash becomes `_`); keys
 * inside `[[listeners]]` have none.
 *
 * @module
 */

import { DATABASE_SECTION, field, LOG_SECTION } from "@mc/mcdsl/config";
import type { InferConfig } from "@mc/mcdsl/config";

/** Name for env overrides: `MC_PROXY_<SECTION>_<KEY>`. */
export const SERVICE = "mc-proxy";

/** One `[[listeners.routes]]` entry. */
const ROUTE_FIELDS = {
  /** Exact SNI hostname (case-insensitive). */
  hostname: field.string({ example: `"git.example.net"` }),
  /** Backend `host:port`. */
  backend: field.hostPort({ example: `"100.64.0.2:443"` }),
  /** `l4` relays the TLS bytes; `l7` terminates TLS with `tls_cert`/`tls_key`. */
  mode: field.oneOf(["l4", "l7"], { default: "l4" }),
  /** L7: certificate chain (PEM); keep it in the data directory. */
  tls_cert: field.path({ optional: true }),
  /** L7: private key (PEM); keep it in the data directory. */
  tls_key: field.path({ optional: true }),
  /** L7: speak TLS to the backend instead of h2c. */
  backend_tls: field.bool({ default: false }),
  /** Send a PROXY v2 header to the backend before any byte. */
  send_proxy_protocol: field.bool({ default: false }),
};

/** The full schema. */
export const CONFIG_SCHEMA = {
  database: DATABASE_SECTION,
  log: LOG_SECTION,
  listeners: field.tables({
    /** `host:port` or `:port` (all IPv4 interfaces). */
    addr: field.listenAddr({ example: `":443"` }),
    /**
     * Peers (IPs or CIDRs) whose PROXY v1/v2 header is accepted; empty means
     * the listener takes no PROXY header from anyone.
     */
    trusted_proxies: field.stringArray({ default: [] }),
    routes: field.tables(ROUTE_FIELDS),
  }, { min: 1 }),
  firewall: field.table({
    /** MaxMind country database (`.mmdb`); needed for `blocked_countries`. */
    geoip_db: field.path({ optional: true }),
    blocked_ips: field.stringArray({ default: [] }),
    blocked_cidrs: field.stringArray({ default: [] }),
    /** ISO 3166-1 alpha-2 codes. */
    blocked_countries: field.stringArray({ default: [] }),
    /** Case-insensitive substrings; L7 routes answer 403. */
    blocked_user_agents: field.stringArray({ default: [] }),
    /** New connections allowed per client IP per `rate_window`; 0 turns it off. */
    rate_limit: field.int({ min: 0, default: 0 }),
    rate_window: field.duration({ min: 1, default: "10s" }),
  }),
  proxy: field.table({
    /** Backend connect timeout; also bounds the wait for the PROXY header and ClientHello. */
    connect_timeout: field.duration({ min: 1, default: "5s" }),
    /** A relayed connection with no byte either way for this long is closed. */
    idle_timeout: field.duration({ min: 1, default: "300s" }),
    /** Graceful shutdown: live connections get this long to finish. */
    shutdown_timeout: field.duration({ min: 0, default: "30s" }),
    /**
     * Backends that routes added at run time (admin API) may point at:
     * `host:port`, or a bare `host` for any port. They become the sandbox's
     * net grant together with the configured routes' backends; AddRoute
     * refuses a backend outside both.
     */
    backend_hosts: field.stringArray({ default: [] }),
  }),
  admin: field.table({
    /**
     * The admin gRPC unix socket (mode 0600), normally in the data directory;
     * unset turns the admin API off (routes then come from the config only).
     */
    socket: field.path({ optional: true }),
  }),
  metrics: field.table({
    /** Loopback `host:port` for `GET /metrics`; unset turns metrics off. */
    listen_addr: field.listenAddr({ optional: true, example: `"127.0.0.1:9100"` }),
  }),
};

/** The loaded config. */
export type McProxyConfig = InferConfig<typeof CONFIG_SCHEMA>;
