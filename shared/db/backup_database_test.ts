import assert from "node:assert/strict";
import { DatabaseSync } from "node:sqlite";
import { backupDatabase, openDatabase } from "./mod.ts";
import { startWriter } from "./_testing.ts";

function fill(db: DatabaseSync, rows: number): void {
  db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, pad TEXT)");
  db.exec("BEGIN");
  const insert = db.prepare("INSERT INTO t (pad) VALUES (?)");
  for (let i = 0; i < rows; i++) insert.run("p".repeat(200));
  db.exec("COMMIT");
}

function one(db: DatabaseSync, sql: string): unknown {
  return Object.values(db.prepare(sql).get()!)[0];
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

Deno.test("backupDatabase() makes a consistent standalone copy while another process writes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const live = `${dir}/svc.db`;
    const db = openDatabase(live);
    try {
      fill(db, 50_000);
      const writer = await startWriter(live);
      let written: number;
      let before: number;
      let result;
      try {
        before = Number(one(db, "SELECT max(id) FROM t"));
        result = await backupDatabase(db, `${dir}/copy.db`);
      } finally {
        written = await writer.stop();
      }
      const after = Number(one(db, "SELECT max(id) FROM t"));
      assert.ok(after > before, "the writer kept committing during the test");
      assert.equal(after, 50_000 + written);

      assert.equal(result.path, `${dir}/copy.db`);
      assert.equal(result.bytes, (await Deno.stat(`${dir}/copy.db`)).size);
      assert.equal(await exists(`${dir}/copy.db-wal`), false);
      const copy = new DatabaseSync(`${dir}/copy.db`, { readOnly: true });
      try {
        assert.equal(one(copy, "PRAGMA integrity_check"), "ok");
        assert.equal(one(copy, "PRAGMA journal_mode"), "delete");
        const max = Number(one(copy, "SELECT max(id) FROM t"));
        // Every row committed before the copy started, and no gaps: one instant.
        assert.ok(max >= before, `copy has ${max} rows, ${before} were committed before`);
        assert.equal(Number(one(copy, "SELECT count(*) FROM t")), max);
      } finally {
        copy.close();
      }
      const entries = [];
      for await (const e of Deno.readDir(dir)) entries.push(e.name);
      assert.deepEqual(entries.filter((n) => n.includes("partial")), []);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("backupDatabase() copies from a path and leaves the source in WAL mode", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = openDatabase(`${dir}/svc.db`);
    fill(db, 10);
    db.close();
    await backupDatabase(`${dir}/svc.db`, `${dir}/copy.db`);
    const copy = openDatabase(`${dir}/copy.db`);
    try {
      assert.equal(one(copy, "SELECT count(*) FROM t"), 10);
    } finally {
      copy.close();
    }
    const src = new DatabaseSync(`${dir}/svc.db`, { readOnly: true });
    try {
      assert.equal(one(src, "PRAGMA journal_mode"), "wal");
    } finally {
      src.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("backupDatabase() refuses an existing destination, a missing directory and a missing source", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = openDatabase(`${dir}/svc.db`);
    try {
      fill(db, 1);
      await Deno.writeTextFile(`${dir}/taken.db`, "keep me");
      await assert.rejects(
        backupDatabase(db, `${dir}/taken.db`),
        (error: unknown) =>
          error instanceof Deno.errors.AlreadyExists &&
          error.message ===
            `Cannot back up the open database to "${dir}/taken.db": the file already exists; remove it or choose a new name`,
      );
      assert.equal(await Deno.readTextFile(`${dir}/taken.db`), "keep me");
      await assert.rejects(
        backupDatabase(db, `${dir}/missing/copy.db`),
        (error: unknown) =>
          error instanceof Deno.errors.NotFound &&
          error.message ===
            `Cannot back up the open database to "${dir}/missing/copy.db": directory "${dir}/missing" does not exist; create it first`,
      );
      await assert.rejects(
        backupDatabase(`${dir}/nope.db`, `${dir}/copy.db`),
        (error: unknown) =>
          error instanceof Deno.errors.NotFound &&
          error.message === `Cannot back up database "${dir}/nope.db": the file does not exist`,
      );
      assert.equal(await exists(`${dir}/nope.db`), false);
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("backupDatabase() names both ends and cleans up when SQLite fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = openDatabase(`${dir}/svc.db`);
    db.close();
    await assert.rejects(
      backupDatabase(db, `${dir}/copy.db`),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.match(
          error.message,
          new RegExp(`^Cannot back up the open database to "${dir}/copy.db": `),
        );
        return true;
      },
    );
    const names = [];
    for await (const e of Deno.readDir(dir)) names.push(e.name);
    assert.deepEqual(names.sort(), ["svc.db"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
