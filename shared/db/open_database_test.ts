import assert from "node:assert/strict";
import { openDatabase } from "./mod.ts";

Deno.test("openDatabase() sets WAL, busy timeout, foreign keys and synchronous=NORMAL", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const db = openDatabase(`${dir}/svc.db`, { busyTimeoutMs: 1234 });
    try {
      const pragma = (name: string) => Object.values(db.prepare(`PRAGMA ${name}`).get()!)[0];
      assert.equal(pragma("journal_mode"), "wal");
      assert.equal(pragma("busy_timeout"), 1234);
      assert.equal(pragma("foreign_keys"), 1);
      assert.equal(pragma("synchronous"), 1); // NORMAL
    } finally {
      db.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openDatabase() defaults the busy timeout to 5000 ms", () => {
  const db = openDatabase(":memory:");
  try {
    assert.deepEqual({ ...db.prepare("PRAGMA busy_timeout").get() }, { timeout: 5000 });
  } finally {
    db.close();
  }
});

Deno.test("openDatabase() enforces foreign keys", () => {
  const db = openDatabase(":memory:");
  try {
    db.exec(
      "CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE TABLE b (a_id INTEGER REFERENCES a(id))",
    );
    assert.throws(() => db.exec("INSERT INTO b VALUES (7)"), /FOREIGN KEY constraint failed/);
  } finally {
    db.close();
  }
});

Deno.test("openDatabase() throws NotFound naming the directory when it is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.throws(
      () => openDatabase(`${dir}/nope/svc.db`),
      (error: unknown) => {
        assert.ok(error instanceof Deno.errors.NotFound);
        assert.equal(
          error.message,
          `Cannot open database "${dir}/nope/svc.db": directory "${dir}/nope" does not exist; create the service data directory first`,
        );
        return true;
      },
    );
    await assert.rejects(Deno.stat(`${dir}/nope`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openDatabase() throws NotADirectory when the parent is a file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/file`, "x");
    assert.throws(
      () => openDatabase(`${dir}/file/svc.db`),
      (error: unknown) =>
        error instanceof Deno.errors.NotADirectory &&
        error.message ===
          `Cannot open database "${dir}/file/svc.db": "${dir}/file" is not a directory`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openDatabase() names the path when the file is not a database", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/junk.db`, "this is not sqlite ".repeat(100));
    assert.throws(
      () => openDatabase(`${dir}/junk.db`),
      (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.match(
          error.message,
          new RegExp(`^Cannot open database "${dir}/junk.db": .*not a database`),
        );
        return true;
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("openDatabase() rejects a bad busy timeout and an empty path", () => {
  assert.throws(
    () => openDatabase(":memory:", { busyTimeoutMs: -1 }),
    new RangeError(
      'Cannot open database ":memory:": busyTimeoutMs must be a whole number from 0 to 2147483647, got -1',
    ),
  );
  assert.throws(
    () => openDatabase(""),
    new TypeError("Cannot open database: path must be a non-empty string, got "),
  );
});
