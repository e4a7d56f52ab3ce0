/**
 * `host:port` addresses as written in configs, split for `Deno.listen` and
 * friends.
 *
 * @module
 */

/** A listen address split into the parts `Deno.listen` and `Deno.serve` take. */
export interface ListenAddr {
  /** Host name or IP, IPv6 without brackets; `"0.0.0.0"` when the address had no host. */
  hostname: string;
  /** Port number; 0 asks the system for a free port. */
  port: number;
}

/** @internal An address split into its host (as written, may be empty) and port. */
export type HostPortCheck = { host: string; port: number } | { reason: string; range?: boolean };

const HOST = /^[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?$/;
const IPV6 = /^[0-9A-Fa-f:.]+(?:%[A-Za-z0-9_.-]+)?$/;

/**
 * @internal Splits `host:port` without throwing, so the config loader can
 * report every bad value at once.
 */
export function checkHostPort(text: string): HostPortCheck {
  let host: string;
  let portText: string;
  if (text.startsWith("[")) {
    const match = /^\[([^\]]*)\]:(.*)$/.exec(text);
    if (match === null) return { reason: `write IPv6 addresses as "[::1]:8443"` };
    [, host, portText] = match;
    if (!IPV6.test(host) || !host.includes(":")) {
      return { reason: `"${host}" is not an IPv6 address` };
    }
  } else {
    const colon = text.lastIndexOf(":");
    if (colon < 0) return { reason: `there is no ":port" part, e.g. ":${text || 8443}"` };
    host = text.slice(0, colon);
    portText = text.slice(colon + 1);
    if (host.includes(":")) return { reason: `put IPv6 addresses in brackets, e.g. "[::1]:8443"` };
    if (host !== "" && !HOST.test(host)) return { reason: `"${host}" is not a host name or IP` };
  }
  if (!/^\d{1,5}$/.test(portText)) return { reason: `port "${portText}" is not a number` };
  const port = Number(portText);
  if (port > 65535) return { reason: `port ${port} is not in 0..65535`, range: true };
  return { host, port };
}

/**
 * Splits a listen address written `host:port`, `:port` (all IPv4
 * interfaces) or `[ipv6]:port`.
 *
 * @param addr The address, for example `":8443"`, `"127.0.0.1:0"` or `"[::1]:8443"`.
 * @returns The host name (`"0.0.0.0"` when omitted, IPv6 without brackets) and port.
 * @throws {SyntaxError} If `addr` is not `host:port`.
 * @throws {RangeError} If the port is above 65535.
 *
 * @example Split addresses
 * ```ts
 * import { parseListenAddr } from "@mc/mcdsl/config";
 * import assert from "node:assert/strict";
 *
 * assert.deepEqual(parseListenAddr(":8443"), { hostname: "0.0.0.0", port: 8443 });
 * assert.deepEqual(parseListenAddr("[::1]:9443"), { hostname: "::1", port: 9443 });
 * assert.throws(() => parseListenAddr("8443"), SyntaxError);
 * ```
 */
export function parseListenAddr(addr: string): ListenAddr {
  const result = checkHostPort(addr);
  if ("reason" in result) {
    const message = `Cannot parse listen address "${addr}": ${result.reason}; ` +
      `write host:port such as ":8443", "127.0.0.1:8443" or "[::1]:8443"`;
    throw result.range ? new RangeError(message) : new SyntaxError(message);
  }
  return { hostname: result.host === "" ? "0.0.0.0" : result.host, port: result.port };
}
