/**
 * Permission sets: the capabilities a service process is granted, and their
 * translation into `deno run` / `deno compile` flags.
 *
 * @module
 */

import { basename, resolve } from "node:path";

/** The capabilities one process gets. A missing or empty list grants nothing. */
export interface PermissionSet {
  /** Paths the process may read. */
  read?: string[];
  /** Paths the process may write. */
  write?: string[];
  /** `host:port` pairs (or hosts) the process may listen on or connect to. */
  net?: string[];
  /** Environment variable names, or prefixes ending in `*`. */
  env?: string[];
  /** Executables (absolute paths or names on PATH) the process may run. */
  run?: string[];
  /** `Deno.*` system-information APIs (for example `hostname`). */
  sys?: string[];
  /** Unstable runtime features (`--unstable-<name>`), such as `net` for UDP. */
  unstable?: string[];
}

/** The kinds of permission a {@linkcode PermissionSet} can grant, in flag order. */
export const PERMISSION_KINDS = ["read", "write", "net", "env", "run", "sys"] as const;

/** One permission kind. */
export type PermissionKind = typeof PERMISSION_KINDS[number];

/** A permission set that would grant more than a narrow, reviewable set. */
export class BlanketPermissionError extends Error {
  /**
   * @param message What is too broad and how to narrow it.
   */
  constructor(message: string) {
    super(message);
    this.name = "BlanketPermissionError";
  }
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*\*?$/;
const SYS_NAMES = new Set([
  "hostname",
  "osRelease",
  "osUptime",
  "loadavg",
  "networkInterfaces",
  "systemMemoryInfo",
  "uid",
  "gid",
  "cpus",
  "homedir",
  "statfs",
  "getPriority",
  "setPriority",
  "userInfo",
]);
const UNSTABLE_NAMES = new Set(["net", "kv", "cron", "http", "fs", "worker-options"]);
// Programs whose --allow-run grant amounts to -A: Deno itself, shells and
// launchers that run any command line (a child process is not sandboxed).
const ANY_COMMAND_PROGRAMS = new Set([
  "deno",
  "sh",
  "bash",
  "dash",
  "zsh",
  "ksh",
  "fish",
  "env",
  "sudo",
  "su",
  "doas",
  "busybox",
  "xargs",
  "nohup",
  "timeout",
]);

function check(kind: PermissionKind | "unstable", value: string): void {
  const bad = (why: string) =>
    new BlanketPermissionError(
      `Cannot grant ${kind} permission "${value}": ${why}; list the exact ${
        kind === "net" ? "host:port" : kind === "env" ? "variable names" : "paths"
      } the service needs`,
    );
  if (value.trim() === "" || value !== value.trim()) throw bad("entry is empty or padded");
  if (value.includes(",")) throw bad("entry contains a comma");
  switch (kind) {
    case "read":
    case "write":
      if (value === "/" || value === "*") throw bad("that is the whole file system");
      // Deno normalises `/srv/..` to `/`: only the text that Deno will
      // enforce can be reviewed, so it must already be absolute and normal.
      if (value !== resolve(value)) {
        throw bad(`not an absolute, normalised path (Deno would grant "${resolve(value)}")`);
      }
      if (resolve(value) === "/") throw bad("that is the whole file system");
      return;
    case "net":
      if (value === "*" || value === "0.0.0.0" || value === "[::]") {
        throw bad("that is every host");
      }
      return;
    case "env":
      if (value === "*" || !ENV_NAME.test(value)) throw bad("not a variable name or NAME_* prefix");
      return;
    case "run":
      if (value === "*") throw bad("that is every program");
      if (ANY_COMMAND_PROGRAMS.has(basename(value))) {
        throw bad(
          "running it grants every permission (a child process is not sandboxed, and " +
            `${basename(value)} runs any program), the same as -A`,
        );
      }
      return;
    case "sys":
      if (!SYS_NAMES.has(value)) throw bad("not a Deno sys permission name");
      return;
    case "unstable":
      if (!UNSTABLE_NAMES.has(value)) throw bad("not a known unstable feature");
      return;
  }
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}

/**
 * Turns a permission set into `deno run` flags, one `--allow-<kind>=a,b` per
 * non-empty kind, in a fixed order, after refusing anything blanket: an empty
 * entry, `*`, the root directory, a read or write path that is relative or
 * not normalised (`/srv/..` is `/` to Deno), every host, an invalid env name,
 * a program that runs anything (`deno`, a shell, `env`, `sudo`).
 *
 * @param set The capabilities to grant.
 * @returns Flags such as `["--allow-read=/srv/x", "--allow-net=127.0.0.1:8443"]`.
 * @throws {BlanketPermissionError} When an entry would grant too much.
 *
 * @example Usage
 * ```ts
 * import { toFlags } from "./permission_set.ts";
 * import assert from "node:assert/strict";
 * assert.deepEqual(
 *   toFlags({ read: ["/srv/x", "/srv/x"], net: ["127.0.0.1:8443"], env: [] }),
 *   ["--allow-read=/srv/x", "--allow-net=127.0.0.1:8443"],
 * );
 * ```
 */
export function toFlags(set: PermissionSet): string[] {
  const flags: string[] = [];
  for (const kind of PERMISSION_KINDS) {
    const values = unique(set[kind] ?? []);
    values.forEach((v) => check(kind, v));
    if (values.length > 0) flags.push(`--allow-${kind}=${values.join(",")}`);
  }
  for (const feature of unique(set.unstable ?? [])) {
    check("unstable", feature);
    flags.push(`--unstable-${feature}`);
  }
  return flags;
}

/**
 * Merges permission sets, keeping each list's first-seen order.
 *
 * @param sets The sets to combine.
 * @returns One set holding every entry of every set.
 */
export function mergePermissionSets(...sets: PermissionSet[]): PermissionSet {
  const out: PermissionSet = {};
  for (const set of sets) {
    for (const kind of [...PERMISSION_KINDS, "unstable"] as const) {
      const values = set[kind];
      if (values === undefined || values.length === 0) continue;
      out[kind] = unique([...(out[kind] ?? []), ...values]);
    }
  }
  return out;
}
