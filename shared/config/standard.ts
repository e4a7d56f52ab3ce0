/**
 * The config sections every Metacircular service shares.
 *
 * @module
 */

import type { LogLevel } from "../log/mod.ts";
import { listenAddr, oneOf, path, string, stringArray, table, url } from "./fields.ts";
import type { Field, InferConfig } from "./schema.ts";

/** The loaded `[server]` section. */
export interface ServerConfig {
  /** Address of the HTTPS listener; `$PORT` overrides it. */
  listen_addr: string;
  /** Address of the gRPC listener, if the service has one; `$PORT_GRPC` overrides it. */
  grpc_addr: string | undefined;
  /** TLS certificate chain (PEM), resolved against the config's directory. */
  tls_cert: string;
  /** TLS private key (PEM), resolved against the config's directory. */
  tls_key: string;
}

/** The loaded `[database]` section. */
export interface DatabaseConfig {
  /** SQLite file, resolved against the config's directory. */
  path: string;
}

/** The loaded `[mcias]` section. */
export interface McIasConfig {
  /** Base URL of MCIAS, `https://` only. */
  server_url: string;
  /** CA certificate (PEM) to trust for MCIAS; `undefined` means the system roots. */
  ca_cert: string | undefined;
  /** This service's name as MCIAS knows it. */
  service_name: string;
  /** Tags policy rules can match on, such as `env:restricted`. */
  tags: string[];
}

/** The loaded `[log]` section. */
export interface LogConfig {
  /** Lowest level logged. */
  level: LogLevel;
}

/** The loaded `[sso]` section. */
export interface SsoConfig {
  /** Callback URL registered with MCIAS; `undefined` means direct login only. */
  redirect_uri: string | undefined;
}

/**
 * `[server]`: where the service listens and its TLS certificate. `listen_addr`,
 * `tls_cert` and `tls_key` are required (TLS everywhere); `grpc_addr` is
 * optional. `$PORT` and `$PORT_GRPC` override the addresses.
 */
export const SERVER_SECTION: Field<ServerConfig> = table({
  listen_addr: listenAddr({ example: `":8443"` }),
  grpc_addr: listenAddr({ optional: true, example: `":9443"` }),
  tls_cert: path({ example: `"/srv/<service>/certs/cert.pem"` }),
  tls_key: path({ example: `"/srv/<service>/certs/key.pem"` }),
});

/** `[database]`: the SQLite file, required. */
export const DATABASE_SECTION: Field<DatabaseConfig> = table({
  path: path({ example: `"/srv/<service>/<service>.db"` }),
});

/**
 * `[mcias]`: the identity service. `server_url` (https only) and
 * `service_name` are required; `ca_cert` is optional (empty means the system
 * roots); `tags` defaults to none.
 */
export const MCIAS_SECTION: Field<McIasConfig> = table({
  server_url: url({ protocols: ["https:"], example: `"https://mcias.metacircular.net:8443"` }),
  ca_cert: path({ optional: true, example: `"/srv/<service>/certs/ca.pem"` }),
  service_name: string({ example: `"<service>"` }),
  tags: stringArray({ default: [] }),
});

/** `[log]`: `level` is one of debug, info, warn, error; default info. */
export const LOG_SECTION: Field<LogConfig> = table({
  level: oneOf(["debug", "info", "warn", "error"], { default: "info" }),
});

/**
 * `[sso]`, for services with an SSO web login: `redirect_uri` must match the
 * service's `[[sso_clients]]` entry in MCIAS. Empty or absent means direct
 * login instead.
 */
export const SSO_SECTION: Field<SsoConfig> = table({
  redirect_uri: url({
    optional: true,
    example: `"https://<service>.svc.mcp.metacircular.net/sso/callback"`,
  }),
});

/**
 * The standard sections, `[server]`, `[database]`, `[mcias]` and `[log]`,
 * to spread into a service's schema. Add `sso: SSO_SECTION` for SSO.
 *
 * @example A service schema
 * ```ts
 * import { field, SSO_SECTION, STANDARD_SCHEMA } from "@mc/mcdsl/config";
 *
 * const schema = {
 *   ...STANDARD_SCHEMA,
 *   sso: SSO_SECTION,
 *   storage: field.table({ root: field.path(), gc_interval: field.duration({ default: "1h" }) }),
 * };
 * ```
 */
export const STANDARD_SCHEMA: {
  readonly server: Field<ServerConfig>;
  readonly database: Field<DatabaseConfig>;
  readonly mcias: Field<McIasConfig>;
  readonly log: Field<LogConfig>;
} = {
  server: SERVER_SECTION,
  database: DATABASE_SECTION,
  mcias: MCIAS_SECTION,
  log: LOG_SECTION,
};

/** The config type of {@linkcode STANDARD_SCHEMA}, for code that takes any service's config. */
export type StandardConfig = InferConfig<typeof STANDARD_SCHEMA>;
