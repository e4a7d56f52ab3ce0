/**
 * SQLite for services, on `node:sqlite` (built into Deno, no FFI, works
 * under scoped `--allow-read`/`--allow-write`): opening with the platform's
 * settings, versioned migrations, transactions, and consistent online
 * copies for backups and snapshots.
 *
 * ```ts
 * import { backupDatabase, migrate, openDatabase, transaction } from "@mc/mcdsl/db";
 * import assert from "node:assert/strict";
 *
 * const dir = await Deno.makeTempDir();
 * const db = openDatabase(`${dir}/demo.db`);
 * migrate(db, [{ version: 1, name: "create_notes", up: "CREATE TABLE notes (body TEXT)" }]);
 * transaction(db, () => db.prepare("INSERT INTO notes VALUES (?)").run("hello"));
 * await backupDatabase(db, `${dir}/copy.db`);
 * db.close();
 * const copy = openDatabase(`${dir}/copy.db`);
 * assert.deepEqual({ ...copy.prepare("SELECT body FROM notes").get() }, { body: "hello" });
 * copy.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
export * from "./open_database.ts";
export * from "./migrate.ts";
export * from "./transaction.ts";
export * from "./backup_database.ts";
