/**
 * The environment variables a service's config reads, derived from its
 * schema, so a launcher can grant exactly those.
 *
 * @module
 */

import type { Field, Schema } from "./schema.ts";

/**
 * Port variables set by the MCP agent, each mapped to the dotted key it
 * overrides with `0.0.0.0:<port>`. When several map to one key, the first
 * set wins. `PORT_REST` is the name the agent gives a route named "rest",
 * so a service with named routes still gets its REST port.
 */
export const DEFAULT_PORT_ENV: Readonly<Record<string, string>> = {
  PORT: "server.listen_addr",
  PORT_REST: "server.listen_addr",
  PORT_GRPC: "server.grpc_addr",
};

/** Options for {@linkcode configEnvNames}. */
export interface ConfigEnvNamesOptions {
  /**
   * Port variables and the dotted keys they override; entries whose key is
   * not in the schema are skipped.
   * @default {DEFAULT_PORT_ENV}
   */
  ports?: Readonly<Record<string, string>>;
}

/** @internal Which variables override which dotted keys. */
export interface EnvPlan {
  /** Dotted key to its `<SERVICE>_<SECTION>_<KEY>` variable. */
  byKey: ReadonlyMap<string, string>;
  /** Dotted key to its port variables, by precedence. */
  ports: ReadonlyMap<string, readonly string[]>;
}

const SERVICE = /^[A-Za-z][A-Za-z0-9_-]*$/;
const KEY = /^[A-Za-z0-9_-]+$/;

function envPart(text: string): string {
  return text.toUpperCase().replaceAll("-", "_");
}

function walk(
  schema: Schema,
  prefix: string,
  keyPrefix: string,
  visit: (key: string, name: string, field: Field<unknown>) => void,
): void {
  for (const [name, field] of Object.entries(schema)) {
    // Keys inside arrays and maps have no stable address, so no variable.
    if (field.kind === "tables" || field.kind === "map") continue;
    if (!KEY.test(name)) {
      throw new TypeError(
        `Cannot derive environment variable for key "${keyPrefix}${name}": ` +
          `schema keys must match ${KEY}; rename the key`,
      );
    }
    const key = `${keyPrefix}${name}`;
    const env = `${prefix}_${envPart(name)}`;
    if (field.kind === "table") walk(field.fields ?? {}, env, `${key}.`, visit);
    else visit(key, env, field);
  }
}

/** @internal Works out the variables for a schema; throws TypeError on clashes. */
export function envPlan(
  service: string,
  schema: Schema,
  ports: Readonly<Record<string, string>> | undefined,
): EnvPlan {
  if (!SERVICE.test(service)) {
    throw new TypeError(
      `Cannot derive environment variables for service "${service}": ` +
        `the name must match ${SERVICE}, for example "mcr" or "mc-proxy"`,
    );
  }
  const byKey = new Map<string, string>();
  const byName = new Map<string, string>();
  walk(schema, envPart(service), "", (key, name) => {
    const other = byName.get(name);
    if (other !== undefined) {
      throw new TypeError(
        `Cannot derive environment variables: keys "${other}" and "${key}" both map to ` +
          `${name}; rename one of them`,
      );
    }
    byName.set(name, key);
    byKey.set(key, name);
  });
  const portMap = new Map<string, string[]>();
  for (const [name, key] of Object.entries(ports ?? DEFAULT_PORT_ENV)) {
    if (!byKey.has(key)) {
      if (ports === undefined) continue;
      throw new TypeError(
        `Cannot map port variable ${name} to "${key}": the schema has no such key; ` +
          `use the dotted key of a listen address, such as "server.listen_addr"`,
      );
    }
    portMap.set(key, [...portMap.get(key) ?? [], name]);
  }
  return { byKey, ports: portMap };
}

/**
 * Lists every environment variable {@linkcode loadConfig} may read for a
 * service: the port variables whose keys exist in the schema, then one
 * `<SERVICE>_<SECTION>_<KEY>` per key (uppercase, `-` as `_`), in schema
 * order. Keys inside arrays of tables and maps have none. Pass the list to
 * `--allow-env=` so the service sees exactly these.
 *
 * @param service The service name, for example `"mcr"` or `"mc-proxy"`.
 * @param schema The service's config schema.
 * @param options Port variable mapping.
 * @returns The variable names.
 * @throws {TypeError} If the service name is not a name, a key cannot be a
 * variable name, or two keys map to the same variable.
 *
 * @example Names for a service
 * ```ts
 * import { configEnvNames, field } from "@mc/mcdsl/config";
 * import assert from "node:assert/strict";
 *
 * const schema = { server: field.table({ listen_addr: field.listenAddr() }) };
 * assert.deepEqual(configEnvNames("mc-proxy", schema), [
 *   "PORT",
 *   "PORT_REST",
 *   "MC_PROXY_SERVER_LISTEN_ADDR",
 * ]);
 * ```
 */
export function configEnvNames(
  service: string,
  schema: Schema,
  options: ConfigEnvNamesOptions = {},
): string[] {
  const plan = envPlan(service, schema, options.ports);
  return [...new Set([...[...plan.ports.values()].flat(), ...plan.byKey.values()])];
}
