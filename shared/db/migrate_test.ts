import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import {
  migrate,
  type Migration,
  MigrationError,
  openDatabase,
  schemaVersion,
  SchemaVersionError,
} from "./mod.ts";

const V1: Migration = {
  version: 1,
  name: "create_users",
  up: "CREATE TABLE users (name TEXT PRIMARY KEY)",
};
const V2: Migration = {
  version: 2,
  name: "seed_admin",
  up: (db) => {
    db.prepare("INSERT INTO users VALUES (?)").run("admin");
  },
};
const V3: Migration = {
  version: 3,
  name: "add_email",
  up: "ALTER TABLE users ADD COLUMN email TEXT",
};

function withDb(fn: (db: DatabaseSync) => void): void {
  const db = openDatabase(":memory:");
  try {
    fn(db);
  } finally {
    db.close();
  }
}

function recorded(db: DatabaseSync): unknown[] {
  return db.prepare("SELECT version, name FROM schema_migrations ORDER BY version").all()
    .map((r) => ({ ...r }));
}

Deno.test("migrate() applies pending migrations in order and records them", () => {
  withDb((db) => {
    assert.deepEqual(migrate(db, [V1, V2]), { from: 0, to: 2, applied: [1, 2] });
    assert.deepEqual(migrate(db, [V1, V2, V3]), { from: 2, to: 3, applied: [3] });
    assert.deepEqual(migrate(db, [V1, V2, V3]), { from: 3, to: 3, applied: [] });
    assert.deepEqual(recorded(db), [
      { version: 1, name: "create_users" },
      { version: 2, name: "seed_admin" },
      { version: 3, name: "add_email" },
    ]);
    const appliedAt = String(
      db.prepare("SELECT applied_at FROM schema_migrations").get()!.applied_at,
    );
    assert.ok(!Number.isNaN(Date.parse(appliedAt)), appliedAt);
    assert.deepEqual({ ...db.prepare("SELECT name, email FROM users").get() }, {
      name: "admin",
      email: null,
    });
    assert.equal(schemaVersion(db), 3);
  });
});

Deno.test("migrate() rolls back a failing migration and names it", () => {
  withDb((db) => {
    const bad: Migration = {
      version: 3,
      name: "broken",
      up: "CREATE TABLE half (x INTEGER); INSERT INTO nowhere VALUES (1)",
    };
    assert.throws(
      () => migrate(db, [V1, V2, bad]),
      (error: unknown) => {
        assert.ok(error instanceof MigrationError);
        assert.equal(error.version, 3);
        assert.equal(error.migrationName, "broken");
        assert.equal(
          error.message,
          'Migration 3 "broken" failed and was rolled back (the database stays at version 2): no such table: nowhere',
        );
        return true;
      },
    );
    assert.equal(schemaVersion(db), 2);
    // The half-done work of the failed migration is gone.
    assert.equal(db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'half'").get(), undefined);
    assert.equal(db.isTransaction, false);
  });
});

Deno.test("migrate() rolls back a function migration that throws", () => {
  withDb((db) => {
    const bad: Migration = {
      version: 2,
      name: "throws",
      up: (d) => {
        d.exec("INSERT INTO users VALUES ('x')");
        throw new Error("nope");
      },
    };
    assert.throws(() => migrate(db, [V1, bad]), {
      name: "MigrationError",
      message:
        'Migration 2 "throws" failed and was rolled back (the database stays at version 1): nope',
    });
    assert.equal(db.prepare("SELECT count(*) AS n FROM users").get()!.n, 0);
  });
});

Deno.test("migrate() refuses a migration that ends its own transaction", () => {
  withDb((db) => {
    const bad: Migration = { version: 1, name: "commits", up: "CREATE TABLE x (a); COMMIT" };
    assert.throws(() => migrate(db, [bad]), {
      name: "MigrationError",
      message:
        'Migration 1 "commits" failed and was rolled back (the database stays at version 0): it ended the migration\'s transaction; remove BEGIN/COMMIT from it',
    });
  });
});

Deno.test("migrate() refuses a database newer than the code", () => {
  withDb((db) => {
    migrate(db, [V1, V2, V3]);
    assert.throws(
      () => migrate(db, [V1, V2]),
      (error: unknown) => {
        assert.ok(error instanceof SchemaVersionError);
        assert.equal(error.databaseVersion, 3);
        assert.equal(error.knownVersion, 2);
        assert.equal(
          error.message,
          "Database schema is at version 3 but this binary only knows migrations up to version 2: upgrade the binary to a release that knows version 3; do not run an older release against this database",
        );
        return true;
      },
    );
  });
});

Deno.test("migrate() refuses a new migration numbered below the database version", () => {
  withDb((db) => {
    migrate(db, [V1, V3]);
    assert.throws(() => migrate(db, [V1, V2, V3]), {
      name: "MigrationError",
      message:
        'Migration 2 "seed_admin" was never applied, but the database is already at version 3: give new migrations versions above 3',
    });
  });
});

Deno.test("migrate() refuses duplicate and decreasing versions before touching the database", () => {
  withDb((db) => {
    assert.throws(
      () => migrate(db, [V1, { ...V2, version: 1 }]),
      new RangeError(
        'Migration versions must be strictly increasing: migrations[1] "seed_admin" has version 1 after version 1 "create_users"; give each migration a new, higher version',
      ),
    );
    assert.throws(
      () => migrate(db, [V2, V1]),
      new RangeError(
        'Migration versions must be strictly increasing: migrations[1] "create_users" has version 1 after version 2 "seed_admin"; give each migration a new, higher version',
      ),
    );
    assert.equal(schemaVersion(db), 0);
    assert.equal(
      db.prepare("SELECT 1 FROM sqlite_master WHERE name = 'schema_migrations'").get(),
      undefined,
    );
  });
});

Deno.test("migrate() rejects malformed migrations", () => {
  withDb((db) => {
    assert.throws(
      () => migrate(db, [{ ...V1, version: 0 }]),
      new RangeError("migrations[0].version must be a positive integer, got 0"),
    );
    assert.throws(
      () => migrate(db, [{ ...V1, version: 1.5 }]),
      new RangeError("migrations[0].version must be a positive integer, got 1.5"),
    );
    assert.throws(
      () => migrate(db, [{ ...V1, name: "" }]),
      new TypeError('migrations[0].name (version 1) must be a non-empty string, got ""'),
    );
    assert.throws(
      () => migrate(db, [{ ...V1, up: 42 as unknown as string }]),
      new TypeError(
        'migrations[0].up (version 1 "create_users") must be SQL text or a function, got number',
      ),
    );
  });
});

Deno.test("migrate() refuses to run inside an open transaction", () => {
  withDb((db) => {
    db.exec("BEGIN");
    assert.throws(
      () => migrate(db, [V1]),
      new TypeError(
        "migrate() was called inside an open transaction: call it before any other work, since each migration needs its own transaction",
      ),
    );
    db.exec("ROLLBACK");
  });
});

Deno.test("migrate() lets a second connection skip migrations another one applied", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = openDatabase(`${dir}/svc.db`);
    const b = openDatabase(`${dir}/svc.db`);
    try {
      assert.deepEqual(migrate(a, [V1, V2]), { from: 0, to: 2, applied: [1, 2] });
      assert.deepEqual(migrate(b, [V1, V2, V3]), { from: 2, to: 3, applied: [3] });
      assert.deepEqual(migrate(a, [V1, V2, V3]), { from: 3, to: 3, applied: [] });
      assert.equal(a.prepare("SELECT count(*) AS n FROM users").get()!.n, 1);
    } finally {
      b.close();
      a.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("migrate() with an empty list leaves a new database at version 0", () => {
  withDb((db) => {
    assert.deepEqual(migrate(db, []), { from: 0, to: 0, applied: [] });
  });
});
