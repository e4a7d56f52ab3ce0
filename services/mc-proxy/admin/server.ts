/**
 * The MC-Proxy admin API (`proto/mcproxy/v1/admin.proto`) served on a unix
 * domain socket: routes, firewall rules and status, on top of the store.
 *
 * Every change goes to the store, which persists it before the running
 * listeners see it (write-through); the admin server itself holds no state.
 * Inputs are validated here (validate.ts) before the store is touched.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import {
  createGrpcServer,
  type GrpcListener,
  type GrpcServer,
  loadProto,
} from "@mc/mcdsl/grpcserver";
import type { Logger } from "@mc/mcdsl/log";
import { PROTO_JSON } from "../../../proto/mcproxy/v1/gen/descriptor.ts";
import type { ProtoGrpcType } from "../../../proto/mcproxy/v1/gen/admin.ts";
import type { ProxyAdminServiceHandlers } from "../../../proto/mcproxy/v1/gen/mcproxy/v1/ProxyAdminService.ts";
import type { Route as RouteMessage } from "../../../proto/mcproxy/v1/gen/mcproxy/v1/Route.ts";
import type { FirewallRule, ListenerSpec, Route } from "../types.ts";
import { ADMIN_ACCESS } from "./access.ts";
import {
  AdminInputError,
  AdminNotFoundError,
  normalizeHostname,
  validateRoute,
  validateRule,
} from "./validate.ts";

/** The loaded `mcproxy.v1` package: the service definition and client class. */
export const PROTO: ProtoGrpcType["mcproxy"]["v1"] =
  loadProto<ProtoGrpcType>(PROTO_JSON).grpc.mcproxy.v1;

/**
 * What the admin server needs of the store (services/mc-proxy/store.ts). Each
 * mutation must be persisted before it returns and before the listeners see
 * it.
 */
export interface AdminStore {
  /** Configured listeners. */
  listListeners(): ListenerSpec[];
  /** Every route. */
  listRoutes(): Route[];
  /** Inserts or replaces the route for (listener, hostname). */
  upsertRoute(route: Route): unknown;
  /** Removes the route for (listener, hostname). */
  removeRoute(listener: string, hostname: string): unknown;
  /** Every firewall rule. */
  listFirewallRules(): FirewallRule[];
  /** Adds a rule (adding an existing one is a no-op). */
  addFirewallRule(rule: FirewallRule): unknown;
  /** Removes a rule. */
  removeFirewallRule(rule: FirewallRule): unknown;
}

/** Live numbers for `GetStatus`. */
export interface AdminStatusSource {
  /** Connections open now by listener address. */
  activeConnections(): ReadonlyMap<string, number>;
}

/** Options for {@linkcode startAdminServer}. */
export interface AdminServerOptions {
  /** Absolute path of the socket file (`[admin] socket`). */
  socket: string;
  /** The route and firewall store. */
  store: AdminStore;
  /** Live connection counts. */
  status: AdminStatusSource;
  /** Call log and unexpected errors. */
  logger: Logger;
  /** Reported by `GetStatus`. */
  version: string;
  /**
   * Extra backend check (e.g. the `[proxy]` backend allow-list the sandbox
   * grants net to); throw an Error whose message is safe to show to refuse.
   */
  checkBackend?: (backend: string) => void;
  /**
   * Reads route certificate files, to refuse unreadable or non-PEM paths
   * before they are stored.
   * @default {Deno.readTextFile}
   */
  readFile?: (path: string) => Promise<string>;
  /**
   * The start time `GetStatus` reports.
   * @default {new Date()}
   */
  startedAt?: Date;
}

/** The running admin server. */
export interface AdminServer {
  /** `unix:///path`. */
  readonly addr: string;
  /** Stops accepting calls, waits up to `graceMs` for running ones, removes the socket. */
  shutdown(graceMs?: number): Promise<void>;
}

function toMessage(r: Route): RouteMessage {
  return {
    listener: r.listener,
    hostname: r.hostname,
    backend: r.backend,
    mode: r.mode,
    tlsCert: r.tlsCert ?? "",
    tlsKey: r.tlsKey ?? "",
    backendTls: r.backendTls,
    sendProxyProtocol: r.sendProxyProtocol,
  };
}

function sortRoutes(routes: Route[]): Route[] {
  return routes.sort((a, b) =>
    a.listener < b.listener
      ? -1
      : a.listener > b.listener
      ? 1
      : a.hostname < b.hostname
      ? -1
      : a.hostname > b.hostname
      ? 1
      : 0
  );
}

function sameRule(a: FirewallRule, b: FirewallRule): boolean {
  return a.kind === b.kind && a.value === b.value;
}

/** Maps what a handler threw to a status; unexpected errors are logged and hidden. */
function toStatus(error: unknown, logger: Logger, method: string): grpc.ServiceError {
  const status = (code: grpc.status, details: string) =>
    Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
  if (error instanceof AdminInputError) return status(grpc.status.INVALID_ARGUMENT, error.message);
  if (error instanceof AdminNotFoundError) return status(grpc.status.NOT_FOUND, error.message);
  // The store refuses what it cannot hold with RangeError/TypeError, written for callers.
  if (error instanceof RangeError || error instanceof TypeError) {
    return status(grpc.status.INVALID_ARGUMENT, error.message);
  }
  logger.error("admin call failed", { method, error: String(error) });
  return status(grpc.status.INTERNAL, "internal error; see the proxy's log");
}

async function checkPem(
  path: string,
  marker: RegExp,
  what: string,
  read: (p: string) => Promise<string>,
): Promise<void> {
  let text: string;
  try {
    text = await read(path);
  } catch (e) {
    throw new AdminInputError(
      `Cannot use ${what} "${path}": the proxy cannot read it (${
        (e as Error).name
      }); certificates belong in its data directory`,
    );
  }
  if (!marker.test(text)) {
    throw new AdminInputError(`Cannot use ${what} "${path}": it is not a PEM ${what}`);
  }
}

/**
 * Builds the admin gRPC server (without listening), for tests that need the
 * access map or the handlers.
 *
 * @param options Store, status, logger, version.
 * @returns The server.
 */
export function createAdminServer(options: Omit<AdminServerOptions, "socket">): GrpcServer {
  const { store, status, logger, version } = options;
  const readFile = options.readFile ?? ((p: string) => Deno.readTextFile(p));
  const startedAt = options.startedAt ?? new Date();

  function unary<Req, Res>(
    fn: (request: Req) => Res | Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      Promise.resolve().then(() => fn(call.request)).then(
        (response) => callback(null, response),
        (error: unknown) => callback(toStatus(error, logger, call.getPath())),
      );
    };
  }

  const handlers: ProxyAdminServiceHandlers = {
    AddRoute: unary(async (req) => {
      const listeners = store.listListeners().map((l) => l.addr);
      const route = validateRoute(req.route ?? {}, listeners);
      if (options.checkBackend !== undefined) {
        try {
          options.checkBackend(route.backend);
        } catch (e) {
          throw new AdminInputError((e as Error).message);
        }
      }
      if (route.mode === "l7") {
        await checkPem(
          route.tlsCert!,
          /-----BEGIN [A-Z ]*CERTIFICATE-----/,
          "certificate",
          readFile,
        );
        await checkPem(
          route.tlsKey!,
          /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
          "private key",
          readFile,
        );
      }
      const replaced = store.listRoutes().some((r) =>
        r.listener === route.listener && r.hostname === route.hostname
      );
      store.upsertRoute(route);
      logger.info("route upserted", {
        listener: route.listener,
        hostname: route.hostname,
        backend: route.backend,
        mode: route.mode,
        replaced,
      });
      return { route: toMessage(route), replaced };
    }),
    RemoveRoute: unary((req) => {
      const listener = req.listener.trim();
      const hostname = normalizeHostname(req.hostname);
      const exists = store.listRoutes().some((r) =>
        r.listener === listener && r.hostname === hostname
      );
      if (!exists) {
        throw new AdminNotFoundError(
          `Cannot remove route "${hostname}" on "${listener}": no such route`,
        );
      }
      store.removeRoute(listener, hostname);
      logger.info("route removed", { listener, hostname });
      return {};
    }),
    ListRoutes: unary((req) => {
      const listener = req.listener.trim();
      const routes = store.listRoutes().filter((r) => listener === "" || r.listener === listener);
      return { routes: sortRoutes(routes).map(toMessage) };
    }),
    AddFirewallRule: unary((req) => {
      const rule = validateRule(req.rule ?? {});
      if (!store.listFirewallRules().some((r) => sameRule(r, rule))) {
        store.addFirewallRule(rule);
        logger.info("firewall rule added", { kind: rule.kind, value: rule.value });
      }
      return { rule };
    }),
    RemoveFirewallRule: unary((req) => {
      const rule = validateRule(req.rule ?? {});
      if (!store.listFirewallRules().some((r) => sameRule(r, rule))) {
        throw new AdminNotFoundError(
          `Cannot remove ${rule.kind} rule "${rule.value}": no such rule`,
        );
      }
      store.removeFirewallRule(rule);
      logger.info("firewall rule removed", { kind: rule.kind, value: rule.value });
      return {};
    }),
    ListFirewallRules: unary(() => {
      const rules = store.listFirewallRules().map((r) => ({ kind: r.kind, value: r.value }));
      rules.sort((a, b) =>
        a.kind < b.kind
          ? -1
          : a.kind > b.kind
          ? 1
          : a.value < b.value
          ? -1
          : a.value > b.value
          ? 1
          : 0
      );
      return { rules };
    }),
    GetStatus: unary(() => {
      const routes = store.listRoutes();
      const active = status.activeConnections();
      let live = 0;
      for (const n of active.values()) live += n;
      return {
        version,
        uptimeSeconds: (Date.now() - startedAt.getTime()) / 1000,
        startedAt: startedAt.toISOString(),
        listeners: store.listListeners().map((l) => ({
          addr: l.addr,
          routes: routes.filter((r) => r.listener === l.addr).length,
          activeConnections: active.get(l.addr) ?? 0,
          trustedProxies: l.trustedProxies,
        })),
        liveConnections: live,
        totalRoutes: routes.length,
        firewallRules: store.listFirewallRules().length,
      };
    }),
  };

  return createGrpcServer({
    services: [{
      definition: PROTO.ProxyAdminService.service,
      implementation: handlers as unknown as grpc.UntypedServiceImplementation,
    }],
    access: ADMIN_ACCESS,
    logger,
  });
}

/**
 * Starts the admin server on the unix socket `options.socket` (mode 0600).
 * A socket file left by a crashed process is removed first, but only when
 * nothing answers on it; a live one or a non-socket file stops the start.
 *
 * @param options Socket path, store, status, logger, version.
 * @returns The listener.
 * @throws {RangeError} When `socket` is not an absolute path.
 * @throws {Deno.errors.AddrInUse} When another process serves on the socket.
 */
export async function startAdminServer(options: AdminServerOptions): Promise<AdminServer> {
  const { socket } = options;
  if (!socket.startsWith("/")) {
    throw new RangeError(
      `Cannot listen on admin socket "${socket}": expected an absolute path in the data directory`,
    );
  }
  const server = createAdminServer(options);
  const listener: GrpcListener = await server.listen({
    addr: `unix://${socket}`,
    socketMode: 0o600,
  });
  return { addr: listener.addr, shutdown: (graceMs) => listener.shutdown(graceMs) };
}
