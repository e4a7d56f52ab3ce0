/**
 * The UDP fast path: one listener's receive-and-answer loop runs in a Worker
 * while the main thread only sends the replies, so the two Deno ops a query
 * costs (receive, send) run on two threads.
 *
 * Deno's `reuseAddress` is `SO_REUSEADDR` on Linux, not `SO_REUSEPORT`
 * (measured: the kernel gives every datagram to the socket bound last, it
 * does not spread them), so several receiving sockets cannot share a port.
 * Instead the main thread binds the listener's UDP socket first and sends
 * every reply from it; the worker then binds the same address with
 * `reuseAddress` and, being bound last, receives every query. It answers from
 * its copy of the compiled zones (posted on every reload) and writes each
 * reply and its destination into a shared ring buffer that the main thread
 * drains. Anything that is not a plain answer (another opcode such as
 * NOTIFY, or a name to forward) is posted to the main thread's dispatch
 * point. Until the worker has bound (and if it ever stops), the main socket
 * receives the queries itself and answers them in-thread.
 *
 * The worker is started from a `blob:` URL whose source is the answering
 * functions' own text: a worker loading a module file would need read
 * permission to the source tree, which the sandbox does not grant.
 *
 * @module
 */

import type { Logger } from "@mc/mcdsl/log";
import { answer, EDNS_SIZE, errorReply, header, QTYPE, RCODE } from "./answers.ts";

/** Ring size in bytes (replies are at most 65535 bytes each). */
export const RING_BYTES = 1 << 21;
/** Control words: write position, read position, reader-sleeping flag, dropped count. */
const WR = 0;
const RD = 1;
const SLEEPING = 2;
const DROPPED = 3;
const CTL_BYTES = 16;
/**
 * Replies pending in the ring beyond which the worker sends replies itself
 * (the main thread is behind). Measured: 2–8 KiB best, 512 B worse.
 */
const BACKLOG_BYTES = 4096;
/** Record header: u32 total length, u16 port, u8 host length. */
const REC_HEAD = 7;

/** A single-producer, single-consumer ring of (reply, host, port) records in shared memory. */
export interface Ring {
  /** The shared memory (posted to the worker). */
  sab: SharedArrayBuffer;
  /** Control words. */
  ctl: Int32Array;
  /** Record bytes. */
  bytes: Uint8Array;
}

/** Creates a ring in new shared memory. */
export function createRing(size = RING_BYTES): Ring {
  const sab = new SharedArrayBuffer(CTL_BYTES + size);
  return { sab, ctl: new Int32Array(sab, 0, 4), bytes: new Uint8Array(sab, CTL_BYTES, size) };
}

/**
 * Appends one record; wakes the reader when it sleeps. Self-contained (it
 * runs inside the worker from its source text).
 *
 * @returns `false` when the ring is full (the reply is dropped, counted).
 */
export function ringWrite(
  ctl: Int32Array,
  ring: Uint8Array,
  reply: Uint8Array,
  host: Uint8Array,
  port: number,
): boolean {
  const size = ring.length;
  const n = 7 + host.length + reply.length;
  let wr = Atomics.load(ctl, 0);
  const rd = Atomics.load(ctl, 1);
  let at = wr;
  if (wr >= rd) {
    if (n > size - wr - (rd === 0 ? 1 : 0)) {
      if (n >= rd) {
        Atomics.add(ctl, 3, 1);
        return false;
      }
      // Wrap: a marker (or fewer than 4 bytes left) sends the reader to 0.
      if (size - wr >= 4) {
        ring[wr] =
          ring[wr + 1] =
          ring[wr + 2] =
          ring[wr + 3] =
            0xff;
      }
      at = 0;
    }
  } else if (n >= rd - wr) {
    Atomics.add(ctl, 3, 1);
    return false;
  }
  ring[at] = n >>> 24;
  ring[at + 1] = (n >>> 16) & 0xff;
  ring[at + 2] = (n >>> 8) & 0xff;
  ring[at + 3] = n & 0xff;
  ring[at + 4] = port >> 8;
  ring[at + 5] = port & 0xff;
  ring[at + 6] = host.length;
  ring.set(host, at + 7);
  ring.set(reply, at + 7 + host.length);
  wr = at + n === size ? 0 : at + n;
  Atomics.store(ctl, 0, wr);
  if (Atomics.load(ctl, 2) === 1) {
    Atomics.store(ctl, 2, 0);
    Atomics.notify(ctl, 0);
  }
  return true;
}

/**
 * Reads every record written so far, calling `send` for each, and frees
 * them. The reply passed to `send` is a copy.
 *
 * @returns How many records were read.
 */
export function ringDrain(
  ring: Ring,
  send: (reply: Uint8Array, hostname: string, port: number) => void,
): number {
  const { ctl, bytes } = ring;
  const size = bytes.length;
  const wr = Atomics.load(ctl, WR);
  let rd = Atomics.load(ctl, RD);
  let count = 0;
  let lastHost: Uint8Array | undefined;
  let lastName = "";
  while (rd !== wr) {
    if (size - rd < 4) {
      rd = 0;
      continue;
    }
    const n = ((bytes[rd] << 24) | (bytes[rd + 1] << 16) | (bytes[rd + 2] << 8) | bytes[rd + 3]) >>>
      0;
    if (n === 0xffffffff) {
      rd = 0;
      continue;
    }
    const port = (bytes[rd + 4] << 8) | bytes[rd + 5];
    const hl = bytes[rd + 6];
    const host = bytes.subarray(rd + REC_HEAD, rd + REC_HEAD + hl);
    if (lastHost === undefined || !sameBytes(lastHost, host)) {
      lastHost = host.slice();
      lastName = DECODER.decode(host);
    }
    send(bytes.slice(rd + REC_HEAD + hl, rd + n), lastName, port);
    rd = rd + n === size ? 0 : rd + n;
    count++;
  }
  Atomics.store(ctl, RD, rd);
  return count;
}

const DECODER = new TextDecoder();

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Waits until the writer has appended something or `stopped` resolves.
 * Resolves at once when records are pending.
 */
export async function ringWait(ring: Ring, stopped: Promise<void>): Promise<void> {
  const { ctl } = ring;
  let done = false;
  stopped.then(() => done = true);
  while (!done) {
    const wr = Atomics.load(ctl, WR);
    if (wr !== Atomics.load(ctl, RD)) return;
    Atomics.store(ctl, SLEEPING, 1);
    if (Atomics.load(ctl, WR) !== wr) return;
    // A pending Atomics.waitAsync does not keep Deno's event loop alive:
    // race it with `stopped` so close() never leaves it dangling.
    const res = Atomics.waitAsync(ctl, WR, wr, 1000);
    if (res.async) await Promise.race([res.value, stopped]);
  }
}

/** Replies dropped because the ring was full. */
export function ringDropped(ring: Ring): number {
  return Atomics.load(ring.ctl, DROPPED);
}

/**
 * Whether `reply` (from answer()) is the REFUSED given to a question
 * outside every zone: rcode REFUSED, not authoritative, class IN (REFUSED
 * for another class has the same flags but its own class). Self-contained.
 */
export function refusedOutsideZones(reply: Uint8Array): boolean {
  if (reply.length < 16 || (reply[3] & 0x0f) !== 5 || (reply[2] & 0x04) !== 0) return false;
  return reply[reply.length - 2] === 0 && reply[reply.length - 1] === 1;
}

/** Messages from the main thread to the worker. */
export type ToWorker =
  | {
    kind: "init";
    sab: SharedArrayBuffer;
    hostname: string;
    port: number;
    zones: unknown;
    forward: boolean;
    receivers: number;
    backlog: number;
  }
  | { kind: "zones"; zones: unknown }
  | { kind: "close" };

/** Messages from the worker to the main thread. */
export type FromWorker =
  | { kind: "ready" }
  | { kind: "failed"; error: string }
  | { kind: "slow"; packet: Uint8Array; hostname: string; port: number }
  | { kind: "warn"; error: string };

/**
 * The worker's entry point. Self-contained: it refers only to globals and
 * to `answer`, `ringWrite` and `refusedOutsideZones`, which the worker
 * source defines next to it.
 */
export function workerMain(): void {
  // deno-lint-ignore no-explicit-any
  const scope = self as any;
  let zones: unknown;
  let socket: Deno.DatagramConn | undefined;
  let closing = false;
  const encoder = new TextEncoder();
  scope.onmessage = (e: MessageEvent<ToWorker>) => {
    const msg = e.data;
    if (msg.kind === "zones") {
      zones = msg.zones;
      return;
    }
    if (msg.kind === "close") {
      closing = true;
      try {
        socket?.close();
      } catch { /* closed already */ }
      scope.close();
      return;
    }
    zones = msg.zones;
    const ctl = new Int32Array(msg.sab, 0, 4);
    const ring = new Uint8Array(msg.sab, 16);
    try {
      // Self-test before taking the port: a missing helper in the source
      // text must fail here, while the main socket still receives.
      // deno-lint-ignore no-explicit-any
      (answer as any)(
        new Uint8Array([0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1]),
        zones,
        "udp",
      );
      refusedOutsideZones(new Uint8Array(16));
      socket = Deno.listenDatagram({
        hostname: msg.hostname,
        port: msg.port,
        transport: "udp",
        reuseAddress: true,
      });
    } catch (err) {
      scope.postMessage({ kind: "failed", error: (err as Error).message });
      return;
    }
    const sock = socket;
    let inflight = 0;
    const done = () => void inflight--;
    let lastHost = "";
    let lastBytes = new Uint8Array(0);
    const loop = async () => {
      // One buffer per loop: receive() without one allocates (and zeroes)
      // 64 KiB per datagram. Everything read from it is copied out before
      // the next receive.
      const buf = new Uint8Array(65536);
      while (!closing) {
        let packet: [Uint8Array, Deno.Addr];
        try {
          packet = await sock.receive(buf);
        } catch (err) {
          if (closing) break;
          scope.postMessage({ kind: "warn", error: (err as Error).message });
          continue;
        }
        const q = packet[0];
        const addr = packet[1] as Deno.NetAddr;
        // Any opcode but QUERY (NOTIFY and its responses) goes to the main thread.
        if (q.length >= 12 && (q[2] & 0x78) !== 0) {
          const packet = q.slice();
          scope.postMessage({ kind: "slow", packet, hostname: addr.hostname, port: addr.port });
          continue;
        }
        let reply: Uint8Array | undefined;
        try {
          // deno-lint-ignore no-explicit-any
          reply = (answer as any)(q, zones, "udp");
        } catch (err) {
          scope.postMessage({ kind: "warn", error: `answer failed: ${(err as Error).message}` });
          continue;
        }
        if (reply === undefined) continue;
        if (msg.forward && refusedOutsideZones(reply)) {
          const packet = q.slice();
          scope.postMessage({ kind: "slow", packet, hostname: addr.hostname, port: addr.port });
          continue;
        }
        // Balance: while the main thread is behind (replies pending in the
        // ring), this thread sends replies itself, from its own socket on the
        // same address.
        const wr = Atomics.load(ctl, 0);
        const rd = Atomics.load(ctl, 1);
        if ((wr >= rd ? wr - rd : ring.length - rd + wr) > msg.backlog) {
          inflight++;
          const sent = sock.send(reply, addr).then(done, done);
          if (inflight > 256) await sent;
          continue;
        }
        if (addr.hostname !== lastHost) {
          lastHost = addr.hostname;
          lastBytes = encoder.encode(lastHost);
        }
        ringWrite(ctl, ring, reply, lastBytes, addr.port);
      }
    };
    for (let i = 0; i < msg.receivers; i++) loop();
    scope.postMessage({ kind: "ready" });
  };
}

/**
 * The worker's source text: the answering engine's functions and constants
 * and the entry point, with no imports.
 */
export function workerSource(): string {
  return [
    `const QTYPE = ${JSON.stringify(QTYPE)};`,
    `const RCODE = ${JSON.stringify(RCODE)};`,
    `const EDNS_SIZE = ${EDNS_SIZE};`,
    `const OPT_RR = new Uint8Array([0, 0, 41, EDNS_SIZE >> 8, EDNS_SIZE & 0xff, 0, 0, 0, 0, 0, 0]);`,
    `const EMPTY = new Uint8Array(0);`,
    header.toString(),
    errorReply.toString(),
    answer.toString(),
    ringWrite.toString(),
    refusedOutsideZones.toString(),
    `(${workerMain.toString()})();`,
  ].join("\n");
}

/** Options for {@linkcode startUdpPath}. */
export interface UdpPathOptions {
  /** The listener's UDP socket, bound with `reuseAddress` (replies go out from it). */
  socket: Deno.DatagramConn;
  /** Its address, for the worker's socket. */
  hostname: string;
  /** Its port. */
  port: number;
  /** The compiled zones now (later ones via {@linkcode UdpPath.setZones}). */
  zones: unknown;
  /** Whether names outside the zones go to `dispatch` (forwarding) instead of REFUSED. */
  forward: boolean;
  /** Receives kept pending at once, per socket. */
  receivers: number;
  /** Run the worker (`false`: the main thread receives and answers everything). */
  worker: boolean;
  /** Logger. */
  logger: Logger;
  /**
   * The main thread's dispatch point: everything the worker does not answer
   * itself, and every query while no worker is bound.
   */
  dispatch(packet: Uint8Array, addr: Deno.NetAddr): Promise<Uint8Array | undefined>;
}

/** A running UDP path. */
export interface UdpPath {
  /** Posts recompiled zones to the worker. */
  setZones(zones: unknown): void;
  /** Resolves once the worker has bound its socket (or failed: then `false`). */
  ready: Promise<boolean>;
  /** Stops the worker and the loops; closes the socket. */
  close(): Promise<void>;
}

/**
 * Starts one listener's UDP path: the main socket's own receive loops
 * (serving until the worker binds, and if it ever stops), the worker, and the
 * loop that sends the worker's replies.
 */
export function startUdpPath(options: UdpPathOptions): UdpPath {
  const { socket, logger } = options;
  let closing = false;
  const stopped = Promise.withResolvers<void>();
  let inflight = 0;
  let lastSend: Promise<void> = Promise.resolve();
  const onSendError = (e: unknown) => {
    // NotCapable: the client is not in [dns] clients.
    logger.debug("udp send failed", { error: (e as Error).message });
  };
  const sent = () => void inflight--;
  const send = (reply: Uint8Array, hostname: string, port: number) => {
    inflight++;
    lastSend = socket.send(reply, { transport: "udp", hostname, port }).then(sent, (e) => {
      sent();
      onSendError(e);
    });
  };
  const handle = async (packet: Uint8Array, addr: Deno.NetAddr) => {
    try {
      const reply = await options.dispatch(packet, addr);
      if (reply !== undefined) send(reply, addr.hostname, addr.port);
    } catch (e) {
      logger.error("udp dispatch failed", { error: (e as Error).message });
    }
  };
  const receiveLoop = async () => {
    const buf = new Uint8Array(65536); // see the worker's loop
    while (!closing) {
      let packet: [Uint8Array, Deno.Addr];
      try {
        packet = await socket.receive(buf);
      } catch (e) {
        if (closing) break;
        logger.warn("udp receive failed", { error: (e as Error).message });
        continue;
      }
      void handle(packet[0].slice(), packet[1] as Deno.NetAddr);
      if (inflight > 512) await lastSend;
    }
  };
  const loops: Promise<void>[] = Array.from({ length: options.receivers }, receiveLoop);

  let worker: Worker | undefined;
  let url: string | undefined;
  const { promise: ready, resolve: setReady } = Promise.withResolvers<boolean>();
  if (!options.worker) setReady(false);
  else {
    const ring = createRing();
    url = URL.createObjectURL(new Blob([workerSource()], { type: "application/javascript" }));
    worker = new Worker(url, { type: "module", name: `mcns-udp-${options.port}` });
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      const msg = e.data;
      if (msg.kind === "slow") {
        void handle(msg.packet, { transport: "udp", hostname: msg.hostname, port: msg.port });
      } else if (msg.kind === "ready") {
        logger.debug("udp worker bound", { port: options.port });
        setReady(true);
      } else if (msg.kind === "failed") {
        logger.error("udp worker failed; answering in the main thread", { error: msg.error });
        setReady(false);
      } else {
        logger.warn("udp worker", { error: msg.error });
      }
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      logger.error("udp worker stopped; answering in the main thread", { error: e.message });
      setReady(false);
      worker?.terminate();
    };
    worker.postMessage(
      {
        kind: "init",
        sab: ring.sab,
        hostname: options.hostname,
        port: options.port,
        zones: options.zones,
        forward: options.forward,
        receivers: options.receivers,
        backlog: BACKLOG_BYTES,
      } satisfies ToWorker,
    );
    loops.push((async () => {
      let reported = 0;
      while (!closing) {
        await ringWait(ring, stopped.promise);
        ringDrain(ring, send);
        if (inflight > 512) await lastSend;
        const dropped = ringDropped(ring);
        if (dropped !== reported) {
          logger.warn("udp replies dropped: ring full", { dropped: dropped - reported });
          reported = dropped;
        }
      }
    })());
  }
  return {
    ready,
    setZones(zones) {
      worker?.postMessage({ kind: "zones", zones } satisfies ToWorker);
    },
    async close() {
      if (closing) return;
      closing = true;
      stopped.resolve();
      worker?.postMessage({ kind: "close" } satisfies ToWorker);
      worker?.terminate();
      if (url !== undefined) URL.revokeObjectURL(url);
      socket.close();
      setReady(false);
      await Promise.all(loops);
    },
  };
}
