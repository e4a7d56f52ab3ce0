/**
 * MCIAS integration: the client every service uses to log users in through
 * MCIAS and to validate bearer tokens (cached 30 s, keyed by the SHA-256 of
 * the token) and the `Authorization: Bearer` parser. Routes are guarded by
 * `secureApp` in `@mc/mcdsl/httpserver` and gRPC methods by the interceptor
 * map in `@mc/mcdsl/grpcserver`. Admin rights come only from the MCIAS
 * `admin` role.
 *
 * ```ts ignore
 * import { bearerToken, createAuthClient } from "@mc/mcdsl/auth";
 *
 * using mcias = createAuthClient({
 *   serverUrl: "https://mcias.example:8443",
 *   caCert: await Deno.readTextFile("/srv/mcr/ca.pem"),
 *   serviceName: "mcr",
 *   tags: ["env:prod"],
 * });
 * const { token } = await mcias.login({ username: "alice", password: "hunter2" });
 * const info = await mcias.validate(token);
 * ```
 *
 * @module
 */
export * from "./types.ts";
export * from "./errors.ts";
export * from "./token_cache.ts";
export * from "./auth_client.ts";
export * from "./bearer_token.ts";
