/**
 * The HAProxy PROXY protocol: parsing v1 (text) and v2 (binary) headers
 * from a trusted upstream, and encoding v2 for a backend.
 * Spec: https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt
 *
 * @module
 */

import { isIPv4 } from "node:net";
import { formatIp, parseIp } from "./ip.ts";

/** The addresses a PROXY header carries. */
export interface ProxiedAddress {
  /** Original client IP (canonical text; mapped IPv4 as IPv4). */
  address: string;
  /** Original client port. */
  port: number;
  /** Address the client connected to. */
  localAddress: string;
  /** Its port. */
  localPort: number;
}

/** What {@linkcode parseProxyHeader} found. */
export type ProxyHeaderResult =
  | { status: "incomplete" }
  | { status: "invalid"; reason: string }
  | {
    status: "ok";
    /** Bytes the header took; the connection's own data follows. */
    length: number;
    /**
     * The carried addresses; absent for v2 LOCAL, v2 UNSPEC/non-TCP and v1
     * UNKNOWN (the connection is then the proxy's own: use the peer address).
     */
    source?: ProxiedAddress;
  };

/** The v2 signature. */
export const V2_SIGNATURE: Uint8Array = Uint8Array.from([
  0x0d,
  0x0a,
  0x0d,
  0x0a,
  0x00,
  0x0d,
  0x0a,
  0x51,
  0x55,
  0x49,
  0x54,
  0x0a,
]);

/** Longest v1 header, CRLF included (spec: 107). */
const V1_MAX = 107;
/** Longest v2 address block accepted (TLVs included); the spec allows 65535. */
export const V2_MAX_PAYLOAD = 2048;

const V1_PREFIX = "PROXY ";

function invalid(reason: string): ProxyHeaderResult {
  return { status: "invalid", reason };
}

/**
 * Parses a v1 or v2 PROXY header at the start of `buf`.
 *
 * @param buf The bytes read so far.
 * @returns `incomplete`, `invalid`, or `ok` with the header length and addresses.
 *
 * @example v1
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseProxyHeader } from "./proxy_protocol.ts";
 *
 * const r = parseProxyHeader(new TextEncoder().encode("PROXY TCP4 192.0.2.1 198.51.100.1 5000 443\r\nx"));
 * assert.deepEqual(r, {
 *   status: "ok",
 *   length: 44,
 *   source: { address: "192.0.2.1", port: 5000, localAddress: "198.51.100.1", localPort: 443 },
 * });
 * ```
 */
export function parseProxyHeader(buf: Uint8Array): ProxyHeaderResult {
  if (buf.length === 0) return { status: "incomplete" };
  if (buf[0] === V2_SIGNATURE[0]) return parseV2(buf);
  if (buf[0] === 0x50) return parseV1(buf);
  return invalid("not a PROXY header");
}

function prefixMatches(buf: Uint8Array, sig: Uint8Array): boolean {
  const n = Math.min(buf.length, sig.length);
  for (let i = 0; i < n; i++) if (buf[i] !== sig[i]) return false;
  return true;
}

function parseV1(buf: Uint8Array): ProxyHeaderResult {
  const prefix = new TextEncoder().encode(V1_PREFIX);
  if (!prefixMatches(buf, prefix)) return invalid("not a PROXY header");
  let end = -1;
  for (let i = 0; i < Math.min(buf.length, V1_MAX) - 1; i++) {
    if (buf[i] === 0x0d && buf[i + 1] === 0x0a) {
      end = i;
      break;
    }
  }
  if (end < 0) {
    return buf.length >= V1_MAX ? invalid("v1 header has no CRLF within 107 bytes") : {
      status: "incomplete",
    };
  }
  for (let i = 0; i < end; i++) {
    if (buf[i] < 0x20 || buf[i] > 0x7e) return invalid("v1 header has a non-printable byte");
  }
  const line = new TextDecoder().decode(buf.subarray(0, end));
  const parts = line.split(" ");
  const length = end + 2;
  if (parts[1] === "UNKNOWN") return { status: "ok", length };
  if (parts.length !== 6) return invalid("v1 header needs 6 fields");
  const [, proto, src, dst, sport, dport] = parts;
  if (proto !== "TCP4" && proto !== "TCP6") {
    return invalid("v1 protocol must be TCP4, TCP6 or UNKNOWN");
  }
  const srcB = parseIp(src);
  const dstB = parseIp(dst);
  if (srcB === undefined || dstB === undefined) return invalid("v1 header has a bad address");
  if ((proto === "TCP4") !== isIPv4(src) || (proto === "TCP4") !== isIPv4(dst)) {
    return invalid("v1 address family does not match the protocol");
  }
  const port = v1Port(sport);
  const localPort = v1Port(dport);
  if (port === undefined || localPort === undefined) return invalid("v1 header has a bad port");
  return {
    status: "ok",
    length,
    source: { address: formatIp(srcB), port, localAddress: formatIp(dstB), localPort },
  };
}

function v1Port(text: string): number | undefined {
  if (!/^(0|[1-9]\d{0,4})$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

function parseV2(buf: Uint8Array): ProxyHeaderResult {
  if (!prefixMatches(buf, V2_SIGNATURE)) return invalid("not a PROXY header");
  if (buf.length < 16) return { status: "incomplete" };
  const verCmd = buf[12];
  if (verCmd >> 4 !== 2) return invalid("v2 version is not 2");
  const cmd = verCmd & 0x0f;
  if (cmd > 1) return invalid("v2 command is neither LOCAL nor PROXY");
  const fam = buf[13];
  const len = (buf[14] << 8) | buf[15];
  if (len > V2_MAX_PAYLOAD) return invalid("v2 header is longer than accepted");
  const length = 16 + len;
  if (buf.length < length) return { status: "incomplete" };
  if (cmd === 0) return { status: "ok", length }; // LOCAL: the proxy's own connection
  const body = buf.subarray(16, length);
  const port = (o: number) => (body[o] << 8) | body[o + 1];
  switch (fam) {
    case 0x11: // TCP over IPv4
      if (len < 12) return invalid("v2 TCP4 address block too short");
      return {
        status: "ok",
        length,
        source: {
          address: formatIp(body.slice(0, 4)),
          localAddress: formatIp(body.slice(4, 8)),
          port: port(8),
          localPort: port(10),
        },
      };
    case 0x21: // TCP over IPv6
      if (len < 36) return invalid("v2 TCP6 address block too short");
      return {
        status: "ok",
        length,
        source: {
          address: formatIp(body.slice(0, 16)),
          localAddress: formatIp(body.slice(16, 32)),
          port: port(32),
          localPort: port(34),
        },
      };
    default:
      // UNSPEC, UDP, unix: no TCP client to speak of; the receiver uses the
      // real connection's addresses (spec §2.2).
      return { status: "ok", length };
  }
}

/**
 * Encodes a v2 PROXY header (command PROXY, TCP4 or TCP6, no TLVs). When the
 * two addresses differ in family, both go as IPv6 (IPv4 mapped).
 *
 * @param a The original client and destination.
 * @returns The header bytes.
 * @throws {RangeError} When an address is not an IP address.
 */
export function encodeProxyV2(a: ProxiedAddress): Uint8Array {
  let src = parseIp(a.address);
  let dst = parseIp(a.localAddress);
  if (src === undefined || dst === undefined) {
    throw new RangeError(
      `Cannot encode PROXY v2 header: "${a.address}" or "${a.localAddress}" is not an IP address`,
    );
  }
  if (src.length !== dst.length) {
    src = toV6(src);
    dst = toV6(dst);
  }
  const v4 = src.length === 4;
  const alen = v4 ? 12 : 36;
  const out = new Uint8Array(16 + alen);
  out.set(V2_SIGNATURE, 0);
  out[12] = 0x21;
  out[13] = v4 ? 0x11 : 0x21;
  out[14] = 0;
  out[15] = alen;
  out.set(src, 16);
  out.set(dst, 16 + src.length);
  const p = 16 + 2 * src.length;
  out[p] = a.port >> 8;
  out[p + 1] = a.port & 0xff;
  out[p + 2] = a.localPort >> 8;
  out[p + 3] = a.localPort & 0xff;
  return out;
}

function toV6(b: Uint8Array): Uint8Array {
  if (b.length === 16) return b;
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(b, 12);
  return out;
}
