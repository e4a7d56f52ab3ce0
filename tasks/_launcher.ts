/**
 * Turns "run service X's subcommand Y with config Z" into the exact
 * `deno run` invocation its sandbox manifest allows. Shared by the service
 * launcher, `deno task up`, `deno task compile` and the tests.
 *
 * @module
 */

import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { configEnvNames, loadConfig, type Schema } from "@mc/mcdsl/config";
import { GRPC_CLIENT_ENV_NAMES, GRPC_SERVER_ENV_NAMES } from "@mc/mcdsl/grpcserver/env";
import {
  parseManifest,
  type PermissionSet,
  resolveManifest,
  type SandboxManifest,
  toFlags,
} from "@mc/mcdsl/sandbox";

/** The repository root. */
export const ROOT: string = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/**
 * Deno's default `--allow-import` list (2.9.6, `deno run --help`): without
 * any flag a sandboxed process may still `import()` code from these hosts,
 * which loads code and leaks data in the URL. A bare `--deny-import` does
 * not close it in 2.9.6 (the default list still downloads), so each host is
 * denied by name; no other host is allowed without `--allow-import`.
 */
export const DEFAULT_IMPORT_HOSTS: readonly string[] = [
  "deno.land:443",
  "jsr.io:443",
  "esm.sh:443",
  "raw.esm.sh:443",
  "cdn.jsdelivr.net:443",
  "raw.githubusercontent.com:443",
  "gist.githubusercontent.com:443",
];

/**
 * Flags every sandboxed run gets besides its permissions: no remote
 * imports, and no fetching of dependencies that are not already cached.
 */
export const NO_REMOTE_CODE_FLAGS: readonly string[] = [
  `--deny-import=${DEFAULT_IMPORT_HOSTS.join(",")}`,
  "--cached-only",
];

/** A workspace member that is a service (it has a `"sandbox"` manifest). */
export interface ServiceMember {
  /** Service name, from the package name `@mc/<name>`. */
  name: string;
  /** Absolute path of the member's folder. */
  dir: string;
  /** Its `main.ts`. */
  main: string;
  /** Its declared capabilities. */
  manifest: SandboxManifest;
}

/** What a service's `config.ts` exports. */
export interface ServiceConfigModule {
  /** Service name used for env overrides (`<SERVICE>_<SECTION>_<KEY>`). */
  SERVICE: string;
  /** The full config schema. */
  CONFIG_SCHEMA: Schema;
}

/** A resolved invocation. */
export interface ServicePlan {
  /** The service. */
  member: ServiceMember;
  /** The subcommand. */
  subcommand: string;
  /** Absolute config path used, if any. */
  config?: string;
  /** The permission set granted. */
  permissions: PermissionSet;
  /** `deno run` flags, permissions included. */
  flags: string[];
  /** Full argv for `deno`: `["run", ...flags, main, ...args]`. */
  argv: string[];
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

/**
 * Lists the workspace members that declare a sandbox manifest.
 *
 * @returns Every service member, by name.
 */
export async function listServices(): Promise<Map<string, ServiceMember>> {
  const root = await readJson(join(ROOT, "deno.json"));
  const members = (root.workspace ?? []) as string[];
  const out = new Map<string, ServiceMember>();
  for (const m of members) {
    const dir = resolve(ROOT, m);
    const file = join(dir, "deno.json");
    const json = await readJson(file);
    if (json.sandbox === undefined) continue;
    const name = String(json.name ?? "").replace(/^@mc\//, "");
    out.set(name, {
      name,
      dir,
      main: join(dir, "main.ts"),
      manifest: parseManifest(json.sandbox, file),
    });
  }
  return out;
}

/**
 * Finds one service by name.
 *
 * @throws {Error} Naming the services that exist when `name` is not one.
 */
export async function findService(name: string): Promise<ServiceMember> {
  const services = await listServices();
  const member = services.get(name);
  if (member === undefined) {
    throw new Error(
      `Unknown service "${name}": expected one of ${[...services.keys()].join(", ")}`,
    );
  }
  return member;
}

// Short forms the services' CLIs give these options (`-c`, `-o`).
const SHORT_FORMS: Readonly<Record<string, string>> = { config: "c", output: "o" };

/**
 * Value of `--name <v>` or `--name=<v>` in `args` (before a `--`).
 *
 * The service's CLI (`node:util` `parseArgs`) takes the last of repeated
 * options and accepts short forms, so a value read any other way could
 * grant permissions for one file while the service uses another: a repeated
 * flag, or the short form (`-c`, `-o`, also `-c<v>` and in a group), is
 * refused instead.
 *
 * @param args The arguments after the subcommand.
 * @param name The long option name, without dashes.
 * @returns The value, or `undefined` when the flag is absent.
 * @throws {Error} When the flag is repeated or given in short form.
 */
export function flagValue(args: readonly string[], name: string): string | undefined {
  const refuse = (found: string) =>
    new Error(
      `Cannot derive permissions: pass --${name} once, in long form (--${name} <value>); found ${found}`,
    );
  const short = SHORT_FORMS[name];
  let value: string | undefined;
  let seen = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (arg === "--") break;
    let found: string | undefined;
    if (arg === `--${name}`) {
      found = args[++i];
    } else if (arg.startsWith(`--${name}=`)) {
      found = arg.slice(name.length + 3);
    } else if (
      short !== undefined && /^-[^-]/.test(arg) &&
      /^[A-Za-z]*/.exec(arg.slice(1))![0].includes(short)
    ) {
      throw refuse(JSON.stringify(arg));
    } else {
      continue;
    }
    if (seen) throw refuse(`--${name} twice`);
    seen = true;
    value = found;
  }
  return value;
}

function absolute(path: string | undefined): string {
  return path === undefined || path === "" ? "" : resolve(path);
}

// A key through an array of tables (`listeners.routes.backend` over
// `[[listeners]]` and `[[listeners.routes]]`) collects the value from every
// table; unset optional values are dropped.
function dotted(config: unknown, key: string): string | string[] | undefined {
  let values: unknown[] = [config];
  let throughArray = false;
  for (const part of key.split(".")) {
    const next: unknown[] = [];
    for (let value of values) {
      if (Array.isArray(value)) {
        throughArray = true;
      } else {
        value = [value];
      }
      for (const item of value as unknown[]) {
        if (item === null || typeof item !== "object" || !(part in item)) continue;
        next.push((item as Record<string, unknown>)[part]);
      }
    }
    if (next.length === 0 && !throughArray) return undefined;
    values = next;
  }
  if (!throughArray) {
    const value = values[0];
    if (value === undefined || value === null) return "";
    if (Array.isArray(value)) return value.map(String);
    return String(value);
  }
  return values.flat().filter((v) => v !== undefined && v !== null && v !== "").map(String);
}

/**
 * `udp_source:<key>`: the wildcard port-0 binds (`0.0.0.0:0`, `[::]:0`) a UDP
 * client socket needs to send from a random source port to the `host:port`
 * addresses in `<key>`, one per address family used; nothing when the list
 * is empty, so the grant exists only while the feature is configured.
 *
 * @param value The resolved `<key>`.
 * @returns The binds to grant.
 */
export function udpSourceBinds(value: string | string[] | undefined): string[] {
  const addrs = (Array.isArray(value) ? value : value === undefined ? [] : [value])
    .filter((v) => v !== "");
  const binds = new Set<string>();
  for (const a of addrs) binds.add(a.startsWith("[") ? "[::]:0" : "0.0.0.0:0");
  return [...binds];
}

/** Options for {@linkcode planService}. */
export interface PlanOptions {
  /** Extra `deno run` flags (before permissions), e.g. `--no-check`. */
  extraFlags?: string[];
  /** Env lookup for config overrides. @default {Deno.env.get} */
  env?: (name: string) => string | undefined;
}

/**
 * Resolves service `name`'s manifest for `subcommand`, reading the config
 * given by `--config` in `args`, into the exact `deno run` argv.
 *
 * @param name Service name.
 * @param subcommand The subcommand (`server`, `snapshot`, …).
 * @param args Arguments after the subcommand (passed through).
 * @returns The plan.
 */
export async function planService(
  name: string,
  subcommand: string,
  args: readonly string[],
  options: PlanOptions = {},
): Promise<ServicePlan> {
  const member = await findService(name);
  const configArg = flagValue(args, "config");
  let config: string | undefined;
  let lookup: (key: string) => string | string[] | undefined = (key) => {
    if (key === "grpc_env") return [...GRPC_SERVER_ENV_NAMES];
    if (key === "grpc_client_env") return [...GRPC_CLIENT_ENV_NAMES];
    return key.startsWith("flag:") ? absolute(flagValue(args, key.slice(5))) : undefined;
  };
  if (configArg !== undefined) {
    config = resolve(configArg);
    const mod = await import(join(member.dir, "config.ts")) as ServiceConfigModule;
    const loaded = await loadConfig(config, mod.CONFIG_SCHEMA, {
      service: mod.SERVICE,
      env: options.env ?? ((n) => Deno.env.get(n)),
    });
    const dbPath = dotted(loaded, "database.path");
    const dataDir = typeof dbPath === "string" && dbPath !== "" ? dirname(dbPath) : dirname(config);
    const base = lookup;
    lookup = (key) => {
      if (key === "config") return config;
      if (key === "data_dir") return dataDir;
      if (key === "config_env") return configEnvNames(mod.SERVICE, mod.CONFIG_SCHEMA);
      return base(key) ?? dotted(loaded, key);
    };
  }
  const permissions = resolveManifest(member.manifest, subcommand, (key) => {
    if (key.startsWith("udp_source:")) return udpSourceBinds(lookup(key.slice(11)));
    // `dirname:<key>` is the directory holding `<key>`'s path (restore
    // writes a sibling directory and renames it into place).
    const parent = key.startsWith("dirname:");
    const raw = lookup(parent ? key.slice(8) : key);
    const value = parent && typeof raw === "string" && raw !== "" ? dirname(resolve(raw)) : raw;
    if (value === undefined && configArg === undefined) {
      throw new Error(
        `Service "${name}" ${subcommand} needs its config to derive its permissions ("\${${key}}"): pass --config <path>`,
      );
    }
    return value;
  });
  const flags = [
    ...(options.extraFlags ?? []),
    "--no-prompt",
    ...toFlags(permissions),
    ...NO_REMOTE_CODE_FLAGS,
  ];
  return {
    member,
    subcommand,
    config,
    permissions,
    flags,
    argv: ["run", ...flags, member.main, subcommand, ...args],
  };
}
