/**
 * Serves htmx from this service, never from a CDN.
 *
 * The script is a text import of the pinned npm package, so its bytes are
 * part of the module graph: a service needs no read access to Deno's npm
 * cache at run time, and `deno compile` embeds the package in the binary.
 * Deno 2.9 accepts `type: "text"` imports without `--unstable-raw-imports`
 * (`type: "bytes"` still needs it).
 *
 * @module
 */

import type { Env, Handler, Hono } from "hono";
import htmxText from "htmx.org/dist/htmx.min.js" with { type: "text" };
import htmxPackage from "htmx.org/package.json" with { type: "json" };

/** Version of the htmx package being served. */
export const HTMX_VERSION: string = htmxPackage.version;

/** Path {@linkcode mountHtmx} serves htmx at. */
export const HTMX_PATH = "/static/htmx.min.js";

/**
 * `src` for the page's script tag. The version query changes with each
 * upgrade, so browsers never run a stale copy despite the year-long cache.
 */
export const HTMX_SRC = `${HTMX_PATH}?v=${HTMX_VERSION}`;

const HTMX_BYTES = new TextEncoder().encode(htmxText);
const ETAG = `"htmx-${HTMX_VERSION}"`;

/**
 * Returns a handler that answers with `htmx.min.js`: `text/javascript`,
 * cacheable for a year, with an ETag.
 *
 * @returns The handler.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { htmxHandler } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono();
 * app.get("/js/htmx.js", htmxHandler());
 * const res = await app.request("/js/htmx.js");
 * assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
 * await res.body?.cancel();
 * ```
 */
export function htmxHandler(): Handler {
  return function htmx(c) {
    c.header("Cache-Control", "public, max-age=31536000, immutable");
    c.header("ETag", ETAG);
    if (c.req.header("If-None-Match") === ETAG) return c.body(null, 304);
    c.header("Content-Type", "text/javascript; charset=utf-8");
    return c.body(HTMX_BYTES.slice());
  };
}

/**
 * Mounts {@linkcode htmxHandler} at `GET /static/htmx.min.js` on `app`.
 *
 * @param app The service's Hono app.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { HTMX_SRC, mountHtmx } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono();
 * mountHtmx(app);
 * const res = await app.request(HTMX_SRC);
 * assert.equal(res.status, 200);
 * await res.body?.cancel();
 * ```
 */
export function mountHtmx<E extends Env>(app: Hono<E>): void {
  app.get(HTMX_PATH, htmxHandler());
}
