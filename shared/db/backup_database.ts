/**
 * Consistent online copies of a live database.
 *
 * @module
 */

import { backup, DatabaseSync } from "node:sqlite";
import { basename, dirname, join } from "node:path";
import { messageOf } from "./_message.ts";

/** Options for {@linkcode backupDatabase}. */
export interface BackupDatabaseOptions {
  /**
   * Busy timeout for the connection opened when the source is given as a
   * path, in milliseconds.
   * @default {5000}
   */
  busyTimeoutMs?: number;
}

/** What {@linkcode backupDatabase} wrote. */
export interface BackupDatabaseResult {
  /** The destination path. */
  path: string;
  /** Size of the copy in bytes. */
  bytes: number;
}

/**
 * Copies a live database into a new standalone file, consistent as of one
 * instant, while other connections keep reading and writing.
 *
 * Uses SQLite's online backup API (`backup()` from `node:sqlite`) in a single
 * step: it reads one snapshot of the source under a WAL read lock, so writers
 * are never blocked and the copy never restarts because of them. `VACUUM
 * INTO` would do the same but Deno refuses it under scoped permissions. The
 * step runs synchronously on the calling thread (about 0.2 s per 50 MB
 * measured), so the event loop pauses for that long.
 *
 * The copy is written beside `destPath` under a temporary name, switched to
 * the rollback journal (`journal_mode=DELETE`, so it needs no `-wal` or
 * `-shm` file and opens read-only anywhere), checked with `PRAGMA
 * quick_check`, and only then renamed to `destPath`: a file at `destPath` is
 * always a complete copy.
 *
 * @param source An open connection, or the path of a database file.
 * @param destPath Where to write the copy; must not exist yet, its directory must.
 * @param options Busy timeout when `source` is a path.
 * @returns The destination path and size.
 * @throws {TypeError} If `destPath` is empty.
 * @throws {Deno.errors.NotFound} If the source file or the destination directory does not exist.
 * @throws {Deno.errors.AlreadyExists} If `destPath` exists.
 * @throws {Error} If SQLite fails or the copy fails its check; the message names both paths.
 *
 * @example Copy a database while it is open
 * ```ts
 * import { backupDatabase, openDatabase } from "@mc/mcdsl/db";
 * import { DatabaseSync } from "node:sqlite";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const db = openDatabase(`${dir}/live.db`);
 * db.exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (42)");
 * await backupDatabase(db, `${dir}/copy.db`);
 * const copy = new DatabaseSync(`${dir}/copy.db`, { readOnly: true });
 * assert.deepEqual({ ...copy.prepare("SELECT x FROM t").get() }, { x: 42 });
 * copy.close();
 * db.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function backupDatabase(
  source: DatabaseSync | string,
  destPath: string,
  options: BackupDatabaseOptions = {},
): Promise<BackupDatabaseResult> {
  const { busyTimeoutMs = 5000 } = options;
  if (typeof destPath !== "string" || destPath === "") {
    throw new TypeError(
      `Cannot back up database: destPath must be a non-empty string, got ${String(destPath)}`,
    );
  }
  const label = typeof source === "string" ? `database "${source}"` : "the open database";
  await checkDestination(label, destPath);

  let db: DatabaseSync;
  let owned = false;
  if (typeof source === "string") {
    db = await openSource(source, busyTimeoutMs);
    owned = true;
  } else if (source instanceof DatabaseSync) {
    db = source;
  } else {
    throw new TypeError(
      `Cannot back up database: source must be a DatabaseSync or a path, got ${typeof source}`,
    );
  }

  const partial = join(
    dirname(destPath),
    `.${basename(destPath)}.partial-${crypto.randomUUID().slice(0, 8)}`,
  );
  try {
    // rate -1 copies every page in one step: with smaller steps, each write
    // from another connection between steps restarts the copy from page 1,
    // which never ends on a busy database.
    await backup(db, partial, { rate: -1 });
    finishCopy(partial);
    await Deno.rename(partial, destPath);
  } catch (error) {
    await removeQuietly(partial, `${partial}-journal`, `${partial}-wal`, `${partial}-shm`);
    throw new Error(
      `Cannot back up ${label} to "${destPath}": ${messageOf(error)}`,
      { cause: error },
    );
  } finally {
    if (owned) db.close();
  }
  const { size } = await Deno.stat(destPath);
  return { path: destPath, bytes: size };
}

async function checkDestination(label: string, destPath: string): Promise<void> {
  const dir = dirname(destPath);
  try {
    const info = await Deno.stat(dir);
    if (!info.isDirectory) {
      throw new Deno.errors.NotADirectory(
        `Cannot back up ${label} to "${destPath}": "${dir}" is not a directory`,
      );
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot back up ${label} to "${destPath}": directory "${dir}" does not exist; create it first`,
        { cause: error },
      );
    }
    throw error;
  }
  try {
    await Deno.lstat(destPath);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return;
    throw error;
  }
  throw new Deno.errors.AlreadyExists(
    `Cannot back up ${label} to "${destPath}": the file already exists; remove it or choose a new name`,
  );
}

async function openSource(path: string, busyTimeoutMs: number): Promise<DatabaseSync> {
  // DatabaseSync would silently create an empty database at a mistyped path.
  try {
    await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot back up database "${path}": the file does not exist`,
        { cause: error },
      );
    }
    throw error;
  }
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${Math.trunc(busyTimeoutMs)}`);
  } catch (error) {
    db.close();
    throw error;
  }
  return db;
}

/** Makes the copy standalone (no WAL) and checks it. */
function finishCopy(path: string): void {
  const copy = new DatabaseSync(path);
  try {
    copy.exec("PRAGMA journal_mode = DELETE");
    const rows = copy.prepare("PRAGMA quick_check").all();
    const verdict = rows.map((row) => String(Object.values(row)[0])).join("; ");
    if (verdict !== "ok") throw new Error(`the copy failed PRAGMA quick_check: ${verdict}`);
  } finally {
    copy.close();
  }
}

async function removeQuietly(...paths: string[]): Promise<void> {
  for (const path of paths) {
    try {
      await Deno.remove(path);
    } catch {
      // Best effort: the file may never have been created.
    }
  }
}
