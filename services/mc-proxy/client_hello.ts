/**
 * Parsing a TLS ClientHello from the first bytes of a connection: the SNI
 * hostname and whether `supported_versions` offers TLS 1.3. Nothing is
 * decrypted or answered; the bytes are replayed to the backend (L4) or the
 * TLS server (L7) unchanged.
 *
 * The handshake message may span several reads and, rarely, several TLS
 * records; {@linkcode parseClientHello} says `incomplete` until it has the
 * whole message, and refuses anything past `maxBytes`.
 *
 * @module
 */

/** What {@linkcode parseClientHello} found. */
export type ClientHelloResult =
  | {
    /** More bytes are needed. */
    status: "incomplete";
  }
  | {
    status: "ok";
    /** SNI `host_name`, lower case, no trailing dot; absent when none was sent. */
    sni?: string;
    /** Whether `supported_versions` lists TLS 1.3 (0x0304). */
    tls13: boolean;
  }
  | {
    /** Not a ClientHello, malformed, or too big. */
    status: "invalid";
    /** Why (for debug logs; never sent to the peer). */
    reason: string;
  };

/** Default bound on the bytes read before the ClientHello must be complete. */
export const MAX_CLIENT_HELLO_BYTES = 16 * 1024;

const RECORD_HANDSHAKE = 0x16;
const HANDSHAKE_CLIENT_HELLO = 0x01;
const EXT_SERVER_NAME = 0x0000;
const EXT_SUPPORTED_VERSIONS = 0x002b;
const TLS13 = 0x0304;

const INCOMPLETE: ClientHelloResult = { status: "incomplete" };

function invalid(reason: string): ClientHelloResult {
  return { status: "invalid", reason };
}

/**
 * Parses the ClientHello at the start of `buf` (the bytes read so far).
 *
 * @param buf Bytes from the start of the connection.
 * @param maxBytes Give up (invalid) when this many bytes hold no complete ClientHello.
 * @returns `incomplete`, `ok` with the SNI and TLS 1.3 support, or `invalid`.
 *
 * @example A truncated hello is incomplete
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseClientHello } from "./client_hello.ts";
 *
 * assert.deepEqual(parseClientHello(new Uint8Array([0x16, 0x03, 0x01])), { status: "incomplete" });
 * assert.equal(parseClientHello(new TextEncoder().encode("GET / HTTP/1.1\r\n")).status, "invalid");
 * ```
 */
export function parseClientHello(
  buf: Uint8Array,
  maxBytes: number = MAX_CLIENT_HELLO_BYTES,
): ClientHelloResult {
  // Reassemble the handshake message from consecutive handshake records.
  const parts: Uint8Array[] = [];
  let have = 0;
  let need = -1; // total handshake message length once known (header included)
  let off = 0;
  while (true) {
    if (off >= maxBytes) return invalid("client hello exceeds the size limit");
    if (buf.length - off < 5) {
      if (buf.length > off && buf[off] !== RECORD_HANDSHAKE) {
        return invalid("not a TLS handshake record");
      }
      return INCOMPLETE;
    }
    if (buf[off] !== RECORD_HANDSHAKE) return invalid("not a TLS handshake record");
    if (buf[off + 1] !== 0x03) return invalid("bad record version");
    const len = (buf[off + 3] << 8) | buf[off + 4];
    if (len === 0 || len > 16384) return invalid("bad record length");
    if (off + 5 + len > maxBytes) return invalid("client hello exceeds the size limit");
    if (buf.length < off + 5 + len) return INCOMPLETE;
    const frag = buf.subarray(off + 5, off + 5 + len);
    parts.push(frag);
    have += len;
    off += 5 + len;
    if (need < 0 && have >= 4) {
      const head = concat(parts, 4);
      if (head[0] !== HANDSHAKE_CLIENT_HELLO) {
        return invalid("first handshake message is not a ClientHello");
      }
      need = 4 + ((head[1] << 16) | (head[2] << 8) | head[3]);
      if (need > maxBytes) return invalid("client hello exceeds the size limit");
    }
    if (need >= 0 && have >= need) break;
  }
  const msg = concat(parts, need);
  return parseBody(msg.subarray(4));
}

function concat(parts: Uint8Array[], n: number): Uint8Array {
  if (parts.length === 1) return parts[0].subarray(0, n);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    if (o >= n) break;
    const take = Math.min(p.length, n - o);
    out.set(p.subarray(0, take), o);
    o += take;
  }
  return out;
}

function parseBody(b: Uint8Array): ClientHelloResult {
  let p = 2 + 32; // legacy_version, random
  if (b.length < p + 1) return invalid("truncated ClientHello");
  p += 1 + b[p]; // session id
  if (b.length < p + 2) return invalid("truncated ClientHello");
  p += 2 + ((b[p] << 8) | b[p + 1]); // cipher suites
  if (b.length < p + 1) return invalid("truncated ClientHello");
  p += 1 + b[p]; // compression methods
  if (p === b.length) return { status: "ok", tls13: false }; // no extensions
  if (b.length < p + 2) return invalid("truncated ClientHello");
  const extEnd = p + 2 + ((b[p] << 8) | b[p + 1]);
  p += 2;
  if (extEnd > b.length) return invalid("extensions overrun the ClientHello");
  let sni: string | undefined;
  let tls13 = false;
  const seen = new Set<number>();
  while (p < extEnd) {
    if (extEnd - p < 4) return invalid("truncated extension header");
    const type = (b[p] << 8) | b[p + 1];
    const len = (b[p + 2] << 8) | b[p + 3];
    p += 4;
    if (p + len > extEnd) return invalid("extension overruns the extensions block");
    if (seen.has(type)) return invalid("duplicate extension");
    seen.add(type);
    const ext = b.subarray(p, p + len);
    p += len;
    if (type === EXT_SERVER_NAME) {
      const r = parseServerName(ext);
      if (typeof r === "object") return r;
      sni = r;
    } else if (type === EXT_SUPPORTED_VERSIONS) {
      if (ext.length < 1 || ext[0] !== ext.length - 1 || ext[0] % 2 !== 0) {
        return invalid("bad supported_versions");
      }
      for (let i = 1; i < ext.length; i += 2) {
        if (((ext[i] << 8) | ext[i + 1]) === TLS13) tls13 = true;
      }
    }
  }
  return sni === undefined ? { status: "ok", tls13 } : { status: "ok", sni, tls13 };
}

// RFC 6066 §3: a list of (name_type, name); only host_name (0) is defined.
function parseServerName(ext: Uint8Array): string | undefined | ClientHelloResult {
  if (ext.length === 0) return undefined; // server's empty echo form; not from a client, but harmless
  if (ext.length < 2) return invalid("bad server_name");
  const listEnd = 2 + ((ext[0] << 8) | ext[1]);
  if (listEnd !== ext.length) return invalid("bad server_name list length");
  let p = 2;
  let name: string | undefined;
  while (p < listEnd) {
    if (listEnd - p < 3) return invalid("bad server_name entry");
    const kind = ext[p];
    const len = (ext[p + 1] << 8) | ext[p + 2];
    p += 3;
    if (p + len > listEnd) return invalid("bad server_name entry length");
    if (kind === 0) {
      if (name !== undefined) return invalid("two host_name entries");
      const raw = ext.subarray(p, p + len);
      // DNS names only: letters, digits, '-', '.', '_' (no NUL, no spaces).
      for (const c of raw) {
        const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) ||
          (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f;
        if (!ok) return invalid("server name has a byte a hostname cannot");
      }
      let host = String.fromCharCode(...raw).toLowerCase();
      if (host.endsWith(".")) host = host.slice(0, -1);
      if (host === "" || host.length > 253) return invalid("bad server name length");
      name = host;
    }
    p += len;
  }
  return name;
}
