/**
 * Running a function inside a write transaction.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";

// One name for every nesting level: SQLite savepoints form a stack, and
// RELEASE / ROLLBACK TO act on the most recent savepoint of that name, which
// is always the innermost one because callbacks are synchronous.
const SAVEPOINT = "mcdsl_tx";

/**
 * Runs `fn` in a transaction and commits it, or rolls it back and rethrows
 * if `fn` throws.
 *
 * The outermost call uses `BEGIN IMMEDIATE`, which takes the write lock up
 * front (waiting up to the busy timeout) so the transaction cannot fail
 * half-way with `SQLITE_BUSY` when it first writes. A call made while a
 * transaction is already open (from an outer `transaction()` or a plain
 * `BEGIN`) nests as a `SAVEPOINT`: its rollback undoes only its own work.
 *
 * `fn` must be synchronous: an `await` inside would keep the write lock
 * while unrelated code runs on the same connection and sneaks its
 * statements into this transaction.
 *
 * @param db An open connection.
 * @param fn The work; it receives `db` for convenience.
 * @returns What `fn` returned.
 * @throws {TypeError} If `fn` returns a Promise (the transaction is rolled back).
 * @throws {unknown} Whatever `fn` threw, after rolling back.
 *
 * @example Commit, or roll back on error
 * ```ts
 * import { openDatabase, transaction } from "@mc/mcdsl/db";
 * import assert from "node:assert/strict";
 *
 * const db = openDatabase(":memory:");
 * db.exec("CREATE TABLE t (x INTEGER)");
 * transaction(db, () => db.prepare("INSERT INTO t VALUES (1)").run());
 * assert.throws(() =>
 *   transaction(db, () => {
 *     db.prepare("INSERT INTO t VALUES (2)").run();
 *     throw new Error("boom");
 *   }), /boom/);
 * assert.deepEqual({ ...db.prepare("SELECT count(*) AS n FROM t").get() }, { n: 1 });
 * db.close();
 * ```
 */
export function transaction<T>(db: DatabaseSync, fn: (db: DatabaseSync) => T): T {
  if (typeof fn !== "function") {
    throw new TypeError(`transaction() needs a callback function, got ${typeof fn}`);
  }
  const nested = db.isTransaction;
  db.exec(nested ? `SAVEPOINT ${SAVEPOINT}` : "BEGIN IMMEDIATE");
  let result: T;
  try {
    result = fn(db);
    if (isPromiseLike(result)) {
      // Keep the rejection from surfacing as unhandled: the caller gets our
      // TypeError instead, and the work is rolled back below.
      Promise.resolve(result).catch(() => {});
      throw new TypeError(
        "transaction() callback returned a Promise: make it synchronous, since an await inside a transaction holds the write lock while other code runs on this connection",
      );
    }
    db.exec(nested ? `RELEASE ${SAVEPOINT}` : "COMMIT");
  } catch (error) {
    rollback(db, nested);
    throw error;
  }
  return result;
}

function rollback(db: DatabaseSync, nested: boolean): void {
  // SQLite rolls back by itself on some errors (SQLITE_FULL, SQLITE_IOERR,
  // ...); rolling back again would throw and hide the original error.
  if (!db.isTransaction) return;
  if (nested) {
    db.exec(`ROLLBACK TO ${SAVEPOINT}`);
    db.exec(`RELEASE ${SAVEPOINT}`);
  } else {
    db.exec("ROLLBACK");
  }
}

function isPromiseLike(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === "function";
}
