/**
 * HTTPS servers for Metacircular services: a Hono app served over TLS 1.3
 * only, with graceful shutdown, one JSON log line per request, JSON errors
 * (`{"error": "message"}`), bounded JSON bodies, and the route access map
 * that declares every route `public`, `authenticated` or `admin`.
 *
 * ```ts ignore
 * import { Hono } from "hono";
 * import {
 *   type AccessMap,
 *   type AccessVariables,
 *   HttpError,
 *   jsonErrorHandler,
 *   readJson,
 *   requestLog,
 *   secureApp,
 *   serveHttps,
 * } from "@mc/mcdsl/httpserver";
 *
 * const ACCESS: AccessMap = {
 *   "GET /v1/health": "public",
 *   "POST /v1/zones": "admin",
 * };
 * const api = new Hono<{ Variables: AccessVariables }>()
 *   .use(requestLog({ logger }))
 *   .onError(jsonErrorHandler({ logger }))
 *   .get("/v1/health", (c) => c.json({ ok: true }))
 *   .post("/v1/zones", async (c) => {
 *     const { name } = await readJson(c, { allowedKeys: ["name"] });
 *     if (typeof name !== "string") throw new HttpError(400, "name must be a string");
 *     return c.json({ name }, 201);
 *   });
 * const server = await serveHttps(secureApp(api, ACCESS, { validator: mcias, logger }), {
 *   listenAddr: config.server.listen_addr,
 *   tlsCert: config.server.tls_cert,
 *   tlsKey: config.server.tls_key,
 *   logger,
 *   signal,
 * });
 * await server.finished;
 * ```
 *
 * @module
 */
export * from "./http_error.ts";
export * from "./read_json.ts";
export * from "./request_log.ts";
export * from "./secure_app.ts";
export * from "./serve_https.ts";
