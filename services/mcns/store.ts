/**
 * MCNS's state: zones (with their SOA fields and serial) and records in
 * SQLite. Every mutation runs in one transaction that also bumps the zone's
 * serial, so a change is all-or-nothing and visible to secondaries.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { migrate, type Migration, openDatabase, transaction } from "@mc/mcdsl/db";
import {
  checkAsciiName,
  checkTtl,
  checkType,
  MAX_TTL,
  normalizeName,
  normalizeValue,
  type RecordType,
  RecordValidationError,
} from "./records.ts";

/** Schema history. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "zones_and_records",
    up: `CREATE TABLE zones (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      name TEXT NOT NULL UNIQUE,
      mname TEXT NOT NULL,
      rname TEXT NOT NULL,
      serial INTEGER NOT NULL,
      refresh INTEGER NOT NULL,
      retry INTEGER NOT NULL,
      expire INTEGER NOT NULL,
      minimum INTEGER NOT NULL,
      ttl INTEGER NOT NULL
    );
    CREATE TABLE records (
      id INTEGER PRIMARY KEY AUTOINCREMENT,
      zone_id INTEGER NOT NULL REFERENCES zones(id) ON DELETE CASCADE,
      name TEXT NOT NULL,
      type TEXT NOT NULL,
      ttl INTEGER NOT NULL,
      value TEXT NOT NULL,
      UNIQUE (zone_id, name, type, value)
    );
    CREATE INDEX records_name ON records (zone_id, name);`,
  },
  {
    version: 2,
    name: "secondary_zones",
    // A secondary zone is a read-only copy pulled by zone transfer from
    // `primary_addr` (host:port); NULL for a zone this instance owns.
    up: "ALTER TABLE zones ADD COLUMN primary_addr TEXT",
  },
  {
    version: 3,
    name: "secondary_last_refresh",
    // When a secondary zone last matched its primary (ms since the epoch),
    // so its expire clock survives restarts. Copies from before get one
    // expire period from the upgrade.
    up: `ALTER TABLE zones ADD COLUMN last_refresh INTEGER;
    UPDATE zones SET last_refresh = CAST(strftime('%s', 'now') AS INTEGER) * 1000
      WHERE primary_addr IS NOT NULL;`,
  },
];

/** A zone and its SOA fields. */
export interface Zone {
  /** Apex, lower case, no trailing dot. */
  name: string;
  /** Primary name server (SOA MNAME). */
  mname: string;
  /** Responsible mailbox as a name (SOA RNAME, `hostmaster.example.com`). */
  rname: string;
  /** SOA serial; bumps on every change. */
  serial: number;
  /** SOA refresh, seconds. */
  refresh: number;
  /** SOA retry, seconds. */
  retry: number;
  /** SOA expire, seconds. */
  expire: number;
  /** SOA minimum: the negative-caching TTL, seconds. */
  minimum: number;
  /** TTL of the SOA record itself. */
  ttl: number;
  /**
   * For a secondary zone (a read-only copy kept by zone transfer), its
   * primary's `host:port`; absent for a zone this instance owns.
   */
  primary?: string;
}

/** One stored record. */
export interface ZoneRecord {
  /** Row id. */
  id: number;
  /** Zone apex. */
  zone: string;
  /** Owner name, absolute, lower case. */
  name: string;
  /** Type. */
  type: RecordType;
  /** TTL, seconds. */
  ttl: number;
  /** Normalised value in presentation form. */
  value: string;
}

/** Input to create or replace a record. */
export interface RecordInput {
  /** Owner: `@` for the apex, a name relative to the zone, or absolute with a trailing dot. */
  name: string;
  /** Type, case-insensitive. */
  type: string;
  /** TTL, seconds. @default {300} */
  ttl?: number;
  /** Value in presentation form. */
  value: string;
}

/** Input to create a zone; SOA timers have defaults. */
export type ZoneInput = Pick<Zone, "name" | "mname" | "rname"> & Partial<Zone>;

/** A zone or record that does not exist. */
export class NotFoundError extends Error {
  /** @param message What was looked for. */
  constructor(message: string) {
    super(message);
    this.name = "NotFoundError";
  }
}

/** A change that conflicts with what is stored (CNAME exclusivity, duplicates). */
export class ConflictError extends Error {
  /** @param message The conflict and how to resolve it. */
  constructor(message: string) {
    super(message);
    this.name = "ConflictError";
  }
}

/**
 * A change to a secondary zone: its records come from its primary by zone
 * transfer and local writes are refused. A {@linkcode ConflictError}, so the
 * record API maps it to 409.
 */
export class SecondaryZoneError extends ConflictError {
  /** @param zone The zone. @param primary Its primary, `host:port`. */
  constructor(zone: string, primary: string) {
    super(
      `Cannot change zone "${zone}": it is a secondary copy of ${primary}'s zone (read-only); make the change on the primary`,
    );
    this.name = "SecondaryZoneError";
  }
}

/** One record as a zone transfer delivers it (absolute names, presentation values). */
export interface TransferredRecord {
  /** Owner name, absolute. */
  name: string;
  /** Type. */
  type: string;
  /** TTL, seconds. */
  ttl: number;
  /** Value in presentation form. */
  value: string;
}

/** Options for {@linkcode ZoneStore.replaceZone}. */
export interface ReplaceOptions {
  /** The refresh time stored, ms since the epoch. @default {Date.now()} */
  at?: number;
  /** Called for each record left out of the copy, with why. */
  onSkip?(record: TransferredRecord, reason: string): void;
}

/** A record as a write would store it (no id yet): what a {@linkcode RecordGuard} sees. */
export type RecordFields = Omit<ZoneRecord, "id">;

/**
 * Called inside a record write's transaction, after the input is validated
 * and before conflicts are checked or anything is written: `old` is the
 * stored record (update, delete), `next` what would be stored (add, update).
 * Throwing refuses the write and rolls back. The record API checks the
 * caller's rights here, so the check and the write see the same row.
 */
export type RecordGuard = (change: { old?: ZoneRecord; next?: RecordFields }) => void;

/** A zone with all its records: what the answering engine compiles. */
export interface ZoneData {
  /** The zone. */
  zone: Zone;
  /** Its records. */
  records: ZoneRecord[];
}

/** The zone store. */
export interface ZoneStore extends Disposable {
  /** The open database (for snapshots). */
  readonly db: DatabaseSync;
  /** Creates a zone with serial 1. */
  createZone(input: ZoneInput): Zone;
  /** Every zone, by name. */
  listZones(): Zone[];
  /** One zone. @throws {NotFoundError} */
  getZone(name: string): Zone;
  /** Deletes a zone and its records. @throws {NotFoundError} */
  deleteZone(name: string): void;
  /** Adds a record and bumps the serial; `guard` may refuse it in the transaction. */
  addRecord(zone: string, input: RecordInput, guard?: RecordGuard): ZoneRecord;
  /** Replaces a record by id and bumps the serial; `guard` may refuse it in the transaction. */
  updateRecord(id: number, input: RecordInput, guard?: RecordGuard): ZoneRecord;
  /** Deletes a record by id and bumps the serial; `guard` may refuse it in the transaction. */
  deleteRecord(id: number, guard?: RecordGuard): void;
  /** One record by id. @throws {NotFoundError} */
  getRecord(id: number): ZoneRecord;
  /** A zone's records, by name then type. */
  listRecords(zone: string): ZoneRecord[];
  /** `zone → serial`, cheap enough to poll. */
  serials(): Map<string, number>;
  /** Every zone with its records, read in one transaction. */
  load(): ZoneData[];
  /**
   * Replaces a secondary zone's SOA and records with a transferred copy in
   * one transaction (creating the zone, marked secondary of `primary`, when
   * missing): the serial becomes the primary's and `last_refresh` is set.
   * Every record is validated as a local write would be; one MCNS cannot
   * store is skipped (reported to `options.onSkip`), TTLs are clamped.
   */
  replaceZone(
    soa: Omit<Zone, "primary">,
    records: TransferredRecord[],
    primary: string,
    options?: ReplaceOptions,
  ): Zone;
  /** Records that a secondary zone matched its primary at `at` (ms since the epoch). */
  markRefreshed(zone: string, at: number): void;
  /** When a secondary zone last matched its primary, ms since the epoch. */
  lastRefresh(zone: string): number | undefined;
  /** Creates `svc.mcp.<domain>` and `mcp.<domain>` when no zone exists yet. */
  seed(domain: string): boolean;
  /** Closes the database. */
  close(): void;
}

interface ZoneRow extends Zone {
  id: number;
}

function toZone(row: Record<string, unknown>): ZoneRow {
  return {
    id: Number(row.id),
    name: String(row.name),
    mname: String(row.mname),
    rname: String(row.rname),
    serial: Number(row.serial),
    refresh: Number(row.refresh),
    retry: Number(row.retry),
    expire: Number(row.expire),
    minimum: Number(row.minimum),
    ttl: Number(row.ttl),
    ...(row.primary_addr == null ? {} : { primary: String(row.primary_addr) }),
  };
}

function toRecord(row: Record<string, unknown>): ZoneRecord {
  return {
    id: Number(row.id),
    zone: String(row.zone),
    name: String(row.name),
    type: String(row.type) as RecordType,
    ttl: Number(row.ttl),
    value: String(row.value),
  };
}

/**
 * Resolves a record owner against its zone: `@` is the apex, a trailing dot
 * marks an absolute name, a name ending in the zone is taken as absolute,
 * anything else is relative to the zone.
 *
 * @throws {RecordValidationError} When the name is invalid or outside the zone.
 */
export function ownerName(zone: string, name: string): string {
  if (name === "@" || name === "") return zone;
  checkAsciiName(name);
  const lower = name.toLowerCase();
  const absolute = lower.endsWith(".") || lower === zone || lower.endsWith(`.${zone}`);
  const full = normalizeName(absolute ? lower : `${lower}.${zone}`);
  if (full !== zone && !full.endsWith(`.${zone}`)) {
    throw new RecordValidationError(
      `Cannot use name "${name}" in zone "${zone}": the name must be the zone or under it`,
    );
  }
  return full;
}

/**
 * Resolves the name inside a CNAME, NS, MX or SRV value as zone files do for
 * a single label: `api` in zone `svc.mcp.example.com` is
 * `api.svc.mcp.example.com`, `@` is the apex; names with a dot are absolute,
 * and so is a single label written with a trailing dot (`x.`). `raw` is the
 * value as given: normalising strips that dot, so absolute-or-relative is
 * decided on it.
 */
function targetsInZone(zone: string, type: RecordType, value: string, raw: string): string {
  const absolute = raw.trim().endsWith(".");
  const fix = (n: string) => n === "@" ? zone : absolute || n.includes(".") ? n : `${n}.${zone}`;
  switch (type) {
    case "CNAME":
    case "NS":
      return fix(value);
    case "MX":
    case "SRV": {
      const parts = value.split(" ");
      parts[parts.length - 1] = fix(parts[parts.length - 1]);
      return parts.join(" ");
    }
    default:
      return value;
  }
}

function uint32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RecordValidationError(
      `Cannot use SOA ${what} ${value}: expected an integer from 0 to 4294967295`,
    );
  }
  return value;
}

/**
 * Opens (and migrates) the store at `path`.
 *
 * @param path SQLite file; its directory must exist.
 * @returns The store.
 */
export function openZoneStore(path: string): ZoneStore {
  const db = openDatabase(path);
  migrate(db, MIGRATIONS);
  const q = {
    zoneByName: db.prepare("SELECT * FROM zones WHERE name = ?"),
    zones: db.prepare("SELECT * FROM zones ORDER BY name"),
    serials: db.prepare("SELECT name, serial FROM zones"),
    insertZone: db.prepare(
      `INSERT INTO zones (name, mname, rname, serial, refresh, retry, expire, minimum, ttl)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    deleteZone: db.prepare("DELETE FROM zones WHERE id = ?"),
    bump: db.prepare(
      "UPDATE zones SET serial = CASE WHEN serial >= 4294967295 THEN 1 ELSE serial + 1 END WHERE id = ?",
    ),
    recordById: db.prepare(
      "SELECT r.*, z.name AS zone FROM records r JOIN zones z ON z.id = r.zone_id WHERE r.id = ?",
    ),
    recordsOfZone: db.prepare(
      "SELECT r.*, z.name AS zone FROM records r JOIN zones z ON z.id = r.zone_id WHERE r.zone_id = ? ORDER BY r.name, r.type, r.id",
    ),
    typesAt: db.prepare(
      "SELECT type, id FROM records WHERE zone_id = ? AND name = ?",
    ),
    insertRecord: db.prepare(
      "INSERT INTO records (zone_id, name, type, ttl, value) VALUES (?, ?, ?, ?, ?) RETURNING id",
    ),
    updateRecord: db.prepare(
      "UPDATE records SET name = ?, type = ?, ttl = ?, value = ? WHERE id = ?",
    ),
    deleteRecord: db.prepare("DELETE FROM records WHERE id = ?"),
    deleteRecordsOfZone: db.prepare("DELETE FROM records WHERE zone_id = ?"),
    replaceSoa: db.prepare(
      `UPDATE zones SET mname = ?, rname = ?, serial = ?, refresh = ?, retry = ?, expire = ?,
       minimum = ?, ttl = ?, primary_addr = ?, last_refresh = ? WHERE id = ?`,
    ),
    markRefreshed: db.prepare(
      "UPDATE zones SET last_refresh = ? WHERE name = ? AND primary_addr IS NOT NULL",
    ),
    lastRefresh: db.prepare("SELECT last_refresh FROM zones WHERE name = ?"),
    duplicate: db.prepare(
      "SELECT id FROM records WHERE zone_id = ? AND name = ? AND type = ? AND value = ? AND id != ?",
    ),
  };

  function zoneRow(name: string): ZoneRow {
    const n = normalizeName(name, "zone");
    const row = q.zoneByName.get(n);
    if (row === undefined) throw new NotFoundError(`Cannot find zone "${n}"`);
    return toZone(row);
  }

  // Record writes to a secondary zone are refused: its primary owns it.
  function writableZoneRow(name: string): ZoneRow {
    const zone = zoneRow(name);
    if (zone.primary !== undefined) throw new SecondaryZoneError(zone.name, zone.primary);
    return zone;
  }

  function checkRecord(
    zone: ZoneRow,
    input: RecordInput,
    selfId: number,
    guard?: RecordGuard,
    old?: ZoneRecord,
  ) {
    const name = ownerName(zone.name, input.name);
    const type = checkType(input.type);
    const ttl = checkTtl(input.ttl ?? 300);
    const value = targetsInZone(zone.name, type, normalizeValue(type, input.value), input.value);
    guard?.({ old, next: { zone: zone.name, name, type, ttl, value } });
    const others = (q.typesAt.all(zone.id, name) as { type: string; id: number }[])
      .filter((r) => Number(r.id) !== selfId);
    if (type === "CNAME" && name === zone.name) {
      throw new ConflictError(
        `Cannot add CNAME at "${name}": the zone apex holds the SOA; use A/AAAA records instead`,
      );
    }
    if (type === "CNAME" && others.length > 0) {
      throw new ConflictError(
        `Cannot add CNAME at "${name}": ${
          others[0].type
        } data exists there and a CNAME must be alone; delete it first`,
      );
    }
    if (type !== "CNAME" && others.some((r) => r.type === "CNAME")) {
      throw new ConflictError(
        `Cannot add ${type} at "${name}": a CNAME exists there and must be alone; delete it first`,
      );
    }
    if (q.duplicate.get(zone.id, name, type, value, selfId) !== undefined) {
      throw new ConflictError(`Cannot add ${type} "${value}" at "${name}": it exists already`);
    }
    return { name, type, ttl, value };
  }

  const store: ZoneStore = {
    db,
    createZone(input) {
      const name = normalizeName(input.name, "zone");
      const z = {
        mname: normalizeName(input.mname, "SOA mname"),
        rname: normalizeName(input.rname, "SOA rname"),
        serial: uint32(input.serial ?? 1, "serial"),
        refresh: uint32(input.refresh ?? 3600, "refresh"),
        retry: uint32(input.retry ?? 600, "retry"),
        expire: uint32(input.expire ?? 604800, "expire"),
        minimum: uint32(input.minimum ?? 60, "minimum"),
        ttl: checkTtl(input.ttl ?? 3600),
      };
      return transaction(db, () => {
        if (q.zoneByName.get(name) !== undefined) {
          throw new ConflictError(`Cannot create zone "${name}": it exists already`);
        }
        q.insertZone.run(
          name,
          z.mname,
          z.rname,
          z.serial,
          z.refresh,
          z.retry,
          z.expire,
          z.minimum,
          z.ttl,
        );
        const { id: _id, ...zone } = zoneRow(name);
        return zone;
      });
    },
    listZones() {
      return q.zones.all().map((r) => {
        const { id: _id, ...zone } = toZone(r);
        return zone;
      });
    },
    getZone(name) {
      const { id: _id, ...zone } = zoneRow(name);
      return zone;
    },
    deleteZone(name) {
      transaction(db, () => q.deleteZone.run(zoneRow(name).id));
    },
    addRecord(zoneName, input, guard) {
      return transaction(db, () => {
        const zone = writableZoneRow(zoneName);
        const r = checkRecord(zone, input, -1, guard);
        const row = q.insertRecord.get(zone.id, r.name, r.type, r.ttl, r.value) as { id: number };
        q.bump.run(zone.id);
        return { id: Number(row.id), zone: zone.name, ...r };
      });
    },
    updateRecord(id, input, guard) {
      return transaction(db, () => {
        const old = q.recordById.get(id);
        if (old === undefined) throw new NotFoundError(`Cannot find record ${id}`);
        const zone = writableZoneRow(String(old.zone));
        const r = checkRecord(zone, input, id, guard, toRecord(old));
        q.updateRecord.run(r.name, r.type, r.ttl, r.value, id);
        q.bump.run(zone.id);
        return { id, zone: zone.name, ...r };
      });
    },
    deleteRecord(id, guard) {
      transaction(db, () => {
        const old = q.recordById.get(id);
        if (old === undefined) throw new NotFoundError(`Cannot find record ${id}`);
        guard?.({ old: toRecord(old) });
        writableZoneRow(String(old.zone));
        q.deleteRecord.run(id);
        q.bump.run(Number(old.zone_id));
      });
    },
    getRecord(id) {
      const row = q.recordById.get(id);
      if (row === undefined) throw new NotFoundError(`Cannot find record ${id}`);
      return toRecord(row);
    },
    listRecords(zoneName) {
      return q.recordsOfZone.all(zoneRow(zoneName).id).map(toRecord);
    },
    serials() {
      const out = new Map<string, number>();
      for (const r of q.serials.all()) out.set(String(r.name), Number(r.serial));
      return out;
    },
    load() {
      // A deferred (read) transaction: one consistent view, no write lock.
      db.exec("BEGIN");
      try {
        return q.zones.all().map((row) => {
          const { id, ...zone } = toZone(row);
          return { zone, records: q.recordsOfZone.all(id).map(toRecord) };
        });
      } finally {
        db.exec("COMMIT");
      }
    },
    replaceZone(soa, records, primary, options = {}) {
      // What the primary legitimately serves but MCNS cannot store is
      // adapted or left out, never a reason to refuse the whole copy
      // (ARCHITECTURE.md §11): TTLs above MAX_TTL are clamped, an RNAME
      // MCNS cannot encode (an escaped dot) becomes hostmaster.<zone>, and
      // each record that fails validation (out of zone, null MX/SRV target,
      // a CAA value with a quote, TXT over 4000 characters, a CNAME
      // conflict) is skipped and reported to `onSkip`.
      const { at = Date.now(), onSkip } = options;
      const name = normalizeName(soa.name, "zone");
      let rname: string;
      try {
        rname = normalizeName(soa.rname, "SOA rname");
      } catch {
        rname = `hostmaster.${name}`;
      }
      const z = [
        normalizeName(soa.mname, "SOA mname"),
        rname,
        uint32(soa.serial, "serial"),
        uint32(soa.refresh, "refresh"),
        uint32(soa.retry, "retry"),
        uint32(soa.expire, "expire"),
        uint32(soa.minimum, "minimum"),
        checkTtl(Math.min(soa.ttl, MAX_TTL)),
      ] as const;
      return transaction(db, () => {
        if (q.zoneByName.get(name) === undefined) {
          q.insertZone.run(name, ...z);
        }
        const zone = zoneRow(name);
        q.replaceSoa.run(...z, primary, at, zone.id);
        q.deleteRecordsOfZone.run(zone.id);
        for (const r of records) {
          try {
            // Absolute owner (a trailing dot), so a name outside the zone is refused.
            const c = checkRecord(
              zone,
              { ...r, name: `${r.name}.`, ttl: Math.min(r.ttl, MAX_TTL) },
              -1,
            );
            q.insertRecord.run(zone.id, c.name, c.type, c.ttl, c.value);
          } catch (e) {
            if (!(e instanceof RecordValidationError || e instanceof ConflictError)) throw e;
            onSkip?.(r, e.message);
          }
        }
        const { id: _id, ...out } = zoneRow(name);
        return out;
      });
    },
    markRefreshed(zoneName, at) {
      q.markRefreshed.run(at, normalizeName(zoneName, "zone"));
    },
    lastRefresh(zoneName) {
      const row = q.lastRefresh.get(normalizeName(zoneName, "zone"));
      return row?.last_refresh == null ? undefined : Number(row.last_refresh);
    },
    seed(domain) {
      const d = normalizeName(domain, "domain");
      return transaction(db, () => {
        if (q.zones.all().length > 0) return false;
        for (const name of [`svc.mcp.${d}`, `mcp.${d}`]) {
          store.createZone({ name, mname: `ns.mcp.${d}`, rname: `hostmaster.${d}` });
          store.addRecord(name, { name: "@", type: "NS", ttl: 3600, value: `ns.mcp.${d}` });
        }
        return true;
      });
    },
    close() {
      db.close();
    },
    [Symbol.dispose]() {
      db.close();
    },
  };
  return store;
}
