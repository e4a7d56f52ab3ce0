/**
 * One HTTPS origin for REST and the web UI. SSO clients reach
 * `/sso/authorize` (web) and `/v1/sso/token` (REST) at the same base URL,
 * so both must be served on `server.listen_addr`.
 *
 * @module
 */

import type { Fetchable, FetchHandler } from "@mc/mcdsl/httpserver";

/** Paths the REST app answers; everything else goes to the web UI. */
const REST_PREFIXES = ["/v1/", "/.well-known/"];

/** Options for {@linkcode routeRestAndWeb}. */
export interface RestAndWebOptions {
  /** The REST app (its own access map, JSON errors). */
  rest: Fetchable;
  /** The web app ({@linkcode createWebApp}; its own access map, HTML pages). */
  web: Fetchable;
}

/**
 * Returns a fetch handler for `serveHttps` that sends `/v1/…` and
 * `/.well-known/…` to REST and every other path to the web UI. Each app
 * keeps its own access map, error pages and 404s.
 *
 * @param options The two apps.
 * @returns The combined handler.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { routeRestAndWeb } from "./same_origin.ts";
 *
 * const rest = new Hono().get("/v1/health", (c) => c.json({ ok: true }));
 * const web = new Hono().get("/login", (c) => c.html("<form></form>"));
 * const handler = routeRestAndWeb({ rest, web });
 * assert.equal((await handler(new Request("https://m.test/v1/health"), undefined as never)).status, 200);
 * assert.equal((await handler(new Request("https://m.test/login"), undefined as never)).status, 200);
 * ```
 */
export function routeRestAndWeb(options: RestAndWebOptions): FetchHandler {
  const { rest, web } = options;
  return function mciasHandler(request, env) {
    const pathname = pathOf(request.url);
    const app = REST_PREFIXES.some((prefix) => pathname.startsWith(prefix)) ? rest : web;
    return app.fetch(request, env);
  };
}

/**
 * The path of a request URL without parsing it again: `Request.url` is
 * always a serialised absolute URL (dot segments already resolved), so the
 * path starts at the first `/` after `scheme://` and ends at `?` or `#`,
 * which is what `new URL(url).pathname` gives (and what Hono routes on).
 */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("://") + 3);
  if (start < 0) return "/";
  let end = url.length;
  for (let i = start; i < url.length; i++) {
    const ch = url.charCodeAt(i);
    if (ch === 63 || ch === 35) { // ? #
      end = i;
      break;
    }
  }
  return url.slice(start, end);
}
