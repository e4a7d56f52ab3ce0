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
import { openZoneStore, type ZoneStore } from "./store.ts";

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
  /** UDP receives kept pending at once. @default {4} */
  udpReceivers?: number;
}

/** A running DNS server. */
export interface DnsServer extends AsyncDisposable {
  /** The bound port (UDP and TCP). */
  port: number;
  /** Recompiles now if any serial changed. */
  reload(): boolean;
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
    udpReceivers = 4,
  } = options;
  const { hostname, port } = parseListenAddr(listenAddr);
  let zones: CompiledZones = compileZones(store.load());
  let serials = JSON.stringify([...store.serials()]);
  const tcp = Deno.listen({ hostname, port, transport: "tcp" });
  const boundPort = (tcp.addr as Deno.NetAddr).port;
  const udp = Deno.listenDatagram({ hostname, port: boundPort, transport: "udp" });
  const conns = new Set<Deno.TcpConn>();
  let closing = false;

  const reload = (): boolean => {
    const now = JSON.stringify([...store.serials()]);
    if (now === serials) return false;
    zones = compileZones(store.load());
    serials = now;
    logger.info("zones reloaded", { serials: now });
    return true;
  };
  const timer = setInterval(() => {
    try {
      reload();
    } catch (e) {
      logger.error("zone reload failed", { error: (e as Error).message });
    }
  }, reloadIntervalMs);

  // Several receives pending at once on the one socket: each loop's await
  // overlaps the others', so the event loop is never idle between packets.
  let inflight = 0;
  const receiveLoop = async () => {
    while (!closing) {
      let packet: [Uint8Array, Deno.Addr];
      try {
        packet = await udp.receive();
      } catch (e) {
        if (closing) break;
        logger.warn("udp receive failed", { error: (e as Error).message });
        continue;
      }
      let reply: Uint8Array | undefined;
      try {
        reply = answer(packet[0], zones, "udp");
      } catch (e) {
        logger.error("answer failed", { error: (e as Error).message });
        continue;
      }
      if (reply === undefined) continue;
      inflight++;
      const sent = udp.send(reply, packet[1]).catch((e) => {
        // NotCapable: the client is not in [dns] clients.
        logger.debug("udp send failed", { error: (e as Error).message });
      }).finally(() => inflight--);
      if (inflight > 512) await sent;
    }
  };
  const udpLoop = Promise.all(Array.from({ length: udpReceivers }, receiveLoop));

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
        const reply = answer(msg, zones, "tcp");
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
    udp.close();
    tcp.close();
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed already */ }
    }
    await Promise.all([udpLoop, tcpLoop, ...tcpTasks]);
  };
  return { port: boundPort, reload, close, [Symbol.asyncDispose]: close };
}

/**
 * Runs the server from its config until SIGINT or SIGTERM: opens the store,
 * seeds the zones on first start, serves, and shuts down gracefully.
 */
export async function runServer(config: McnsConfig, logger: Logger): Promise<void> {
  using store = openZoneStore(config.database.path);
  if (store.seed(config.dns.domain)) {
    logger.info("zones seeded", { zones: store.listZones().map((z) => z.name) });
  }
  const server = startDnsServer({
    listenAddr: config.dns.listen_addr,
    store,
    logger,
    reloadIntervalMs: config.dns.reload_interval,
  });
  logger.info("dns listening", { addr: config.dns.listen_addr, port: server.port });
  const { promise, resolve } = Promise.withResolvers<string>();
  const onInt = () => resolve("SIGINT");
  const onTerm = () => resolve("SIGTERM");
  Deno.addSignalListener("SIGINT", onInt);
  Deno.addSignalListener("SIGTERM", onTerm);
  const signal = await promise;
  Deno.removeSignalListener("SIGINT", onInt);
  Deno.removeSignalListener("SIGTERM", onTerm);
  logger.info("shutting down", { signal });
  await server.close();
}
