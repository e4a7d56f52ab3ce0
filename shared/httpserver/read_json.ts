/**
 * Reading a JSON object request body with a size limit and a field check.
 *
 * @module
 */

import type { Context } from "hono";
import { HttpError } from "./http_error.ts";

/** Default {@linkcode ReadJsonOptions.maxBytes}: 64 KiB. */
export const DEFAULT_MAX_JSON_BYTES = 64 * 1024;

/** Options for {@linkcode readJson}. */
export interface ReadJsonOptions<T> {
  /**
   * Largest body accepted, in bytes; larger bodies get 413.
   * @default {65536}
   */
  maxBytes?: number;
  /** The only top-level fields allowed; any other field gets 400. */
  allowedKeys?: readonly string[];
  /**
   * Checks the parsed object and returns the typed value. A `TypeError`,
   * `RangeError` or `SyntaxError` it throws becomes 400 with its message
   * (so write messages for clients, without secrets); an
   * {@linkcode HttpError} passes through unchanged.
   */
  validate?: (body: Record<string, unknown>) => T;
}

const decoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads the request body as one JSON object.
 *
 * Throws {@linkcode HttpError} (answered by `jsonErrorHandler`):
 * 415 unless `Content-Type` is `application/json`, 413 when `Content-Length`
 * or the bytes actually streamed exceed `maxBytes`, 400 when the body is
 * empty, not UTF-8, not JSON, not an object, holds a field outside
 * `allowedKeys` or fails `validate`, or cannot be read (the client hung
 * up: 400, not a 500 with a stack trace). Messages never echo body content.
 *
 * A body with `Content-Length` is read in one piece (the HTTP stack reads
 * exactly that many bytes, already checked against `maxBytes`); under
 * `serveHttps` that skips the web stream over the Node request, the
 * costliest part of a small JSON request. Other bodies are read as a
 * stream and counted as they arrive.
 *
 * @param c The request context; its body must not have been read.
 * @param options Size limit, allowed fields and validator.
 * @returns The parsed object, or what `validate` returned.
 * @throws {HttpError} As above.
 * @throws {RangeError} If `maxBytes` is not a positive integer.
 *
 * @example Usage
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { readJson } from "./read_json.ts";
 * import { jsonErrorHandler } from "./http_error.ts";
 * import { createLogger } from "../log/mod.ts";
 *
 * const app = new Hono().onError(jsonErrorHandler({ logger: createLogger({ write: () => {} }) }));
 * app.post("/v1/zones", async (c) => {
 *   const body = await readJson(c, { allowedKeys: ["name"] });
 *   return c.json({ created: body.name }, 201);
 * });
 * const init = { method: "POST", headers: { "content-type": "application/json" } };
 * const ok = await app.request("/v1/zones", { ...init, body: '{"name":"example.net"}' });
 * assert.deepEqual(await ok.json(), { created: "example.net" });
 * const bad = await app.request("/v1/zones", { ...init, body: '{"name":"x","ttl":5}' });
 * assert.equal(bad.status, 400);
 * assert.deepEqual(await bad.json(), { error: 'Request body has unknown field "ttl"; allowed: "name"' });
 * ```
 */
export async function readJson<T = Record<string, unknown>>(
  c: Context,
  options: ReadJsonOptions<T> = {},
): Promise<T> {
  const { maxBytes = DEFAULT_MAX_JSON_BYTES, allowedKeys, validate } = options;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new RangeError(
      `Cannot read JSON body: "maxBytes" must be a positive integer, got ${maxBytes}`,
    );
  }
  const type = c.req.header("content-type") ?? "";
  if (!/^application\/json\s*(;|$)/i.test(type)) {
    throw new HttpError(415, 'Request body must be JSON: send "Content-Type: application/json"');
  }
  const bytes = await readBody(c.req.raw, maxBytes);
  if (bytes.byteLength === 0) {
    throw new HttpError(400, "Request body is empty: send a JSON object");
  }
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(bytes));
  } catch {
    // The parser's message quotes the body, which may hold a password.
    throw new HttpError(400, "Request body is not valid JSON: send a JSON object");
  }
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    const kind = value === null ? "null" : Array.isArray(value) ? "an array" : typeof value;
    throw new HttpError(400, `Request body must be a JSON object, got ${kind}`);
  }
  const body = value as Record<string, unknown>;
  if (allowedKeys !== undefined) checkKeys(body, allowedKeys);
  if (validate === undefined) return body as T;
  try {
    return validate(body);
  } catch (error) {
    if (
      error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError
    ) {
      throw new HttpError(400, error.message, { cause: error });
    }
    throw error;
  }
}

async function readBody(request: Request, maxBytes: number): Promise<Uint8Array> {
  if (request.bodyUsed) {
    throw new TypeError("Cannot read JSON body: the request body was already read");
  }
  const length = request.headers.get("content-length");
  if (length !== null && Number(length) > maxBytes) {
    await request.body?.cancel().catch(() => {});
    throw tooLarge(maxBytes);
  }
  try {
    if (length !== null && /^\d{1,15}$/.test(length)) {
      // A declared length is all the HTTP stack reads as the body (Node's
      // parser and hyper both stop there, and it is at most maxBytes), so
      // the body is taken in one piece: far cheaper than a stream reader,
      // above all under @hono/node-server, whose arrayBuffer() reads the
      // Node request directly. The size is checked again in case an
      // in-process caller declared a wrong length.
      const bytes = new Uint8Array(await request.arrayBuffer());
      if (bytes.byteLength > maxBytes) throw tooLarge(maxBytes);
      return bytes;
    }
    return await readStream(request, maxBytes);
  } catch (error) {
    if (error instanceof HttpError) throw error;
    // The client closed the connection or sent a broken body: its fault,
    // not a server error worth a stack trace in the log.
    throw new HttpError(400, "Request body could not be read: the connection ended early", {
      cause: error,
    });
  }
}

/** Reads a body of unknown length (chunked), counting what arrives. */
async function readStream(request: Request, maxBytes: number): Promise<Uint8Array> {
  if (request.body === null) return new Uint8Array(0);
  const reader = request.body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  while (true) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      await reader.cancel().catch(() => {});
      throw tooLarge(maxBytes);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

function tooLarge(maxBytes: number): HttpError {
  return new HttpError(413, `Request body is larger than the limit of ${maxBytes} bytes`);
}

function checkKeys(body: Record<string, unknown>, allowedKeys: readonly string[]): void {
  const allowed = new Set(allowedKeys);
  const unknown = Object.keys(body).filter((key) => !allowed.has(key));
  if (unknown.length === 0) return;
  const shown = unknown.slice(0, 5).map((key) => JSON.stringify(key.slice(0, 64)));
  if (unknown.length > shown.length) shown.push(`and ${unknown.length - shown.length} more`);
  const list = allowedKeys.length === 0
    ? "none"
    : allowedKeys.map((key) => JSON.stringify(key)).join(", ");
  throw new HttpError(
    400,
    `Request body has unknown field${unknown.length === 1 ? "" : "s"} ${
      shown.join(", ")
    }; allowed: ${list}`,
  );
}
