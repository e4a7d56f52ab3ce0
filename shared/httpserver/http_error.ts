/**
 * JSON errors for REST APIs: one error class, one place that turns errors
 * into `{"error": "message"}` responses.
 *
 * @module
 */

import type { Context, ErrorHandler, NotFoundHandler } from "hono";
import { HTTPException } from "hono/http-exception";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Logger } from "../log/mod.ts";

/**
 * An error that becomes an HTTP response: `status` and `{"error": message}`.
 * Throw it from handlers; {@linkcode jsonErrorHandler} answers it. The
 * message goes to the client, so it must not hold secrets or internals.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { HttpError } from "./http_error.ts";
 *
 * const error = new HttpError(409, "zone \"example.net\" already exists");
 * assert.equal(error.status, 409);
 * assert.equal(error.name, "HttpError");
 * ```
 */
export class HttpError extends Error {
  /** HTTP status of the response, 400..599. */
  readonly status: ContentfulStatusCode;
  /** Extra response headers, such as `WWW-Authenticate` or `Retry-After`. */
  readonly headers: Record<string, string>;

  /**
   * @param status HTTP status, 400..599.
   * @param message Client-facing message, sentence case, no secrets.
   * @param options `cause` (logged, never sent) and extra `headers`.
   * @throws {RangeError} If `status` is not in 400..599.
   */
  constructor(
    status: ContentfulStatusCode,
    message: string,
    options: ErrorOptions & { headers?: Record<string, string> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    if (!Number.isInteger(status) || status < 400 || status > 599) {
      throw new RangeError(
        `Cannot create HttpError: status must be an integer in 400..599, got ${status}`,
      );
    }
    this.name = "HttpError";
    this.status = status;
    this.headers = options.headers ?? {};
  }
}

/**
 * Builds the standard error response `{"error": message}`.
 *
 * @param status HTTP status.
 * @param message Client-facing message.
 * @param headers Extra headers.
 * @returns A JSON response.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { errorResponse } from "./http_error.ts";
 *
 * const response = errorResponse(404, "not found");
 * assert.equal(response.status, 404);
 * assert.deepEqual(await response.json(), { error: "not found" });
 * ```
 */
export function errorResponse(
  status: number,
  message: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ error: message }), {
    status,
    headers: { ...headers, "content-type": "application/json" },
  });
}

/** Options for {@linkcode jsonErrorHandler}. */
export interface JsonErrorHandlerOptions {
  /** Where unexpected errors are logged, with their stack. */
  logger: Logger;
}

/**
 * Builds an `app.onError` handler: {@linkcode HttpError} and Hono's
 * `HTTPException` become `{"error": message}` with their status; anything
 * else is logged with its stack and answered `500 {"error":"internal error"}`
 * so no internals reach the client.
 *
 * @param options The logger.
 * @returns The error handler.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { createLogger } from "../log/mod.ts";
 * import { HttpError, jsonErrorHandler } from "./http_error.ts";
 *
 * const logger = createLogger({ write: () => {} });
 * const app = new Hono().onError(jsonErrorHandler({ logger }));
 * app.get("/gone", () => {
 *   throw new HttpError(410, "gone");
 * });
 * app.get("/bug", () => {
 *   throw new Error("database path /srv/x is broken");
 * });
 * const gone = await app.request("/gone");
 * assert.deepEqual([gone.status, await gone.json()], [410, { error: "gone" }]);
 * const bug = await app.request("/bug");
 * assert.deepEqual([bug.status, await bug.json()], [500, { error: "internal error" }]);
 * ```
 */
export function jsonErrorHandler(options: JsonErrorHandlerOptions): ErrorHandler {
  const { logger } = options;
  return function jsonError(error: Error, c: Context): Response {
    if (error instanceof HttpError) {
      if (error.status >= 500) logger.warn("request failed", errorFields(c, error));
      return errorResponse(error.status, error.message, error.headers);
    }
    if (error instanceof HTTPException) {
      // Hono middleware (body limit, bearer auth…) throws these; keep its
      // headers (WWW-Authenticate) but speak our JSON.
      const headers: Record<string, string> = {};
      error.res?.headers.forEach((value, name) => {
        if (name !== "content-type" && name !== "content-length") headers[name] = value;
      });
      const message = error.message || statusText(error.status);
      return errorResponse(error.status, message, headers);
    }
    logger.error("unhandled error", errorFields(c, error));
    return errorResponse(500, "internal error");
  };
}

/**
 * `app.notFound` handler answering `404 {"error": "not found"}`.
 *
 * @param c The request context.
 * @returns The 404 response.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { jsonNotFound } from "./http_error.ts";
 *
 * const app = new Hono().notFound(jsonNotFound);
 * const response = await app.request("/nothing");
 * assert.deepEqual([response.status, await response.json()], [404, { error: "not found" }]);
 * ```
 */
export const jsonNotFound: NotFoundHandler = function jsonNotFound(_c: Context): Response {
  return errorResponse(404, "not found");
};

function errorFields(c: Context, error: Error): Record<string, unknown> {
  return {
    method: c.req.method,
    path: c.req.path,
    requestId: c.get("requestId"),
    error: { name: error.name, message: error.message },
    stack: error.stack,
    cause: error.cause instanceof Error
      ? { name: error.cause.name, message: error.cause.message }
      : error.cause,
  };
}

function statusText(status: number): string {
  if (status === 401) return "unauthorized";
  if (status === 403) return "forbidden";
  if (status === 413) return "request body too large";
  return status >= 500 ? "internal error" : "bad request";
}
