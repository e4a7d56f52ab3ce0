/**
 * The record API's operations, shared by REST and gRPC: each checks the
 * caller against `authz.ts`, runs one store call (one transaction) and, after
 * a write, tells the DNS server to reload so the change is served at once.
 * Errors are the store's ({@linkcode RecordValidationError},
 * {@linkcode ConflictError}, {@linkcode NotFoundError}) and
 * {@linkcode ForbiddenError}; {@linkcode errorStatus} maps them.
 *
 * @module
 */

import type { TokenInfo } from "@mc/mcdsl/auth/types";
import type { Logger } from "@mc/mcdsl/log";
import { RecordValidationError } from "../records.ts";
import {
  ConflictError,
  NotFoundError,
  type RecordGuard,
  type RecordInput,
  type Zone,
  type ZoneInput,
  type ZoneRecord,
  type ZoneStore,
} from "../store.ts";
import { checkMayWriteRecords, checkRecordWrite, checkZoneAdmin, ForbiddenError } from "./authz.ts";

/** What both APIs share. */
export interface ApiContext {
  /** The zone store the DNS server serves from. */
  store: ZoneStore;
  /** Called after every successful write (the DNS server's `reload()`). */
  onChange: () => void;
  /** The zone where system accounts own their name: `svc.mcp.<domain>`, lower case. */
  serviceZone: string;
  /** Where a failed `onChange` is reported. */
  logger: Logger;
}

/** The client-facing class of an error, or `undefined` for a bug. */
export type ErrorKind = "invalid" | "forbidden" | "not_found" | "conflict";

/**
 * Classifies what an operation threw: 400, 403, 404, 409, or `undefined`
 * (anything else is internal and its message must not reach the client).
 */
export function errorStatus(error: unknown): ErrorKind | undefined {
  if (error instanceof RecordValidationError) return "invalid";
  if (error instanceof ForbiddenError) return "forbidden";
  if (error instanceof NotFoundError) return "not_found";
  if (error instanceof ConflictError) return "conflict";
  return undefined;
}

/** Largest record id accepted (SQLite rowids fit; JavaScript integers stay exact). */
const MAX_ID = Number.MAX_SAFE_INTEGER;

/**
 * Parses a record id from a path segment or a gRPC int64 string.
 *
 * @throws {RecordValidationError} Unless it is a positive integer.
 */
export function parseRecordId(text: string): number {
  const id = /^[1-9][0-9]{0,15}$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(id) || id > MAX_ID) {
    throw new RecordValidationError(
      `Cannot use record id "${text.slice(0, 32)}": expected a positive integer`,
    );
  }
  return id;
}

function zoneName(ctx: ApiContext, name: string): string {
  return ctx.store.getZone(name).name;
}

function notInZone(id: number, zone: string): NotFoundError {
  return new NotFoundError(`Cannot find record ${id} in zone "${zone}"`);
}

/**
 * Tells the DNS server about a committed write. The write stands whatever
 * happens here (the client gets its 2xx): a failure is logged and the DNS
 * server's poll serves the change later.
 */
function changed(ctx: ApiContext): void {
  try {
    ctx.onChange();
  } catch (e) {
    ctx.logger.error("reload after a write failed; the next poll serves it", {
      error: (e as Error).message,
    });
  }
}

/**
 * The API names the apex `@`: an empty name (also a proto3 field left unset)
 * is refused rather than taken as the apex.
 */
function checkInput(input: RecordInput): RecordInput {
  if (input.name === "") {
    throw new RecordValidationError(`Cannot use an empty record name: write "@" for the zone apex`);
  }
  return input;
}

/**
 * The check run inside the store's transaction: the stored record must be in
 * the zone of the request (ids are scoped to it), and the caller must be
 * allowed to write the stored record and what replaces it.
 */
function guard(ctx: ApiContext, caller: TokenInfo, apex: string): RecordGuard {
  return ({ old, next }) => {
    if (old !== undefined && old.zone !== apex) throw notInZone(old.id, apex);
    checkRecordWrite(
      caller,
      ctx.serviceZone,
      ...(old === undefined ? [] : [old]),
      ...(next === undefined ? [] : [next]),
    );
  };
}

/** Every zone. */
export function listZones(ctx: ApiContext): Zone[] {
  return ctx.store.listZones();
}

/** One zone. @throws {NotFoundError} */
export function getZone(ctx: ApiContext, name: string): Zone {
  return ctx.store.getZone(name);
}

/** Creates a zone (admin). */
export function createZone(ctx: ApiContext, caller: TokenInfo, input: ZoneInput): Zone {
  checkZoneAdmin(caller);
  const zone = ctx.store.createZone(input);
  changed(ctx);
  return zone;
}

/** Deletes a zone and its records (admin). */
export function deleteZone(ctx: ApiContext, caller: TokenInfo, name: string): void {
  checkZoneAdmin(caller);
  ctx.store.deleteZone(name);
  changed(ctx);
}

/** A zone's records. */
export function listRecords(ctx: ApiContext, zone: string): ZoneRecord[] {
  return ctx.store.listRecords(zone);
}

/** One record of a zone. @throws {NotFoundError} Also when it is in another zone. */
export function getRecord(ctx: ApiContext, zone: string, id: number): ZoneRecord {
  const apex = zoneName(ctx, zone);
  let record: ZoneRecord;
  try {
    record = ctx.store.getRecord(id);
  } catch (e) {
    throw e instanceof NotFoundError ? notInZone(id, apex) : e;
  }
  if (record.zone !== apex) throw notInZone(id, apex);
  return record;
}

/**
 * Adds a record, if the caller may write its name and type (checked on the
 * normalised record inside the store's transaction).
 */
export function createRecord(
  ctx: ApiContext,
  caller: TokenInfo,
  zone: string,
  input: RecordInput,
): ZoneRecord {
  checkMayWriteRecords(caller);
  const apex = zoneName(ctx, zone);
  const record = ctx.store.addRecord(apex, checkInput(input), guard(ctx, caller, apex));
  changed(ctx);
  return record;
}

/**
 * Replaces a record of `zone`, if the caller may write both the stored
 * record and the new one (name and type). The check runs inside the store's
 * write transaction on the row it replaces, so a concurrent writer (the
 * admin CLI, another process) cannot slip a different record under it.
 */
export function updateRecord(
  ctx: ApiContext,
  caller: TokenInfo,
  zone: string,
  id: number,
  input: RecordInput,
): ZoneRecord {
  checkMayWriteRecords(caller);
  const apex = zoneName(ctx, zone);
  const record = ctx.store.updateRecord(id, checkInput(input), guard(ctx, caller, apex));
  changed(ctx);
  return record;
}

/** Deletes a record of `zone`, if the caller may write it (checked inside the transaction). */
export function deleteRecord(ctx: ApiContext, caller: TokenInfo, zone: string, id: number): void {
  checkMayWriteRecords(caller);
  const apex = zoneName(ctx, zone);
  ctx.store.deleteRecord(id, guard(ctx, caller, apex));
  changed(ctx);
}
