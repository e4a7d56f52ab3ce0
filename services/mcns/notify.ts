/**
 * DNS NOTIFY (RFC 1996), both ways over UDP.
 *
 * - As a primary: when a zone's serial changes, {@linkcode NotifyService.notify}
 *   sends a NOTIFY to every `[dns] notify` target and retries until each
 *   answers (bounded in count and time). One NOTIFY is in flight per
 *   (zone, target): a newer serial joins the one in flight, which then
 *   carries it (and starts its attempts again if the older one was answered).
 * - As a secondary: {@linkcode NotifyService.handleNotify} answers a NOTIFY
 *   from the listed primary of one of its secondary zones and asks for an
 *   SOA check; a NOTIFY from any other host is dropped unanswered. Nothing
 *   in a NOTIFY is trusted: it only triggers the check, which then queries
 *   the primary itself. Addresses are compared in `canonicalIp` form (a
 *   dual-stack listener reports IPv4 peers as `::ffff:a.b.c.d`).
 *
 * Both sides share the server's UDP socket (the caller passes `send`), so
 * NOTIFY leaves from the DNS port and acknowledgements come back to the
 * receive loop, which hands every opcode-4 message here.
 *
 * @module
 */

import dnsPacket from "dns-packet";
import type { Logger } from "@mc/mcdsl/log";
import { QTYPE, RCODE } from "./answers.ts";
import { canonicalIp } from "./config.ts";
import { errorReply, NOTAUTH, parseQuestion } from "./xfr.ts";

/** The NOTIFY opcode. */
export const OPCODE_NOTIFY = 4;

/** Whether a message (query or response) has the NOTIFY opcode. */
export function isNotify(msg: Uint8Array): boolean {
  return msg.length >= 12 && ((msg[2] >> 3) & 0x0f) === OPCODE_NOTIFY;
}

/**
 * Encodes a NOTIFY for `zone` (RFC 1996 §3.7: opcode NOTIFY, AA, question
 * `<zone> SOA IN`, the new SOA serial as a hint in the answer section).
 */
export function encodeNotify(zone: string, id: number, soa?: { serial: number }): Uint8Array {
  const buf = dnsPacket.encode({
    type: "query",
    id,
    flags: (OPCODE_NOTIFY << 11) | dnsPacket.AUTHORITATIVE_ANSWER,
    questions: [{ name: zone, type: "SOA", class: "IN" }],
    answers: soa === undefined ? [] : [{
      name: zone,
      type: "SOA",
      ttl: 0,
      class: "IN",
      data: {
        mname: ".",
        rname: ".",
        serial: soa.serial,
        refresh: 0,
        retry: 0,
        expire: 0,
        minimum: 0,
      },
    }],
  } as never) as Uint8Array;
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Options for {@linkcode createNotifyService}. */
export interface NotifyOptions {
  /** Sends one datagram (the server's UDP socket). */
  send(msg: Uint8Array, to: Deno.NetAddr): Promise<unknown>;
  /** NOTIFY targets as a primary, `host:port` (`[dns] notify`). */
  targets?: readonly string[];
  /** As a secondary: zone → the host (IP) of its primary, the only accepted NOTIFY source. */
  primaries?: ReadonlyMap<string, string>;
  /** Called for an accepted NOTIFY: check the zone's SOA now. */
  onNotify?(zone: string): void;
  /** Logger. */
  logger: Logger;
  /** Sends per target before giving up. @default {5} */
  attempts?: number;
  /** Wait for an answer per send, ms. @default {1000} */
  timeoutMs?: number;
}

/** Sends and receives NOTIFY. */
export interface NotifyService {
  /**
   * Handles an opcode-4 message that arrived over UDP: a NOTIFY to answer
   * (secondary side) or the answer to one of ours (primary side).
   *
   * @returns The reply to send back to `from`, or `undefined` for none.
   */
  handleNotify(msg: Uint8Array, from: Deno.NetAddr): Uint8Array | undefined;
  /**
   * Tells every target that `zone` changed; resolves when each target has
   * answered or run out of attempts (`attempts × timeoutMs` at most).
   *
   * @returns The targets that answered.
   */
  notify(zone: string, serial: number): Promise<string[]>;
  /** Stops retrying; pending {@linkcode notify} calls resolve at once. */
  close(): void;
}

function splitTarget(target: string): Deno.NetAddr {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(target) ?? /^([^:]+):(\d+)$/.exec(target);
  if (m === null) throw new RangeError(`Cannot use NOTIFY target "${target}": expected host:port`);
  return { transport: "udp", hostname: canonicalIp(m[1]), port: Number(m[2]) };
}

const targetName = (to: Deno.NetAddr) =>
  to.hostname.includes(":") ? `[${to.hostname}]:${to.port}` : `${to.hostname}:${to.port}`;

/** A NOTIFY in flight to one target for one zone. */
interface Flight {
  /** The newest serial to announce. */
  serial: number;
  /** Resolves with whether the target acknowledged the newest serial. */
  done: Promise<boolean>;
}

/**
 * Creates the NOTIFY sender and receiver.
 *
 * @returns The service; hook {@linkcode NotifyService.handleNotify} where
 *   the UDP receive loop dispatches by opcode.
 */
export function createNotifyService(options: NotifyOptions): NotifyService {
  const { send, logger, onNotify, attempts = 5, timeoutMs = 1000 } = options;
  const targets = (options.targets ?? []).map(splitTarget);
  const primaries = new Map(
    [...options.primaries ?? []].map(([zone, host]) => [zone, canonicalIp(host)]),
  );
  const primaryHosts = new Set(primaries.values());
  // `id/host/port` → resolver of the wait for that answer, given its rcode.
  const waiting = new Map<string, (rcode: number, zone: string) => void>();
  // `zone target` → the NOTIFY in flight.
  const flights = new Map<string, Flight>();
  const closed = new AbortController();

  const handleNotify = (msg: Uint8Array, from: Deno.NetAddr): Uint8Array | undefined => {
    const host = canonicalIp(from.hostname);
    const q = parseQuestion(msg);
    if (q === undefined) {
      // Not even a question: a response is dropped, a query gets FORMERR
      // only from a primary (never reflect to strangers).
      return (msg[2] & 0x80) === 0 && primaryHosts.has(host)
        ? errorReply(msg, RCODE.FORMERR, 0)
        : undefined;
    }
    if (q.response) {
      waiting.get(`${q.id}/${host}/${from.port}`)?.(q.rcode, q.name);
      return undefined;
    }
    if (!primaryHosts.has(host)) {
      logger.debug("notify from an unlisted host dropped", { from: host, zone: q.name });
      return undefined;
    }
    if (q.qclass !== 1 || q.qtype !== QTYPE.SOA) return errorReply(msg, RCODE.FORMERR, q.qEnd);
    if (primaries.get(q.name) !== host) return errorReply(msg, NOTAUTH, q.qEnd);
    // Debug: a flood spoofed from the primary's address must not flood the log.
    logger.debug("notify received", { zone: q.name, from: host });
    onNotify?.(q.name);
    // The answer: the query's header and question with QR and AA (RFC 1996 §4.7).
    const out = msg.slice(0, q.qEnd);
    out[2] = 0x80 | (OPCODE_NOTIFY << 3) | 0x04;
    out[3] = 0;
    out[6] =
      out[7] =
      out[8] =
      out[9] =
      out[10] =
      out[11] =
        0;
    return out;
  };

  // Sends until the target acknowledges the flight's newest serial, or
  // answers with an error, or `attempts` sends of one serial went unanswered.
  const fly = async (to: Deno.NetAddr, zone: string, flight: Flight): Promise<boolean> => {
    const target = targetName(to);
    let i = 0;
    while (i < attempts && !closed.signal.aborted) {
      const serial = flight.serial;
      const id = crypto.getRandomValues(new Uint16Array(1))[0];
      const key = `${id}/${to.hostname}/${to.port}`;
      const msg = encodeNotify(zone, id, { serial });
      const { promise, resolve } = Promise.withResolvers<number | undefined>();
      waiting.set(key, (rcode, name) => {
        if (name === zone) resolve(rcode);
      });
      const timer = setTimeout(() => resolve(undefined), timeoutMs);
      const onClose = () => resolve(undefined);
      closed.signal.addEventListener("abort", onClose);
      send(msg, to).catch((e) => {
        logger.warn("notify send failed", { target, error: (e as Error).message });
      });
      const rcode = await promise;
      clearTimeout(timer);
      closed.signal.removeEventListener("abort", onClose);
      waiting.delete(key);
      i++;
      if (rcode === undefined) continue;
      if (rcode !== RCODE.NOERROR) {
        // The target will not act on it: retrying cannot help.
        logger.warn("notify refused", { zone, serial, target, rcode });
        return false;
      }
      if (flight.serial === serial) return true;
      i = 0; // answered, but a newer serial arrived meanwhile: announce it too
    }
    return false;
  };

  const notifyOne = (to: Deno.NetAddr, zone: string, serial: number): Promise<boolean> => {
    const key = `${zone} ${targetName(to)}`;
    const inFlight = flights.get(key);
    if (inFlight !== undefined) {
      inFlight.serial = serial;
      return inFlight.done;
    }
    const flight: Flight = { serial, done: Promise.resolve(false) };
    flight.done = fly(to, zone, flight)
      .catch((e) => {
        logger.warn("notify failed", { zone, target: targetName(to), error: (e as Error).message });
        return false;
      })
      .finally(() => flights.delete(key));
    flights.set(key, flight);
    return flight.done;
  };

  const notify = async (zone: string, serial: number): Promise<string[]> => {
    const results = await Promise.all(targets.map(async (to) => {
      const target = targetName(to);
      const ok = await notifyOne(to, zone, serial);
      if (ok) logger.debug("notify answered", { zone, serial, target });
      else if (!closed.signal.aborted) {
        logger.warn("notify unanswered", { zone, serial, target, attempts });
      }
      return ok ? target : undefined;
    }));
    return results.filter((t) => t !== undefined);
  };

  return { handleNotify, notify, close: () => closed.abort() };
}
