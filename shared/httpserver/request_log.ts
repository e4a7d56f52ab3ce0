/**
 * One JSON log line per HTTP request, built only from fields that cannot
 * hold secrets.
 *
 * @module
 */

import type { Context, MiddlewareHandler, Next } from "hono";
import type { Logger } from "../log/mod.ts";
import { RUNS_ON_UNMATCHED } from "./_unmatched.ts";

/** Context variables set by {@linkcode requestLog}. */
export interface RequestLogVariables {
  /** Id of this request, also sent back as `X-Request-Id`. */
  requestId: string;
}

/** Options for {@linkcode requestLog}. */
export interface RequestLogOptions {
  /** Where the lines go (at `info`). */
  logger: Logger;
  /**
   * Monotonic clock in milliseconds, for the duration.
   * @default {() => performance.now()}
   */
  now?: () => number;
  /**
   * Makes a request id when the request has no usable `X-Request-Id`.
   * @default {() => crypto.randomUUID()}
   */
  generateId?: () => string;
  /**
   * Remote address of the request.
   * @default {the peer address of the socket under `serveHttps`, else undefined}
   */
  remoteAddr?: (c: Context) => string | undefined;
}

// A proxy's id is kept only when it is short and plain, so a client cannot
// forge log content through it.
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Builds a middleware that logs one line per request:
 * `{"msg":"request","method","path","status","durationMs","remoteAddr","requestId","user"}`.
 *
 * Only the URL path is logged: never the query string, headers (Authorization,
 * Cookie, Set-Cookie) or bodies, which are where tokens and passwords travel.
 * So never design a route that carries a secret in its path.
 * `user` is the MCIAS username when the route checked a token. The request
 * id comes from a well-formed `X-Request-Id` header or `generateId`, is set
 * as `c.var.requestId` and is echoed in the `X-Request-Id` response header.
 * Register it first so it also sees requests rejected by later middleware.
 *
 * @param options Logger, clock, id generator and remote address reader.
 * @returns The middleware.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { createLogger } from "../log/mod.ts";
 * import { requestLog } from "./request_log.ts";
 *
 * const lines: string[] = [];
 * const logger = createLogger({ write: (line) => lines.push(line) });
 * const app = new Hono().use(requestLog({ logger })).get("/v1/health", (c) => c.json({ ok: true }));
 * const response = await app.request("/v1/health?token=abc", { headers: { authorization: "Bearer abc" } });
 * await response.body?.cancel();
 * const line = JSON.parse(lines[0]);
 * assert.equal(line.path, "/v1/health");
 * assert.equal(line.status, 200);
 * assert.equal(lines[0].includes("abc"), false);
 * ```
 */
export function requestLog(
  options: RequestLogOptions,
): MiddlewareHandler<{ Variables: RequestLogVariables }> {
  const {
    logger,
    now = () => performance.now(),
    generateId = () => crypto.randomUUID(),
    remoteAddr = socketAddr,
  } = options;
  // The lines go out at info; below that level only the request id is set.
  const enabled = logger.level === "debug" || logger.level === "info";
  async function requestLogMiddleware(
    c: Context<{ Variables: RequestLogVariables }>,
    next: Next,
  ): Promise<void> {
    const start = enabled ? now() : 0;
    const incoming = c.req.header("x-request-id");
    const requestId = incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : generateId();
    c.set("requestId", requestId);
    // Set before the handler runs, so the response it builds with c.json()
    // and friends carries it; setting it afterwards makes Hono rebuild the
    // response (a new body stream and header copy), a large share of a
    // small request's cost. A response made some other way (new Response,
    // an error handler) gets it after all, below.
    c.header("x-request-id", requestId);
    let failed = false;
    try {
      await next();
    } catch (error) {
      // Hono's error handler normally turns errors into c.res before this
      // point; one that escapes still gets its line, as a 500.
      failed = true;
      throw error;
    } finally {
      if (!failed && c.res.headers.get("x-request-id") !== requestId) {
        c.header("x-request-id", requestId);
      }
      if (enabled) {
        const tokenInfo = c.get("tokenInfo" as never) as { username?: string } | undefined;
        logger.info("request", {
          method: c.req.method,
          path: c.req.path,
          status: failed ? 500 : c.res.status,
          durationMs: Math.round((now() - start) * 10) / 10,
          remoteAddr: remoteAddr(c),
          requestId,
          user: tokenInfo?.username || undefined,
        });
      }
    }
  }
  // It never answers, so secureApp lets it log requests that match no route.
  return Object.assign(requestLogMiddleware, { [RUNS_ON_UNMATCHED]: true });
}

function socketAddr(c: Context): string | undefined {
  // Set by @hono/node-server, which serveHttps runs on.
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress;
}
