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
  checkTtl,
  checkType,
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
  /** Adds a record and bumps the serial. */
  addRecord(zone: string, input: RecordInput): ZoneRecord;
  /** Replaces a record by id and bumps the serial. */
  updateRecord(id: number, input: RecordInput): ZoneRecord;
  /** Deletes a record by id and bumps the serial. */
  deleteRecord(id: number): void;
  /** A zone's records, by name then type. */
  listRecords(zone: string): ZoneRecord[];
  /** `zone → serial`, cheap enough to poll. */
  serials(): Map<string, number>;
  /** Every zone with its records, read in one transaction. */
  load(): ZoneData[];
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
 * `api.svc.mcp.example.com`, `@` is the apex; names with a dot are absolute.
 */
function targetsInZone(zone: string, type: RecordType, value: string): string {
  const fix = (n: string) => n === "@" ? zone : n.includes(".") ? n : `${n}.${zone}`;
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

  function checkRecord(zone: ZoneRow, input: RecordInput, selfId: number) {
    const name = ownerName(zone.name, input.name);
    const type = checkType(input.type);
    const ttl = checkTtl(input.ttl ?? 300);
    const value = targetsInZone(zone.name, type, normalizeValue(type, input.value));
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
    addRecord(zoneName, input) {
      return transaction(db, () => {
        const zone = zoneRow(zoneName);
        const r = checkRecord(zone, input, -1);
        const row = q.insertRecord.get(zone.id, r.name, r.type, r.ttl, r.value) as { id: number };
        q.bump.run(zone.id);
        return { id: Number(row.id), zone: zone.name, ...r };
      });
    },
    updateRecord(id, input) {
      return transaction(db, () => {
        const old = q.recordById.get(id);
        if (old === undefined) throw new NotFoundError(`Cannot find record ${id}`);
        const zone = zoneRow(String(old.zone));
        const r = checkRecord(zone, input, id);
        q.updateRecord.run(r.name, r.type, r.ttl, r.value, id);
        q.bump.run(zone.id);
        return { id, zone: zone.name, ...r };
      });
    },
    deleteRecord(id) {
      transaction(db, () => {
        const old = q.recordById.get(id);
        if (old === undefined) throw new NotFoundError(`Cannot find record ${id}`);
        q.deleteRecord.run(id);
        q.bump.run(Number(old.zone_id));
      });
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
