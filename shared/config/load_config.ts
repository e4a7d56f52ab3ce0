/**
 * Reads a service's TOML config file into a typed, validated config.
 *
 * @module
 */

import { dirname, isAbsolute, resolve } from "node:path";
import { ConfigError } from "./config_error.ts";
import { parseConfig, type ParseConfigOptions } from "./parse_config.ts";
import type { InferConfig, Schema } from "./schema.ts";

/** Options for {@linkcode loadConfig}: those of {@linkcode parseConfig} but the source. */
export type LoadConfigOptions = Omit<ParseConfigOptions, "source" | "baseDir">;

function absolute(path: string): string {
  if (isAbsolute(path)) return path;
  try {
    return resolve(Deno.cwd(), path);
  } catch {
    // Without read access to the working directory the path stays relative;
    // it still opens, and relative paths in it resolve the same way.
    return path;
  }
}

function readError(path: string, error: unknown): ConfigError {
  let why: string;
  if (error instanceof Deno.errors.NotFound) {
    why = "the file does not exist; create it (a [server] section with listen_addr, " +
      "tls_cert and tls_key, a [database] section with path, and so on) " +
      "or pass --config with the path of the service's config";
  } else if (error instanceof Deno.errors.NotCapable) {
    why = `the sandbox does not allow reading it; run the service with --allow-read=${path}`;
  } else if (error instanceof Deno.errors.PermissionDenied) {
    why = "the operating system denied access; check the file's owner and mode";
  } else if (error instanceof Deno.errors.IsADirectory) {
    why = "it is a directory; pass the path of the TOML file itself";
  } else {
    why = `${error instanceof Error ? error.message : error}; check the path`;
  }
  return new ConfigError(path, `Cannot load config "${path}": ${why}`, { cause: error });
}

/**
 * Reads a TOML config file and returns the typed config, as
 * {@linkcode parseConfig} does for text. Relative paths in the config
 * (`tls_cert`, `database.path`, `mcias.ca_cert`, any `field.path()`) are
 * resolved against the directory of the file, so `tls_cert = "certs/cert.pem"`
 * in `/srv/mcr/mcr.toml` means `/srv/mcr/certs/cert.pem`.
 *
 * Needs read access to `path` and env access to the names
 * {@linkcode configEnvNames} lists, nothing else.
 *
 * @param path The config file, for example `/srv/mcr/mcr.toml`.
 * @param schema The config schema.
 * @param options Service name, env lookup, port variables.
 * @returns The config, typed from the schema.
 * @throws {ConfigError} If the file cannot be read, is not TOML, or does not fit the schema.
 * @throws {TypeError} If the service name or the schema cannot give variable names.
 *
 * @example Load a service config
 * ```ts
 * import { field, loadConfig, STANDARD_SCHEMA } from "@mc/mcdsl/config";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const file = `${dir}/demo.toml`;
 * await Deno.writeTextFile(file, `
 * [server]
 * listen_addr = ":8443"
 * tls_cert = "certs/cert.pem"
 * tls_key = "certs/key.pem"
 * [database]
 * path = "demo.db"
 * [mcias]
 * server_url = "https://mcias.example:8443"
 * service_name = "demo"
 * `);
 * const schema = { ...STANDARD_SCHEMA, demo: field.table({ greeting: field.string({ default: "hi" }) }) };
 * const config = await loadConfig(file, schema, { service: "demo", env: () => undefined });
 * assert.equal(config.server.tls_cert, `${dir}/certs/cert.pem`);
 * assert.equal(config.log.level, "info");
 * assert.equal(config.demo.greeting, "hi");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function loadConfig<S extends Schema>(
  path: string,
  schema: S,
  options: LoadConfigOptions,
): Promise<InferConfig<S>> {
  const file = absolute(path);
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw readError(file, error);
  }
  return parseConfig(text, schema, { ...options, source: file, baseDir: dirname(file) });
}
