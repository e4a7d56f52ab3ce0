/**
 * gRPC servers and clients for Metacircular services (grpc-js on Deno).
 *
 * - {@linkcode createGrpcServer}: every method of every service is declared
 *   `public`, `authenticated` or `admin` in one access map keyed by
 *   `/pkg.v1.Service/Method`; an undeclared method or a stale entry stops the
 *   server from starting. Bearer tokens are checked by a `TokenValidator`
 *   before a call's messages are read; handlers get the caller from
 *   {@linkcode tokenInfo}. Health and reflection are built in and public.
 *   Listeners are TLS 1.3 only, or a unix socket.
 * - {@linkcode createGrpcClient}: TLS 1.3 with an explicit CA, or a unix
 *   socket, with a bearer token on every call.
 * - {@linkcode loadProto} and `gen_proto.ts`: descriptors and types generated
 *   beside the protos, so nothing reads `.proto` files at run time.
 * - {@linkcode installHttp2Fix} and {@linkcode supervise}: the workaround and
 *   the containment for Deno's `node:http2` crash (CHURN.md).
 *
 * ```ts ignore
 * import { createGrpcServer, loadProto, tokenInfo } from "@mc/mcdsl/grpcserver";
 * import { PROTO_JSON } from "./gen/descriptor.ts";
 * import type { ProtoGrpcType } from "./gen/echo.ts";
 * import type { EchoHandlers } from "./gen/mcdsl/test/v1/Echo.ts";
 *
 * const { Echo } = loadProto<ProtoGrpcType>(PROTO_JSON).grpc.mcdsl.test.v1;
 * const handlers: Partial<EchoHandlers> = {
 *   Whoami: (call, cb) => cb(null, { caller: tokenInfo(call)?.username }),
 * };
 * const server = createGrpcServer({
 *   services: [{ definition: Echo.service, implementation: handlers }],
 *   access: { "/mcdsl.test.v1.Echo/Whoami": "authenticated" },
 *   validator, // a TokenValidator (the MCIAS client)
 * });
 * const listener = await server.listen({ addr: ":9443", tls: { cert, key } });
 * ```
 *
 * Runtime permissions: see CHURN.md, "Permissions".
 *
 * @module
 */
export * from "./access_map.ts";
export * from "./access_interceptor.ts";
export * from "./client.ts";
export * from "./credentials.ts";
export * from "./env_names.ts";
export * from "./http2_fix.ts";
export * from "./proto.ts";
export * from "./server.ts";
export * from "./supervise.ts";
export type { ServingStatus } from "./_health.ts";
