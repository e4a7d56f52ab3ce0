/**
 * Zone transfer (AXFR, RFC 5936): the primary's side (a zone as a stream of
 * DNS messages, SOA first and last, to the hosts in `[dns] transfer_to`)
 * and the secondary's side (an SOA query and an AXFR pull over TCP, with
 * every message checked and every limit bounded).
 *
 * Messages are encoded and decoded with `dns-packet`: transfers are rare
 * and the hot query path (`answers.ts`) is not involved.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import dnsPacket from "dns-packet";
import { QTYPE, RCODE, rrData } from "./answers.ts";
import type { TransferredRecord, Zone, ZoneData } from "./store.ts";
import { RECORD_TYPES } from "./records.ts";
import { canonicalIp } from "./config.ts";

/** NOTAUTH: the server is not authoritative for the zone asked for (RFC 2136, RFC 5936 §2.2.1). */
export const NOTAUTH: number = RCODE.NOTAUTH;

/** Largest AXFR message MCNS sends, bytes (RFC 5936 allows up to 65535). */
export const AXFR_MESSAGE_SIZE = 16_384;

type Rr = { name: string; type: string; ttl: number; class: "IN"; data: unknown };

/** The header and question of a message, parsed by hand. */
export interface Question {
  /** Message ID. */
  id: number;
  /** Opcode (0 QUERY, 4 NOTIFY). */
  opcode: number;
  /** Whether QR (a response) is set. */
  response: boolean;
  /** Response code. */
  rcode: number;
  /** Question name, lower case, no trailing dot (`""` for the root). */
  name: string;
  /** Question type. */
  qtype: number;
  /** Question class. */
  qclass: number;
  /** Offset just after the question. */
  qEnd: number;
}

/**
 * Parses a message's header and its single question (no compression in a
 * question). Never throws.
 *
 * @param msg The message, without the TCP length prefix.
 * @returns The question, or `undefined` when the message is malformed or
 *   does not carry exactly one question.
 */
export function parseQuestion(msg: Uint8Array): Question | undefined {
  const len = msg.length;
  if (len < 12 || msg[4] !== 0 || msg[5] !== 1) return undefined;
  let p = 12;
  const labels: string[] = [];
  for (;;) {
    if (p >= len) return undefined;
    const l = msg[p];
    if (l === 0) {
      p++;
      break;
    }
    if (l > 63 || p + 1 + l > len || p + 1 + l - 12 > 254) return undefined;
    let label = "";
    for (let i = p + 1; i <= p + l; i++) {
      let c = msg[i];
      if (c >= 0x41 && c <= 0x5a) c += 0x20;
      else if (c === 0x2e) c = 0; // a dot inside a label never matches a name
      label += String.fromCharCode(c);
    }
    labels.push(label);
    p += 1 + l;
  }
  if (p + 4 > len) return undefined;
  return {
    id: (msg[0] << 8) | msg[1],
    opcode: (msg[2] >> 3) & 0x0f,
    response: (msg[2] & 0x80) !== 0,
    rcode: msg[3] & 0x0f,
    name: labels.join("."),
    qtype: (msg[p] << 8) | msg[p + 1],
    qclass: (msg[p + 2] << 8) | msg[p + 3],
    qEnd: p + 4,
  };
}

/** Whether `qtype` asks for a zone transfer (AXFR or IXFR). */
export function isTransfer(qtype: number): boolean {
  return qtype === QTYPE.AXFR || qtype === QTYPE.IXFR;
}

/** A zone's SOA as a `dns-packet` record. */
export function soaRr(zone: Zone): Rr {
  return {
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
}

function rrBytes(rr: Rr): Uint8Array {
  const buf = dnsPacket.answer.encode(rr as never) as Uint8Array;
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** A reply carrying only a header (and the question when `qEnd` > 0). */
export function errorReply(query: Uint8Array, rcode: number, qEnd: number): Uint8Array {
  const out = new Uint8Array(qEnd > 0 ? qEnd : 12);
  writeHeader(out, query, rcode, false, qEnd > 0 ? 1 : 0, 0);
  if (qEnd > 0) out.set(query.subarray(12, qEnd), 12);
  return out;
}

function writeHeader(
  out: Uint8Array,
  query: Uint8Array,
  rcode: number,
  aa: boolean,
  qd: number,
  an: number,
): void {
  out[0] = query[0];
  out[1] = query[1];
  // QR, the query's opcode, AA; RD copied.
  out[2] = 0x80 | (query[2] & 0x78) | (aa ? 0x04 : 0) | (query[2] & 0x01);
  out[3] = rcode & 0x0f;
  out[4] = 0;
  out[5] = qd;
  out[6] = an >> 8;
  out[7] = an & 0xff;
  out[8] =
    out[9] =
    out[10] =
    out[11] =
      0;
}

/**
 * Encodes a zone as an AXFR response (RFC 5936 §2.2): the SOA, every
 * record, the SOA again, packed into as few messages as fit in
 * `maxMessage` bytes each. Every message carries the query's ID, QR and AA;
 * the first also repeats the question. Names are not compressed.
 *
 * @param query The AXFR (or IXFR) query.
 * @param qEnd Offset just after the query's question.
 * @param data The zone and its records.
 * @param maxMessage Largest message, bytes (at least 512).
 * @returns The messages, in order, without TCP length prefixes.
 */
export function axfrMessages(
  query: Uint8Array,
  qEnd: number,
  data: ZoneData,
  maxMessage: number = AXFR_MESSAGE_SIZE,
): Uint8Array[] {
  const soa = rrBytes(soaRr(data.zone));
  const rrs = [soa];
  for (const r of data.records) {
    rrs.push(rrBytes({ name: r.name, type: r.type, ttl: r.ttl, class: "IN", data: rrData(r) }));
  }
  rrs.push(soa);
  const out: Uint8Array[] = [];
  let i = 0;
  while (i < rrs.length) {
    const question = out.length === 0 ? query.subarray(12, qEnd) : new Uint8Array(0);
    let size = 12 + question.length;
    let j = i;
    // At least one record per message, however large (a record is < 65535 bytes).
    while (j < rrs.length && (j === i || size + rrs[j].length <= maxMessage)) {
      size += rrs[j++].length;
    }
    const msg = new Uint8Array(size);
    writeHeader(msg, query, RCODE.NOERROR, true, question.length > 0 ? 1 : 0, j - i);
    msg.set(question, 12);
    let off = 12 + question.length;
    for (; i < j; i++) {
      msg.set(rrs[i], off);
      off += rrs[i].length;
    }
    out.push(msg);
  }
  return out;
}

/** What the primary needs to answer a transfer request. */
export interface XfrPolicy {
  /** Client IPs allowed to transfer (`[dns] transfer_to`; compared in {@linkcode canonicalIp} form). */
  transferTo: ReadonlySet<string>;
  /** The zones as served right now (the same snapshot the answers come from). */
  zones: readonly ZoneData[];
  /** Largest message, bytes. @default {AXFR_MESSAGE_SIZE} */
  maxMessage?: number;
}

/**
 * Answers an AXFR or IXFR query received over TCP from `clientIp`.
 *
 * - class ≠ IN, or a client not in `transfer_to` → REFUSED (addresses are
 *   compared in {@linkcode canonicalIp} form, so an IPv4 client of a
 *   dual-stack listener, reported as `::ffff:a.b.c.d`, matches `a.b.c.d`);
 * - a name that is not the apex of a zone held → NOTAUTH;
 * - AXFR → the whole zone ({@linkcode axfrMessages});
 * - IXFR (RFC 1995): MCNS keeps no change history, so the answer is the
 *   current SOA alone when the client's serial (in the query's authority
 *   section) is already current, otherwise the whole zone in AXFR form,
 *   which RFC 1995 §4 allows and clients recognise.
 *
 * @returns The messages to send, in order.
 */
export function answerTransfer(
  msg: Uint8Array,
  q: Question,
  clientIp: string,
  policy: XfrPolicy,
): Uint8Array[] {
  const client = canonicalIp(clientIp);
  const allowed = policy.transferTo.has(client) ||
    [...policy.transferTo].some((a) => canonicalIp(a) === client);
  if (q.qclass !== 1 || !allowed) {
    return [errorReply(msg, RCODE.REFUSED, q.qEnd)];
  }
  const data = policy.zones.find((d) => d.zone.name === q.name);
  if (data === undefined) return [errorReply(msg, NOTAUTH, q.qEnd)];
  if (q.qtype === QTYPE.IXFR) {
    const clientSerial = ixfrSerial(msg);
    if (clientSerial !== undefined && !serialLess(clientSerial, data.zone.serial)) {
      const soa = rrBytes(soaRr(data.zone));
      const out = new Uint8Array(q.qEnd + soa.length);
      writeHeader(out, msg, RCODE.NOERROR, true, 1, 1);
      out.set(msg.subarray(12, q.qEnd), 12);
      out.set(soa, q.qEnd);
      return [out];
    }
  }
  return axfrMessages(msg, q.qEnd, data, policy.maxMessage);
}

/** The serial in an IXFR query's authority SOA, if it parses. */
function ixfrSerial(msg: Uint8Array): number | undefined {
  try {
    const p = dnsPacket.decode(Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength));
    const soa = p.authorities?.find((a: dnsPacket.Answer) => a.type === "SOA");
    return soa === undefined ? undefined : (soa.data as { serial: number }).serial;
  } catch {
    return undefined;
  }
}

/**
 * Serial number arithmetic (RFC 1982, 32 bits): whether `a` is before `b`.
 * Serials exactly 2^31 apart are incomparable (`false` both ways).
 */
export function serialLess(a: number, b: number): boolean {
  const d = (b - a) >>> 0; // (b - a) mod 2^32
  return d !== 0 && d < 0x80000000;
}

// ---------------------------------------------------------------- the client

/** Limits for a transfer pull. */
export interface XfrClientOptions {
  /** Whole exchange, ms. @default {30000} */
  timeoutMs?: number;
  /** Total bytes read. @default {64 MiB} */
  maxBytes?: number;
  /** Records accepted. @default {200000} */
  maxRecords?: number;
  /** Cuts the exchange short (shutdown). */
  signal?: AbortSignal;
}

/** A transfer that failed: what the primary did wrong, or the network. */
export class TransferError extends Error {
  /** @param message What went wrong. */
  constructor(message: string) {
    super(message);
    this.name = "TransferError";
  }
}

function splitHostPort(addr: string): { hostname: string; port: number } {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  if (m === null) throw new TransferError(`Cannot use address "${addr}": expected host:port`);
  return { hostname: m[1], port: Number(m[2]) };
}

/** Encodes a query for `zone` with `qtype` and a random ID. */
export function encodeQuery(zone: string, qtype: "SOA" | "AXFR", id: number): Uint8Array {
  const buf = dnsPacket.encode({
    type: "query",
    id,
    flags: 0,
    questions: [{ name: zone, type: qtype, class: "IN" }],
  } as never) as Uint8Array;
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

function randomId(): number {
  return crypto.getRandomValues(new Uint16Array(1))[0];
}

/**
 * Sends `query` over one TCP connection to `addr` and hands every framed
 * reply to `onMessage` until it returns `true` (done). The exchange is
 * bounded by `timeoutMs` and `maxBytes`, and ends at once when `signal`
 * aborts.
 */
async function tcpExchange(
  addr: string,
  query: Uint8Array,
  onMessage: (msg: Uint8Array) => boolean,
  timeoutMs: number,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<void> {
  const { hostname, port } = splitHostPort(addr);
  const deadline = AbortSignal.timeout(timeoutMs);
  const timer = signal === undefined ? deadline : AbortSignal.any([deadline, signal]);
  if (timer.aborted) throw new TransferError("aborted");
  let conn: Deno.TcpConn | undefined;
  const onAbort = () => {
    try {
      conn?.close();
    } catch { /* closed already */ }
  };
  timer.addEventListener("abort", onAbort);
  try {
    const connecting = Deno.connect({ hostname, port, transport: "tcp" });
    // A connection that completes after the deadline is closed at once.
    connecting.then((c) => timer.aborted && c.close()).catch(() => {});
    conn = await Promise.race([
      connecting,
      new Promise<never>((_, reject) =>
        timer.addEventListener("abort", () => reject(new TransferError("timed out")), {
          once: true,
        })
      ),
    ]);
    const framed = new Uint8Array(query.length + 2);
    framed[0] = query.length >> 8;
    framed[1] = query.length & 0xff;
    framed.set(query, 2);
    let off = 0;
    while (off < framed.length) off += await conn.write(framed.subarray(off));
    let buf = new Uint8Array(0);
    let total = 0;
    const chunk = new Uint8Array(65536);
    for (;;) {
      while (buf.length >= 2 && buf.length >= 2 + ((buf[0] << 8) | buf[1])) {
        const n = (buf[0] << 8) | buf[1];
        const msg = buf.slice(2, 2 + n);
        buf = buf.slice(2 + n);
        if (onMessage(msg)) return;
      }
      const n = await conn.read(chunk);
      if (n === null) throw new TransferError("the primary closed the connection early");
      total += n;
      if (total > maxBytes) throw new TransferError(`more than ${maxBytes} bytes`);
      const next = new Uint8Array(buf.length + n);
      next.set(buf);
      next.set(chunk.subarray(0, n), buf.length);
      buf = next;
    }
  } catch (e) {
    if (signal?.aborted) throw new TransferError("aborted");
    if (timer.aborted) throw new TransferError(`timed out after ${timeoutMs} ms`);
    throw e instanceof TransferError ? e : new TransferError((e as Error).message);
  } finally {
    timer.removeEventListener("abort", onAbort);
    onAbort();
  }
}

function decode(msg: Uint8Array, id: number, what: string): dnsPacket.Packet {
  let p: dnsPacket.DecodedPacket;
  try {
    p = dnsPacket.decode(Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength));
  } catch (e) {
    throw new TransferError(`malformed ${what} reply: ${(e as Error).message}`);
  }
  if (p.id !== id || p.type !== "response") {
    throw new TransferError(`${what} reply with a wrong ID or not a response`);
  }
  if (p.opcode !== "QUERY") throw new TransferError(`${what} reply with opcode ${p.opcode}`);
  if (p.rcode !== "NOERROR") throw new TransferError(`${what} refused: ${p.rcode}`);
  return p;
}

type SoaData = {
  mname: string;
  rname: string;
  serial: number;
  refresh: number;
  retry: number;
  expire: number;
  minimum: number;
};

function toZone(zone: string, rr: dnsPacket.Answer): Omit<Zone, "primary"> {
  const d = (rr as { data: SoaData }).data;
  return {
    name: zone,
    mname: d.mname,
    rname: d.rname,
    serial: d.serial,
    refresh: d.refresh,
    retry: d.retry,
    expire: d.expire,
    minimum: d.minimum,
    ttl: (rr as { ttl?: number }).ttl ?? 0,
  };
}

const isSoaOf = (zone: string, rr: dnsPacket.Answer) =>
  rr.type === "SOA" && rr.name.toLowerCase() === zone;

/**
 * Asks `primary` for `zone`'s SOA over TCP (no UDP socket needed, so the
 * secondary's sandbox only connects out). The reply must be authoritative
 * (AA) and carry the zone's SOA in the answer section.
 *
 * @throws {TransferError} On a network error, a timeout, an abort, or a bad reply.
 */
export async function querySoa(
  primary: string,
  zone: string,
  timeoutMs = 5000,
  signal?: AbortSignal,
): Promise<Omit<Zone, "primary">> {
  const id = randomId();
  let soa: Omit<Zone, "primary"> | undefined;
  await tcpExchange(
    primary,
    encodeQuery(zone, "SOA", id),
    (msg) => {
      const p = decode(msg, id, "SOA");
      if (!p.flag_aa) throw new TransferError(`the SOA reply for ${zone} is not authoritative`);
      const rr = p.answers?.find((a: dnsPacket.Answer) => isSoaOf(zone, a));
      if (rr === undefined) throw new TransferError(`the SOA reply for ${zone} holds no SOA`);
      soa = toZone(zone, rr);
      return true;
    },
    timeoutMs,
    65_537,
    signal,
  );
  return soa!;
}

/**
 * Converts a transferred record to MCNS's presentation form, or `undefined`
 * for a type MCNS does not store (DNSSEC records, …): those are skipped.
 */
export function presentation(rr: dnsPacket.Answer): TransferredRecord | undefined {
  const type = rr.type as string;
  if (!(RECORD_TYPES as readonly string[]).includes(type)) return undefined;
  if ((rr as { class?: string }).class !== "IN") return undefined;
  const data = (rr as { data: unknown }).data;
  let value: string;
  switch (type) {
    case "A":
    case "AAAA":
    case "CNAME":
    case "NS":
      value = String(data);
      break;
    case "TXT": {
      // MCNS splits long TXT into 255-byte strings; joining them restores it.
      const parts = (Array.isArray(data) ? data : [data]) as (Uint8Array | string)[];
      value = parts.map((p) => typeof p === "string" ? p : new TextDecoder().decode(p)).join("");
      break;
    }
    case "MX": {
      const d = data as { preference: number; exchange: string };
      value = `${d.preference} ${d.exchange}`;
      break;
    }
    case "SRV": {
      const d = data as { priority: number; weight: number; port: number; target: string };
      value = `${d.priority} ${d.weight} ${d.port} ${d.target}`;
      break;
    }
    case "CAA": {
      const d = data as { flags: number; tag: string; value: string };
      value = `${d.flags} ${d.tag} "${d.value}"`;
      break;
    }
    default:
      return undefined;
  }
  return { name: rr.name.toLowerCase(), type, ttl: (rr as { ttl?: number }).ttl ?? 0, value };
}

/** A zone pulled by AXFR. */
export interface TransferResult {
  /** The zone's SOA (the serial is the primary's). */
  soa: Omit<Zone, "primary">;
  /** Every record MCNS can store. */
  records: TransferredRecord[];
  /** Records of types MCNS does not store, skipped. */
  skipped: number;
  /** Messages received. */
  messages: number;
}

/**
 * Pulls `zone` from `primary` by AXFR over TCP (RFC 5936 §2.2): every
 * message must be a NOERROR response to a QUERY with the query's ID and,
 * when it carries a question, the question asked; the first record
 * is the zone's SOA and the stream ends at the next SOA of the zone, which
 * must carry the same serial. Nothing in the reply is trusted beyond that:
 * records outside the zone or with values MCNS cannot store are left out
 * later by the store, which validates every record before storing it.
 *
 * @throws {TransferError} On any violation, timeout or limit.
 */
export async function fetchAxfr(
  primary: string,
  zone: string,
  options: XfrClientOptions = {},
): Promise<TransferResult> {
  const {
    timeoutMs = 30_000,
    maxBytes = 64 * 1024 * 1024,
    maxRecords = 200_000,
    signal,
  } = options;
  const id = randomId();
  let soa: Omit<Zone, "primary"> | undefined;
  const records: TransferredRecord[] = [];
  let skipped = 0;
  let messages = 0;
  let done = false;
  await tcpExchange(
    primary,
    encodeQuery(zone, "AXFR", id),
    (msg) => {
      messages++;
      const p = decode(msg, id, "AXFR");
      for (const q of p.questions ?? []) {
        if (q.name.toLowerCase() !== zone || q.type !== "AXFR" || q.class !== "IN") {
          throw new TransferError(`the AXFR reply answers another question: ${q.name} ${q.type}`);
        }
      }
      for (const rr of p.answers ?? []) {
        if (done) throw new TransferError("records after the closing SOA");
        if (soa === undefined) {
          if (!isSoaOf(zone, rr)) {
            throw new TransferError("the transfer does not start with the SOA");
          }
          soa = toZone(zone, rr);
          continue;
        }
        if (isSoaOf(zone, rr)) {
          const serial = (rr as { data: SoaData }).data.serial;
          if (serial !== soa.serial) {
            throw new TransferError(
              `the closing SOA serial ${serial} differs from the opening ${soa.serial}`,
            );
          }
          done = true;
          continue;
        }
        const r = presentation(rr);
        if (r === undefined) skipped++;
        else records.push(r);
        if (records.length + skipped > maxRecords) {
          throw new TransferError(`more than ${maxRecords} records`);
        }
      }
      if (soa === undefined) throw new TransferError("the first message holds no SOA");
      return done;
    },
    timeoutMs,
    maxBytes,
    signal,
  );
  return { soa: soa!, records, skipped, messages };
}
