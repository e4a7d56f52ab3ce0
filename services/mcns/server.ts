/**
 * The DNS listeners: UDP and TCP on `[dns] listen_addr`, answering from the
 * compiled zones, recompiled whenever a zone's serial changes in the
 * database (the admin CLI writes it directly). Runs until SIGINT or SIGTERM.
 *
 * @module
 */

import { parseListenAddr } from "@mc/mcdsl/config";
import type { Logger } from "@mc/mcdsl/log";
import { answer, type CompiledZones, compileZones } from "./answers.ts";
import type { McnsConfig } from "./config.ts";
import { type RunningApi, startApi } from "./api/server.ts";
import { openZoneStore, type ZoneData, type ZoneStore } from "./store.ts";
import { normalizeName } from "./records.ts";
import { createNotifyService, isNotify, type NotifyService } from "./notify.ts";
import { hiddenSecondaryZones, type Secondary, startSecondary } from "./secondary.ts";
import { answerTransfer, isTransfer, parseQuestion } from "./xfr.ts";
import { refusedOutsideZones, startUdpPath } from "./udp_worker.ts";
import { createForwarder, type Forwarder } from "./forward.ts";

/** Options for {@linkcode startDnsServer}. */
export interface DnsServerOptions {
  /** UDP and TCP address, `host:port` (port 0 picks one, the same for both when free). */
  listenAddr: string;
  /** The zone store to serve. */
  store: ZoneStore;
  /** Logger. */
  logger: Logger;
  /** How often to check serials, ms. @default {1000} */
  reloadIntervalMs?: number;
  /** TCP connections served at once; more are closed. @default {256} */
  maxTcpConnections?: number;
  /** Idle time before a TCP connection is closed, ms. @default {10000} */
  tcpIdleMs?: number;
  /** UDP receives kept pending at once (per socket; 8 measured better than 4). @default {8} */
  udpReceivers?: number;
  /**
   * Receive and answer UDP queries in a worker, the main thread sending the
   * replies (udp_worker.ts). @default {true}
   */
  udpWorker?: boolean;
  /** Forwards names outside the zones (this listener forwards); absent: REFUSED. */
  forwarder?: Forwarder;
  /** Client IPs allowed to transfer zones (AXFR/IXFR over TCP). @default {[]} */
  transferTo?: readonly string[];
  /**
   * Handles NOTIFY messages (opcode 4) arriving over UDP: NOTIFY queries to
   * this secondary and answers to this primary's NOTIFYs.
   */
  onNotify?(msg: Uint8Array, from: Deno.NetAddr): Uint8Array | undefined;
  /** Called after a reload with the zones whose serial changed (to NOTIFY secondaries). */
  onSerialsChanged?(changed: ReadonlyMap<string, number>): void;
  /** Zones not to serve (expired secondary zones). */
  hiddenZones?(): ReadonlySet<string>;
}

/** A running DNS server. */
export interface DnsServer extends AsyncDisposable {
  /** The bound port (UDP and TCP). */
  port: number;
  /** Recompiles now if any serial changed (or `force`). */
  reload(force?: boolean): boolean;
  /** Sends one UDP datagram from the DNS socket (NOTIFY). */
  send(msg: Uint8Array, to: Deno.NetAddr): Promise<number>;
  /** Stops listening, closes connections, waits for the loops. */
  close(): Promise<void>;
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

/**
 * Starts the UDP and TCP listeners.
 *
 * @returns The running server.
 */
export function startDnsServer(options: DnsServerOptions): DnsServer {
  const {
    listenAddr,
    store,
    logger,
    reloadIntervalMs = 1000,
    maxTcpConnections = 256,
    tcpIdleMs = 10_000,
    udpReceivers = 8,
    udpWorker = true,
    forwarder,
    transferTo = [],
    onNotify,
    onSerialsChanged,
    hiddenZones,
  } = options;
  const { hostname, port } = parseListenAddr(listenAddr);
  const transferAcl = new Set(transferTo);
  // The zones as served: compiled for queries, kept whole for AXFR.
  const visible = () => {
    const hidden = hiddenZones?.();
    const all = store.load();
    return hidden === undefined || hidden.size === 0
      ? all
      : all.filter((d) => !hidden.has(d.zone.name));
  };
  let loaded: ZoneData[] = visible();
  let zones: CompiledZones = compileZones(loaded);
  let serialMap = store.serials();
  let serials = JSON.stringify([...serialMap]);
  const tcp = Deno.listen({ hostname, port, transport: "tcp" });
  const boundPort = (tcp.addr as Deno.NetAddr).port;
  // reuseAddress: the UDP worker binds the same address after this socket
  // and then receives every query; replies leave from this one.
  const udp = Deno.listenDatagram({
    hostname,
    port: boundPort,
    transport: "udp",
    reuseAddress: true,
  });
  const conns = new Set<Deno.TcpConn>();
  let closing = false;

  const reload = (force = false): boolean => {
    const nowMap = store.serials();
    const now = JSON.stringify([...nowMap]);
    if (now === serials && !force) return false;
    loaded = visible();
    zones = compileZones(loaded);
    udpPath?.setZones(zones);
    serials = now;
    logger.info("zones reloaded", { serials: now });
    // NOTIFY hook: zones whose serial changed (or that appeared).
    const changed = new Map([...nowMap].filter(([z, s]) => serialMap.get(z) !== s));
    serialMap = nowMap;
    if (changed.size > 0) onSerialsChanged?.(changed);
    return true;
  };
  const timer = setInterval(() => {
    try {
      reload();
    } catch (e) {
      logger.error("zone reload failed", { error: (e as Error).message });
    }
  }, reloadIntervalMs);

  // The UDP dispatch point for everything the worker does not answer itself
  // (udp_worker.ts sends it every opcode other than QUERY and, when this
  // listener forwards, names outside the zones), and for every query while
  // no worker is bound.
  const dispatchUdp = async (
    packet: Uint8Array,
    from: Deno.NetAddr,
  ): Promise<Uint8Array | undefined> => {
    // NOTIFY hook (notify.ts): opcode-4 messages, queries and responses
    // alike, go to the NOTIFY service before answer(), which would drop
    // responses and NOTIMP the rest. Keep this check at this dispatch point
    // (the worker forwards every opcode ≠ QUERY here).
    if (onNotify !== undefined && isNotify(packet)) return onNotify(packet, from);
    const reply = answer(packet, zones, "udp");
    if (reply !== undefined && forwarder !== undefined && refusedOutsideZones(reply)) {
      return await forwarder.resolve(packet, "udp");
    }
    return reply;
  };
  const udpPath = startUdpPath({
    socket: udp,
    hostname,
    port: boundPort,
    zones,
    forward: forwarder !== undefined,
    receivers: udpReceivers,
    worker: udpWorker,
    logger,
    dispatch: dispatchUdp,
  });

  const serveConn = async (conn: Deno.TcpConn) => {
    const len = new Uint8Array(2);
    let idle: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => {
        try {
          conn.close();
        } catch { /* closed already */ }
      }, tcpIdleMs);
    };
    try {
      for (;;) {
        arm();
        if (!await readFull(conn, len)) break;
        const n = (len[0] << 8) | len[1];
        const msg = new Uint8Array(n);
        if (!await readFull(conn, msg)) break;
        // Zone transfers (xfr.ts): AXFR/IXFR queries get a stream of messages.
        const q = msg.length > 12 && (msg[2] & 0xf8) === 0 ? parseQuestion(msg) : undefined;
        if (q !== undefined && isTransfer(q.qtype)) {
          const client = (conn.remoteAddr as Deno.NetAddr).hostname;
          const replies = answerTransfer(msg, q, client, {
            transferTo: transferAcl,
            zones: loaded,
          });
          const rcode = replies[0][3] & 0x0f;
          if (rcode === 0) {
            logger.info("zone transfer", { zone: q.name, client, messages: replies.length });
          } else logger.warn("zone transfer refused", { zone: q.name, client, rcode });
          for (const r of replies) {
            const framed = new Uint8Array(r.length + 2);
            framed[0] = r.length >> 8;
            framed[1] = r.length & 0xff;
            framed.set(r, 2);
            let off = 0;
            while (off < framed.length) off += await conn.write(framed.subarray(off));
            arm();
          }
          continue;
        }
        let reply = answer(msg, zones, "tcp");
        // Forwarding hook: names outside the zones, when this listener forwards.
        if (reply !== undefined && forwarder !== undefined && refusedOutsideZones(reply)) {
          reply = await forwarder.resolve(msg, "tcp");
        }
        if (reply === undefined) continue;
        const framed = new Uint8Array(reply.length + 2);
        framed[0] = reply.length >> 8;
        framed[1] = reply.length & 0xff;
        framed.set(reply, 2);
        let off = 0;
        while (off < framed.length) off += await conn.write(framed.subarray(off));
      }
    } catch {
      // Reset, closed by the idle timer or by shutdown: nothing to answer.
    } finally {
      clearTimeout(idle);
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed already */ }
    }
  };
  const tcpTasks = new Set<Promise<void>>();
  const tcpLoop = (async () => {
    for (;;) {
      let conn: Deno.TcpConn;
      try {
        conn = await tcp.accept();
      } catch (e) {
        if (closing) break;
        logger.warn("tcp accept failed", { error: (e as Error).message });
        continue;
      }
      if (conns.size >= maxTcpConnections) {
        conn.close();
        continue;
      }
      conns.add(conn);
      const task = serveConn(conn);
      tcpTasks.add(task);
      task.finally(() => tcpTasks.delete(task));
    }
  })();

  const close = async () => {
    if (closing) return;
    closing = true;
    clearInterval(timer);
    tcp.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed already */ }
    }
    await Promise.all([udpPath.close(), tcpLoop, ...tcpTasks]);
  };
  const send = (msg: Uint8Array, to: Deno.NetAddr) => udp.send(msg, to);
  return { port: boundPort, reload, send, close, [Symbol.asyncDispose]: close };
}

/**
 * Runs the server from its config until SIGINT or SIGTERM: opens the store,
 * seeds the zones on first start, serves, and shuts down gracefully.
 */
export async function runServer(config: McnsConfig, logger: Logger): Promise<void> {
  using store = openZoneStore(config.database.path);
  const { secondaryZones, primary } = secondaryConfig(config);
  // An instance with secondary zones (an edge) gets its zones from its primary.
  if (secondaryZones.length === 0 && store.seed(config.dns.domain)) {
    logger.info("zones seeded", { zones: store.listZones().map((z) => z.name) });
  }
  // One forwarder (one cache) for every listener that forwards.
  const wantsForwarder = config.dns.forward || config.dns.forward_listen_addr !== undefined;
  if (wantsForwarder && config.dns.upstreams.length === 0) {
    throw new Error(
      'Cannot forward: [dns] forward or forward_listen_addr is set but [dns] upstreams is empty; list the resolvers as "ip:port"',
    );
  }
  const forwarder = wantsForwarder
    ? createForwarder({
      upstreams: config.dns.upstreams,
      timeoutMs: config.dns.forward_timeout,
      cacheSize: config.dns.cache_size,
      cacheMaxTtl: Math.floor(config.dns.cache_max_ttl / 1000),
      logger,
    })
    : undefined;
  // Zone transfer and NOTIFY (xfr.ts, notify.ts, secondary.ts).
  let secondary: Secondary | undefined;
  // NOTIFY leaves from the server's UDP socket (`server` is set before any send).
  const notifier: NotifyService = createNotifyService({
    send: (msg, to) => server.send(msg, to),
    targets: config.dns.notify,
    primaries: new Map(secondaryZones.map((z) => [z, primary!.hostname])),
    onNotify: (zone) => secondary?.notify(zone),
    logger,
  });
  const server: DnsServer = startDnsServer({
    listenAddr: config.dns.listen_addr,
    store,
    logger,
    reloadIntervalMs: config.dns.reload_interval,
    transferTo: config.dns.transfer_to,
    forwarder: config.dns.forward ? forwarder : undefined,
    onNotify: notifier.handleNotify,
    onSerialsChanged: (changed) => {
      for (const [zone, serial] of changed) void notifier.notify(zone, serial);
    },
    hiddenZones: () =>
      secondary?.expired() ?? hiddenSecondaryZones(store, secondaryZones, Date.now(), logger),
  });
  logger.info("dns listening", { addr: config.dns.listen_addr, port: server.port });
  // The forwarding listener (forward.ts), when configured: the same zones
  // (hidden as the main listener's), everything else through the upstreams.
  const forwarding = config.dns.forward_listen_addr === undefined ? undefined : startDnsServer({
    listenAddr: config.dns.forward_listen_addr,
    store,
    logger,
    reloadIntervalMs: config.dns.reload_interval,
    hiddenZones: () =>
      secondary?.expired() ?? hiddenSecondaryZones(store, secondaryZones, Date.now(), logger),
    forwarder,
  });
  if (forwarding !== undefined) {
    logger.info("dns listening", { addr: config.dns.forward_listen_addr, forward: true });
  }
  if (secondaryZones.length > 0) {
    secondary = startSecondary({
      zones: secondaryZones,
      primary: primary!.addr,
      store,
      logger,
      onChange: () => {
        server.reload(true);
        forwarding?.reload(true);
      },
    });
    logger.info("secondary zones", { zones: secondaryZones, primary: primary!.addr });
  }
  // The record API: writes call reload() so DNS serves them at once.
  let api: RunningApi;
  try {
    api = await startApi({
      config,
      store,
      logger,
      onChange: () => {
        server.reload();
        forwarding?.reload();
      },
    });
  } catch (e) {
    notifier.close();
    await secondary?.close();
    await forwarding?.close();
    await server.close();
    throw e;
  }
  logger.info("api listening", { https_port: api.httpsPort, grpc_port: api.grpcPort });
  const { promise, resolve } = Promise.withResolvers<string>();
  const onInt = () => resolve("SIGINT");
  const onTerm = () => resolve("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  const signal = await promise;
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  logger.info("shutting down", { signal });
  notifier.close();
  await secondary?.close();
  await api.close();
  await forwarding?.close();
  await server.close();
}

/**
 * `[dns] secondary_zones` (normalised) and their `[dns] primary`.
 *
 * @throws {Error} When secondary zones are listed without a primary.
 */
export function secondaryConfig(config: McnsConfig): {
  secondaryZones: string[];
  primary?: { addr: string; hostname: string };
} {
  const secondaryZones = config.dns.secondary_zones.map((z) => normalizeName(z, "zone"));
  const addr = config.dns.primary;
  if (addr === undefined || addr === "") {
    if (secondaryZones.length > 0) {
      throw new Error(
        `Cannot keep secondary zones ${
          secondaryZones.join(", ")
        }: [dns] primary is not set; set it to the primary's "ip:port"`,
      );
    }
    return { secondaryZones };
  }
  return { secondaryZones, primary: { addr, hostname: addr.replace(/^\[|\]?:\d+$/g, "") } };
}
