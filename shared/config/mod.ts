/**
 * Service configuration: a TOML file read against a typed schema, with
 * environment overrides, into a config object whose type TypeScript infers
 * from the schema.
 *
 * A service declares its schema with the {@linkcode field} builders, usually
 * spreading {@linkcode STANDARD_SCHEMA} (`[server]`, `[database]`, `[mcias]`,
 * `[log]`) and adding its own sections; {@linkcode loadConfig} reads the file.
 * Every problem in the file, each naming the dotted key, what was expected,
 * what was found and what to do, comes back in one {@linkcode ConfigError}.
 *
 * Overrides, highest first: `$PORT` (and `$PORT_REST`) set
 * `server.listen_addr` and `$PORT_GRPC` sets `server.grpc_addr`, to
 * `0.0.0.0:<port>`; then `$<SERVICE>_<SECTION>_<KEY>` (uppercase, `-` as
 * `_`: `MC_PROXY_SERVER_LISTEN_ADDR`); then the file; then defaults.
 * Only the variables {@linkcode configEnvNames} lists are read (never
 * `Deno.env.toObject()`), so the service can run with `--allow-env=` naming
 * exactly those; a variable the sandbox does not grant reads as unset.
 *
 * Relative paths (`field.path()`: `tls_cert`, `database.path`,
 * `mcias.ca_cert`) resolve against the config file's directory. An empty
 * string counts as unset, since TOML has no null (`ca_cert = ""`).
 *
 * Why a small schema DSL of our own rather than zod: the loader has to know
 * each key's type to parse environment variables (`"30"` as an integer,
 * `"a,b"` as an array), to list the variable names for the sandbox, to
 * resolve paths against the file's directory and to read durations; and its
 * messages have to name the file, the TOML key or the variable, and the fix.
 * zod could check the shapes but every one of those would be a walk over its
 * internals; the DSL is a few hundred lines and has no dependency beyond the
 * TOML parser (`smol-toml`, which reads no environment and no files).
 *
 * @example Load a config
 * ```ts
 * import { field, loadConfig, parseListenAddr, STANDARD_SCHEMA } from "@mc/mcdsl/config";
 *
 * const schema = {
 *   ...STANDARD_SCHEMA,
 *   storage: field.table({ root: field.path(), max_blob_mb: field.int({ default: 512, min: 1 }) }),
 * };
 * if (import.meta.main) {
 *   const config = await loadConfig("/srv/mcr/mcr.toml", schema, { service: "mcr" });
 *   const { hostname, port } = parseListenAddr(config.server.listen_addr);
 *   console.log(hostname, port, config.storage.max_blob_mb);
 * }
 * ```
 *
 * @module
 */
export * as field from "./fields.ts";
export type {
  DurationOptions,
  FieldOptions,
  NumberOptions,
  StringArrayOptions,
  StringOptions,
  TableOptions,
  TablesOptions,
  UrlOptions,
} from "./fields.ts";
export { ConfigError, type ConfigErrorOptions, type ConfigProblem } from "./config_error.ts";
export { parseDuration } from "./duration.ts";
export { configEnvNames, type ConfigEnvNamesOptions, DEFAULT_PORT_ENV } from "./env_names.ts";
export { type ListenAddr, parseListenAddr } from "./listen_addr.ts";
export { loadConfig, type LoadConfigOptions } from "./load_config.ts";
export { parseConfig, type ParseConfigOptions } from "./parse_config.ts";
export type { Field, FieldKind, FieldOutput, InferConfig, Schema, WithPresence } from "./schema.ts";
export {
  DATABASE_SECTION,
  type DatabaseConfig,
  LOG_SECTION,
  type LogConfig,
  MCIAS_SECTION,
  type McIasConfig,
  SERVER_SECTION,
  type ServerConfig,
  SSO_SECTION,
  type SsoConfig,
  STANDARD_SCHEMA,
  type StandardConfig,
} from "./standard.ts";
