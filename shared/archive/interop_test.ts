import assert from "node:assert/strict";
import { openDatabase } from "../db/mod.ts";
import { restore, snapshot } from "./mod.ts";
import { describeTree, gnuList, run, runOk } from "./_testing.ts";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir();
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

// Components long enough that the path needs PAX (or GNU) long names: over
// 100 bytes for the name field and over 155 for the ustar prefix.
const LONG_DIR = `${"a".repeat(90)}/${"b".repeat(90)}`;
const LONG_FILE = `${LONG_DIR}/${"c".repeat(120)}.txt`;

/** A tree with long names, nested and non-ASCII names, modes, mtimes and a symlink. */
async function makeTree(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/${LONG_DIR}`, { recursive: true });
  await Deno.writeTextFile(`${dir}/${LONG_FILE}`, "long name\n");
  await Deno.mkdir(`${dir}/zones/internal/deep`, { recursive: true });
  await Deno.writeTextFile(`${dir}/zones/internal/deep/ünïcødé.zone`, "$ORIGIN x.\n");
  await Deno.writeTextFile(`${dir}/empty`, "");
  await Deno.mkdir(`${dir}/bin`, { mode: 0o750 });
  await Deno.chmod(`${dir}/bin`, 0o750);
  await Deno.writeTextFile(`${dir}/bin/tool`, "#!/bin/sh\necho hi\n");
  await Deno.chmod(`${dir}/bin/tool`, 0o755);
  await Deno.writeTextFile(`${dir}/secret.key`, "k", { mode: 0o600 });
  await Deno.chmod(`${dir}/secret.key`, 0o600);
  await Deno.symlink(LONG_FILE, `${dir}/current`);
  const when = new Date("2022-03-04T05:06:07Z");
  await Deno.utime(`${dir}/bin/tool`, when, when);
}

Deno.test("snapshot() writes archives GNU tar lists and extracts byte for byte", async () => {
  await withRoot(async (root) => {
    const dataDir = `${root}/svc`;
    await Deno.mkdir(dataDir);
    await makeTree(dataDir);
    const db = openDatabase(`${dataDir}/svc.db`);
    try {
      db.exec("CREATE TABLE t (x TEXT); INSERT INTO t VALUES ('from ours')");
      await Deno.mkdir(`${root}/out`);
      const { path } = await snapshot({
        dataDir,
        service: "svc",
        database: db,
        output: `${root}/out/svc.tar.zst`,
      });

      assert.deepEqual(await gnuList(path), [
        `${"a".repeat(90)}/`,
        `${LONG_DIR}/`,
        LONG_FILE,
        "bin/",
        "bin/tool",
        "current",
        "empty",
        "secret.key",
        "svc.db",
        "zones/",
        "zones/internal/",
        "zones/internal/deep/",
        "zones/internal/deep/ünïcødé.zone",
      ]);
      await runOk("zstd", ["-q", "-t", path]); // frame and checksum intact

      await Deno.mkdir(`${root}/gnu`);
      await runOk("tar", ["--zstd", "-xpf", path, "-C", `${root}/gnu`]);
      const diff = await run("diff", [
        "-r",
        "--no-dereference",
        "-x",
        "svc.db*",
        "-x",
        "backups",
        dataDir,
        `${root}/gnu`,
      ]);
      assert.equal(diff.code, 0, diff.stdout + diff.stderr);
      const ours = await describeTree(dataDir);
      const theirs = await describeTree(`${root}/gnu`);
      for (const tree of [ours, theirs]) {
        for (const key of Object.keys(tree)) {
          if (key.startsWith("svc.db") || key === "backups") delete tree[key];
        }
      }
      assert.deepEqual(theirs, ours);

      const copy = openDatabase(`${root}/gnu/svc.db`);
      try {
        assert.deepEqual({ ...copy.prepare("SELECT x FROM t").get() }, { x: "from ours" });
      } finally {
        copy.close();
      }
    } finally {
      db.close();
    }
  });
});

for (const format of ["gnu", "posix"]) {
  Deno.test(`restore() reads archives made by GNU tar --format=${format}`, async () => {
    await withRoot(async (root) => {
      const src = `${root}/src`;
      await Deno.mkdir(src);
      await makeTree(src);
      await Deno.writeTextFile(`${src}/data.txt`, "shared inode\n");
      await Deno.link(`${src}/data.txt`, `${src}/zones/hard.txt`);
      await Deno.mkdir(`${src}/empty-dir`);
      const archive = `${root}/gnu.tar.zst`;
      await runOk("tar", ["--zstd", `--format=${format}`, "-cf", archive, "-C", src, "."]);

      const result = await restore({ archive, dest: `${root}/dest` });
      assert.equal(result.entries, (await gnuList(archive)).length);
      assert.deepEqual(await describeTree(`${root}/dest`), await describeTree(src));
      const diff = await run("diff", ["-r", "--no-dereference", src, `${root}/dest`]);
      assert.equal(diff.code, 0, diff.stdout + diff.stderr);
      const a = await Deno.stat(`${root}/dest/data.txt`);
      const b = await Deno.stat(`${root}/dest/zones/hard.txt`);
      assert.equal(a.ino, b.ino, "the hard link is restored as a hard link");
      assert.equal(a.nlink, 2);
    });
  });
}
