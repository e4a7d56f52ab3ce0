/**
 * Snapshots of a service data directory (`/srv/<service>/`) as `.tar.zst`,
 * and restores that extract into a working service directory: what MCP
 * uses to migrate a service between nodes and to keep backups.
 *
 * A snapshot holds the whole directory except live SQLite files and
 * `backups/`, plus a consistent online copy of the service database as
 * `<service>.db`. Restores are all-or-nothing and refuse entries that would
 * escape the destination. Archives are plain tar (ustar, with PAX records
 * for long names) compressed with zstd, readable and writable by GNU
 * `tar --zstd`.
 *
 * Tar is read and written with `tar-stream` (npm, streaming, no file system
 * access of its own, reads no environment): it handles ustar, PAX and GNU
 * long names and base-256 sizes, and has years of use behind it, so this
 * module only adds the policy (what to archive, what to refuse) and the
 * file system work. zstd is `node:zlib`'s. Both work under scoped
 * `--allow-read`/`--allow-write` with no other permission.
 *
 * ```ts
 * import { restore, snapshot } from "@mc/mcdsl/archive";
 * import { openDatabase } from "@mc/mcdsl/db";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/srv`);
 * const db = openDatabase(`${root}/srv/demo.db`);
 * db.exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)");
 * const snap = await snapshot({ dataDir: `${root}/srv`, service: "demo", database: db });
 * db.close();
 * const restored = await restore({ archive: snap.path, dest: `${root}/new` });
 * assert.equal(restored.entries, 1);
 * await Deno.remove(root, { recursive: true });
 * ```
 *
 * @module
 */
export * from "./archive_error.ts";
export * from "./snapshot.ts";
export * from "./restore.ts";
export * from "./commands.ts";
