/**
 * The authoritative answering engine. On every zone change the zones are
 * compiled into wire-format answer bodies per (name, type); answering a
 * query then parses only the header and question, picks a body, and copies
 * header, the client's own question bytes (so its name case is kept) and
 * the body into one buffer: the hot path does no DNS encoding.
 *
 * Names are never compressed in the bodies, so a body is valid after a
 * question of any length.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import dnsPacket from "dns-packet";
import type { ZoneData, ZoneRecord } from "./store.ts";

/** Query types by number, as the engine needs them. */
export const QTYPE = {
  A: 1,
  NS: 2,
  CNAME: 5,
  SOA: 6,
  MX: 15,
  TXT: 16,
  AAAA: 28,
  SRV: 33,
  OPT: 41,
  IXFR: 251,
  AXFR: 252,
  ANY: 255,
  CAA: 257,
} as const;

/** Response codes. */
export const RCODE = {
  NOERROR: 0,
  FORMERR: 1,
  SERVFAIL: 2,
  NXDOMAIN: 3,
  NOTIMP: 4,
  REFUSED: 5,
  NOTAUTH: 9,
};

const SERVED_TYPES = ["A", "AAAA", "CNAME", "TXT", "SRV", "NS", "MX", "CAA", "SOA"] as const;
const MAX_CHAIN = 8;
/** The UDP payload size MCNS advertises in its OPT record. */
export const EDNS_SIZE = 1232;
const OPT_RR = new Uint8Array([0, 0, 41, EDNS_SIZE >> 8, EDNS_SIZE & 0xff, 0, 0, 0, 0, 0, 0]);

/** A precompiled answer: flags and counts for the header, records as wire bytes. */
interface Body {
  rcode: number;
  an: number;
  ns: number;
  bytes: Uint8Array;
}

type Rr = { name: string; type: string; ttl: number; class: "IN"; data: unknown };

/** The compiled zones: everything a query needs, keyed by lower-case name. */
export interface CompiledZones {
  /** `name + "/" + qtype` → answer (including CNAME chains). */
  answers: Map<string, Body>;
  /** Existing names (and empty non-terminals) → NODATA answer. */
  names: Map<string, Body>;
  /** CNAME owners → chain answer for types not precompiled. */
  cnames: Map<string, Body>;
  /** Zone apex → NXDOMAIN answer. */
  zones: Map<string, Body>;
}

/** A record's data as `dns-packet` encodes it (shared with zone transfer). */
export function rrData(r: ZoneRecord): unknown {
  switch (r.type) {
    case "A":
    case "AAAA":
    case "CNAME":
    case "NS":
      return r.value;
    case "TXT": {
      const bytes = Buffer.from(r.value, "utf8");
      const chunks = [];
      for (let i = 0; i < bytes.length; i += 255) chunks.push(bytes.subarray(i, i + 255));
      return chunks;
    }
    case "SRV": {
      const [priority, weight, port, target] = r.value.split(" ");
      return { priority: +priority, weight: +weight, port: +port, target };
    }
    case "MX": {
      const [preference, exchange] = r.value.split(" ");
      return { preference: +preference, exchange };
    }
    case "CAA": {
      const m = /^(\d+) (\S+) "(.*)"$/.exec(r.value)!;
      return { flags: +m[1], tag: m[2], value: m[3], issuerCritical: (+m[1] & 128) !== 0 };
    }
  }
}

function encodeBody(rcode: number, answers: Rr[], authorities: Rr[]): Body {
  const buf = dnsPacket.encode({
    type: "response",
    id: 0,
    flags: 0,
    questions: [],
    answers,
    authorities,
  } as never) as Uint8Array;
  return {
    rcode,
    an: answers.length,
    ns: authorities.length,
    bytes: new Uint8Array(buf.subarray(12)),
  };
}

/**
 * Compiles zones into answer tables.
 *
 * @param data Every zone with its records.
 * @returns The tables {@linkcode answer} reads.
 */
export function compileZones(data: ZoneData[]): CompiledZones {
  const out: CompiledZones = {
    answers: new Map(),
    names: new Map(),
    cnames: new Map(),
    zones: new Map(),
  };
  // rrsets: name → type → records
  const rrsets = new Map<string, Map<string, Rr[]>>();
  const soaOf = new Map<string, Rr>();
  const zoneNames = data.map((d) => d.zone.name);
  const zoneOf = (name: string): string | undefined => {
    let best: string | undefined;
    for (const z of zoneNames) {
      if (
        (name === z || name.endsWith(`.${z}`)) && (best === undefined || z.length > best.length)
      ) {
        best = z;
      }
    }
    return best;
  };
  const add = (name: string, rr: Rr) => {
    let byType = rrsets.get(name);
    if (byType === undefined) rrsets.set(name, byType = new Map());
    const list = byType.get(rr.type) ?? [];
    list.push(rr);
    byType.set(rr.type, list);
  };
  for (const { zone, records } of data) {
    const soa: Rr = {
      name: zone.name,
      type: "SOA",
      ttl: zone.ttl,
      class: "IN",
      data: {
        mname: zone.mname,
        rname: zone.rname,
        serial: zone.serial,
        refresh: zone.refresh,
        retry: zone.retry,
        expire: zone.expire,
        minimum: zone.minimum,
      },
    };
    soaOf.set(zone.name, soa);
    add(zone.name, soa);
    for (const r of records) {
      // A record stored in a parent zone but under a child zone is hidden
      // by the child (the more specific zone is authoritative).
      if (zoneOf(r.name) !== zone.name) continue;
      add(r.name, { name: r.name, type: r.type, ttl: r.ttl, class: "IN", data: rrData(r) });
    }
  }
  // Negative answers carry the SOA with TTL min(SOA TTL, minimum) (RFC 2308).
  const negSoa = (zone: string): Rr => {
    const soa = soaOf.get(zone)!;
    const minimum = (soa.data as { minimum: number }).minimum;
    return { ...soa, ttl: Math.min(soa.ttl, minimum) };
  };
  for (const z of zoneNames) {
    out.zones.set(z, encodeBody(RCODE.NXDOMAIN, [], [negSoa(z)]));
  }
  // Follows a CNAME chain from `name` for `type`; returns the answer.
  const resolve = (name: string, type: string): Body => {
    const answers: Rr[] = [];
    let current = name;
    const seen = new Set<string>();
    for (let i = 0; i <= MAX_CHAIN; i++) {
      const zone = zoneOf(current);
      if (zone === undefined) return encodeBody(RCODE.NOERROR, answers, []);
      const byType = rrsets.get(current);
      if (byType === undefined) {
        return exists(current)
          ? encodeBody(RCODE.NOERROR, answers, [negSoa(zone)])
          : encodeBody(RCODE.NXDOMAIN, answers, [negSoa(zone)]);
      }
      if (type === "ANY") {
        for (const list of byType.values()) answers.push(...list);
        return encodeBody(RCODE.NOERROR, answers, []);
      }
      const direct = byType.get(type);
      if (direct !== undefined) {
        answers.push(...direct);
        return encodeBody(RCODE.NOERROR, answers, []);
      }
      const cname = byType.get("CNAME");
      if (cname === undefined || seen.has(current)) {
        return encodeBody(RCODE.NOERROR, answers, answers.length === 0 ? [negSoa(zone)] : []);
      }
      seen.add(current);
      answers.push(cname[0]);
      current = cname[0].data as string;
    }
    return encodeBody(RCODE.NOERROR, answers, []);
  };
  // Empty non-terminals: parents of names, inside their zone, exist too.
  const ents = new Set<string>();
  for (const name of rrsets.keys()) {
    const zone = zoneOf(name)!;
    let n = name;
    while (n !== zone && n.includes(".")) {
      n = n.slice(n.indexOf(".") + 1);
      ents.add(n);
    }
  }
  const exists = (name: string) => rrsets.has(name) || ents.has(name);
  for (const [name, byType] of rrsets) {
    for (const t of [...SERVED_TYPES, "ANY"]) {
      const qtype = QTYPE[t as keyof typeof QTYPE];
      if (byType.has(t) || byType.has("CNAME") || t === "ANY") {
        out.answers.set(`${name}/${qtype}`, resolve(name, t));
      }
    }
    if (byType.has("CNAME")) out.cnames.set(name, resolve(name, "\0other"));
    out.names.set(name, encodeBody(RCODE.NOERROR, [], [negSoa(zoneOf(name)!)]));
  }
  for (const name of ents) {
    if (!out.names.has(name)) {
      out.names.set(name, encodeBody(RCODE.NOERROR, [], [negSoa(zoneOf(name)!)]));
    }
  }
  return out;
}

/** How a query arrived: UDP replies are bounded in size, TCP replies are not. */
export type Transport = "udp" | "tcp";

const EMPTY = new Uint8Array(0);

/**
 * Writes a reply header. Exported with {@linkcode errorReply} for the UDP
 * worker (udp_worker.ts), which runs `answer` from its source text: every
 * helper `answer` calls must be listed in `workerSource()` there.
 */
export function header(
  query: Uint8Array,
  out: Uint8Array,
  rcode: number,
  aa: boolean,
  tc: boolean,
  qd: number,
  an: number,
  ns: number,
  ar: number,
): void {
  out[0] = query[0];
  out[1] = query[1];
  // QR, opcode from the query, AA, TC, RD copied.
  out[2] = 0x80 | (query[2] & 0x78) | (aa ? 0x04 : 0) | (tc ? 0x02 : 0) | (query[2] & 0x01);
  out[3] = rcode & 0x0f;
  out[4] = 0;
  out[5] = qd;
  out[6] = an >> 8;
  out[7] = an & 0xff;
  out[8] = ns >> 8;
  out[9] = ns & 0xff;
  out[10] = ar >> 8;
  out[11] = ar & 0xff;
}

/** A header-only (or header + question) reply with `rcode`. */
export function errorReply(query: Uint8Array, rcode: number, qEnd: number): Uint8Array {
  const out = new Uint8Array(qEnd > 0 ? qEnd : 12);
  header(query, out, rcode, false, false, qEnd > 0 ? 1 : 0, 0, 0, 0);
  if (qEnd > 0) out.set(query.subarray(12, qEnd), 12);
  return out;
}

/**
 * Answers one DNS query from the compiled zones.
 *
 * @param query The query message (without the TCP length prefix).
 * @param zones The compiled zones.
 * @param transport UDP bounds the reply by 512 bytes or the client's EDNS0 size.
 * @returns The reply, or `undefined` to drop the packet (too short to
 *   carry an ID, or itself a response).
 */
export function answer(
  query: Uint8Array,
  zones: CompiledZones,
  transport: Transport,
): Uint8Array | undefined {
  const len = query.length;
  if (len < 12) return undefined;
  if ((query[2] & 0x80) !== 0) return undefined; // a response: never answer (no loops)
  const opcode = (query[2] >> 3) & 0x0f;
  if (opcode !== 0) return errorReply(query, RCODE.NOTIMP, 0);
  if (query[4] !== 0 || query[5] !== 1) return errorReply(query, RCODE.FORMERR, 0);
  // Question name: labels only (no compression in a question), lower-cased.
  let p = 12;
  let name = "";
  for (;;) {
    if (p >= len) return errorReply(query, RCODE.FORMERR, 0);
    const l = query[p];
    if (l === 0) {
      p++;
      break;
    }
    if (l > 63 || p + 1 + l > len || p + 1 + l - 12 > 254) {
      return errorReply(query, RCODE.FORMERR, 0);
    }
    let label = "";
    for (let i = p + 1; i <= p + l; i++) {
      let c = query[i];
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      else if (c === 0x2e) c = 0; // a dot inside a label never matches a name
      label += String.fromCharCode(c);
    }
    name = name === "" ? label : `${name}.${label}`;
    p += 1 + l;
  }
  if (p + 4 > len) return errorReply(query, RCODE.FORMERR, 0);
  const qtype = (query[p] << 8) | query[p + 1];
  const qclass = (query[p + 2] << 8) | query[p + 3];
  const qEnd = p + 4;
  // EDNS0: an OPT record as the only additional record sets the UDP size.
  let edns = false;
  let limit = transport === "tcp" ? 65535 : 512;
  const arcount = (query[10] << 8) | query[11];
  if (arcount > 0 && query[6] === 0 && query[7] === 0 && query[8] === 0 && query[9] === 0) {
    if (qEnd + 11 <= len && query[qEnd] === 0 && query[qEnd + 1] === 0 && query[qEnd + 2] === 41) {
      edns = true;
      if (transport === "udp") {
        const size = (query[qEnd + 3] << 8) | query[qEnd + 4];
        limit = Math.min(Math.max(size, 512), 65535);
      }
    }
  }
  if (qclass !== 1 || qtype === QTYPE.OPT) {
    return errorReply(query, qclass !== 1 ? RCODE.REFUSED : RCODE.NOTIMP, qEnd);
  }
  // Zone transfers (xfr.ts): the TCP listener hands AXFR/IXFR to
  // answerTransfer() before calling answer(), so only UDP gets here. AXFR
  // is defined over TCP only (RFC 5936 §4.2) → FORMERR; IXFR over UDP gets
  // the zone's SOA alone, which tells the client to retry over TCP (RFC
  // 1995 §2); a name that is not an apex → NOTAUTH.
  let body: Body | undefined;
  if (qtype === QTYPE.AXFR || qtype === QTYPE.IXFR) {
    if (qtype === QTYPE.AXFR || transport === "tcp") {
      return errorReply(query, transport === "tcp" ? RCODE.REFUSED : RCODE.FORMERR, qEnd);
    }
    body = zones.zones.has(name) ? zones.answers.get(`${name}/${QTYPE.SOA}`) : undefined;
    if (body === undefined) return errorReply(query, RCODE.NOTAUTH, qEnd);
  }
  if (body === undefined) body = zones.answers.get(`${name}/${qtype}`);
  if (body === undefined) body = zones.cnames.get(name);
  if (body === undefined) body = zones.names.get(name);
  if (body === undefined) {
    let n = name;
    for (;;) {
      body = zones.zones.get(n);
      if (body !== undefined) break;
      const dot = n.indexOf(".");
      if (dot < 0) break;
      n = n.slice(dot + 1);
    }
    if (body === undefined) return errorReply(query, RCODE.REFUSED, qEnd);
  }
  const opt = edns ? OPT_RR : EMPTY;
  const size = qEnd + body.bytes.length + opt.length;
  if (size > limit) {
    const out = new Uint8Array(qEnd + opt.length);
    header(query, out, body.rcode, true, true, 1, 0, 0, edns ? 1 : 0);
    out.set(query.subarray(12, qEnd), 12);
    out.set(opt, qEnd);
    return out;
  }
  const out = new Uint8Array(size);
  header(query, out, body.rcode, true, false, 1, body.an, body.ns, edns ? 1 : 0);
  out.set(query.subarray(12, qEnd), 12);
  out.set(body.bytes, qEnd);
  out.set(opt, qEnd + body.bytes.length);
  return out;
}
