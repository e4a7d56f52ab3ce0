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

/** Value of `--name <v>` or `--name=<v>` in `args`. */
export function flagValue(args: readonly string[], name: string): string | undefined {
  for (let i = 0; i < args.length; i++) {
    if (args[i] === `--${name}`) return args[i + 1];
    if (args[i].startsWith(`--${name}=`)) return args[i].slice(name.length + 3);
  }
  return undefined;
}

function absolute(path: string | undefined): string {
  return path === undefined || path === "" ? "" : resolve(path);
}

function dotted(config: unknown, key: string): string | string[] | undefined {
  let value: unknown = config;
  for (const part of key.split(".")) {
    if (value === null || typeof value !== "object" || !(part in value)) return undefined;
    value = (value as Record<string, unknown>)[part];
  }
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.map(String);
  return String(value);
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
  const flags = [...(options.extraFlags ?? []), "--no-prompt", ...toFlags(permissions)];
  return {
    member,
    subcommand,
    config,
    permissions,
    flags,
    argv: ["run", ...flags, member.main, subcommand, ...args],
  };
}
