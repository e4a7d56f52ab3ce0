/**
 * The environment variables grpc-js reads. Deno's `process.env.X` throws
 * `NotCapable` for a name the sandbox does not grant, and grpc-js reads
 * these (most at import time) without catching, so a process using gRPC must
 * be granted exactly these names. The launcher's `${grpc_env}` placeholder
 * expands to {@linkcode GRPC_SERVER_ENV_NAMES}; clients add the proxy names.
 *
 * Found by reading `@grpc/grpc-js@1.14.7`'s `build/src` for `process.env`;
 * the fixture's audit test fails if a version bump adds one.
 *
 * @module
 */

/** Names grpc-js reads in a server (logging, resolver, TLS defaults). */
export const GRPC_SERVER_ENV_NAMES: readonly string[] = [
  "GRPC_DEFAULT_SSL_ROOTS_FILE_PATH",
  "GRPC_EXPERIMENTAL_ENABLE_OUTLIER_DETECTION",
  "GRPC_NODE_DEBUG_SEND_ERROR_DETAILS",
  "GRPC_NODE_TRACE",
  "GRPC_NODE_USE_ALTERNATIVE_RESOLVER",
  "GRPC_NODE_VERBOSITY",
  "GRPC_SSL_CIPHER_SUITES",
  "GRPC_TRACE",
  "GRPC_VERBOSITY",
];

/** Names grpc-js additionally reads in a client (HTTP CONNECT proxy support). */
export const GRPC_CLIENT_ENV_NAMES: readonly string[] = [
  ...GRPC_SERVER_ENV_NAMES,
  "grpc_proxy",
  "https_proxy",
  "http_proxy",
  "no_grpc_proxy",
  "no_proxy",
];
