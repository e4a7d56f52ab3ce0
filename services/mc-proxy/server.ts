/**
 * MC-Proxy's server: opens the store (seeding it from the config on first
 * start), builds the shared firewall, starts one {@linkcode ProxyListener}
 * per listener, keeps them in step with store changes, and drains on
 * SIGINT/SIGTERM.
 *
 * {@linkcode startProxy} is the in-process core (tests use it);
 * {@linkcode runServer} is the `server` subcommand around it.
 *
 * @module
 */

import type { Logger } from "@mc/mcdsl/log";
import type { McProxyConfig } from "./config.ts";
import { Firewall } from "./firewall.ts";
import { ProxyListener } from "./listener.ts";
import { splitBackend } from "./l4.ts";
import { openProxyStore, type ProxyStore, type ProxyTables } from "./store.ts";
import { type L7Terminator, NULL_OBSERVER, type ProxyObserver } from "./types.ts";

/** Options for {@linkcode startProxy}. */
export interface ProxyOptions {
  /** The open store (listeners, routes, rules). */
  store: ProxyStore;
  /** The shared firewall (its rules are kept equal to the store's). */
  firewall: Firewall;
  /** Metrics hooks. @default {NULL_OBSERVER} */
  observer?: ProxyObserver;
  /** The L7 side; without it l7 routes are refused with a RST. */
  l7?: L7Terminator;
  /** Backend connect timeout; also bounds the PROXY header + ClientHello wait, ms. */
  connectTimeoutMs: number;
  /** L4 idle timeout, ms. */
  idleTimeoutMs: number;
  /** Logger. */
  logger: Logger;
  /**
   * Bind address per listener (`addr` → address to bind instead), e.g. tests
   * binding `127.0.0.1:0`. Routes still key on the configured `addr`.
   */
  bindOverrides?: ReadonlyMap<string, string>;
}

/** A running proxy. */
export interface RunningProxy {
  /** Listeners by configured address. */
  readonly listeners: ReadonlyMap<string, ProxyListener>;
  /** Client connections open now, over every listener. */
  liveConnections(): number;
  /** L4 backend connections open now. */
  liveBackends(): number;
  /** Open connections by listener address (for the admin status). */
  activeConnections(): ReadonlyMap<string, number>;
  /**
   * Graceful shutdown: stop accepting, let connections finish until
   * `deadline` (epoch ms), then destroy the rest.
   *
   * @returns Connections destroyed at the deadline.
   */
  close(deadline: number): Promise<number>;
}

/**
 * Starts every listener in the store.
 *
 * @param options Store, firewall, observer, L7, timeouts, logger.
 * @returns The running proxy.
 */
export async function startProxy(options: ProxyOptions): Promise<RunningProxy> {
  const { store, firewall, logger } = options;
  const observer = options.observer ?? NULL_OBSERVER;
  const applyRules = (tables: ProxyTables) => {
    for (const r of firewall.setRules(tables.rules)) {
      logger.warn("firewall rule ignored", {
        kind: r.rule.kind,
        value: r.rule.value,
        reason: r.reason,
      });
    }
  };
  applyRules(store.tables());
  options.l7?.updateRoutes(store.tables().routes);

  const listeners = new Map<string, ProxyListener>();
  for (const spec of store.tables().listeners) {
    const bind = options.bindOverrides?.get(spec.addr);
    const addr = spec.addr;
    const l = new ProxyListener({
      spec: bind === undefined ? spec : { ...spec, addr: bind },
      routes: () => store.tables().byListener.get(addr),
      firewall,
      observer,
      l7: options.l7,
      connectTimeoutMs: options.connectTimeoutMs,
      idleTimeoutMs: options.idleTimeoutMs,
      logger,
    });
    listeners.set(addr, l);
  }
  try {
    for (const [addr, l] of listeners) {
      const port = await l.listen();
      logger.info("listening", { listener: addr, port });
    }
  } catch (e) {
    for (const l of listeners.values()) await l.drain(0);
    throw e;
  }

  const unsubscribe = store.onChange((tables) => {
    applyRules(tables);
    for (const spec of tables.listeners) {
      try {
        listeners.get(spec.addr)?.setTrustedProxies(spec.trustedProxies);
      } catch (e) {
        logger.warn("trusted proxies not applied", {
          listener: spec.addr,
          error: (e as Error).message,
        });
      }
    }
    try {
      options.l7?.updateRoutes(tables.routes);
    } catch (e) {
      logger.error("l7 route update failed", { error: (e as Error).message });
    }
  });

  const sum = (f: (l: ProxyListener) => number) =>
    [...listeners.values()].reduce((n, l) => n + f(l), 0);
  return {
    listeners,
    liveConnections: () => sum((l) => l.liveConnections),
    liveBackends: () => sum((l) => l.liveBackends),
    activeConnections: () =>
      new Map([...listeners].map(([addr, l]) => [addr, l.liveConnections] as const)),
    async close(deadline) {
      unsubscribe();
      for (const l of listeners.values()) l.stopAccepting();
      const [counts] = await Promise.all([
        Promise.all([...listeners.values()].map((l) => l.drain(deadline))),
        options.l7?.close(deadline),
      ]);
      return counts.reduce((a, b) => a + b, 0);
    },
  };
}

/**
 * The backends a route may point at: the configured routes' backends and
 * `[proxy] backend_hosts` (`host:port`, or `host` for any port) — exactly the
 * sandbox's net grant. The admin API calls it before storing a route.
 *
 * @param config The config.
 * @returns A check that throws a RangeError (safe to show) for a backend outside it.
 */
export function backendCheck(config: McProxyConfig): (backend: string) => void {
  const exact = new Set<string>();
  const hosts = new Set<string>();
  for (const l of config.listeners) for (const r of l.routes) exact.add(r.backend.toLowerCase());
  for (const h of config.proxy.backend_hosts) {
    if (/:\d+$/.test(h)) exact.add(h.toLowerCase());
    else hosts.add(h.toLowerCase().replace(/^\[(.*)\]$/, "$1"));
  }
  return (backend) => {
    const { host } = splitBackend(backend);
    const b = backend.toLowerCase();
    if (exact.has(b) || hosts.has(host.toLowerCase())) return;
    throw new RangeError(
      `Cannot route to backend "${backend}": not in the configured routes or [proxy] backend_hosts (the sandbox grants net only to those; add it there and restart)`,
    );
  };
}

/**
 * The admin socket, or `undefined` when `[admin] socket` is unset: the admin
 * API is then off and the config file is the only way to manage routes (seed
 * 004's edge). No default path: the sandbox grants exactly the configured one.
 */
export function adminSocketPath(config: McProxyConfig): string | undefined {
  return config.admin.socket;
}

/** Extra parts the caller (main.ts, the lead's wiring) may plug in. */
export interface RunServerParts {
  /** The L7 terminator, built once the firewall exists (UA blocks). */
  l7?: (firewall: Firewall, observer: ProxyObserver) => L7Terminator;
  /** Metrics observer. */
  observer?: ProxyObserver;
  /**
   * Started after the listeners (admin socket, metrics listener); returns a
   * closer run at shutdown.
   */
  extras?: (ctx: {
    store: ProxyStore;
    proxy: RunningProxy;
    firewall: Firewall;
  }) => Promise<() => Promise<void>>;
}

/**
 * Runs the proxy until SIGINT or SIGTERM, then drains for
 * `[proxy] shutdown_timeout`.
 *
 * @param config The loaded config.
 * @param logger The service logger.
 * @param parts L7, metrics, admin.
 */
export async function runServer(
  config: McProxyConfig,
  logger: Logger,
  parts: RunServerParts = {},
): Promise<void> {
  using store = openProxyStore(config.database.path);
  const seeded = store.seedFromConfig(config);
  logger.info(seeded ? "store seeded from config" : "store loaded", {
    routes: store.tables().routes.length,
    rules: store.tables().rules.length,
  });
  const geoipDb = config.firewall.geoip_db === undefined
    ? undefined
    : await Deno.readFile(config.firewall.geoip_db);
  const firewall = new Firewall({
    geoipDb,
    rateLimit: { limit: config.firewall.rate_limit, windowMs: config.firewall.rate_window },
  });
  if (!firewall.hasGeoip && store.tables().rules.some((r) => r.kind === "country")) {
    logger.warn("country rules need [firewall] geoip_db; they match nothing without it");
  }
  const observer = parts.observer ?? NULL_OBSERVER;
  const proxy = await startProxy({
    store,
    firewall,
    observer,
    l7: parts.l7?.(firewall, observer),
    connectTimeoutMs: config.proxy.connect_timeout,
    idleTimeoutMs: config.proxy.idle_timeout,
    logger,
  });
  const closeExtras = parts.extras === undefined
    ? async () => {}
    : await parts.extras({ store, proxy, firewall });

  const { promise: stop, resolve } = Promise.withResolvers<string>();
  const onSignal = (name: string) => () => resolve(name);
  const sigint = onSignal("SIGINT");
  const sigterm = onSignal("SIGTERM");
  Deno.addSignalListener("SIGINT", sigint);
  Deno.addSignalListener("SIGTERM", sigterm);
  const signal = await stop;
  Deno.removeSignalListener("SIGINT", sigint);
  Deno.removeSignalListener("SIGTERM", sigterm);
  logger.info("draining", { signal, live: proxy.liveConnections() });
  const destroyed = await proxy.close(Date.now() + config.proxy.shutdown_timeout);
  await closeExtras();
  logger.info("stopped", { destroyed });
}
