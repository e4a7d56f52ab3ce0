/**
 * Validation and normalisation of what the admin API receives: routes and
 * firewall rules. Everything that reaches the store has passed through here;
 * a failure is an {@linkcode AdminInputError} whose message is safe to show.
 *
 * @module
 */

import { isIP } from "node:net";
import type { FirewallRule, FirewallRuleKind, Route, RouteMode } from "../types.ts";

/** A request the admin API refuses (gRPC INVALID_ARGUMENT). */
export class AdminInputError extends Error {
  /** @param message Safe to show the caller. */
  constructor(message: string) {
    super(message);
    this.name = "AdminInputError";
  }
}

/** A remove of something that does not exist (gRPC NOT_FOUND). */
export class AdminNotFoundError extends Error {
  /** @param message Safe to show the caller. */
  constructor(message: string) {
    super(message);
    this.name = "AdminNotFoundError";
  }
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/;

/**
 * Normalises an SNI hostname: lower case, no trailing dot, LDH labels,
 * at most 253 characters, not an IP literal (SNI never carries one).
 *
 * @param hostname As given.
 * @returns The stored form.
 * @throws {AdminInputError} When it is not a DNS hostname.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeHostname } from "./validate.ts";
 * assert.equal(normalizeHostname("WWW.Example.COM."), "www.example.com");
 * ```
 */
export function normalizeHostname(hostname: string): string {
  const h = hostname.trim().toLowerCase().replace(/\.$/, "");
  const labels = h.split(".");
  if (
    h === "" || h.length > 253 || !labels.every((l) => LABEL.test(l)) || isIP(h) !== 0 ||
    /^\d+$/.test(labels[labels.length - 1])
  ) {
    throw new AdminInputError(
      `Cannot use hostname "${hostname}": expected a DNS name such as "app.example.com" ` +
        `(letters, digits, hyphens; no wildcard, no IP address)`,
    );
  }
  return h;
}

/**
 * Checks a backend address: `host:port` with a hostname or IPv4 host, or
 * `[v6]:port`; port 1-65535.
 *
 * @param backend As given.
 * @returns It, trimmed.
 * @throws {AdminInputError} When it is not `host:port`.
 */
export function checkBackend(backend: string): string {
  const b = backend.trim();
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([A-Za-z0-9.-]+)):(\d{1,5})$/.exec(b);
  const port = m ? Number(m[3]) : 0;
  const host = m ? (m[1] ?? m[2]) : "";
  const hostOk = m !== null &&
    (m[1] !== undefined ? isIP(host) === 6 : isIP(host) === 4 || isHostname(host));
  if (!hostOk || port < 1 || port > 65535) {
    throw new AdminInputError(
      `Cannot use backend "${backend}": expected host:port with port 1-65535, ` +
        `e.g. "127.0.0.1:8443", "[::1]:8443" or "app.internal:8443"`,
    );
  }
  return b;
}

function isHostname(h: string): boolean {
  try {
    normalizeHostname(h);
    return true;
  } catch {
    return false;
  }
}

/** A route as the admin API receives it (the generated message type: all fields optional). */
export interface RouteInput {
  listener?: string;
  hostname?: string;
  backend?: string;
  mode?: string;
  tlsCert?: string;
  tlsKey?: string;
  backendTls?: boolean;
  sendProxyProtocol?: boolean;
}

/**
 * Validates and normalises a route. `l7` needs `tls_cert` and `tls_key`
 * (absolute paths); `l4` takes neither, nor `backend_tls`, since it never
 * terminates TLS.
 *
 * @param input The request's route.
 * @param listeners Configured listener addresses.
 * @returns The route to store.
 * @throws {AdminInputError} On any invalid field, naming it.
 */
export function validateRoute(input: RouteInput, listeners: readonly string[]): Route {
  const listener = (input.listener ?? "").trim();
  if (!listeners.includes(listener)) {
    throw new AdminInputError(
      `Cannot add route: unknown listener "${listener}"; configured listeners: ${
        listeners.map((l) => `"${l}"`).join(", ") || "none"
      }`,
    );
  }
  const hostname = normalizeHostname(input.hostname ?? "");
  const backend = checkBackend(input.backend ?? "");
  const mode = (input.mode ?? "").trim().toLowerCase();
  if (mode !== "l4" && mode !== "l7") {
    throw new AdminInputError(`Cannot use mode "${input.mode ?? ""}": expected "l4" or "l7"`);
  }
  const tlsCert = (input.tlsCert ?? "").trim();
  const tlsKey = (input.tlsKey ?? "").trim();
  const backendTls = input.backendTls === true;
  const route: Route = {
    listener,
    hostname,
    backend,
    mode: mode as RouteMode,
    backendTls,
    sendProxyProtocol: input.sendProxyProtocol === true,
  };
  if (mode === "l7") {
    if (tlsCert === "" || tlsKey === "") {
      throw new AdminInputError(
        `Cannot add l7 route "${hostname}": tls_cert and tls_key are required (PEM file paths)`,
      );
    }
    for (const [name, path] of [["tls_cert", tlsCert], ["tls_key", tlsKey]]) {
      if (!path.startsWith("/")) {
        throw new AdminInputError(`Cannot use ${name} "${path}": expected an absolute path`);
      }
    }
    route.tlsCert = tlsCert;
    route.tlsKey = tlsKey;
  } else if (tlsCert !== "" || tlsKey !== "" || backendTls) {
    throw new AdminInputError(
      `Cannot add l4 route "${hostname}": tls_cert, tls_key and backend_tls are for l7 routes; ` +
        `l4 relays the client's own TLS`,
    );
  }
  return route;
}

const KINDS: readonly FirewallRuleKind[] = ["ip", "cidr", "country", "user_agent"];

/**
 * Validates and normalises a firewall rule: an IP (v4, or v6 in lower case),
 * a CIDR prefix with its host bits as given, an ISO 3166-1 alpha-2 country
 * (upper case), or a user-agent substring (printable ASCII, 1-256 chars,
 * lower case: it is matched case-insensitively).
 *
 * @param input The request's rule.
 * @returns The rule to store.
 * @throws {AdminInputError} On an unknown kind or a bad value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { validateRule } from "./validate.ts";
 * assert.deepEqual(validateRule({ kind: "country", value: "cn" }), { kind: "country", value: "CN" });
 * ```
 */
export function validateRule(input: { kind?: string; value?: string }): FirewallRule {
  const kind = (input.kind ?? "").trim().toLowerCase() as FirewallRuleKind;
  const raw = input.value ?? "";
  const value = raw.trim();
  const bad = (wanted: string) =>
    new AdminInputError(`Cannot use ${kind} rule "${raw}": expected ${wanted}`);
  switch (kind) {
    case "ip":
      if (isIP(value) === 0) throw bad("an IPv4 or IPv6 address");
      return { kind, value: value.toLowerCase() };
    case "cidr": {
      const [addr, prefix, ...rest] = value.split("/");
      const family = isIP(addr ?? "");
      const bits = /^\d{1,3}$/.test(prefix ?? "") ? Number(prefix) : -1;
      if (rest.length > 0 || family === 0 || bits < 0 || bits > (family === 4 ? 32 : 128)) {
        throw bad("an IPv4 or IPv6 prefix such as 10.0.0.0/8 or 2001:db8::/32");
      }
      return { kind, value: `${addr.toLowerCase()}/${bits}` };
    }
    case "country":
      if (!/^[A-Za-z]{2}$/.test(value)) throw bad('a two-letter ISO 3166-1 code such as "CN"');
      return { kind, value: value.toUpperCase() };
    case "user_agent":
      if (!/^[\x20-\x7e]{1,256}$/.test(value)) {
        throw bad("a user-agent substring of 1-256 printable ASCII characters");
      }
      // Matched case-insensitively, so stored lower case (as the store does).
      return { kind, value: value.toLowerCase() };
    default:
      throw new AdminInputError(
        `Cannot use firewall rule kind "${input.kind ?? ""}": expected one of ${
          KINDS.map((k) => `"${k}"`).join(", ")
        }`,
      );
  }
}
