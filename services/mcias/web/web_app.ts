/**
 * The MCIAS web UI: sign-in, the SSO authorization endpoint, account
 * self-service, admin pages and MCAT, server-rendered with htmx.
 *
 * Every route is declared in {@linkcode WEB_ACCESS} as `public`,
 * `authenticated` or `admin`, checked from the session cookie; a route
 * missing from the map, or an entry without a route, stops start-up.
 *
 * @module
 */

import { type Handler, Hono, type MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import { html } from "hono/html";
import { ACCESS_LEVELS } from "@mc/mcdsl/auth/types";
import { type AccessMap, AccessMapError, requestLog } from "@mc/mcdsl/httpserver";
import type { Logger } from "@mc/mcdsl/log";
import { csrf, mountHtmx, requireSession, securityHeaders } from "@mc/mcdsl/web";
import type { McIas, McIasMfa, McIasSso } from "../core/types.ts";
import { registerAccountPage } from "./account_page.ts";
import { registerAdminPages } from "./admin_pages.ts";
import { registerLoginPages } from "./login_pages.ts";
import { registerMcatPage } from "./mcat_page.ts";
import { registerPasskeyRoutes } from "./passkey_routes.ts";
import {
  CSRF_COOKIE,
  message,
  page,
  SESSION_COOKIE,
  STYLESHEET,
  STYLESHEET_PATH,
  type WebEnv,
} from "./_page.ts";

/**
 * Who may use each web route, keyed `"METHOD /path"` as registered.
 * `/sso/authorize` is public because it checks the session itself: a
 * browser arriving from another site has not sent the SameSite=Strict
 * cookie yet, and the endpoint must reload itself before sending the user
 * to sign in.
 */
export const WEB_ACCESS: AccessMap = {
  "GET /static/htmx.min.js": "public",
  "GET /static/mcias.css": "public",
  "GET /static/passkey.js": "public",
  "GET /": "public",
  "GET /login": "public",
  "POST /login": "public",
  "POST /logout": "public",
  "POST /login/passkey/options": "public",
  "POST /login/passkey": "public",
  "GET /sso/authorize": "public",
  "GET /account": "authenticated",
  "POST /account/totp/begin": "authenticated",
  "POST /account/totp/confirm": "authenticated",
  "POST /account/totp/disable": "authenticated",
  "POST /account/passkeys/options": "authenticated",
  "POST /account/passkeys": "authenticated",
  "GET /admin/accounts": "admin",
  "POST /admin/accounts": "admin",
  "POST /admin/accounts/:username/disabled": "admin",
  "POST /admin/accounts/:username/delete": "admin",
  "GET /admin/policy": "admin",
  "POST /admin/policy": "admin",
  "POST /admin/policy/:id/delete": "admin",
  "GET /mcat": "admin",
  "POST /mcat": "admin",
};

/** Options for {@linkcode createWebApp}. */
export interface WebAppOptions {
  /** The core. */
  mcias: McIas;
  /** Second factors; without them the account page says they are not available. */
  mfa?: McIasMfa;
  /** The SSO provider. */
  sso: McIasSso;
  /**
   * HMAC key for CSRF tokens (see mcdsl `createCsrfKey`).
   *
   * @default {a random key per process}
   */
  csrfKey?: CryptoKey;
  /**
   * Origins forms may be posted from, when MCIAS sits behind a proxy.
   *
   * @default {the request URL's origin}
   */
  origins?: string[];
  /** Audit lines, refusals and errors; never a password, token or code. */
  logger: Logger;
  /** Clock for cookie lifetimes. */
  now?: () => Date;
  /** The access map; only tests pass another. */
  access?: AccessMap;
}

/**
 * Builds the web app. Serve it on the same origin as the REST API (the SSO
 * client reaches `/sso/authorize` and `/v1/sso/token` at one base URL):
 * requests under `/v1/` and `/.well-known/` go to REST, the rest here.
 *
 * @param options Core, second factors, SSO provider, CSRF key, logger.
 * @returns The app.
 * @throws {AccessMapError} If a route is not in the access map or an entry names no route.
 * @throws {TypeError} If an access level is unknown.
 */
export function createWebApp(options: WebAppOptions): Hono<WebEnv> {
  const { mcias, mfa, sso, csrfKey, origins, logger, now, access = WEB_ACCESS } = options;

  const routes = new Hono<WebEnv>();
  mountHtmx(routes);
  routes.get(STYLESHEET_PATH, (c) => {
    c.header("Cache-Control", "public, max-age=3600");
    c.header("Content-Type", "text/css; charset=utf-8");
    return c.body(STYLESHEET);
  });
  registerLoginPages(routes, {
    mcias,
    sso,
    logger,
    passkeys: mfa !== undefined,
    ...(now ? { now } : {}),
  });
  registerPasskeyRoutes(routes, { logger, ...(mfa ? { mfa } : {}), ...(now ? { now } : {}) });
  registerAccountPage(routes, { mcias, logger, ...(mfa ? { mfa } : {}) });
  registerAdminPages(routes, { mcias, logger });
  registerMcatPage(routes, { mcias });

  checkAccess(routes, access);

  const session = requireSession({
    validator: mcias,
    cookieName: SESSION_COOKIE,
    loginPath: "/login",
    logger,
  }) as unknown as MiddlewareHandler<WebEnv>;
  const adminOnly = createMiddleware<WebEnv>(async function adminOnly(c, next) {
    if (c.var.session?.roles.includes("admin") !== true) {
      logger.warn("admin page refused", { path: c.req.path, user: c.var.session?.username });
      return page(c, {
        title: "Forbidden",
        status: 403,
        body: html`<h1>Forbidden</h1>${
          message("error", "This page is for MCIAS administrators only.")
        }`,
      });
    }
    await next();
  });
  const guards: Record<string, MiddlewareHandler<WebEnv>[]> = {
    public: [],
    authenticated: [session],
    admin: [session, adminOnly],
  };

  const app = new Hono<WebEnv>();
  app.use(requestLog({ logger }));
  app.use(securityHeaders());
  app.use(csrf({
    cookieName: CSRF_COOKIE,
    ...(csrfKey ? { key: csrfKey } : {}),
    ...(origins ? { origins } : {}),
  }));
  for (const route of routes.routes) {
    const key = `${route.method} ${route.path}`;
    const handlers = [...guards[access[key]!]!, route.handler] as Handler<WebEnv>[];
    // One call per route, guards first, so they run exactly when the route answers.
    (app.on as (method: string, path: string, ...handlers: Handler<WebEnv>[]) => void).call(
      app,
      route.method,
      route.path,
      ...handlers,
    );
  }
  app.notFound((c) =>
    page(c, {
      title: "Not found",
      status: 404,
      body: html`
        <h1>Not found</h1>
        <p><a href="/account">Go to your account</a></p>
      `,
    })
  );
  app.onError((error, c) => {
    logger.error("web request failed", {
      method: c.req.method,
      path: c.req.path,
      error: { name: error.name, message: error.message },
      stack: error.stack,
    });
    return page(c, {
      title: "Error",
      status: 500,
      body: html`<h1>Something went wrong</h1>${
        message(
          "error",
          "MCIAS could not complete this request: try again; if it persists, tell the operator.",
        )
      }`,
    });
  });
  return app;
}

function checkAccess(routes: Hono<WebEnv>, access: AccessMap): void {
  const keys = routes.routes.map((r) => `${r.method} ${r.path}`);
  const counts = new Map<string, number>();
  for (const key of keys) counts.set(key, (counts.get(key) ?? 0) + 1);
  const twice = [...counts].filter(([, n]) => n > 1).map(([key]) => key);
  if (twice.length > 0) {
    throw new TypeError(
      `Cannot build the web app: routes registered twice: ${
        twice.map((k) => JSON.stringify(k)).join(", ")
      }; give each one handler`,
    );
  }
  const bad = Object.entries(access).filter(([, level]) => !ACCESS_LEVELS.includes(level));
  if (bad.length > 0) {
    throw new TypeError(
      `Cannot build the web app: unknown access levels: ${
        bad.map(([k, v]) => `${JSON.stringify(k)}: ${JSON.stringify(v)}`).join(", ")
      }; use "public", "authenticated" or "admin"`,
    );
  }
  const missing = keys.filter((key) => !Object.hasOwn(access, key));
  const stale = Object.keys(access).filter((key) => !counts.has(key));
  if (missing.length > 0 || stale.length > 0) throw new AccessMapError(missing, stale);
}
