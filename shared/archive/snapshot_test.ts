import assert from "node:assert/strict";
import type { DatabaseSync } from "node:sqlite";
import { openDatabase } from "../db/mod.ts";
import { startWriter } from "../db/_testing.ts";
import { createDevPki, writeDevPki } from "../tls/mod.ts";
import { ArchiveError, type ArchiveProgress, restore, snapshot } from "./mod.ts";
import { describeTree, exists, gnuList, namesIn } from "./_testing.ts";

function one(db: DatabaseSync, sql: string): number {
  return Number(Object.values(db.prepare(sql).get()!)[0]);
}

function fill(db: DatabaseSync, rows: number): void {
  db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, pad TEXT)");
  db.exec("BEGIN");
  const insert = db.prepare("INSERT INTO t (pad) VALUES (?)");
  for (let i = 0; i < rows; i++) insert.run("p".repeat(100));
  db.exec("COMMIT");
}

/** A small data directory with a live database; returns its open connection. */
async function makeDataDir(dataDir: string, service: string): Promise<DatabaseSync> {
  await Deno.mkdir(dataDir, { recursive: true });
  await Deno.writeTextFile(`${dataDir}/${service}.toml`, "[server]\nlisten_addr = ':8443'\n", {
    mode: 0o640,
  });
  const db = openDatabase(`${dataDir}/${service}.db`);
  fill(db, 100);
  return db;
}

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir();
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

Deno.test("snapshot() and restore() carry a live service directory to a new place", async () => {
  await withRoot(async (root) => {
    const dataDir = `${root}/srv/mcns`;
    const db = await makeDataDir(dataDir, "mcns");
    try {
      fill(db, 20_000);
      await Deno.mkdir(`${dataDir}/certs`);
      await writeDevPki(`${dataDir}/certs`, await createDevPki());
      await Deno.symlink("cert.pem", `${dataDir}/certs/current.pem`);
      await Deno.mkdir(`${dataDir}/zones/internal`, { recursive: true, mode: 0o750 });
      await Deno.writeTextFile(`${dataDir}/zones/internal/svc.zone`, "$ORIGIN svc.\n");
      await Deno.mkdir(`${dataDir}/backups`);
      await Deno.writeTextFile(`${dataDir}/backups/mcns-20240101T000000Z.tar.zst`, "old");
      const old = new Date("2024-02-03T04:05:06Z");
      await Deno.utime(`${dataDir}/mcns.toml`, old, old);
      assert.ok(await exists(`${dataDir}/mcns.db-wal`), "the database is live, in WAL mode");

      const writer = await startWriter(`${dataDir}/mcns.db`);
      let before: number;
      let result;
      try {
        before = one(db, "SELECT max(id) FROM t");
        result = await snapshot({ dataDir, service: "mcns", database: db });
      } finally {
        await writer.stop();
      }

      assert.equal((await Deno.stat(result.path)).mode! & 0o777, 0o600);
      assert.deepEqual(await gnuList(result.path), [
        "certs/",
        "certs/ca.pem",
        "certs/cert.pem",
        "certs/current.pem",
        "certs/key.pem",
        "mcns.db",
        "mcns.toml",
        "zones/",
        "zones/internal/",
        "zones/internal/svc.zone",
      ]);
      assert.deepEqual(result.skipped, [
        { path: "backups", reason: "backups directory" },
        { path: "mcns.db", reason: "live database file" },
        { path: "mcns.db-shm", reason: "live database file" },
        { path: "mcns.db-wal", reason: "live database file" },
      ]);
      assert.equal(result.entries, 10);
      // Only the new archive was added to backups/, and no temp file is left.
      assert.equal((await namesIn(`${dataDir}/backups`)).length, 2);
      assert.deepEqual(
        (await namesIn(dataDir)).filter((n) => n.startsWith(".")),
        [],
      );

      await Deno.mkdir(`${root}/node2`);
      const restored = await restore({ archive: result.path, dest: `${root}/node2/mcns` });
      assert.equal(restored.path, `${root}/node2/mcns`);
      assert.equal(restored.entries, 10);
      assert.equal(restored.bytes, result.bytes);

      const copy = openDatabase(`${root}/node2/mcns/mcns.db`);
      try {
        assert.equal(
          Object.values(copy.prepare("PRAGMA integrity_check").get()!)[0],
          "ok",
        );
        const max = one(copy, "SELECT max(id) FROM t");
        assert.ok(max >= before, `restored ${max} rows, ${before} were committed before`);
        assert.equal(one(copy, "SELECT count(*) FROM t"), max);
      } finally {
        copy.close();
      }

      const source = await describeTree(dataDir);
      const target = await describeTree(`${root}/node2/mcns`);
      for (const tree of [source, target]) {
        for (const key of Object.keys(tree)) {
          if (key.startsWith("mcns.db") || key.startsWith("backups")) delete tree[key];
        }
      }
      assert.deepEqual(target, source);
      assert.deepEqual(target["mcns.toml"], {
        type: "file",
        mode: 0o640,
        text: "[server]\nlisten_addr = ':8443'\n",
        mtime: old.getTime() / 1000,
      });
      assert.deepEqual(target["certs/current.pem"], { type: "symlink", target: "cert.pem" });
      assert.equal((target["certs/key.pem"] as { mode: number }).mode, 0o600);
      assert.equal((target["zones/internal"] as { mode: number }).mode, 0o750);
    } finally {
      db.close();
    }
  });
});

Deno.test("snapshot() names the default output after the service and the UTC time", async () => {
  await withRoot(async (root) => {
    const db = await makeDataDir(`${root}/svc`, "svc");
    try {
      const result = await snapshot({
        dataDir: `${root}/svc`,
        service: "svc",
        database: db,
        now: () => new Date("2025-01-02T03:04:05.678Z"),
      });
      assert.equal(result.path, `${root}/svc/backups/svc-20250102T030405Z.tar.zst`);
      assert.equal((await Deno.stat(`${root}/svc/backups`)).mode! & 0o777, 0o700);
      await assert.rejects(
        snapshot({
          dataDir: `${root}/svc`,
          service: "svc",
          database: db,
          now: () => new Date("2025-01-02T03:04:05.999Z"),
        }),
        (error: unknown) =>
          error instanceof Deno.errors.AlreadyExists &&
          error.message ===
            `Cannot snapshot "${root}/svc" to "${result.path}": the file already exists; remove it or choose another output`,
      );
    } finally {
      db.close();
    }
  });
});

Deno.test("snapshot() takes the database by path and writes its copy to tempDir", async () => {
  await withRoot(async (root) => {
    const db = await makeDataDir(`${root}/svc`, "svc");
    db.close();
    await Deno.mkdir(`${root}/tmp`);
    await Deno.mkdir(`${root}/out`);
    const seen: string[] = [];
    const result = await snapshot({
      dataDir: `${root}/svc`,
      service: "svc",
      database: `${root}/svc/svc.db`,
      output: `${root}/out/svc.tar.zst`,
      tempDir: `${root}/tmp`,
      onProgress: (p) => seen.push(p.path),
    });
    assert.equal(result.path, `${root}/out/svc.tar.zst`);
    assert.deepEqual(await gnuList(result.path), ["svc.db", "svc.toml"]);
    assert.deepEqual(seen, ["svc.db", "svc.toml"]);
    assert.deepEqual(await namesIn(`${root}/tmp`), []);
    assert.equal(await exists(`${root}/svc/backups`), false);
  });
});

Deno.test("snapshot() reports progress after each entry", async () => {
  await withRoot(async (root) => {
    const db = await makeDataDir(`${root}/svc`, "svc");
    try {
      await Deno.mkdir(`${root}/svc/data`);
      await Deno.writeTextFile(`${root}/svc/data/a.txt`, "aaaa");
      const progress: ArchiveProgress[] = [];
      const result = await snapshot({
        dataDir: `${root}/svc`,
        service: "svc",
        database: db,
        onProgress: (p) => progress.push({ ...p }),
      });
      const dbBytes = progress[0].bytes;
      assert.deepEqual(progress, [
        { entries: 1, bytes: dbBytes, path: "svc.db" },
        { entries: 2, bytes: dbBytes, path: "data" },
        { entries: 3, bytes: dbBytes + 4, path: "data/a.txt" },
        { entries: 4, bytes: dbBytes + 4 + 31, path: "svc.toml" },
      ]);
      assert.equal(result.bytes, dbBytes + 35);
    } finally {
      db.close();
    }
  });
});

Deno.test("snapshot() leaves out other databases, sockets and FIFOs and lists them", async () => {
  await withRoot(async (root) => {
    const dataDir = `${root}/svc`;
    const db = await makeDataDir(dataDir, "svc");
    const listener = Deno.listen({ transport: "unix", path: `${dataDir}/admin.sock` });
    try {
      await Deno.mkdir(`${dataDir}/sub`);
      await Deno.writeTextFile(`${dataDir}/sub/cache.db`, "x");
      await Deno.writeTextFile(`${dataDir}/sub/cache.db-journal`, "x");
      await Deno.writeTextFile(`${dataDir}/sub/notes.dbx`, "kept");
      const mkfifo = await new Deno.Command("mkfifo", { args: [`${dataDir}/sub/pipe`] }).output();
      assert.equal(mkfifo.code, 0);
      const result = await snapshot({ dataDir, service: "svc", database: db });
      assert.deepEqual(result.skipped, [
        { path: "admin.sock", reason: "socket" },
        { path: "backups", reason: "backups directory" },
        { path: "sub/cache.db", reason: "live database file" },
        { path: "sub/cache.db-journal", reason: "live database file" },
        { path: "sub/pipe", reason: "fifo" },
        { path: "svc.db", reason: "live database file" },
        { path: "svc.db-shm", reason: "live database file" },
        { path: "svc.db-wal", reason: "live database file" },
      ]);
      assert.deepEqual(await gnuList(result.path), ["sub/", "sub/notes.dbx", "svc.db", "svc.toml"]);
    } finally {
      listener.close();
      db.close();
    }
  });
});

Deno.test("snapshot() refuses a symlink that leaves the data directory and cleans up", async () => {
  const cases: [string, string, string][] = [
    ["etc", "/etc", "is absolute"],
    ["sub/up", "../../outside", "climbs out of the directory"],
    // Reads as the root, but through a -> . it is the root's parent.
    ["b", "a/..", "climbs out of the directory"],
  ];
  for (const [link, target, problem] of cases) {
    await withRoot(async (root) => {
      const dataDir = `${root}/svc`;
      const db = await makeDataDir(dataDir, "svc");
      try {
        await Deno.mkdir(`${dataDir}/sub`);
        if (link === "b") await Deno.symlink(".", `${dataDir}/a`);
        await Deno.symlink(target, `${dataDir}/${link}`);
        await assert.rejects(
          snapshot({ dataDir, service: "svc", database: db }),
          (error: unknown) => {
            assert.ok(error instanceof ArchiveError);
            assert.equal(error.entry, link);
            assert.equal(
              error.message,
              `Cannot snapshot "${dataDir}": symlink "${link}" -> "${target}" ${problem}; only relative links that stay inside the data directory are archived: make it one or remove it`,
            );
            return true;
          },
        );
        assert.deepEqual(await namesIn(`${dataDir}/backups`), []);
        assert.deepEqual((await namesIn(dataDir)).filter((n) => n.startsWith(".")), []);
      } finally {
        db.close();
      }
    });
  }
});

Deno.test("snapshot() validates its options", async () => {
  await withRoot(async (root) => {
    const db = await makeDataDir(`${root}/svc`, "svc");
    try {
      await assert.rejects(
        snapshot({ dataDir: `${root}/svc`, service: "../svc", database: db }),
        new RangeError(
          `Cannot snapshot "${root}/svc": service must be a plain name of letters, digits, ".", "_" or "-", got "../svc"`,
        ),
      );
      await assert.rejects(
        snapshot({ dataDir: `${root}/svc`, service: "svc", database: db, compressionLevel: 20 }),
        new RangeError(
          `Cannot snapshot "${root}/svc": compressionLevel must be an integer from 1 to 19, got 20`,
        ),
      );
      await assert.rejects(
        snapshot({ dataDir: `${root}/nope`, service: "svc", database: db }),
        (error: unknown) =>
          error instanceof Deno.errors.NotFound &&
          error.message === `Cannot snapshot: data directory "${root}/nope" does not exist`,
      );
      await assert.rejects(
        snapshot({
          dataDir: `${root}/svc`,
          service: "svc",
          database: db,
          output: `${root}/nope/x.tar.zst`,
        }),
        (error: unknown) =>
          error instanceof Deno.errors.NotFound &&
          error.message === `Cannot snapshot: output directory "${root}/nope" does not exist`,
      );
    } finally {
      db.close();
    }
  });
});

Deno.test("snapshot() streams a large file in bounded memory", async () => {
  await withRoot(async (root) => {
    const dataDir = `${root}/svc`;
    const db = await makeDataDir(dataDir, "svc");
    try {
      const size = 300 * 1024 * 1024;
      const big = await Deno.open(`${dataDir}/blob.bin`, { write: true, create: true });
      await big.truncate(size);
      await big.seek(size - 5, Deno.SeekMode.Start);
      await big.write(new TextEncoder().encode("tail!"));
      big.close();

      const baseline = Deno.memoryUsage().rss;
      let peak = baseline;
      const sample = setInterval(() => {
        peak = Math.max(peak, Deno.memoryUsage().rss);
      }, 10);
      let result;
      try {
        result = await snapshot({ dataDir, service: "svc", database: db });
        await restore({ archive: result.path, dest: `${root}/restored` });
      } finally {
        clearInterval(sample);
      }
      peak = Math.max(peak, Deno.memoryUsage().rss);
      assert.ok(
        peak - baseline < 200 * 1024 * 1024, // far below the file's 300 MiB
        `RSS grew by ${Math.round((peak - baseline) / 2 ** 20)} MiB for a 300 MiB file`,
      );
      const cmp = await new Deno.Command("cmp", {
        args: [`${dataDir}/blob.bin`, `${root}/restored/blob.bin`],
      }).output();
      assert.equal(cmp.code, 0, new TextDecoder().decode(cmp.stdout));
    } finally {
      db.close();
    }
  });
});

Deno.test("snapshot() names the database copy after its own path and leaves out the live file", async () => {
  await withRoot(async (root) => {
    const dataDir = `${root}/svc`;
    await Deno.mkdir(`${dataDir}/nested`, { recursive: true });
    await Deno.writeTextFile(`${dataDir}/svc.toml`, "[database]\npath = 'store.sqlite'\n");
    const db = openDatabase(`${dataDir}/store.sqlite`);
    const nested = openDatabase(`${dataDir}/nested/inner.sqlite`);
    try {
      fill(db, 10);
      fill(nested, 7);
      assert.ok(await exists(`${dataDir}/store.sqlite-wal`), "the database is live, in WAL mode");
      const byConnection = await snapshot({
        dataDir,
        service: "svc",
        database: db,
        output: `${root}/a.tar.zst`,
      });
      const byPath = await snapshot({
        dataDir,
        service: "svc",
        database: `${dataDir}/nested/inner.sqlite`,
        output: `${root}/b.tar.zst`,
      });
      assert.deepEqual(await gnuList(byConnection.path), ["nested/", "store.sqlite", "svc.toml"]);
      assert.deepEqual(await gnuList(byPath.path), ["nested/", "nested/inner.sqlite", "svc.toml"]);
      await restore({ archive: byConnection.path, dest: `${root}/restored-a` });
      await restore({ archive: byPath.path, dest: `${root}/restored-b` });
      const a = openDatabase(`${root}/restored-a/store.sqlite`);
      const b = openDatabase(`${root}/restored-b/nested/inner.sqlite`);
      assert.equal(one(a, "SELECT count(*) FROM t"), 10);
      assert.equal(one(b, "SELECT count(*) FROM t"), 7);
      a.close();
      b.close();
    } finally {
      db.close();
      nested.close();
    }
  });
});
