/**
 * The route access map: every route a service registers is declared
 * `public`, `authenticated` or `admin` in one reviewable table, and requests
 * are checked against it before they reach a handler.
 *
 * @module
 */

import {
  type Context,
  type Env,
  type ErrorHandler,
  Hono,
  type MiddlewareHandler,
  type Schema,
} from "hono";
import { matchedRoutes } from "hono/route";
import { COMPOSED_HANDLER } from "hono/utils/constants";
import { bearerToken } from "../auth/bearer_token.ts";
import {
  type Access,
  ACCESS_LEVELS,
  allows,
  type TokenInfo,
  type TokenValidator,
} from "../auth/types.ts";
import type { Logger } from "../log/mod.ts";
import { errorResponse, jsonErrorHandler, jsonNotFound } from "./http_error.ts";
import { RUNS_ON_UNMATCHED } from "./_unmatched.ts";

/**
 * Access level of every route, keyed `"METHOD /hono/path/:pattern"` exactly
 * as the route was registered, for example
 * `{ "GET /v1/health": "public", "POST /v1/accounts": "admin" }`. Routes
 * registered with `app.all()` use the method `ALL`. HEAD requests follow
 * the GET entry.
 */
export type AccessMap = Readonly<Record<string, Access>>;

/** Context variables set by {@linkcode secureApp} for handlers. */
export interface AccessVariables {
  /** What MCIAS said about the caller's token; absent on `public` routes. */
  tokenInfo?: TokenInfo;
}

/** Options for {@linkcode secureApp}. */
export interface SecureAppOptions {
  /** Turns bearer tokens into {@linkcode TokenInfo}, usually the MCIAS client. */
  validator: TokenValidator;
  /** Logs validator failures and unexpected errors. */
  logger: Logger;
  /**
   * Realm named in `WWW-Authenticate`, usually the service name.
   * @default {"metacircular"}
   */
  realm?: string;
}

/**
 * The access map and the app's routes disagree: `missing` routes are
 * registered but not declared, `stale` entries declare routes that do not
 * exist. Thrown at start-up so a forgotten declaration stops the service
 * instead of leaving a route unguarded.
 */
export class AccessMapError extends Error {
  /** Registered routes with no entry, as `"METHOD /path"`. */
  readonly missing: readonly string[];
  /** Entries that match no registered route. */
  readonly stale: readonly string[];

  /**
   * @param missing Registered routes with no entry.
   * @param stale Entries that match no registered route.
   */
  constructor(missing: readonly string[], stale: readonly string[]) {
    const parts: string[] = [];
    if (missing.length > 0) {
      parts.push(
        `${count(missing.length, "route is", "routes are")} not in the access map: ${
          quote(missing)
        } (declare each as ${quote(ACCESS_LEVELS)})`,
      );
    }
    if (stale.length > 0) {
      parts.push(
        `${count(stale.length, "access map entry matches", "access map entries match")} ` +
          `no registered route: ${quote(stale)} (remove or correct each)`,
      );
    }
    super(`Cannot secure app: ${parts.join("; ")}`);
    this.name = "AccessMapError";
    this.missing = missing;
    this.stale = stale;
  }
}

type AnyHandler = ((...args: never[]) => unknown) & { [COMPOSED_HANDLER]?: AnyHandler };

const KEY = /^(GET|POST|PUT|PATCH|DELETE|OPTIONS|HEAD|ALL) \/\S*$/;

/**
 * Checks `app`'s routes against `accessMap` and returns a new app serving
 * the same routes with the access check in front of each.
 *
 * Every registered route (each `METHOD path` that has a handler) must have
 * exactly one entry and every entry must match a route, or this throws
 * {@linkcode AccessMapError} listing all differences. For each request the
 * route that would answer it is guarded by its own level: `public` passes,
 * `authenticated` needs a valid `Authorization: Bearer` token (else 401 with
 * `WWW-Authenticate: Bearer`), `admin` also needs the MCIAS `admin` role
 * (else 403). A validator that throws (MCIAS unreachable) gives 503. On
 * success the {@linkcode TokenInfo} is in `c.var.tokenInfo`. Requests that
 * match no route get `404 {"error":"not found"}` and reach no handler.
 *
 * Middleware registered with `app.use()` or `app.all()` (a two-argument
 * function), including that of `route()`d sub-apps, runs in registration
 * order, only for requests a declared route will answer, and only after
 * that route's access check: a middleware that answers by itself (a
 * `mount()`ed app, a cache, static files) can neither serve undeclared
 * paths nor answer a guarded route for a caller the check refuses. Declare
 * such paths as routes, e.g. `app.get("/static/*", serveStatic(...))` with
 * `"GET /static/*"` in the map. `requestLog` is the exception: it runs
 * first (register it first), before the check, and also logs unmatched
 * requests.
 * The returned app keeps `app`'s error handler when one was set, else uses
 * {@linkcode jsonErrorHandler}; serve it directly rather than mounting it
 * under a prefix, since the map names full paths.
 *
 * @typeParam E The app's Hono environment.
 * @typeParam S The app's route schema, kept for `hono/client`.
 * @typeParam B The app's base path.
 * @param app The service's app with all routes registered.
 * @param accessMap Access level of every route.
 * @param options Token validator, logger and realm.
 * @returns The app to serve.
 * @throws {AccessMapError} If routes and map entries do not correspond.
 * @throws {TypeError} If an entry's key is not `"METHOD /path"` or its level is unknown.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { createLogger } from "../log/mod.ts";
 * import { type AccessVariables, secureApp } from "./secure_app.ts";
 *
 * const validator = {
 *   validate: (token: string) =>
 *     Promise.resolve({
 *       valid: token === "good",
 *       username: "alice",
 *       accountType: "human" as const,
 *       roles: [],
 *       expiresAt: new Date(Date.now() + 60_000),
 *     }),
 * };
 * const api = new Hono<{ Variables: AccessVariables }>()
 *   .get("/v1/health", (c) => c.json({ ok: true }))
 *   .get("/v1/me", (c) => c.json({ user: c.var.tokenInfo?.username }));
 * const app = secureApp(api, { "GET /v1/health": "public", "GET /v1/me": "authenticated" }, {
 *   validator,
 *   logger: createLogger({ write: () => {} }),
 * });
 * assert.equal((await app.request("/v1/health")).status, 200);
 * const denied = await app.request("/v1/me");
 * assert.deepEqual([denied.status, await denied.json()], [401, { error: "authentication required" }]);
 * const me = await app.request("/v1/me", { headers: { authorization: "Bearer good" } });
 * assert.deepEqual(await me.json(), { user: "alice" });
 * assert.throws(() => secureApp(api, { "GET /v1/health": "public" }, {
 *   validator,
 *   logger: createLogger({ write: () => {} }),
 * }), /route is not in the access map: "GET \/v1\/me"/);
 * ```
 */
export function secureApp<E extends Env, S extends Schema, B extends string>(
  app: Hono<E, S, B>,
  accessMap: AccessMap,
  options: SecureAppOptions,
): Hono<E, S, B> {
  const { validator, logger, realm = "metacircular" } = options;
  checkMapShape(accessMap);

  const routes = app.routes.map((route) => ({
    method: route.method,
    path: route.path,
    handler: route.handler as unknown as AnyHandler,
    key: `${route.method} ${route.path}`,
  }));
  const endpoints = new Set(routes.filter((r) => !isMiddleware(r)).map((r) => r.key));
  const declared = new Set(Object.keys(accessMap));
  const missing = [...endpoints].filter((key) => !declared.has(key));
  const stale = [...declared].filter((key) => !endpoints.has(key));
  if (missing.length > 0 || stale.length > 0) throw new AccessMapError(missing, stale);

  const checker = accessChecker(validator, logger, realm);
  const secured = new Hono<E>({ getPath: app.getPath });
  const endpointAccess = new Map<unknown, Access>();
  const matchedAccess = accessMatcher(endpointAccess);
  const guarded = new Set<string>();
  for (const route of routes) {
    // deno-lint-ignore no-explicit-any
    const handler = route.handler as any;
    if (isMiddleware(route)) {
      secured.on(route.method, route.path, gateMiddleware(handler, matchedAccess, checker));
      continue;
    }
    // The guard goes right before the first handler of its route, so it
    // runs exactly when that route is the one about to answer, even when
    // no gated middleware ran the check earlier.
    const access = accessMap[route.key];
    if (!guarded.has(route.key) && access !== "public") {
      secured.on(route.method, route.path, routeGuard(access, checker));
    }
    guarded.add(route.key);
    secured.on(route.method, route.path, handler);
    // Keyed by the registered route object, not the handler: one function
    // may serve several routes declared at different levels.
    endpointAccess.set(secured.routes[secured.routes.length - 1], access);
  }
  // Hono keeps the handler in a field its types mark private; route() reads
  // it the same way to carry a sub-app's error handler along.
  const inner = errorHandlerOf(app);
  secured.onError(inner === errorHandlerOf(new Hono()) ? jsonErrorHandler({ logger }) : inner);
  secured.notFound(jsonNotFound);
  return secured as unknown as Hono<E, S, B>;
}

/**
 * Finds, once per request, the access level of the declared route that
 * will answer it (the first matched endpoint), or `undefined` when no
 * declared route matches.
 */
function accessMatcher(
  endpointAccess: Map<unknown, Access>,
): (c: Context) => Access | undefined {
  const seen = new WeakMap<Context, Access | null>();
  return function matchedAccess(c) {
    let found = seen.get(c);
    if (found === undefined) {
      found = null;
      for (const route of matchedRoutes(c)) {
        const access = endpointAccess.get(route);
        if (access !== undefined) {
          found = access;
          break;
        }
      }
      seen.set(c, found);
    }
    return found ?? undefined;
  };
}

/**
 * Checks a request against an access level, once per request and level:
 * resolves to the denial to answer with, or `undefined` when allowed.
 */
type AccessChecker = (c: Context, access: Access) => Promise<Response | undefined>;

function accessChecker(validator: TokenValidator, logger: Logger, realm: string): AccessChecker {
  const challenge = `Bearer realm=${JSON.stringify(realm)}`;
  // The highest level a request has already passed, so the route's own
  // guard does not ask MCIAS again after a gated middleware's check.
  const passed = new WeakMap<Context, Access>();
  return async function checkAccess(c, access) {
    if (access === "public") return undefined;
    const already = passed.get(c);
    if (already === "admin" || already === access) return undefined;
    const token = bearerToken(c.req.raw);
    if (token === undefined) {
      return errorResponse(401, "authentication required", { "www-authenticate": challenge });
    }
    let info: TokenInfo;
    try {
      info = await validator.validate(token);
    } catch (error) {
      logger.error("token validation failed", {
        method: c.req.method,
        path: c.req.path,
        error: error instanceof Error ? { name: error.name, message: error.message } : error,
      });
      return errorResponse(503, "identity service unavailable, retry later", {
        "retry-after": "5",
      });
    }
    if (!info.valid) {
      return errorResponse(401, "invalid or expired token", {
        "www-authenticate": `${challenge}, error="invalid_token"`,
      });
    }
    if (!allows(access, info)) {
      return errorResponse(403, "admin role required", {
        "www-authenticate": `${challenge}, error="insufficient_scope"`,
      });
    }
    c.set("tokenInfo", info);
    passed.set(c, access);
    return undefined;
  };
}

/** The guard registered right before a non-public route's first handler. */
function routeGuard(access: Access, checkAccess: AccessChecker): MiddlewareHandler {
  return async function accessGuardMiddleware(c, next) {
    const denied = await checkAccess(c, access);
    if (denied !== undefined) return denied;
    await next();
  };
}

/**
 * Wraps `use()` middleware so it runs only for requests a declared route
 * will answer (unless marked {@linkcode RUNS_ON_UNMATCHED}), and only after
 * that route's access check: middleware can answer by itself (a mounted
 * app, a cache), and must neither serve paths the map does not declare nor
 * answer a guarded route for a caller the guard would refuse.
 */
function gateMiddleware(
  middleware: MiddlewareHandler & { [RUNS_ON_UNMATCHED]?: boolean },
  matchedAccess: (c: Context) => Access | undefined,
  checkAccess: AccessChecker,
): MiddlewareHandler {
  if (middleware[RUNS_ON_UNMATCHED] === true) return middleware;
  return async function gatedMiddleware(c, next) {
    const access = matchedAccess(c);
    if (access === undefined) return next();
    const denied = await checkAccess(c, access);
    if (denied !== undefined) return denied;
    return middleware(c, next);
  };
}

function errorHandlerOf(app: unknown): ErrorHandler {
  return (app as { errorHandler: ErrorHandler }).errorHandler;
}

function isMiddleware(route: { method: string; handler: AnyHandler }): boolean {
  // Hono's own rule (hono/dev inspectRoutes): a handler taking `next` is
  // middleware. Only `use()`/`all()` registrations count, so a method route
  // can never slip out of the map by taking two parameters.
  const target = route.handler[COMPOSED_HANDLER] ?? route.handler;
  return route.method === "ALL" && target.length > 1;
}

function checkMapShape(accessMap: AccessMap): void {
  const problems: string[] = [];
  for (const [key, access] of Object.entries(accessMap)) {
    if (!KEY.test(key)) {
      problems.push(`key ${JSON.stringify(key)} is not "METHOD /path" with an upper-case method`);
    } else if (!ACCESS_LEVELS.includes(access)) {
      problems.push(
        `${JSON.stringify(key)} has level ${JSON.stringify(access)}, expected one of ${
          quote(ACCESS_LEVELS)
        }`,
      );
    }
  }
  if (problems.length > 0) {
    throw new TypeError(`Cannot secure app: invalid access map: ${problems.join("; ")}`);
  }
}

function quote(items: readonly string[]): string {
  return items.map((item) => JSON.stringify(item)).join(", ");
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
