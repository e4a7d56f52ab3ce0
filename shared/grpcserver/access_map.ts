/**
 * The interceptor map: who may call each RPC, checked against the registered
 * services before a server starts.
 *
 * @module
 */

import { type Access, ACCESS_LEVELS } from "../auth/types.ts";

/**
 * Access level of every RPC a server registers, keyed by full method path
 * (`/pkg.v1.Service/Method`).
 */
export type AccessMap = Readonly<Record<string, Access>>;

/** Thrown when an access map and the registered methods disagree. */
export class AccessMapError extends Error {
  /** Registered methods the map does not declare. */
  readonly undeclared: readonly string[];
  /** Map entries naming no registered method. */
  readonly stale: readonly string[];
  /** Map entries whose level is not an {@linkcode Access}. */
  readonly invalid: readonly string[];
  /** Map entries for built-in services, which are declared automatically. */
  readonly reserved: readonly string[];

  /**
   * @param problems The offending method paths, by kind.
   */
  constructor(problems: {
    undeclared?: string[];
    stale?: string[];
    invalid?: string[];
    reserved?: string[];
  }) {
    const { undeclared = [], stale = [], invalid = [], reserved = [] } = problems;
    const parts: string[] = [];
    if (undeclared.length > 0) {
      parts.push(
        `undeclared methods ${list(undeclared)} (declare each as ${levels()})`,
      );
    }
    if (stale.length > 0) {
      parts.push(`stale entries ${list(stale)} (no registered service has them: remove them)`);
    }
    if (invalid.length > 0) {
      parts.push(`invalid levels for ${list(invalid)} (expected ${levels()})`);
    }
    if (reserved.length > 0) {
      parts.push(
        `entries for built-in services ${
          list(reserved)
        } (declared public automatically: remove them)`,
      );
    }
    super(
      `Cannot start gRPC server: the access map does not match the services: ${parts.join("; ")}`,
    );
    this.name = "AccessMapError";
    this.undeclared = undeclared;
    this.stale = stale;
    this.invalid = invalid;
    this.reserved = reserved;
  }
}

function list(paths: string[]): string {
  return paths.map((p) => `"${p}"`).join(", ");
}

function levels(): string {
  return ACCESS_LEVELS.map((l) => `"${l}"`).join(", ");
}

/**
 * Checks that `access` declares every path in `registered` with a valid level
 * and nothing else, and that it leaves `builtin` paths alone.
 *
 * @param access The declared map.
 * @param registered Method paths of the services the caller registers.
 * @param builtin Method paths of built-in services (health, reflection).
 * @returns The full map: `access` plus every built-in path as `public`.
 * @throws {AccessMapError} Listing every undeclared, stale, invalid or reserved path.
 *
 * @example A stale entry stops the server
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccessMapError, checkAccessMap } from "./access_map.ts";
 * assert.throws(
 *   () => checkAccessMap({ "/a.A/X": "public", "/a.A/Old": "admin" }, ["/a.A/X"], []),
 *   AccessMapError,
 * );
 * ```
 */
export function checkAccessMap(
  access: AccessMap,
  registered: readonly string[],
  builtin: readonly string[],
): Map<string, Access> {
  const known = new Set(registered);
  const builtins = new Set(builtin);
  const undeclared = registered.filter((p) => !Object.hasOwn(access, p)).sort();
  const stale: string[] = [];
  const invalid: string[] = [];
  const reserved: string[] = [];
  for (const [path, level] of Object.entries(access)) {
    if (builtins.has(path)) reserved.push(path);
    else if (!known.has(path)) stale.push(path);
    else if (!ACCESS_LEVELS.includes(level)) invalid.push(path);
  }
  if (undeclared.length + stale.length + invalid.length + reserved.length > 0) {
    throw new AccessMapError({
      undeclared,
      stale: stale.sort(),
      invalid: invalid.sort(),
      reserved: reserved.sort(),
    });
  }
  const full = new Map<string, Access>(Object.entries(access));
  for (const path of builtin) full.set(path, "public");
  return full;
}
