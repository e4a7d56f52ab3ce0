/**
 * Who may change which record: the per-name rules that sit behind the access
 * maps of the REST and gRPC APIs (which only say `authenticated` or `admin`).
 *
 * - A caller with the MCIAS `admin` role manages zones and every record.
 * - The system account {@linkcode MCP_AGENT} creates, updates and deletes any
 *   record (the MCP agent registers `<service>.svc.mcp.<domain>` on deploy).
 * - Any other system account whose name is a single DNS label writes only
 *   {@linkcode OWN_NAME_TYPES} records in the service zone
 *   (`svc.mcp.<domain>`) whose owner name, relative to that zone, is exactly
 *   its account name: account `mcr` may manage `mcr.svc.mcp.example.com`,
 *   but not the apex, not `api.mcr.<zone>`, not `mcr-x.<zone>`, not
 *   `mcr.<any other zone>`, and no NS, MX or CAA record. An account whose
 *   name has a dot (`api.web`) or is not a valid label owns no name. Names
 *   compare case-insensitively (DNS names are stored lower case).
 * - Every other caller (human users without `admin`) only reads.
 *
 * @module
 */

import type { TokenInfo } from "@mc/mcdsl/auth/types";
import { hasNonAscii, isLabel } from "../records.ts";

/** The system account of the MCP agent, allowed to write any record. */
export const MCP_AGENT = "mcp-agent";

/** The caller may not do this (REST 403, gRPC PERMISSION_DENIED). */
export class ForbiddenError extends Error {
  /** @param message What was refused and why; shown to the caller. */
  constructor(message: string) {
    super(message);
    this.name = "ForbiddenError";
  }
}

/** Whether the caller holds the MCIAS `admin` role. */
export function isAdmin(caller: TokenInfo): boolean {
  return caller.valid && caller.roles.includes("admin");
}

/** Record types a system account may write at its own name; NS, MX and CAA stay with admins and mcp-agent. */
export const OWN_NAME_TYPES: readonly string[] = Object.freeze([
  "A",
  "AAAA",
  "CNAME",
  "TXT",
  "SRV",
]);

/**
 * The owner name relative to the zone: `@` for the apex, else the labels in
 * front of the zone (`mcr` for `mcr.svc.mcp.example.com` in
 * `svc.mcp.example.com`); `undefined` when the name is outside the zone.
 *
 * @param zone Zone apex, lower case, no trailing dot.
 * @param owner Absolute owner name, lower case, no trailing dot.
 */
export function relativeName(zone: string, owner: string): string | undefined {
  if (owner === zone) return "@";
  return owner.endsWith(`.${zone}`) ? owner.slice(0, -(zone.length + 1)) : undefined;
}

/**
 * The name a system account may own, lower case: its account name when that
 * is one DNS label (no dot, not `*`), else `undefined` (it owns no name).
 */
export function ownLabel(caller: TokenInfo): string | undefined {
  // Checked before folding: the Kelvin sign must not become the label "k".
  if (hasNonAscii(caller.username)) return undefined;
  const label = caller.username.toLowerCase();
  return label !== "*" && isLabel(label) ? label : undefined;
}

/**
 * Refuses callers that may write no record at all (human users without
 * `admin`): checked before the request is even parsed.
 *
 * @throws {ForbiddenError} When the caller only reads.
 */
export function checkMayWriteRecords(caller: TokenInfo): void {
  if (isAdmin(caller) || (caller.valid && caller.accountType === "system")) return;
  throw new ForbiddenError(
    `Cannot change records as "${caller.username}": only admins and system accounts write records`,
  );
}

/** One record a write touches: where it is and its type. */
export interface WriteTarget {
  /** Zone apex, lower case, no trailing dot. */
  zone: string;
  /** Absolute owner name, lower case, no trailing dot. */
  name: string;
  /** Record type, upper case. */
  type: string;
}

/**
 * Whether `caller` may create, change or delete `target`.
 *
 * @param caller The validated token's account.
 * @param serviceZone The zone where system accounts own their name: `svc.mcp.<domain>`.
 * @param target The record's zone, owner name and type.
 */
export function mayWriteRecord(
  caller: TokenInfo,
  serviceZone: string,
  target: WriteTarget,
): boolean {
  if (!caller.valid) return false;
  if (isAdmin(caller)) return true;
  if (caller.accountType !== "system") return false;
  if (caller.username.toLowerCase() === MCP_AGENT) return true;
  const label = ownLabel(caller);
  return label !== undefined && target.zone === serviceZone &&
    relativeName(target.zone, target.name) === label && OWN_NAME_TYPES.includes(target.type);
}

/**
 * Throws unless `caller` may write every one of `targets` (an update checks
 * both the stored record and what replaces it).
 *
 * @throws {ForbiddenError} Naming the first refused record and what the caller may do.
 */
export function checkRecordWrite(
  caller: TokenInfo,
  serviceZone: string,
  ...targets: WriteTarget[]
): void {
  for (const target of targets) {
    if (mayWriteRecord(caller, serviceZone, target)) continue;
    checkMayWriteRecords(caller);
    const label = ownLabel(caller);
    const may = label === undefined
      ? `its name is not a single DNS label, so it owns no name`
      : `it may only manage ${OWN_NAME_TYPES.join(", ")} records at "${label}.${serviceZone}"`;
    throw new ForbiddenError(
      `Cannot change ${target.type} records at "${target.name}" as system account "${caller.username}": ${may}`,
    );
  }
}

/**
 * Throws unless `caller` may create or delete zones (admins only; the access
 * maps already require `admin`, this is the same rule for callers in code).
 *
 * @throws {ForbiddenError} For anyone else.
 */
export function checkZoneAdmin(caller: TokenInfo): void {
  if (!isAdmin(caller)) {
    throw new ForbiddenError(`Cannot manage zones as "${caller.username}": admin role required`);
  }
}
