/**
 * The sandbox manifest: each service declares its capabilities once, in the
 * `"sandbox"` key of its `deno.json`, with placeholders that the launcher
 * fills in from the service's configuration. The result is the exact flag
 * list the service runs (or is compiled) with.
 *
 * ```jsonc
 * "sandbox": {
 *   "default": {                       // every subcommand
 *     "read": ["${config}", "${data_dir}"],
 *     "env": ["${config_env}"]
 *   },
 *   "server": {                        // added for `server`
 *     "read": ["${server.tls_cert}", "${server.tls_key}"],
 *     "write": ["${data_dir}"],
 *     "net": ["${server.listen_addr}", "${server.grpc_addr}", "${mcias.server_url}"]
 *   },
 *   "restore": { "read": ["${flag:from}"] }
 * }
 * ```
 *
 * An entry is either literal text or exactly one `${name}` placeholder; a
 * placeholder that resolves to nothing (an optional key left empty) grants
 * nothing. In `net`, listen addresses (`:8443`), URLs and `unix:` socket
 * paths are normalised: a socket path becomes read and write of that path
 * plus `unix:<path>` net (Deno's node:net checks both). `unix:${key}` marks
 * a key that holds a bare socket path.
 *
 * @module
 */

import { mergePermissionSets, PERMISSION_KINDS, type PermissionSet } from "./permission_set.ts";

/** The `"sandbox"` value of a service's `deno.json`. */
export interface SandboxManifest {
  /** Granted to every subcommand. */
  default?: PermissionSet;
  /** Added for one subcommand (`server`, `snapshot`, `restore`, …). */
  [subcommand: string]: PermissionSet | undefined;
}

/** A manifest whose shape or placeholders are wrong. */
export class ManifestError extends Error {
  /** @param message What is wrong and where. */
  constructor(message: string) {
    super(message);
    this.name = "ManifestError";
  }
}

/** Resolves a placeholder name to zero or more values. */
export type PlaceholderLookup = (name: string) => string | string[] | undefined;

const PLACEHOLDER = /^\$\{([A-Za-z0-9_.:-]+)\}$/;
const KINDS = [...PERMISSION_KINDS, "unstable"] as const;

/**
 * Checks that `value` is a well-formed manifest and returns it typed.
 *
 * @param value The parsed `"sandbox"` key.
 * @param source Where it came from, for messages.
 * @returns The manifest.
 * @throws {ManifestError} On any unknown kind, non-array or non-string entry.
 */
export function parseManifest(value: unknown, source: string): SandboxManifest {
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    throw new ManifestError(
      `Cannot read sandbox manifest in ${source}: "sandbox" must be an object of subcommand → permission set`,
    );
  }
  for (const [sub, set] of Object.entries(value)) {
    if (set === null || typeof set !== "object" || Array.isArray(set)) {
      throw new ManifestError(
        `Cannot read sandbox manifest in ${source}: "sandbox.${sub}" must be an object`,
      );
    }
    for (const [kind, entries] of Object.entries(set)) {
      if (!(KINDS as readonly string[]).includes(kind)) {
        throw new ManifestError(
          `Cannot read sandbox manifest in ${source}: "sandbox.${sub}.${kind}" is not a permission kind (expected one of ${
            KINDS.join(", ")
          })`,
        );
      }
      if (!Array.isArray(entries) || entries.some((e) => typeof e !== "string")) {
        throw new ManifestError(
          `Cannot read sandbox manifest in ${source}: "sandbox.${sub}.${kind}" must be an array of strings`,
        );
      }
    }
  }
  return value as SandboxManifest;
}

/**
 * Normalises one `net` value: a listen address (`:8443`, `0.0.0.0:8443`,
 * `[::1]:9443`) stays `host:port` with an empty host read as `0.0.0.0`; a
 * URL becomes its `host:port` (default port from the scheme); `unix:` paths
 * are returned as a path to grant read and write on instead.
 *
 * @param value What the config holds.
 * @returns Either a net entry or a socket path.
 */
export function normalizeNetValue(value: string): { net: string } | { socket: string } {
  if (value.startsWith("unix:")) {
    return { socket: value.replace(/^unix:(\/\/)?/, "") };
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    const url = new URL(value);
    const port = url.port ||
      (url.protocol === "https:" ? "443" : url.protocol === "http:" ? "80" : "");
    return { net: port === "" ? url.hostname : `${url.hostname}:${port}` };
  }
  if (value.startsWith(":")) return { net: `0.0.0.0${value}` };
  return { net: value };
}

/**
 * Resolves the manifest for one subcommand into a concrete permission set:
 * `default` plus the subcommand's own entries, placeholders filled in.
 *
 * @param manifest The service's manifest.
 * @param subcommand The subcommand being run.
 * @param lookup Resolves placeholder names (config keys, `config`, `data_dir`, …).
 * @returns The permission set.
 * @throws {ManifestError} When a placeholder is unknown to `lookup`.
 *
 * @example Usage
 * ```ts
 * import { resolveManifest } from "./manifest.ts";
 * import assert from "node:assert/strict";
 * const set = resolveManifest(
 *   { default: { read: ["${config}"] }, server: { net: ["${server.listen_addr}", "${server.grpc_addr}"] } },
 *   "server",
 *   (name) => ({ config: "/srv/x/x.toml", "server.listen_addr": ":8443", "server.grpc_addr": "unix:///srv/x/admin.sock" })[name],
 * );
 * assert.deepEqual(set, {
 *   read: ["/srv/x/x.toml", "/srv/x/admin.sock"],
 *   write: ["/srv/x/admin.sock"],
 *   net: ["0.0.0.0:8443", "unix:/srv/x/admin.sock"],
 * });
 * ```
 */
export function resolveManifest(
  manifest: SandboxManifest,
  subcommand: string,
  lookup: PlaceholderLookup,
): PermissionSet {
  const sets = [manifest.default ?? {}, manifest[subcommand] ?? {}];
  const resolved: PermissionSet[] = [];
  for (const set of sets) {
    const out: PermissionSet = {};
    const sockets: string[] = [];
    for (const kind of KINDS) {
      const values: string[] = [];
      for (const entry of set[kind] ?? []) {
        for (const value of expand(entry, lookup)) {
          if (kind !== "net") {
            values.push(value);
            continue;
          }
          const n = normalizeNetValue(value);
          if ("socket" in n) {
            // Deno's node:net (grpc-js) checks net for unix sockets too.
            sockets.push(n.socket);
            values.push(`unix:${n.socket}`);
          } else values.push(n.net);
        }
      }
      if (values.length > 0) out[kind] = values;
    }
    resolved.push(out);
    if (sockets.length > 0) resolved.push({ read: sockets, write: sockets });
  }
  return mergePermissionSets(...resolved);
}

function expand(entry: string, lookup: PlaceholderLookup): string[] {
  // `unix:${key}`: a config key holding a bare socket path.
  if (entry.startsWith("unix:${")) {
    return expand(entry.slice("unix:".length), lookup)
      .map((v) => v.startsWith("unix:") ? v : `unix:${v}`);
  }
  const match = PLACEHOLDER.exec(entry);
  if (match === null) {
    if (entry.includes("${")) {
      throw new ManifestError(
        `Cannot resolve sandbox entry "${entry}": a placeholder must be the whole entry, like "\${data_dir}"`,
      );
    }
    return [entry];
  }
  const value = lookup(match[1]);
  if (value === undefined) {
    throw new ManifestError(
      `Cannot resolve sandbox placeholder "${entry}": no config key or launcher value named "${
        match[1]
      }"`,
    );
  }
  return (Array.isArray(value) ? value : [value]).filter((v) => v !== "");
}
