/**
 * The client address of a gRPC call, for throttling and logs.
 *
 * @module
 */

import { isIP } from "node:net";

/**
 * The client IP in a grpc-js server call's `getPeer()` string.
 *
 * grpc-js writes `<remoteAddress>:<remotePort>` without brackets, so an IPv6
 * peer reads `::1:50000`; the port is stripped whenever what remains is an IP.
 * IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) become plain IPv4, so one
 * client has one throttling key whichever socket family it came in on.
 *
 * @param peer What `call.getPeer()` returned.
 * @returns The IP; the input unchanged when it holds none (`"unknown"`, a
 *   unix socket path).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { peerAddress } from "./peer_address.ts";
 * assert.equal(peerAddress("127.0.0.1:50000"), "127.0.0.1");
 * assert.equal(peerAddress("::1:50000"), "::1");
 * assert.equal(peerAddress("::ffff:10.0.0.1:50000"), "10.0.0.1");
 * assert.equal(peerAddress("unknown"), "unknown");
 * ```
 */
export function peerAddress(peer: string): string {
  let host = peer;
  const match = /^\[?(.+?)\]?:(\d{1,5})$/.exec(peer);
  if (match && isIP(match[1]) !== 0) host = match[1];
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(host);
  return mapped ? mapped[1] : host;
}
