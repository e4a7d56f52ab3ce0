/**
 * IP address helpers for the firewall and the PROXY protocol: parse text to
 * bytes, format bytes to canonical text, match CIDR prefixes. IPv4-mapped
 * IPv6 (`::ffff:1.2.3.4`) is treated as the IPv4 address everywhere.
 *
 * @module
 */

import { isIPv4, isIPv6 } from "node:net";

/** An address as bytes: 4 for IPv4, 16 for IPv6. */
export type IpBytes = Uint8Array;

function v4Bytes(text: string): IpBytes {
  return Uint8Array.from(text.split(".").map(Number));
}

// `text` has passed isIPv6, so it is well formed.
function v6Bytes(text: string): IpBytes {
  let s = text;
  const last = s.lastIndexOf(":");
  const tail = s.slice(last + 1);
  if (tail.includes(".")) {
    const b = v4Bytes(tail);
    s = `${s.slice(0, last + 1)}${((b[0] << 8) | b[1]).toString(16)}:${
      ((b[2] << 8) | b[3]).toString(16)
    }`;
  }
  const words = (t: string) => t === "" ? [] : t.split(":").map((w) => parseInt(w, 16));
  const gap = s.indexOf("::");
  let all: number[];
  if (gap < 0) {
    all = words(s);
  } else {
    const head = words(s.slice(0, gap));
    const rest = words(s.slice(gap + 2));
    all = [...head, ...new Array(8 - head.length - rest.length).fill(0), ...rest];
  }
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = all[i] >> 8;
    out[2 * i + 1] = all[i] & 0xff;
  }
  return out;
}

function isMappedV4(b: IpBytes): boolean {
  if (b.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/**
 * Parses an IP address; IPv4-mapped IPv6 becomes the 4-byte IPv4 address.
 *
 * @param text `1.2.3.4`, `2001:db8::1`, `::ffff:1.2.3.4` (a zone `%eth0` is dropped).
 * @returns The bytes, or `undefined` when `text` is not an address.
 */
export function parseIp(text: string): IpBytes | undefined {
  const t = text.startsWith("[") && text.endsWith("]") ? text.slice(1, -1) : text;
  const noZone = t.split("%")[0];
  if (isIPv4(noZone)) return v4Bytes(noZone);
  if (!isIPv6(noZone)) return undefined;
  const b = v6Bytes(noZone);
  return isMappedV4(b) ? b.slice(12) : b;
}

/**
 * Formats bytes as canonical text (RFC 5952 for IPv6; mapped IPv4 as IPv4).
 *
 * @param b 4 or 16 bytes.
 * @returns The text.
 */
export function formatIp(b: IpBytes): string {
  if (b.length === 4) return b.join(".");
  if (isMappedV4(b)) return b.slice(12).join(".");
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push((b[2 * i] << 8) | b[2 * i + 1]);
  // Longest run (≥ 2) of zero words becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(":");
  if (best < 0) return hex(words);
  return `${hex(words.slice(0, best))}::${hex(words.slice(best + bestLen))}`;
}

/**
 * Canonical text of an address (`::ffff:1.2.3.4` → `1.2.3.4`, IPv6 compressed
 * lower case).
 *
 * @param text An address.
 * @returns Its canonical text, or `undefined` when it is not an address.
 */
export function canonicalIp(text: string): string | undefined {
  const b = parseIp(text);
  return b === undefined ? undefined : formatIp(b);
}

/** A parsed CIDR prefix. */
export interface Cidr {
  /** Network bytes (4 or 16), host bits zeroed. */
  net: IpBytes;
  /** Prefix length. */
  bits: number;
}

/**
 * Parses `addr/bits` (or a bare address: a full-length prefix). An IPv4-mapped
 * IPv6 prefix of at least 96 bits becomes the IPv4 prefix.
 *
 * @param text The prefix.
 * @returns The prefix, or `undefined` when `text` is not one.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf("/");
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const bitsText = slash < 0 ? undefined : text.slice(slash + 1);
  const t = addrText.startsWith("[") && addrText.endsWith("]") ? addrText.slice(1, -1) : addrText;
  const mapped = isIPv6(t) && parseIp(t)?.length === 4;
  const net = parseIp(t);
  if (net === undefined) return undefined;
  let bits = net.length * 8;
  if (bitsText !== undefined) {
    if (!/^\d{1,3}$/.test(bitsText)) return undefined;
    bits = Number(bitsText);
    if (mapped) {
      if (bits < 96 || bits > 128) return undefined;
      bits -= 96;
    }
    if (bits > net.length * 8) return undefined;
  }
  const masked = net.slice();
  for (let i = 0; i < masked.length; i++) {
    const keep = Math.max(0, Math.min(8, bits - 8 * i));
    masked[i] &= keep === 0 ? 0 : (0xff << (8 - keep)) & 0xff;
  }
  return { net: masked, bits };
}

/**
 * Whether `ip` lies in `cidr` (families must match; mapped IPv4 is IPv4).
 *
 * @param cidr The prefix.
 * @param ip The address bytes.
 * @returns True when inside.
 */
export function cidrContains(cidr: Cidr, ip: IpBytes): boolean {
  if (cidr.net.length !== ip.length) return false;
  const full = cidr.bits >> 3;
  for (let i = 0; i < full; i++) if (cidr.net[i] !== ip[i]) return false;
  const rest = cidr.bits & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (ip[full] & mask) === cidr.net[full];
}
