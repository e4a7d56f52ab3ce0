import assert from "node:assert/strict";
import { openDatabase, transaction } from "./mod.ts";

function count(db: ReturnType<typeof openDatabase>): number {
  return Number(db.prepare("SELECT count(*) AS n FROM t").get()!.n);
}

function withDb(fn: (db: ReturnType<typeof openDatabase>) => void): void {
  const db = openDatabase(":memory:");
  try {
    db.exec("CREATE TABLE t (x INTEGER)");
    fn(db);
  } finally {
    db.close();
  }
}

Deno.test("transaction() commits and returns the callback's value", () => {
  withDb((db) => {
    const value = transaction(db, () => {
      db.exec("INSERT INTO t VALUES (1), (2)");
      return "done";
    });
    assert.equal(value, "done");
    assert.equal(count(db), 2);
    assert.equal(db.isTransaction, false);
  });
});

Deno.test("transaction() rolls back and rethrows the callback's error", () => {
  withDb((db) => {
    const boom = new Error("boom");
    assert.throws(() =>
      transaction(db, () => {
        db.exec("INSERT INTO t VALUES (1)");
        throw boom;
      }), (error) => error === boom);
    assert.equal(count(db), 0);
    assert.equal(db.isTransaction, false);
  });
});

Deno.test("transaction() nests as a savepoint whose rollback keeps the outer work", () => {
  withDb((db) => {
    transaction(db, () => {
      db.exec("INSERT INTO t VALUES (1)");
      assert.throws(() =>
        transaction(db, () => {
          db.exec("INSERT INTO t VALUES (2)");
          throw new Error("inner");
        }), /inner/);
      transaction(db, () => db.exec("INSERT INTO t VALUES (3)"));
    });
    assert.deepEqual(db.prepare("SELECT x FROM t ORDER BY x").all().map((r) => r.x), [1, 3]);
  });
});

Deno.test("transaction() rolls back the nested work when the outer one fails", () => {
  withDb((db) => {
    assert.throws(() =>
      transaction(db, () => {
        transaction(db, () => db.exec("INSERT INTO t VALUES (1)"));
        throw new Error("outer");
      }), /outer/);
    assert.equal(count(db), 0);
  });
});

Deno.test("transaction() refuses an async callback and rolls it back", () => {
  withDb((db) => {
    assert.throws(
      () =>
        transaction(db, async () => {
          db.exec("INSERT INTO t VALUES (1)");
          await Promise.resolve();
        }),
      new TypeError(
        "transaction() callback returned a Promise: make it synchronous, since an await inside a transaction holds the write lock while other code runs on this connection",
      ),
    );
    assert.equal(count(db), 0);
    assert.equal(db.isTransaction, false);
  });
});

Deno.test("transaction() takes the write lock up front (BEGIN IMMEDIATE)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const a = openDatabase(`${dir}/x.db`);
    const b = openDatabase(`${dir}/x.db`, { busyTimeoutMs: 0 });
    try {
      a.exec("CREATE TABLE t (x INTEGER)");
      transaction(a, () => {
        // No write yet in a, but b still cannot start a write transaction.
        assert.throws(() => transaction(b, () => {}), /database is locked/);
      });
      transaction(b, () => b.exec("INSERT INTO t VALUES (1)"));
      assert.equal(count(a), 1);
    } finally {
      b.close();
      a.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
