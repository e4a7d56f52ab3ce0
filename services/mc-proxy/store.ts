/**
 * MC-Proxy's state in SQLite: listeners, routes and firewall rules.
 *
 * The config seeds routes and firewall rules on the first start only; after
 * that the database is the truth. Listeners are the exception: they are what
 * the sandbox grants `net` to, so the config owns them and
 * {@linkcode ProxyStore.syncListeners} makes the table match it on every
 * start (a listener removed from the config loses its routes).
 *
 * Write-through: every mutation commits its transaction first, then swaps the
 * immutable in-memory {@linkcode ProxyTables} the listeners read, then calls
 * the change handlers, so a change the caller saw succeed is both durable and
 * live for the next connection.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { migrate, type Migration, openDatabase, transaction } from "@mc/mcdsl/db";
import type { FirewallRule, FirewallRuleKind, ListenerSpec, Route, RouteMode } from "./types.ts";

/** An immutable view of everything the listeners route and filter by. */
export interface ProxyTables {
  /** Listeners, in address order. */
  readonly listeners: readonly ListenerSpec[];
  /** Routes, by listener then hostname. */
  readonly routes: readonly Route[];
  /** Firewall rules, by kind then value. */
  readonly rules: readonly FirewallRule[];
  /** `listener` → lower-case hostname → route: the per-connection lookup. */
  readonly byListener: ReadonlyMap<string, ReadonlyMap<string, Route>>;
}

/** What seeding reads: the config's listeners and `[firewall]` lists. */
export interface SeedConfig {
  listeners: readonly {
    addr: string;
    trusted_proxies: readonly string[];
    routes: readonly {
      hostname: string;
      backend: string;
      mode: RouteMode;
      tls_cert?: string;
      tls_key?: string;
      backend_tls: boolean;
      send_proxy_protocol: boolean;
    }[];
  }[];
  firewall: {
    blocked_ips: readonly string[];
    blocked_cidrs: readonly string[];
    blocked_countries: readonly string[];
    blocked_user_agents: readonly string[];
  };
}

const MIGRATIONS: Migration[] = [{
  version: 1,
  name: "create_listeners_routes_rules",
  up: `
    CREATE TABLE listeners (
      addr TEXT PRIMARY KEY,
      trusted_proxies TEXT NOT NULL DEFAULT '[]'
    );
    CREATE TABLE routes (
      listener TEXT NOT NULL REFERENCES listeners(addr) ON DELETE CASCADE,
      hostname TEXT NOT NULL,
      backend TEXT NOT NULL,
      mode TEXT NOT NULL CHECK (mode IN ('l4', 'l7')),
      tls_cert TEXT,
      tls_key TEXT,
      backend_tls INTEGER NOT NULL DEFAULT 0,
      send_proxy_protocol INTEGER NOT NULL DEFAULT 0,
      PRIMARY KEY (listener, hostname)
    );
    CREATE TABLE firewall_rules (
      kind TEXT NOT NULL CHECK (kind IN ('ip', 'cidr', 'country', 'user_agent')),
      value TEXT NOT NULL,
      PRIMARY KEY (kind, value)
    );
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
}];

const RULE_KINDS: ReadonlySet<string> = new Set(["ip", "cidr", "country", "user_agent"]);

/**
 * Lower-cases a hostname and drops one trailing dot (SNI carries no dot; a
 * config may).
 *
 * @param hostname As given.
 * @returns The stored form.
 */
export function canonicalHostname(hostname: string): string {
  const h = hostname.trim().toLowerCase();
  return h.endsWith(".") ? h.slice(0, -1) : h;
}

function canonicalRule(rule: FirewallRule): FirewallRule {
  if (!RULE_KINDS.has(rule.kind)) {
    throw new RangeError(
      `Cannot store firewall rule kind "${rule.kind}": expected ip, cidr, country or user_agent`,
    );
  }
  let value = rule.value.trim();
  if (value === "") {
    throw new RangeError(`Cannot store ${rule.kind} firewall rule: the value is empty`);
  }
  if (rule.kind === "country") value = value.toUpperCase();
  if (rule.kind === "user_agent") value = value.toLowerCase();
  if (rule.kind === "ip" || rule.kind === "cidr") value = value.toLowerCase();
  return { kind: rule.kind, value };
}

function canonicalRoute(route: Route): Route {
  const hostname = canonicalHostname(route.hostname);
  if (hostname === "") throw new RangeError("Cannot store a route: the hostname is empty");
  if (route.mode !== "l4" && route.mode !== "l7") {
    throw new RangeError(`Cannot store route ${hostname}: mode must be l4 or l7`);
  }
  if (route.backend.trim() === "") {
    throw new RangeError(`Cannot store route ${hostname}: the backend is empty`);
  }
  if (route.mode === "l7" && (!route.tlsCert || !route.tlsKey)) {
    throw new RangeError(
      `Cannot store l7 route ${hostname}: it needs tls_cert and tls_key (the certificate it terminates with)`,
    );
  }
  return {
    listener: route.listener,
    hostname,
    backend: route.backend.trim(),
    mode: route.mode,
    ...(route.tlsCert ? { tlsCert: route.tlsCert } : {}),
    ...(route.tlsKey ? { tlsKey: route.tlsKey } : {}),
    backendTls: route.backendTls === true,
    sendProxyProtocol: route.sendProxyProtocol === true,
  };
}

interface RouteRow {
  listener: string;
  hostname: string;
  backend: string;
  mode: RouteMode;
  tls_cert: string | null;
  tls_key: string | null;
  backend_tls: number;
  send_proxy_protocol: number;
}

function readTables(db: DatabaseSync): ProxyTables {
  const listeners = db.prepare("SELECT addr, trusted_proxies FROM listeners ORDER BY addr")
    .all().map((r) => ({
      addr: String(r.addr),
      trustedProxies: JSON.parse(String(r.trusted_proxies)) as string[],
    }));
  const routes = (db.prepare(
    "SELECT * FROM routes ORDER BY listener, hostname",
  ).all() as unknown as RouteRow[]).map((r): Route => ({
    listener: r.listener,
    hostname: r.hostname,
    backend: r.backend,
    mode: r.mode,
    ...(r.tls_cert !== null ? { tlsCert: r.tls_cert } : {}),
    ...(r.tls_key !== null ? { tlsKey: r.tls_key } : {}),
    backendTls: r.backend_tls !== 0,
    sendProxyProtocol: r.send_proxy_protocol !== 0,
  }));
  const rules = db.prepare("SELECT kind, value FROM firewall_rules ORDER BY kind, value").all()
    .map((r) => ({ kind: String(r.kind) as FirewallRuleKind, value: String(r.value) }));
  const byListener = new Map<string, Map<string, Route>>();
  for (const l of listeners) byListener.set(l.addr, new Map());
  for (const r of routes) byListener.get(r.listener)?.set(r.hostname, r);
  return Object.freeze({
    listeners: Object.freeze(listeners),
    routes: Object.freeze(routes),
    rules: Object.freeze(rules),
    byListener,
  });
}

/** Called after a change is committed and live. Must not throw. */
export type ChangeHandler = (tables: ProxyTables) => void;

/** The store. Open it with {@linkcode openProxyStore}. */
export interface ProxyStore extends Disposable {
  /** The current tables (a snapshot; a change swaps in a new one). */
  tables(): ProxyTables;
  /**
   * Seeds routes and firewall rules from the config when the database has
   * never been seeded; syncs the listeners either way.
   *
   * @returns True when this call seeded.
   */
  seedFromConfig(config: SeedConfig): boolean;
  /**
   * Makes the listeners table match the config (trusted proxies updated;
   * listeners gone from the config are dropped with their routes).
   *
   * @returns Addresses of the listeners dropped.
   */
  syncListeners(listeners: SeedConfig["listeners"]): string[];
  /** Listeners. */
  listListeners(): ListenerSpec[];
  /** Routes. */
  listRoutes(): Route[];
  /**
   * Inserts or replaces the route for (listener, hostname): idempotent.
   *
   * @returns The stored route (hostname canonical).
   * @throws {RangeError} For an unknown listener or an incomplete route.
   */
  upsertRoute(route: Route): Route;
  /** @returns Whether a route was removed. */
  removeRoute(listener: string, hostname: string): boolean;
  /** Firewall rules. */
  listFirewallRules(): FirewallRule[];
  /** @returns Whether the rule was new (adding an existing rule is a no-op). */
  addFirewallRule(rule: FirewallRule): boolean;
  /** @returns Whether a rule was removed. */
  removeFirewallRule(rule: FirewallRule): boolean;
  /**
   * Calls `fn` after every committed change.
   *
   * @returns A function that unsubscribes.
   */
  onChange(fn: ChangeHandler): () => void;
  /** Closes the database. */
  close(): void;
}

/**
 * Opens (creating and migrating) the store at `path`.
 *
 * @param path SQLite file, or `":memory:"`.
 * @returns The store.
 *
 * @example Upsert is idempotent
 * ```ts
 * import assert from "node:assert/strict";
 * import { openProxyStore } from "./store.ts";
 *
 * using store = openProxyStore(":memory:");
 * store.syncListeners([{ addr: ":443", trusted_proxies: [], routes: [] }]);
 * const route = {
 *   listener: ":443", hostname: "A.test", backend: "127.0.0.1:8443",
 *   mode: "l4" as const, backendTls: false, sendProxyProtocol: false,
 * };
 * store.upsertRoute(route);
 * store.upsertRoute(route);
 * assert.deepEqual(store.listRoutes().map((r) => r.hostname), ["a.test"]);
 * ```
 */
export function openProxyStore(path: string): ProxyStore {
  const db = openDatabase(path);
  try {
    migrate(db, MIGRATIONS);
  } catch (e) {
    db.close();
    throw e;
  }
  let current = readTables(db);
  const handlers = new Set<ChangeHandler>();

  // Commit, then swap, then notify: the write-through order.
  function change<T>(fn: () => T): T {
    const result = transaction(db, fn);
    current = readTables(db);
    for (const h of handlers) {
      try {
        h(current);
      } catch {
        // A handler's bug must not undo or hide a committed change.
      }
    }
    return result;
  }

  function insertRoute(r: Route): void {
    db.prepare(
      `INSERT INTO routes (listener, hostname, backend, mode, tls_cert, tls_key, backend_tls, send_proxy_protocol)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (listener, hostname) DO UPDATE SET
         backend = excluded.backend, mode = excluded.mode, tls_cert = excluded.tls_cert,
         tls_key = excluded.tls_key, backend_tls = excluded.backend_tls,
         send_proxy_protocol = excluded.send_proxy_protocol`,
    ).run(
      r.listener,
      r.hostname,
      r.backend,
      r.mode,
      r.tlsCert ?? null,
      r.tlsKey ?? null,
      r.backendTls ? 1 : 0,
      r.sendProxyProtocol ? 1 : 0,
    );
  }

  function insertRule(rule: FirewallRule): boolean {
    return db.prepare("INSERT OR IGNORE INTO firewall_rules (kind, value) VALUES (?, ?)")
      .run(rule.kind, rule.value).changes === 1;
  }

  function sync(listeners: SeedConfig["listeners"]): string[] {
    const wanted = new Set(listeners.map((l) => l.addr));
    const dropped = db.prepare("SELECT addr FROM listeners").all().map((r) => String(r.addr))
      .filter((a) => !wanted.has(a));
    for (const addr of dropped) db.prepare("DELETE FROM listeners WHERE addr = ?").run(addr);
    for (const l of listeners) {
      db.prepare(
        `INSERT INTO listeners (addr, trusted_proxies) VALUES (?, ?)
         ON CONFLICT (addr) DO UPDATE SET trusted_proxies = excluded.trusted_proxies`,
      ).run(l.addr, JSON.stringify(l.trusted_proxies));
    }
    return dropped;
  }

  const store: ProxyStore = {
    tables: () => current,
    seedFromConfig(config) {
      return change(() => {
        sync(config.listeners);
        if (db.prepare("SELECT 1 FROM meta WHERE key = 'seeded'").get() !== undefined) {
          return false;
        }
        for (const l of config.listeners) {
          for (const r of l.routes) {
            insertRoute(canonicalRoute({
              listener: l.addr,
              hostname: r.hostname,
              backend: r.backend,
              mode: r.mode,
              tlsCert: r.tls_cert,
              tlsKey: r.tls_key,
              backendTls: r.backend_tls,
              sendProxyProtocol: r.send_proxy_protocol,
            }));
          }
        }
        const fw = config.firewall;
        const lists: [FirewallRuleKind, readonly string[]][] = [
          ["ip", fw.blocked_ips],
          ["cidr", fw.blocked_cidrs],
          ["country", fw.blocked_countries],
          ["user_agent", fw.blocked_user_agents],
        ];
        for (const [kind, values] of lists) {
          for (const value of values) insertRule(canonicalRule({ kind, value }));
        }
        db.prepare("INSERT INTO meta (key, value) VALUES ('seeded', ?)")
          .run(new Date().toISOString());
        return true;
      });
    },
    syncListeners: (listeners) => change(() => sync(listeners)),
    listListeners: () =>
      current.listeners.map((l) => ({ ...l, trustedProxies: [...l.trustedProxies] })),
    listRoutes: () => current.routes.map((r) => ({ ...r })),
    upsertRoute(route) {
      const r = canonicalRoute(route);
      if (!current.byListener.has(r.listener)) {
        throw new RangeError(
          `Cannot store route ${r.hostname}: no listener "${r.listener}" (expected one of ${
            current.listeners.map((l) => `"${l.addr}"`).join(", ")
          })`,
        );
      }
      change(() => insertRoute(r));
      return { ...r };
    },
    removeRoute(listener, hostname) {
      return change(() =>
        db.prepare("DELETE FROM routes WHERE listener = ? AND hostname = ?")
          .run(listener, canonicalHostname(hostname)).changes === 1
      );
    },
    listFirewallRules: () => current.rules.map((r) => ({ ...r })),
    addFirewallRule(rule) {
      const r = canonicalRule(rule);
      return change(() => insertRule(r));
    },
    removeFirewallRule(rule) {
      const r = canonicalRule(rule);
      return change(() =>
        db.prepare("DELETE FROM firewall_rules WHERE kind = ? AND value = ?").run(r.kind, r.value)
          .changes === 1
      );
    },
    onChange(fn) {
      handlers.add(fn);
      return () => handlers.delete(fn);
    },
    close() {
      handlers.clear();
      if (db.isOpen) db.close();
    },
    [Symbol.dispose]() {
      store.close();
    },
  };
  return store;
}
