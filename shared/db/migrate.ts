/**
 * Versioned schema migrations, each applied in its own transaction.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { messageOf } from "./_message.ts";

/** One schema change. Versions are positive integers, strictly increasing. */
export interface Migration {
  /** The schema version this migration brings the database to. */
  version: number;
  /** A short name for messages and the `schema_migrations` table, e.g. `"create_users"`. */
  name: string;
  /**
   * The change: SQL text (may hold several statements) or a synchronous
   * function. It runs inside a transaction, so it must not BEGIN, COMMIT or
   * change `PRAGMA foreign_keys` (a no-op inside a transaction).
   */
  up: string | ((db: DatabaseSync) => void);
}

/** What {@linkcode migrate} did. */
export interface MigrateResult {
  /** The schema version before the call (0 for a new database). */
  from: number;
  /** The schema version after the call. */
  to: number;
  /** Versions applied by this call, in order. */
  applied: number[];
}

/** Options for {@linkcode MigrationError}. */
export interface MigrationErrorOptions {
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Thrown when a migration fails (after rolling it back) or when the
 * migration list does not fit the versions recorded in the database.
 */
export class MigrationError extends Error {
  /** Version of the migration concerned. */
  readonly version: number;
  /** Name of the migration concerned. */
  readonly migrationName: string;

  /**
   * @param version Version of the migration concerned.
   * @param migrationName Name of the migration concerned.
   * @param message What went wrong.
   * @param options The cause.
   */
  constructor(
    version: number,
    migrationName: string,
    message: string,
    options: MigrationErrorOptions = {},
  ) {
    super(message, { cause: options.cause });
    this.name = "MigrationError";
    this.version = version;
    this.migrationName = migrationName;
  }
}

/**
 * Thrown when the database was migrated by a newer release than the running
 * code: the binary must be upgraded, never the database downgraded.
 */
export class SchemaVersionError extends Error {
  /** The highest version recorded in the database. */
  readonly databaseVersion: number;
  /** The highest version this code knows. */
  readonly knownVersion: number;

  /**
   * @param databaseVersion The highest version recorded in the database.
   * @param knownVersion The highest version this code knows.
   */
  constructor(databaseVersion: number, knownVersion: number) {
    super(
      `Database schema is at version ${databaseVersion} but this binary only knows migrations up to version ${knownVersion}: upgrade the binary to a release that knows version ${databaseVersion}; do not run an older release against this database`,
    );
    this.name = "SchemaVersionError";
    this.databaseVersion = databaseVersion;
    this.knownVersion = knownVersion;
  }
}

const CREATE_TABLE = `CREATE TABLE IF NOT EXISTS schema_migrations (
  version INTEGER PRIMARY KEY,
  name TEXT NOT NULL,
  applied_at TEXT NOT NULL
)`;

/**
 * Brings the database schema up to date: applies, in order, every migration
 * whose version is above the highest one recorded in `schema_migrations`.
 *
 * Each migration runs in its own `BEGIN IMMEDIATE` transaction together with
 * the row recording it, so a failure rolls back that migration alone and the
 * database stays at the last good version. The write lock makes concurrent
 * callers (two processes starting at once) safe: the second sees the
 * version already recorded and skips it.
 *
 * @param db An open connection with no transaction in progress.
 * @param migrations The full list, oldest first.
 * @returns The versions before and after, and those applied.
 * @throws {TypeError} If a migration has the wrong shape, or a transaction is open.
 * @throws {RangeError} If versions are not positive integers in strictly increasing order.
 * @throws {SchemaVersionError} If the database is at a version newer than the list knows.
 * @throws {MigrationError} If a migration fails (it is rolled back), or one
 *   below the database's version was never applied.
 *
 * @example Migrate a new database
 * ```ts
 * import { migrate, openDatabase, type Migration } from "@mc/mcdsl/db";
 * import assert from "node:assert/strict";
 *
 * const migrations: Migration[] = [
 *   { version: 1, name: "create_users", up: "CREATE TABLE users (name TEXT PRIMARY KEY)" },
 *   { version: 2, name: "add_email", up: "ALTER TABLE users ADD COLUMN email TEXT" },
 * ];
 * const db = openDatabase(":memory:");
 * assert.deepEqual(migrate(db, migrations), { from: 0, to: 2, applied: [1, 2] });
 * assert.deepEqual(migrate(db, migrations), { from: 2, to: 2, applied: [] });
 * db.close();
 * ```
 */
export function migrate(db: DatabaseSync, migrations: readonly Migration[]): MigrateResult {
  validateMigrations(migrations);
  if (db.isTransaction) {
    throw new TypeError(
      "migrate() was called inside an open transaction: call it before any other work, since each migration needs its own transaction",
    );
  }
  db.exec(CREATE_TABLE);
  const recorded = new Set(
    db.prepare("SELECT version FROM schema_migrations").all().map((row) => Number(row.version)),
  );
  const from = recorded.size === 0 ? 0 : Math.max(...recorded);
  const known = migrations.length === 0 ? 0 : migrations[migrations.length - 1].version;
  if (from > known) throw new SchemaVersionError(from, known);
  for (const m of migrations) {
    if (m.version <= from && !recorded.has(m.version)) {
      throw new MigrationError(
        m.version,
        m.name,
        `Migration ${m.version} "${m.name}" was never applied, but the database is already at version ${from}: give new migrations versions above ${from}`,
      );
    }
  }

  const applied: number[] = [];
  for (const m of migrations) {
    if (m.version <= from) continue;
    if (applyOne(db, m)) applied.push(m.version);
  }
  return { from, to: currentVersion(db), applied };
}

/**
 * The highest migration version recorded in the database, or 0 if none (or
 * no `schema_migrations` table yet).
 *
 * @param db An open connection.
 * @returns The schema version.
 *
 * @example
 * ```ts
 * import { openDatabase, schemaVersion } from "@mc/mcdsl/db";
 * import assert from "node:assert/strict";
 *
 * const db = openDatabase(":memory:");
 * assert.equal(schemaVersion(db), 0);
 * db.close();
 * ```
 */
export function schemaVersion(db: DatabaseSync): number {
  const table = db.prepare(
    "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
  ).get();
  return table === undefined ? 0 : currentVersion(db);
}

function currentVersion(db: DatabaseSync): number {
  const row = db.prepare("SELECT max(version) AS v FROM schema_migrations").get();
  return Number(row?.v ?? 0);
}

/** Applies one migration; false if another connection applied it first. */
function applyOne(db: DatabaseSync, m: Migration): boolean {
  const before = () => `the database stays at version ${currentVersionSafe(db)}`;
  try {
    db.exec("BEGIN IMMEDIATE");
  } catch (error) {
    throw new MigrationError(
      m.version,
      m.name,
      `Migration ${m.version} "${m.name}" could not start its transaction: ${messageOf(error)}`,
      { cause: error },
    );
  }
  try {
    const done = db.prepare("SELECT 1 FROM schema_migrations WHERE version = ?").get(m.version);
    if (done !== undefined) {
      db.exec("COMMIT");
      return false;
    }
    if (typeof m.up === "string") {
      db.exec(m.up);
    } else {
      const result: unknown = m.up(db);
      if (typeof (result as { then?: unknown } | null)?.then === "function") {
        Promise.resolve(result).catch(() => {});
        throw new TypeError("up() returned a Promise; migrations must be synchronous");
      }
    }
    if (!db.isTransaction) {
      throw new TypeError("it ended the migration's transaction; remove BEGIN/COMMIT from it");
    }
    db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)")
      .run(m.version, m.name, new Date().toISOString());
    db.exec("COMMIT");
    return true;
  } catch (error) {
    if (db.isTransaction) db.exec("ROLLBACK");
    throw new MigrationError(
      m.version,
      m.name,
      `Migration ${m.version} "${m.name}" failed and was rolled back (${before()}): ${
        messageOf(error)
      }`,
      { cause: error },
    );
  }
}

function currentVersionSafe(db: DatabaseSync): number {
  try {
    return currentVersion(db);
  } catch {
    return 0;
  }
}

function validateMigrations(migrations: readonly Migration[]): void {
  if (!Array.isArray(migrations)) {
    throw new TypeError(`migrate() needs an array of migrations, got ${typeof migrations}`);
  }
  let previous: Migration | undefined;
  migrations.forEach((m, i) => {
    if (typeof m !== "object" || m === null) {
      throw new TypeError(`migrations[${i}] must be an object, got ${String(m)}`);
    }
    if (!Number.isSafeInteger(m.version) || m.version < 1) {
      throw new RangeError(
        `migrations[${i}].version must be a positive integer, got ${String(m.version)}`,
      );
    }
    if (typeof m.name !== "string" || m.name.trim() === "") {
      throw new TypeError(
        `migrations[${i}].name (version ${m.version}) must be a non-empty string, got ${
          JSON.stringify(m.name)
        }`,
      );
    }
    if (typeof m.up !== "string" && typeof m.up !== "function") {
      throw new TypeError(
        `migrations[${i}].up (version ${m.version} "${m.name}") must be SQL text or a function, got ${typeof m
          .up}`,
      );
    }
    if (previous !== undefined && m.version <= previous.version) {
      throw new RangeError(
        `Migration versions must be strictly increasing: migrations[${i}] "${m.name}" has version ${m.version} after version ${previous.version} "${previous.name}"; give each migration a new, higher version`,
      );
    }
    previous = m;
  });
}
