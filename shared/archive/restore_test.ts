import assert from "node:assert/strict";
import { ArchiveError, restore } from "./mod.ts";
import {
  craftArchive,
  type CraftedEntry,
  describeTree,
  exists,
  namesIn,
  runOk,
} from "./_testing.ts";

async function withRoot(fn: (root: string) => Promise<void>): Promise<void> {
  const root = await Deno.makeTempDir();
  try {
    await fn(root);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
}

const FILE = (name: string, body = "data\n", mode = 0o644): CraftedEntry => ({
  header: { name, mode, type: "file" },
  body,
});
const DIR = (name: string, mode = 0o755): CraftedEntry => ({
  header: { name, mode, type: "directory" },
});
const SYMLINK = (name: string, linkname: string): CraftedEntry => ({
  header: { name, type: "symlink", linkname },
});
const HARDLINK = (name: string, linkname: string): CraftedEntry => ({
  header: { name, type: "link", linkname },
});

/**
 * Asserts that restoring `archive` fails with an ArchiveError naming `entry`
 * with `problem`, and leaves the destination untouched: a missing one stays
 * missing, an existing one (with overwrite) keeps its content, no temporary
 * directory remains beside it, and nothing appears outside.
 */
async function assertRefused(
  root: string,
  archive: string,
  entry: string,
  problem: string,
): Promise<void> {
  const parent = `${root}/restore-here`;
  await Deno.mkdir(parent);
  try {
    const dest = `${parent}/svc`;
    const check = (error: unknown) => {
      assert.ok(error instanceof ArchiveError, String(error));
      assert.equal(error.entry, entry);
      assert.equal(
        error.message,
        `Refusing to restore into "${dest}": entry "${entry}" ${problem}`,
      );
      return true;
    };
    await assert.rejects(restore({ archive, dest }), check);
    assert.deepEqual(await namesIn(parent), []);

    await Deno.mkdir(dest);
    await Deno.writeTextFile(`${dest}/keep.txt`, "precious");
    await assert.rejects(restore({ archive, dest, overwrite: true }), check);
    assert.deepEqual(await namesIn(parent), ["svc"]);
    assert.deepEqual(await describeTree(dest), {
      "keep.txt": {
        type: "file",
        mode: (await Deno.stat(`${dest}/keep.txt`)).mode! & 0o7777,
        text: "precious",
        mtime: Math.floor((await Deno.stat(`${dest}/keep.txt`)).mtime!.getTime() / 1000),
      },
    });
    assert.equal(await exists(`${root}/evil.txt`), false);
  } finally {
    await Deno.remove(parent, { recursive: true });
  }
}

Deno.test("restore() refuses hostile entries crafted header by header", async () => {
  const cases: [string, CraftedEntry[], string, string][] = [
    [
      "absolute path",
      [FILE("ok.txt"), FILE("<root>/evil.txt")],
      "<root>/evil.txt",
      "has an absolute path",
    ],
    ["parent component", [FILE("../evil.txt")], "../evil.txt", 'has a ".." component'],
    [
      "nested parent",
      [DIR("ok/"), FILE("ok/../../evil.txt")],
      "ok/../../evil.txt",
      'has a ".." component',
    ],
    [
      "absolute symlink",
      [SYMLINK("etc", "/etc")],
      "etc",
      'is a symlink to "/etc", which is absolute',
    ],
    [
      "climbing symlink",
      [DIR("a/"), SYMLINK("a/up", "../../..")],
      "a/up",
      'is a symlink to "../../..", which climbs out of the directory',
    ],
    [
      "symlink escaping through another",
      [SYMLINK("b", "a/.."), SYMLINK("a", ".")],
      "b",
      'is a symlink to "a/..", which climbs out of the directory',
    ],
    [
      "file beneath a symlink",
      [DIR("sub/"), SYMLINK("lnk", "sub"), FILE("lnk/evil.txt")],
      "lnk/evil.txt",
      'lies beneath symlink "lnk"',
    ],
    [
      "file replacing a symlink",
      [DIR("sub/"), SYMLINK("f", "sub"), FILE("f")],
      "f",
      "repeats an earlier symlink entry",
    ],
    ["duplicate file", [FILE("f"), FILE("f")], "f", "repeats an earlier file entry"],
    [
      "absolute hard link",
      [HARDLINK("pw", "/etc/passwd")],
      "pw",
      'is a hard link to "/etc/passwd", which has an absolute path',
    ],
    [
      "climbing hard link",
      [HARDLINK("pw", "../evil.txt")],
      "pw",
      'is a hard link to "../evil.txt", which has a ".." component',
    ],
    [
      "hard link to nothing",
      [HARDLINK("h", "missing")],
      "h",
      'is a hard link to "missing", which is not a regular file earlier in the archive',
    ],
    [
      "hard link to a symlink",
      [FILE("f"), SYMLINK("s", "f"), HARDLINK("h", "s")],
      "h",
      'is a hard link to "s", which is not a regular file earlier in the archive',
    ],
    [
      "device",
      [{ header: { name: "null", type: "character-device", devmajor: 1, devminor: 3 } }],
      "null",
      'has unsupported type "character-device"',
    ],
    ["fifo", [{ header: { name: "pipe", type: "fifo" } }], "pipe", 'has unsupported type "fifo"'],
  ];
  await withRoot(async (root) => {
    for (const [label, entries, entry, problem] of cases) {
      const archive = `${root}/crafted.tar.zst`;
      const fix = (name: string) => name.replace("<root>", root);
      await craftArchive(
        archive,
        entries.map((e) => ({ ...e, header: { ...e.header, name: fix(e.header.name) } })),
      );
      try {
        await assertRefused(root, archive, fix(entry), problem);
      } catch (error) {
        throw new Error(`case "${label}": ${error instanceof Error ? error.message : error}`, {
          cause: error,
        });
      } finally {
        await Deno.remove(archive);
      }
    }
  });
});

Deno.test("restore() refuses hostile archives made by GNU tar", async () => {
  await withRoot(async (root) => {
    const work = `${root}/work`;
    await Deno.mkdir(`${work}/src/real`, { recursive: true });
    await Deno.writeTextFile(`${work}/outside.txt`, "outside");
    await Deno.writeTextFile(`${work}/src/real/f`, "f");
    const archive = `${root}/gnu.tar.zst`;

    // --absolute-names keeps the leading "/".
    await runOk("tar", ["--zstd", "--absolute-names", "-cf", archive, `${work}/outside.txt`]);
    await assertRefused(root, archive, `${work}/outside.txt`, "has an absolute path");
    await Deno.remove(archive);

    // ... and "../" components.
    await runOk("tar", ["--zstd", "-P", "-cf", archive, "../outside.txt"], `${work}/src`);
    await assertRefused(root, archive, "../outside.txt", 'has a ".." component');
    await Deno.remove(archive);

    // A symlink to an absolute path is stored as is.
    await Deno.symlink("/etc/passwd", `${work}/src/passwd`);
    await runOk("tar", ["--zstd", "-cf", archive, "-C", `${work}/src`, "."]);
    await assertRefused(
      root,
      archive,
      "./passwd",
      'is a symlink to "/etc/passwd", which is absolute',
    );
    await Deno.remove(archive);
    await Deno.remove(`${work}/src/passwd`);

    // A relative symlink climbing out.
    await Deno.symlink("../../../outside.txt", `${work}/src/real/up`);
    await runOk("tar", ["--zstd", "-cf", archive, "-C", `${work}/src`, "real"]);
    await assertRefused(
      root,
      archive,
      "real/up",
      'is a symlink to "../../../outside.txt", which climbs out of the directory',
    );
    await Deno.remove(archive);
    await Deno.remove(`${work}/src/real/up`);

    // A symlink, then a file stored beneath it (renamed with --transform).
    await Deno.symlink("real", `${work}/src/lnk`);
    const plain = `${root}/gnu.tar`;
    await runOk("tar", ["-cf", plain, "-C", `${work}/src`, "lnk"]);
    await runOk("tar", [
      "-rf",
      plain,
      "-C",
      `${work}/src`,
      "--transform",
      "s,^real,lnk,",
      "real/f",
    ]);
    await runOk("zstd", ["-q", plain, "-o", archive]);
    await assertRefused(root, archive, "lnk/f", 'lies beneath symlink "lnk"');
  });
});

Deno.test("restore() refuses an unreadable archive and leaves nothing behind", async () => {
  await withRoot(async (root) => {
    await craftArchive(`${root}/good.tar.zst`, [FILE("a.txt", "x".repeat(100_000))]);
    const good = await Deno.readFile(`${root}/good.tar.zst`);
    await Deno.writeFile(`${root}/truncated.tar.zst`, good.subarray(0, good.length - 20));
    await craftArchive(`${root}/big.tar.zst`, [
      // Incompressible enough to span many zstd blocks: cut in half, it
      // ends in the middle of the file's body.
      FILE("a.txt", Array.from({ length: 10_000 }, () => crypto.randomUUID()).join("")),
    ]);
    const big = await Deno.readFile(`${root}/big.tar.zst`);
    await Deno.writeFile(`${root}/half.tar.zst`, big.subarray(0, big.length / 2));
    await Deno.writeFile(`${root}/random.tar.zst`, crypto.getRandomValues(new Uint8Array(4096)));
    await Deno.writeTextFile(`${root}/text`, "not a tar file at all\n".repeat(100));
    await runOk("zstd", ["-q", `${root}/text`, "-o", `${root}/not-tar.tar.zst`]);
    await Deno.mkdir(`${root}/parent`);
    for (const name of ["truncated.tar.zst", "half.tar.zst", "random.tar.zst", "not-tar.tar.zst"]) {
      await assert.rejects(
        restore({ archive: `${root}/${name}`, dest: `${root}/parent/svc` }),
        (error: unknown) => {
          assert.ok(error instanceof ArchiveError, `${name}: ${error}`);
          if (name === "half.tar.zst") assert.match(error.message, /Unexpected end of data/);
          assert.match(
            error.message,
            new RegExp(
              `^Cannot restore "${root}/${name}" into "${root}/parent/svc": the archive is unreadable \\(.+\\); check that it is a \\.tar\\.zst file and was transferred whole$`,
            ),
          );
          return true;
        },
      );
      assert.deepEqual(await namesIn(`${root}/parent`), [], name);
    }
  });
});

Deno.test("restore() refuses a non-empty destination unless told to overwrite", async () => {
  await withRoot(async (root) => {
    const archive = `${root}/a.tar.zst`;
    await craftArchive(archive, [FILE("new.txt", "new")]);
    const dest = `${root}/svc`;
    await Deno.mkdir(dest);
    await Deno.writeTextFile(`${dest}/old.txt`, "old");
    await assert.rejects(
      restore({ archive, dest }),
      (error: unknown) =>
        error instanceof Deno.errors.AlreadyExists &&
        error.message ===
          `Cannot restore into "${dest}": the directory is not empty; restore into a new directory, or pass overwrite: true to replace it`,
    );
    assert.deepEqual(await namesIn(dest), ["old.txt"]);
    // A stream refused up front is cancelled, so whatever feeds it is released.
    let cancelled: unknown;
    const stream = new ReadableStream<Uint8Array>({
      pull: () => {},
      cancel: (reason) => {
        cancelled = reason;
      },
    });
    await assert.rejects(restore({ archive: stream, dest }), Deno.errors.AlreadyExists);
    assert.ok(cancelled instanceof Deno.errors.AlreadyExists);

    const result = await restore({ archive, dest, overwrite: true });
    assert.deepEqual(result, { path: dest, entries: 1, bytes: 3 });
    assert.deepEqual(await namesIn(dest), ["new.txt"]);
    assert.deepEqual(await namesIn(root), ["a.tar.zst", "svc"]);
  });
});

Deno.test("restore() fills an existing empty directory", async () => {
  await withRoot(async (root) => {
    const archive = `${root}/a.tar.zst`;
    await craftArchive(archive, [FILE("x.txt", "x")]);
    await Deno.mkdir(`${root}/svc`);
    await restore({ archive, dest: `${root}/svc` });
    assert.equal(await Deno.readTextFile(`${root}/svc/x.txt`), "x");
  });
});

Deno.test("restore() reads an archive from a ReadableStream", async () => {
  await withRoot(async (root) => {
    await craftArchive(`${root}/a.tar.zst`, [DIR("d/"), FILE("d/x.txt", "streamed")]);
    const file = await Deno.open(`${root}/a.tar.zst`);
    const result = await restore({ archive: file.readable, dest: `${root}/svc` });
    assert.equal(result.entries, 2);
    assert.equal(await Deno.readTextFile(`${root}/svc/d/x.txt`), "streamed");
  });
});

Deno.test("restore() restores modes without setuid bits, read-only directories last", async () => {
  await withRoot(async (root) => {
    const mtime = new Date("2023-05-06T07:08:09Z");
    await craftArchive(`${root}/a.tar.zst`, [
      { header: { name: "./", type: "directory", mode: 0o750, mtime } },
      { header: { name: "ro/", type: "directory", mode: 0o555, mtime } },
      { header: { name: "ro/tool", type: "file", mode: 0o4755, mtime }, body: "#!/bin/sh\n" },
      { header: { name: "implicit/deep/file.txt", type: "file", mode: 0o600, mtime }, body: "i" },
    ]);
    await restore({ archive: `${root}/a.tar.zst`, dest: `${root}/svc` });
    const tree = await describeTree(`${root}/svc`);
    assert.deepEqual(tree, {
      "implicit": { type: "dir", mode: 0o700 },
      "implicit/deep": { type: "dir", mode: 0o700 },
      "implicit/deep/file.txt": { type: "file", mode: 0o600, text: "i", mtime: 1683356889 },
      "ro": { type: "dir", mode: 0o555 },
      "ro/tool": { type: "file", mode: 0o755, text: "#!/bin/sh\n", mtime: 1683356889 },
    });
    assert.equal((await Deno.stat(`${root}/svc`)).mode! & 0o777, 0o750);
    assert.equal((await Deno.stat(`${root}/svc/ro`)).mtime!.getTime(), mtime.getTime());
    await Deno.chmod(`${root}/svc/ro`, 0o755); // let the cleanup remove it
  });
});

Deno.test("restore() validates its options", async () => {
  await withRoot(async (root) => {
    await craftArchive(`${root}/a.tar.zst`, [FILE("x")]);
    await assert.rejects(
      restore({ archive: `${root}/a.tar.zst`, dest: `${root}/nope/svc` }),
      (error: unknown) =>
        error instanceof Deno.errors.NotFound &&
        error.message ===
          `Cannot restore into "${root}/nope/svc": the parent directory "${root}/nope" does not exist; create it first`,
    );
    await assert.rejects(
      restore({ archive: `${root}/missing.tar.zst`, dest: `${root}/svc` }),
      (error: unknown) =>
        error instanceof Deno.errors.NotFound &&
        error.message ===
          `Cannot restore "${root}/missing.tar.zst" into "${root}/svc": the archive file does not exist`,
    );
    await Deno.writeTextFile(`${root}/file`, "");
    await assert.rejects(
      restore({ archive: `${root}/a.tar.zst`, dest: `${root}/file` }),
      (error: unknown) =>
        error instanceof Deno.errors.NotADirectory &&
        error.message ===
          `Cannot restore into "${root}/file": it exists and is not a directory; remove it or choose another destination`,
    );
    assert.deepEqual(await namesIn(root), ["a.tar.zst", "file"]);
  });
});
