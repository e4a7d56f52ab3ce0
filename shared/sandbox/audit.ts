/**
 * Checking a run against its declaration: Deno writes every permission
 * check to the file named by `DENO_AUDIT_PERMISSIONS` (one JSON object per
 * line); {@linkcode undeclaredAccesses} lists the checks that the declared
 * permission set does not cover. A service's integration suite runs with
 * auditing on and asserts that list is empty, so the manifest cannot drift
 * from what the code really touches.
 *
 * @module
 */

import { isAbsolute, relative, resolve } from "node:path";
import { PERMISSION_KINDS, type PermissionKind, type PermissionSet } from "./permission_set.ts";

/** One permission check Deno recorded. */
export interface AuditEntry {
  /** Kind: read, write, net, env, run, sys, ffi, import. */
  permission: string;
  /** What was checked: a path, `host:port`, a URL, a variable name, … */
  value: string;
}

/**
 * Reads a `DENO_AUDIT_PERMISSIONS` file.
 *
 * @param path The audit file.
 * @returns Its entries, in order, without duplicates.
 */
export async function readAudit(path: string): Promise<AuditEntry[]> {
  const text = await Deno.readTextFile(path);
  const seen = new Set<string>();
  const out: AuditEntry[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    const { permission, value } = JSON.parse(line) as AuditEntry;
    const key = `${permission}\0${value}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ permission, value: value ?? "" });
  }
  return out;
}

function within(path: string, granted: string): boolean {
  const rel = relative(resolve(granted), resolve(path));
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

function hostPort(value: string): { host: string; port: string } {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(value)) {
    const url = new URL(value);
    const port = url.port ||
      (url.protocol === "https:" ? "443" : url.protocol === "http:" ? "80" : "");
    return { host: url.hostname, port };
  }
  const m = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(value);
  return m === null ? { host: value, port: "" } : { host: m[1], port: m[2] };
}

function covers(kind: PermissionKind, granted: string, value: string): boolean {
  switch (kind) {
    case "read":
    case "write":
      return within(value, granted);
    case "net": {
      const want = hostPort(value);
      const have = hostPort(granted);
      return want.host === have.host && (have.port === "" || have.port === want.port);
    }
    case "env":
      return granted.endsWith("*") ? value.startsWith(granted.slice(0, -1)) : granted === value;
    case "run":
    case "sys":
      return granted === value;
  }
}

/**
 * The audited checks that `set` does not cover. A unix-socket `net` check
 * (`unix:/path`) counts as covered by read and write of the path, which is
 * what Deno grants sockets by.
 *
 * @param entries What {@linkcode readAudit} returned.
 * @param set The declared permission set.
 * @returns Checks outside the declaration (empty when the run stayed inside).
 *
 * @example Usage
 * ```ts
 * import { undeclaredAccesses } from "./audit.ts";
 * import assert from "node:assert/strict";
 * const set = { read: ["/srv/x"], net: ["127.0.0.1:8443"], env: ["X_*"] };
 * assert.deepEqual(undeclaredAccesses([
 *   { permission: "read", value: "/srv/x/x.db" },
 *   { permission: "net", value: "127.0.0.1:8443" },
 *   { permission: "env", value: "X_LOG_LEVEL" },
 *   { permission: "read", value: "/etc/passwd" },
 * ], set), [{ permission: "read", value: "/etc/passwd" }]);
 * ```
 */
export function undeclaredAccesses(entries: AuditEntry[], set: PermissionSet): AuditEntry[] {
  return entries.filter(({ permission, value }) => {
    if (permission === "net" && value.startsWith("unix:")) {
      const path = value.slice(5);
      return !((set.read ?? []).some((g) => within(path, g)) &&
        (set.write ?? []).some((g) => within(path, g)));
    }
    if (!(PERMISSION_KINDS as readonly string[]).includes(permission)) return true;
    const kind = permission as PermissionKind;
    return !(set[kind] ?? []).some((granted) => covers(kind, granted, value));
  });
}
