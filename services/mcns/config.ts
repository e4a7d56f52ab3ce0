/**
 * MCNS's config: the standard `[server]`, `[database]`, `[mcias]` and `[log]` sections
 * and `[dns]`, the authoritative DNS listeners and the zones seeded on first
 * start.
 *
 * @module
 */

import {
  DATABASE_SECTION,
  field,
  LOG_SECTION,
  MCIAS_SECTION,
  SERVER_SECTION,
} from "@mc/mcdsl/config";
import type { InferConfig } from "@mc/mcdsl/config";
import type { Field } from "@mc/mcdsl/config";
import { isIP } from "node:net";

// Transfer ACLs and NOTIFY compare addresses as Deno reports them: IPs, not names.
function ipOnly(v: string): string | undefined {
  return isIP(v) === 0 ? "expected an IP address" : undefined;
}

/**
 * One form for an IP address, so the transfer ACL and NOTIFY sources compare
 * equal however the address was written or reported: IPv6 lower case and
 * compressed (RFC 5952), and an IPv4-mapped IPv6 address (`::ffff:192.0.2.1`,
 * what a dual-stack `[::]` listener reports for IPv4 peers) as plain IPv4.
 * Anything that is not an IP is returned as given.
 */
export function canonicalIp(ip: string): string {
  const v = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  if (isIP(v) !== 6) return v;
  let h: string;
  try {
    h = new URL(`http://[${v}]/`).hostname.slice(1, -1);
  } catch {
    return v.toLowerCase();
  }
  const m = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(h);
  if (m === null) return h;
  const hi = parseInt(m[1], 16);
  const lo = parseInt(m[2], 16);
  return `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
}

/** `ip:port` with the IP in {@linkcode canonicalIp} form (IPv6 in brackets). */
export function canonicalIpPort(addr: string): string {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  if (m === null) return addr;
  const ip = canonicalIp(m[1]);
  return isIP(ip) === 6 ? `[${ip}]:${m[2]}` : `${ip}:${m[2]}`;
}

// A field whose decoded value is mapped (the config holds canonical addresses).
type Decoder<R> = (
  raw: R,
  ctx: Parameters<NonNullable<Field<unknown>["fromToml"]>>[1],
) => ReturnType<
  NonNullable<Field<unknown>["fromToml"]>
>;
function mapped<T>(f: Field<T>, fn: (v: T) => T): Field<T> {
  const wrap = <R>(dec?: Decoder<R>): Decoder<R> | undefined =>
    dec && ((raw, ctx) => {
      const d = dec(raw, ctx);
      return d.ok && d.value !== undefined ? { ok: true, value: fn(d.value as T) } : d;
    });
  return { ...f, fromToml: wrap(f.fromToml), fromEnv: wrap(f.fromEnv) };
}
const ips = (v: string[]) => v.map(canonicalIp);
const ipPorts = (v: string[]) => v.map(canonicalIpPort);

function ipPort(v: string): string | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(v) ?? /^([^:]+):(\d+)$/.exec(v);
  if (m === null || isIP(m[1]) === 0) return `expected ip:port like "192.0.2.1:53"`;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 ? undefined : "expected a port from 1 to 65535";
}

/** Name for env overrides: `MCNS_<SECTION>_<KEY>`. */
export const SERVICE = "mcns";

/** The full schema. */
export const CONFIG_SCHEMA = {
  /** The record API's listeners: REST on `listen_addr`, gRPC on `grpc_addr` when set. */
  server: SERVER_SECTION,
  database: DATABASE_SECTION,
  /** MCIAS, which validates the record API's bearer tokens. */
  mcias: MCIAS_SECTION,
  log: LOG_SECTION,
  dns: field.table({
    /** Address of the UDP and TCP DNS listeners (both on the same port). */
    listen_addr: field.listenAddr({ example: `"127.0.0.1:53"` }),
    /**
     * Hosts allowed to receive UDP replies: Deno needs net permission to the
     * destination host of every datagram sent, so these become the sandbox's
     * net grants (a host, every port: clients reply from ephemeral ports).
     */
    clients: field.stringArray({ default: ["127.0.0.1"] }),
    /** The platform domain: zones `svc.mcp.<domain>` and `mcp.<domain>` are seeded. */
    domain: field.string({ example: `"metacircular.net"` }),
    /** How often the server checks the database for zone changes. */
    reload_interval: field.duration({ default: "1s" }),
    /**
     * Zone transfer ACL: client IPs that may pull any zone by AXFR/IXFR over
     * TCP (the secondaries); everyone else is REFUSED.
     */
    transfer_to: mapped(field.stringArray({ default: [], item: ipOnly }), ips),
    /** NOTIFY targets (`ip:port`, the secondaries), told whenever a zone's serial changes. */
    notify: mapped(field.stringArray({ default: [], item: ipPort }), ipPorts),
    /** The primary (`ip:port`) of `secondary_zones`: the only NOTIFY source accepted. */
    primary: mapped(
      field.hostPort({ optional: true, validate: (v) => ipPort(v) }),
      (v) => v === undefined ? v : canonicalIpPort(v),
    ),
    /**
     * Zones kept as read-only copies of `primary`'s, by SOA check and AXFR.
     * An instance with secondary zones seeds none of its own.
     */
    secondary_zones: field.stringArray({ default: [] }),
    /**
     * Forwarding (forward.ts): resolvers (`ip:port`, tried in order) for names
     * outside the zones, on listeners that forward. Each is a net grant.
     */
    upstreams: mapped(field.stringArray({ default: [], item: ipPort }), ipPorts),
    /** Whether `listen_addr` forwards; off (a public instance): REFUSED outside the zones. */
    forward: field.bool({ default: false }),
    /** A second UDP+TCP listener that always forwards (e.g. an internal address). */
    forward_listen_addr: field.listenAddr({ optional: true, example: `"10.0.0.2:53"` }),
    /** How long one upstream gets to answer before the next is tried. */
    forward_timeout: field.duration({ default: "2s", min: 10 }),
    /** Forwarded answers cached (entries; 0: no cache). */
    cache_size: field.int({ default: 10000, min: 0, max: 10_000_000 }),
    /** The longest a forwarded answer is cached, whatever its TTL. */
    cache_max_ttl: field.duration({ default: "1h" }),
  }),
};

/** The loaded config. */
export type McnsConfig = InferConfig<typeof CONFIG_SCHEMA>;
