/**
 * Header rewriting for the L7 reverse proxy: what a client's request
 * carries to the backend, and what the backend's response and trailers
 * carry back.
 *
 * @module
 */

import type { IncomingHttpHeaders, OutgoingHttpHeaders } from "node:http2";

/** Header fields as node delivers them (`:status` is a number). */
export type HeaderFields = Readonly<Record<string, string | string[] | number | undefined>>;

/**
 * Connection-specific (hop-by-hop) fields: never forwarded, and HTTP/2
 * forbids them outright (`node:http2` throws on them). `te` is dropped
 * unless it is exactly `trailers`, which gRPC needs.
 */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "transfer-encoding",
  "upgrade",
  "te",
  "http2-settings",
  // HTTP/1.1 only: node's HTTP/1 server answers `100 Continue` itself.
  "expect",
  // Becomes `:authority`.
  "host",
]);

/** The request line of a proxied request, and who sent it. */
export interface ForwardTarget {
  /** HTTP method. */
  method: string;
  /** Path and query (origin form). */
  path: string;
  /** `host[:port]` the client asked for; omitted when absent. */
  authority: string | undefined;
  /** Scheme spoken to the backend: `http` (h2c) or `https`. */
  scheme: "http" | "https";
  /** The real client IP (after any trusted PROXY header). */
  clientAddress: string;
}

/** Names listed in a `Connection` field: they are hop-by-hop too. */
function connectionTokens(value: HeaderFields[string]): Set<string> {
  const tokens = new Set<string>();
  if (value === undefined) return tokens;
  for (const part of Array.isArray(value) ? value : [String(value)]) {
    for (const token of part.split(",")) {
      const name = token.trim().toLowerCase();
      if (name !== "") tokens.add(name);
    }
  }
  return tokens;
}

/**
 * Builds the backend request headers (HTTP/2, with pseudo-headers) from a
 * client request's headers (HTTP/2 or HTTP/1.1): drops hop-by-hop fields and
 * those the `Connection` field names, keeps `te: trailers`, appends the
 * client IP to `X-Forwarded-For` and sets `X-Real-IP` and
 * `X-Forwarded-Proto: https`.
 *
 * @param incoming The client's headers (pseudo-headers are ignored).
 * @param target Method, path, authority, backend scheme and client IP.
 * @returns Headers for `ClientHttp2Session.request()`.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { backendRequestHeaders } from "./headers.ts";
 * const h = backendRequestHeaders(
 *   { host: "a.test", connection: "keep-alive", "x-forwarded-for": "10.0.0.1" },
 *   { method: "GET", path: "/", authority: "a.test", scheme: "http", clientAddress: "192.0.2.7" },
 * );
 * assert.equal(h["x-forwarded-for"], "10.0.0.1, 192.0.2.7");
 * assert.equal(h["x-real-ip"], "192.0.2.7");
 * assert.equal(h.connection, undefined);
 * ```
 */
export function backendRequestHeaders(
  incoming: IncomingHttpHeaders,
  target: ForwardTarget,
): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {
    ":method": target.method,
    ":path": target.path,
    ":scheme": target.scheme,
  };
  if (target.authority !== undefined) out[":authority"] = target.authority;
  const listed = connectionTokens(incoming.connection);
  let forwardedFor: string[] = [];
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || name.startsWith(":")) continue;
    const lower = name.toLowerCase();
    if (lower === "te") {
      if (String(value).trim().toLowerCase() === "trailers") out.te = "trailers";
      continue;
    }
    if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    if (lower === "x-forwarded-for") {
      forwardedFor = Array.isArray(value) ? value : [value];
      continue;
    }
    if (lower === "x-real-ip" || lower === "x-forwarded-proto") continue;
    out[lower] = value;
  }
  out["x-forwarded-for"] = [...forwardedFor, target.clientAddress].join(", ");
  out["x-real-ip"] = target.clientAddress;
  out["x-forwarded-proto"] = "https";
  return out;
}

/**
 * Copies a backend response's (or trailers') fields for the client: no
 * pseudo-headers, no hop-by-hop fields.
 *
 * @param incoming Headers or trailers from the backend.
 * @returns The fields to send on.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientResponseHeaders } from "./headers.ts";
 * const h = clientResponseHeaders({ ":status": 200, "grpc-status": "0", "keep-alive": "x" });
 * assert.deepEqual(h, { "grpc-status": "0" });
 * ```
 */
export function clientResponseHeaders(incoming: HeaderFields): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = {};
  const listed = connectionTokens(incoming.connection);
  for (const [name, value] of Object.entries(incoming)) {
    if (value === undefined || name.startsWith(":")) continue;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || listed.has(lower)) continue;
    out[lower] = value;
  }
  return out;
}
