/**
 * Upstream forwarding for names outside MCNS's zones, on listeners that
 * forward (`[dns] forward`, `forward_listen_addr`), with a TTL-bounded cache.
 *
 * - A query goes to `[dns] upstreams` in order over UDP, from a fresh socket
 *   on an ephemeral port, with a new random ID and the client's question
 *   (its name case kept). A datagram is accepted only from the upstream's
 *   address and port, with that ID, QR set and the same question bytes;
 *   anything else is ignored (no spoofed-answer acceptance). A truncated
 *   reply (TC) is retried over TCP to the same upstream.
 * - Timeout (`forward_timeout`), SERVFAIL, REFUSED or a malformed reply →
 *   the next upstream; when every upstream failed → SERVFAIL to the client.
 * - RD is respected: it is copied to the upstream query and to the reply; a
 *   query without RD is answered from the cache when it can be, and its
 *   upstream reply (possibly a referral) is not cached.
 * - Cache keyed by (name lower-cased, type, class), bounded in entries
 *   (least recently used dropped first): a positive answer for min(TTLs,
 *   `cache_max_ttl`), a negative one (NXDOMAIN, NODATA) for min(SOA TTL, SOA
 *   minimum, `cache_max_ttl`) (RFC 2308), nothing without an SOA. TTLs in
 *   replies from the cache count down.
 * - At most `maxInflight` queries wait on upstreams; more get SERVFAIL.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { createSocket } from "node:dgram";
import dnsPacket from "dns-packet";
import type { Logger } from "@mc/mcdsl/log";
import { EDNS_SIZE, RCODE } from "./answers.ts";

/** Options for {@linkcode createForwarder}. */
export interface ForwarderOptions {
  /** Upstream resolvers, `ip:port` (IPv6 in brackets), tried in order. */
  upstreams: readonly string[];
  /** Time one upstream gets, ms. @default {2000} */
  timeoutMs?: number;
  /** Cached answers at most (0: no cache). @default {10000} */
  cacheSize?: number;
  /** Longest time an answer is cached, seconds. @default {3600} */
  cacheMaxTtl?: number;
  /** Logger. */
  logger: Logger;
  /**
   * Queries waiting on upstreams at most; more get SERVFAIL at once (a flood
   * of names to forward cannot open sockets without bound). @default {512}
   */
  maxInflight?: number;
  /** Clock, ms (tests). @default {Date.now} */
  now?: () => number;
}

/** Forwards queries for names outside the zones. */
export interface Forwarder {
  /**
   * Answers `query` through the upstreams or the cache.
   *
   * @param query A QUERY message with one question (as `answer()` accepted).
   * @param transport UDP replies are bounded by 512 bytes or the client's EDNS0 size.
   * @returns The reply (SERVFAIL when every upstream failed), or `undefined`
   *   for a message that cannot be answered at all (shorter than a header).
   */
  resolve(query: Uint8Array, transport: "udp" | "tcp"): Promise<Uint8Array | undefined>;
  /** Entries in the cache now. */
  cacheEntries(): number;
  /** Statistics: cache hits, upstream queries, failures (all upstreams failed). */
  stats(): { hits: number; upstreamQueries: number; failures: number };
}

interface Question {
  /** Lower-cased name (cache key). */
  key: string;
  /** Question bytes as the client sent them (offset 12 to qEnd). */
  bytes: Uint8Array;
  rd: boolean;
  /** UDP size limit for the reply. */
  edns: number | undefined;
}

type Rr = { name: string; type: string; ttl?: number; class?: string; data?: unknown };
interface Decoded {
  id: number;
  flags?: number;
  rcode?: string;
  questions?: { name: string; type: string; class: string }[];
  answers?: Rr[];
  authorities?: Rr[];
  additionals?: Rr[];
}

interface Entry {
  msg: Decoded;
  rcode: number;
  stored: number;
  expires: number;
}

/** Parses the header's question; `undefined` when it is not a single well-formed question. */
function parseQuestion(query: Uint8Array): Question | undefined {
  if (query.length < 12 || query[4] !== 0 || query[5] !== 1) return undefined;
  let p = 12;
  let name = "";
  for (;;) {
    if (p >= query.length) return undefined;
    const l = query[p];
    if (l === 0) {
      p++;
      break;
    }
    if (l > 63 || p + 1 + l > query.length) return undefined;
    let label = "";
    for (let i = p + 1; i <= p + l; i++) {
      const c = query[i];
      label += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 0x20 : c);
    }
    name = name === "" ? label : `${name}.${label}`;
    p += 1 + l;
  }
  if (p + 4 > query.length) return undefined;
  const qtype = (query[p] << 8) | query[p + 1];
  const qclass = (query[p + 2] << 8) | query[p + 3];
  const qEnd = p + 4;
  let edns: number | undefined;
  const arcount = (query[10] << 8) | query[11];
  if (arcount > 0 && qEnd + 11 <= query.length && query[qEnd] === 0 && query[qEnd + 2] === 41) {
    edns = Math.min(Math.max((query[qEnd + 3] << 8) | query[qEnd + 4], 512), 65535);
  }
  return {
    key: `${name}/${qtype}/${qclass}`,
    bytes: query.slice(12, qEnd),
    rd: (query[2] & 0x01) !== 0,
    edns,
  };
}

/** `ip:port` → hostname (brackets removed) and port. */
function splitAddr(addr: string): { hostname: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  if (m === null) throw new RangeError(`Cannot use upstream "${addr}": expected ip:port`);
  return { hostname: m[1], port: Number(m[2]) };
}

/** The upstream query: random ID, RD as the client's, its question, an OPT record. */
function upstreamQuery(q: Question, id: number): Uint8Array {
  const out = new Uint8Array(12 + q.bytes.length + 11);
  out[0] = id >> 8;
  out[1] = id & 0xff;
  out[2] = q.rd ? 0x01 : 0;
  out[5] = 1;
  out[11] = 1;
  out.set(q.bytes, 12);
  out.set([0, 0, 41, EDNS_SIZE >> 8, EDNS_SIZE & 0xff, 0, 0, 0, 0, 0, 0], 12 + q.bytes.length);
  return out;
}

/** Whether `reply` answers `sent`: same ID, QR set, the same question bytes. */
export function matchesQuery(reply: Uint8Array, sent: Uint8Array, qLen: number): boolean {
  if (reply.length < 12 + qLen) return false;
  if (reply[0] !== sent[0] || reply[1] !== sent[1] || (reply[2] & 0x80) === 0) return false;
  if (reply[4] !== 0 || reply[5] !== 1) return false;
  for (let i = 12; i < 12 + qLen; i++) if (reply[i] !== sent[i]) return false;
  return true;
}

function randomId(): number {
  const b = new Uint16Array(1);
  crypto.getRandomValues(b);
  return b[0];
}

async function exchangeUdp(
  upstream: { hostname: string; port: number },
  msg: Uint8Array,
  qLen: number,
  timeoutMs: number,
): Promise<Uint8Array | undefined> {
  // node:dgram rather than Deno.listenDatagram: the same sandbox checks,
  // without --unstable-net (so the tests can run it in-process).
  const socket = createSocket(upstream.hostname.includes(":") ? "udp6" : "udp4");
  const { promise, resolve } = Promise.withResolvers<Uint8Array | undefined>();
  const timer = setTimeout(() => resolve(undefined), timeoutMs);
  socket.on("error", () => resolve(undefined)); // unreachable, refused
  socket.on("message", (data: Uint8Array, from: { address: string; port: number }) => {
    if (from.port !== upstream.port || !sameHost(from.address, upstream.hostname)) return;
    if (matchesQuery(data, msg, qLen)) resolve(new Uint8Array(data));
  });
  try {
    socket.bind(0, upstream.hostname.includes(":") ? "::" : "0.0.0.0", () => {
      socket.send(msg, upstream.port, upstream.hostname, (e) => {
        if (e) resolve(undefined);
      });
    });
    return await promise;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    try {
      socket.close();
    } catch { /* closed */ }
  }
}

function sameHost(a: string, b: string): boolean {
  // An IPv4 peer as a dual-stack socket reports it, or in brackets.
  const norm = (h: string) => h.replace(/^\[|\]$/g, "").replace(/^::ffff:/, "").toLowerCase();
  return norm(a) === norm(b);
}

async function exchangeTcp(
  upstream: { hostname: string; port: number },
  msg: Uint8Array,
  qLen: number,
  timeoutMs: number,
): Promise<Uint8Array | undefined> {
  let conn: Deno.TcpConn | undefined;
  const timer = setTimeout(() => {
    try {
      conn?.close();
    } catch { /* closed */ }
  }, timeoutMs);
  try {
    conn = await Deno.connect({ ...upstream, transport: "tcp" });
    const framed = new Uint8Array(msg.length + 2);
    framed[0] = msg.length >> 8;
    framed[1] = msg.length & 0xff;
    framed.set(msg, 2);
    let off = 0;
    while (off < framed.length) off += await conn.write(framed.subarray(off));
    const len = new Uint8Array(2);
    if (!await readFull(conn, len)) return undefined;
    const reply = new Uint8Array((len[0] << 8) | len[1]);
    if (!await readFull(conn, reply)) return undefined;
    return matchesQuery(reply, msg, qLen) ? reply : undefined;
  } catch {
    return undefined;
  } finally {
    clearTimeout(timer);
    try {
      conn?.close();
    } catch { /* closed by the timer */ }
  }
}

async function readFull(conn: Deno.TcpConn, buf: Uint8Array): Promise<boolean> {
  let off = 0;
  while (off < buf.length) {
    const n = await conn.read(buf.subarray(off));
    if (n === null) return false;
    off += n;
  }
  return true;
}

/** Seconds an upstream reply may be cached (0: not at all), RFC 2308 for negative ones. */
export function cacheTtl(msg: Decoded, rcode: number, maxTtl: number): number {
  const answers = msg.answers ?? [];
  if (rcode === RCODE.NOERROR && answers.length > 0) {
    return Math.max(0, Math.min(maxTtl, ...answers.map((a) => a.ttl ?? 0)));
  }
  if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) return 0;
  const soa = (msg.authorities ?? []).find((a) => a.type === "SOA");
  if (soa === undefined) return 0;
  const minimum = (soa.data as { minimum?: number } | undefined)?.minimum ?? 0;
  return Math.max(0, Math.min(maxTtl, soa.ttl ?? 0, minimum));
}

/**
 * Creates a forwarder.
 *
 * @throws {RangeError} When an upstream is not `ip:port`.
 */
export function createForwarder(options: ForwarderOptions): Forwarder {
  const {
    timeoutMs = 2000,
    cacheSize = 10_000,
    cacheMaxTtl = 3600,
    logger,
    maxInflight = 512,
    now = Date.now,
  } = options;
  const upstreams = options.upstreams.map(splitAddr);
  let inflight = 0;
  const cache = new Map<string, Entry>();
  const stats = { hits: 0, upstreamQueries: 0, failures: 0 };

  const reply = (
    query: Uint8Array,
    q: Question,
    transport: "udp" | "tcp",
    rcode: number,
    msg: Decoded | undefined,
    age: number,
  ): Uint8Array => {
    const id = (query[0] << 8) | query[1];
    // QR, RD copied, RA (this listener recurses through its upstreams), rcode.
    const flags = 0x8000 | (q.rd ? 0x0100 : 0) | 0x0080 | rcode;
    const age_ = (rrs: Rr[] | undefined) =>
      (rrs ?? []).filter((r) => r.type !== "OPT").map((r) => ({
        ...r,
        ttl: Math.max(0, (r.ttl ?? 0) - age),
      }));
    const opt = q.edns === undefined
      ? []
      : [{ type: "OPT", name: ".", udpPayloadSize: EDNS_SIZE, extendedRcode: 0, flags: 0 }];
    // Encoded without a question, then the client's question bytes spliced
    // in after the header (dns-packet never compresses names, so no offset
    // in the records moves).
    const encode = (answers: Rr[], authorities: Rr[], additionals: unknown[], f: number) => {
      const body = new Uint8Array(dnsPacket.encode({
        id,
        type: "response",
        flags: f,
        questions: [],
        answers,
        authorities,
        additionals,
      } as unknown as dnsPacket.Packet));
      const out = new Uint8Array(body.length + q.bytes.length);
      out.set(body.subarray(0, 12));
      out[5] = 1;
      out.set(q.bytes, 12);
      out.set(body.subarray(12), 12 + q.bytes.length);
      return out;
    };
    const out = encode(
      age_(msg?.answers),
      age_(msg?.authorities),
      [...age_(msg?.additionals), ...opt],
      flags,
    );
    const limit = transport === "tcp" ? 65535 : q.edns ?? 512;
    return out.length <= limit ? out : encode([], [], opt, flags | 0x0200);
  };

  const ask = async (q: Question): Promise<{ raw: Uint8Array; rcode: number } | undefined> => {
    for (const upstream of upstreams) {
      const msg = upstreamQuery(q, randomId());
      stats.upstreamQueries++;
      let raw = await exchangeUdp(upstream, msg, q.bytes.length, timeoutMs);
      if (raw !== undefined && (raw[2] & 0x02) !== 0) {
        raw = await exchangeTcp(upstream, msg, q.bytes.length, timeoutMs);
      }
      const where = `${upstream.hostname}:${upstream.port}`;
      if (raw === undefined) {
        logger.warn("upstream failed", { upstream: where, error: "no answer" });
        continue;
      }
      const rcode = raw[3] & 0x0f;
      if (rcode === RCODE.SERVFAIL || rcode === RCODE.REFUSED) {
        logger.warn("upstream failed", { upstream: where, rcode });
        continue;
      }
      return { raw, rcode };
    }
    return undefined;
  };

  return {
    async resolve(query, transport) {
      if (query.length < 12) return undefined;
      const q = parseQuestion(query);
      if (q === undefined) {
        const out = new Uint8Array(12);
        out.set(query.subarray(0, 2));
        out[2] = 0x80 | (query[2] & 0x79);
        out[3] = RCODE.FORMERR;
        return out;
      }
      const t = now();
      const hit = cache.get(q.key);
      if (hit !== undefined) {
        cache.delete(q.key);
        if (hit.expires > t) {
          cache.set(q.key, hit); // most recently used last
          stats.hits++;
          return reply(
            query,
            q,
            transport,
            hit.rcode,
            hit.msg,
            Math.floor((t - hit.stored) / 1000),
          );
        }
      }
      if (inflight >= maxInflight) {
        stats.failures++;
        return reply(query, q, transport, RCODE.SERVFAIL, undefined, 0);
      }
      inflight++;
      let got;
      try {
        got = await ask(q);
      } finally {
        inflight--;
      }
      if (got === undefined) {
        stats.failures++;
        return reply(query, q, transport, RCODE.SERVFAIL, undefined, 0);
      }
      let msg: Decoded;
      try {
        msg = dnsPacket.decode(Buffer.from(got.raw)) as unknown as Decoded;
      } catch (e) {
        logger.warn("upstream reply malformed", { error: (e as Error).message });
        stats.failures++;
        return reply(query, q, transport, RCODE.SERVFAIL, undefined, 0);
      }
      const ttl = q.rd ? cacheTtl(msg, got.rcode, cacheMaxTtl) : 0;
      if (ttl > 0 && cacheSize > 0) {
        while (cache.size >= cacheSize) cache.delete(cache.keys().next().value!);
        cache.set(q.key, { msg, rcode: got.rcode, stored: t, expires: t + ttl * 1000 });
      }
      return reply(query, q, transport, got.rcode, msg, 0);
    },
    cacheEntries: () => cache.size,
    stats: () => ({ ...stats }),
  };
}
