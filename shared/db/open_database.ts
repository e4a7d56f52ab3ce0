/**
 * Opening a service database with the platform's standard settings.
 *
 * @module
 */

import { DatabaseSync } from "node:sqlite";
import { dirname } from "node:path";
import { messageOf } from "./_message.ts";

/** Options for {@linkcode openDatabase}. */
export interface OpenDatabaseOptions {
  /**
   * How long a statement waits for another connection's write lock before
   * failing with `SQLITE_BUSY`, in milliseconds.
   * @default {5000}
   */
  busyTimeoutMs?: number;
}

const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/**
 * Opens (creating if needed) the SQLite database at `path` with WAL
 * journaling, a busy timeout, `foreign_keys=ON` and `synchronous=NORMAL`.
 *
 * WAL lets the service keep serving reads while it writes and lets
 * {@linkcode backupDatabase} copy the database online; `synchronous=NORMAL`
 * is the documented safe pairing with WAL (a power cut may lose the last
 * commits, never corrupt the file). The parent directory is not created: a
 * missing data directory is a deployment mistake worth stopping for.
 *
 * Pass `":memory:"` for a private in-memory database (tests).
 *
 * @param path File path of the database, or `":memory:"`.
 * @param options Busy timeout.
 * @returns The open connection; close it with `db.close()`.
 * @throws {TypeError} If `path` is empty.
 * @throws {RangeError} If `busyTimeoutMs` is not a whole number of milliseconds.
 * @throws {Deno.errors.NotFound} If the parent directory does not exist.
 * @throws {Deno.errors.NotADirectory} If the parent path is not a directory.
 * @throws {Error} If SQLite cannot open the file or refuses WAL mode; the message names the path.
 *
 * @example Open, use, close
 * ```ts
 * import { openDatabase } from "@mc/mcdsl/db";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const db = openDatabase(`${dir}/demo.db`);
 * assert.deepEqual({ ...db.prepare("PRAGMA journal_mode").get() }, { journal_mode: "wal" });
 * assert.deepEqual({ ...db.prepare("PRAGMA foreign_keys").get() }, { foreign_keys: 1 });
 * db.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): DatabaseSync {
  const { busyTimeoutMs = 5000 } = options;
  if (typeof path !== "string" || path === "") {
    throw new TypeError(
      `Cannot open database: path must be a non-empty string, got ${String(path)}`,
    );
  }
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0 || busyTimeoutMs > MAX_TIMEOUT_MS) {
    throw new RangeError(
      `Cannot open database "${path}": busyTimeoutMs must be a whole number from 0 to ${MAX_TIMEOUT_MS}, got ${busyTimeoutMs}`,
    );
  }
  const memory = path === ":memory:";
  if (!memory) checkParentDirectory(path);

  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (error) {
    throw new Error(`Cannot open database "${path}": ${messageOf(error)}`, { cause: error });
  }
  try {
    db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    const row = db.prepare("PRAGMA journal_mode = WAL").get() as { journal_mode?: string };
    const mode = String(row?.journal_mode ?? "").toLowerCase();
    if (!memory && mode !== "wal") {
      throw new Error(
        `journal_mode=WAL was refused (the database stays in "${mode}" mode); put the data directory on a local file system`,
      );
    }
    db.exec("PRAGMA foreign_keys = ON");
    db.exec("PRAGMA synchronous = NORMAL");
  } catch (error) {
    db.close();
    throw new Error(`Cannot open database "${path}": ${messageOf(error)}`, { cause: error });
  }
  return db;
}

function checkParentDirectory(path: string): void {
  const dir = dirname(path);
  let info: Deno.FileInfo;
  try {
    info = Deno.statSync(dir);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot open database "${path}": directory "${dir}" does not exist; create the service data directory first`,
        { cause: error },
      );
    }
    throw error;
  }
  if (!info.isDirectory) {
    throw new Deno.errors.NotADirectory(
      `Cannot open database "${path}": "${dir}" is not a directory`,
    );
  }
}
