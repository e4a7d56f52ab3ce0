/**
 * Restoring a `.tar.zst` snapshot into a service data directory.
 *
 * @module
 */

import { createReadStream } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { createZstdDecompress } from "node:zlib";
import { extract as tarExtract, type Header } from "tar-stream";
import { ArchiveError } from "./archive_error.ts";
import type { ArchiveProgress } from "./snapshot.ts";
import { splitEntryName, symlinkProblem } from "./_paths.ts";

/** Options for {@linkcode restore}. */
export interface RestoreOptions {
  /**
   * The archive: a `.tar.zst` file path, or its bytes as a stream (e.g. a
   * transfer body). A stream is always consumed or cancelled, even when the
   * restore is refused before reading it.
   */
  archive: string | ReadableStream<Uint8Array>;
  /** The directory to restore into, e.g. `/srv/mcns`. Its parent must exist. */
  dest: string;
  /**
   * Replace `dest` when it exists and is not empty. The whole directory is
   * replaced, its `backups/` included.
   * @default {false}
   */
  overwrite?: boolean;
  /** Called after each entry is extracted. */
  onProgress?: (progress: ArchiveProgress) => void;
}

/** What {@linkcode restore} extracted. */
export interface RestoreResult {
  /** The restored directory. */
  path: string;
  /** Entries extracted (files, directories, links). */
  entries: number;
  /** File content bytes written. */
  bytes: number;
}

type Kind = "file" | "directory" | "symlink";

type DestinationState = "missing" | "empty" | "full";

/** One entry of tar-stream's extractor: its header and a stream of its body. */
type TarEntry = AsyncIterable<unknown> & { header: Header };

/**
 * Extracts a `.tar.zst` archive (from {@linkcode snapshot} or GNU
 * `tar --zstd -c`) into `dest`, all or nothing.
 *
 * Everything is extracted into a new directory beside `dest`
 * (`.<name>.restore-<random>`, same file system) which is renamed into
 * place only when the whole archive has been read and checked; on any
 * failure it is removed and `dest` is left untouched. A non-empty `dest` is
 * refused unless `overwrite` is set, in which case the old directory is
 * renamed aside, replaced and then deleted.
 *
 * Entries are checked before anything is written, and the archive is
 * refused with an {@linkcode ArchiveError} naming the entry when one:
 * - has an absolute path or a `..` component (they are not stripped);
 * - is a symlink whose target is absolute or resolves outside `dest`,
 *   following the archive's other symlinks as the kernel would;
 * - is a hard link to anything but a regular file earlier in the archive;
 * - lies beneath a symlink or a file of the archive, or repeats an earlier
 *   entry (only directories may repeat);
 * - is a device, FIFO or other type than file, directory, symlink, hard link.
 * Files are created with `O_EXCL`, so nothing is ever written through a
 * link. Permission bits are restored without setuid, setgid and sticky
 * bits; mtimes are restored for files and directories; ownership is not
 * (the files belong to the restoring user). Long names (GNU and PAX) and
 * files of any size are supported; contents are streamed.
 *
 * Needs read access to the archive and write access to the parent of
 * `dest` (for the temporary directory beside it).
 *
 * @param options The archive, the destination and whether to replace it.
 * @returns The restored path and counts.
 * @throws {TypeError} If an option has the wrong type.
 * @throws {Deno.errors.NotFound} If the archive file or the parent of `dest` is missing.
 * @throws {Deno.errors.AlreadyExists} If `dest` is not empty and `overwrite` is not set.
 * @throws {Deno.errors.NotADirectory} If `dest` exists and is not a directory.
 * @throws {ArchiveError} If the archive is unreadable or holds an unsafe entry.
 *
 * @example Snapshot, then restore elsewhere
 * ```ts
 * import { restore, snapshot } from "@mc/mcdsl/archive";
 * import { openDatabase } from "@mc/mcdsl/db";
 * import assert from "node:assert/strict";
 *
 * const root = await Deno.makeTempDir();
 * await Deno.mkdir(`${root}/src`);
 * const db = openDatabase(`${root}/src/demo.db`);
 * db.exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (7)");
 * const { path } = await snapshot({ dataDir: `${root}/src`, service: "demo", database: db });
 * db.close();
 *
 * await restore({ archive: path, dest: `${root}/copy` });
 * const copy = openDatabase(`${root}/copy/demo.db`);
 * assert.deepEqual({ ...copy.prepare("SELECT x FROM t").get() }, { x: 7 });
 * copy.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function restore(options: RestoreOptions): Promise<RestoreResult> {
  const { archive, overwrite = false, onProgress } = options ?? {};
  if (typeof options?.dest !== "string" || options.dest === "") {
    throw new TypeError(`Cannot restore: dest must be a non-empty path, got ${options?.dest}`);
  }
  if (typeof archive !== "string" && !(archive instanceof ReadableStream)) {
    throw new TypeError(
      `Cannot restore into "${options.dest}": archive must be a file path or a ReadableStream, got ${typeof archive}`,
    );
  }
  if (archive === "") {
    throw new TypeError(`Cannot restore into "${options.dest}": archive must be a non-empty path`);
  }
  const dest = resolve(options.dest);
  const label = typeof archive === "string" ? `"${archive}"` : "the archive stream";
  let state: DestinationState;
  try {
    await requireParent(dest, dirname(dest));
    state = await destinationState(dest);
    if (state === "full" && !overwrite) {
      throw new Deno.errors.AlreadyExists(
        `Cannot restore into "${dest}": the directory is not empty; restore into a new directory, or pass overwrite: true to replace it`,
      );
    }
    if (typeof archive === "string") await requireArchive(archive, dest);
  } catch (error) {
    // A stream handed to us is ours to finish: release what it holds (a file, a socket).
    if (archive instanceof ReadableStream) await archive.cancel(error).catch(() => {});
    throw error;
  }

  const tag = crypto.randomUUID().slice(0, 8);
  const staging = join(dirname(dest), `.${basename(dest)}.restore-${tag}`);
  const source = typeof archive === "string"
    ? createReadStream(archive)
    : Readable.fromWeb(archive as Parameters<typeof Readable.fromWeb>[0]);
  let created = false;
  try {
    await Deno.mkdir(staging, { mode: 0o700 });
    created = true;
    const extractor = new Extractor(staging, dest, onProgress);
    await extractor.run(source, label);
    await moveIntoPlace(staging, dest, state, tag);
    return { path: dest, entries: extractor.entries, bytes: extractor.bytes };
  } catch (error) {
    source.destroy();
    if (created) await Deno.remove(staging, { recursive: true }).catch(() => {});
    throw error;
  }
}

/** Extracts entries into the staging directory, checking each. */
class Extractor {
  entries = 0;
  bytes = 0;
  #root: string;
  #dest: string;
  #onProgress?: (progress: ArchiveProgress) => void;
  #kinds = new Map<string, Kind>([["", "directory"]]);
  #links = new Map<string, string>();
  #dirMeta = new Map<string, { mode: number; mtime: Date }>();

  constructor(root: string, dest: string, onProgress?: (progress: ArchiveProgress) => void) {
    this.#root = root;
    this.#dest = dest;
    this.#onProgress = onProgress;
  }

  async run(source: Readable, label: string): Promise<void> {
    const tar = tarExtract();
    // Deno's zstd decoder ends quietly on a truncated frame, and tar-stream
    // does not require the end-of-archive marker: count the tar bytes so a
    // cut-off transfer is caught below instead of restoring a prefix.
    let tarBytes = 0;
    const counter = new Transform({
      transform(chunk: Uint8Array, _encoding, callback) {
        tarBytes += chunk.byteLength;
        callback(null, chunk);
      },
    });
    const feeding = pipeline(source, createZstdDecompress(), counter, tar);
    feeding.catch(() => {});
    const unreadable = (error: unknown) =>
      new ArchiveError(
        `Cannot restore ${label} into "${this.#dest}": the archive is unreadable (${
          messageOf(error)
        }); check that it is a .tar.zst file and was transferred whole`,
        { cause: error },
      );
    const entries = tar[Symbol.asyncIterator]();
    let dataEnd = 0;
    try {
      while (true) {
        let next: IteratorResult<TarEntry>;
        try {
          next = await entries.next();
        } catch (error) {
          throw unreadable(error);
        }
        if (next.done) break;
        const { byteOffset, size, type } = next.value.header as Header & { byteOffset: number };
        // tar-stream reads no body for directories; all else is padded to 512.
        dataEnd = byteOffset + (type === "directory" ? 0 : Math.ceil(size / 512) * 512);
        try {
          await this.#extract(next.value);
        } catch (error) {
          throw error instanceof BodyError ? unreadable(error.cause) : error;
        }
      }
      try {
        await feeding;
      } catch (error) {
        throw unreadable(error);
      }
      // Blocks after the last entry were all zero (tar-stream parses any
      // other block as a header); a whole archive has at least two.
      if (tarBytes < dataEnd + 1024) {
        throw unreadable(
          new Error(`it ends without the end-of-archive marker, after ${tarBytes} bytes of tar`),
        );
      }
      this.#checkAllLinks();
      await this.#applyDirectoryMeta();
    } catch (error) {
      tar.destroy();
      await feeding.catch(() => {});
      throw error;
    }
  }

  async #extract(entry: TarEntry): Promise<void> {
    const header = entry.header;
    const name = header.name;
    const split = splitEntryName(name);
    if ("problem" in split) throw this.#refuse(name, split.problem);
    const rel = split.parts.join("/");
    const path = join(this.#root, rel);
    try {
      switch (header.type) {
        case "directory":
          await this.#directory(name, rel, path, header);
          break;
        case "file":
        case "contiguous-file":
          await this.#file(name, rel, path, header, entry);
          break;
        case "symlink":
          await this.#symlink(name, rel, path, header.linkname ?? "");
          break;
        case "link":
          await this.#hardLink(name, rel, path, header.linkname ?? "");
          break;
        default:
          throw this.#refuse(name, `has unsupported type "${header.type ?? "unknown"}"`);
      }
      // Bodies of non-file entries are empty in a sane archive; drain any.
      for await (const _ of readBody(entry)) { /* discard */ }
    } catch (error) {
      if (error instanceof ArchiveError || error instanceof BodyError) throw error;
      throw new Error(
        `Cannot restore entry "${name}" into "${this.#dest}": ${messageOf(error)}`,
        { cause: error },
      );
    }
    this.entries++;
    this.#onProgress?.({ entries: this.entries, bytes: this.bytes, path: rel });
  }

  async #directory(name: string, rel: string, path: string, header: Header): Promise<void> {
    const meta = { mode: header.mode & 0o777, mtime: header.mtime };
    if (rel !== "") {
      await this.#parents(name, rel);
      const kind = this.#kinds.get(rel);
      if (kind === undefined) {
        await Deno.mkdir(path, { mode: 0o700 });
        this.#kinds.set(rel, "directory");
      } else if (kind !== "directory") {
        throw this.#refuse(name, `repeats an earlier ${kind} entry as a directory`);
      }
    }
    this.#dirMeta.set(rel, meta);
  }

  async #file(
    name: string,
    rel: string,
    path: string,
    header: Header,
    body: AsyncIterable<unknown>,
  ): Promise<void> {
    await this.#fresh(name, rel);
    const file = await Deno.open(path, { write: true, createNew: true, mode: 0o600 });
    this.#kinds.set(rel, "file");
    try {
      for await (const chunk of readBody(body)) {
        await writeAll(file, chunk);
        this.bytes += chunk.byteLength;
      }
    } finally {
      file.close();
    }
    await Deno.chmod(path, header.mode & 0o777);
    await Deno.utime(path, header.mtime, header.mtime);
  }

  async #symlink(name: string, rel: string, path: string, target: string): Promise<void> {
    await this.#fresh(name, rel);
    this.#links.set(rel, target);
    const problem = symlinkProblem(rel, target, this.#links);
    if (problem !== undefined) {
      throw this.#refuse(name, `is a symlink to "${target}", which ${problem}`);
    }
    await Deno.symlink(target, path);
    this.#kinds.set(rel, "symlink");
  }

  async #hardLink(name: string, rel: string, path: string, target: string): Promise<void> {
    const split = splitEntryName(target);
    if ("problem" in split) {
      throw this.#refuse(name, `is a hard link to "${target}", which ${split.problem}`);
    }
    const targetRel = split.parts.join("/");
    if (this.#kinds.get(targetRel) !== "file") {
      throw this.#refuse(
        name,
        `is a hard link to "${target}", which is not a regular file earlier in the archive`,
      );
    }
    await this.#fresh(name, rel);
    await Deno.link(join(this.#root, targetRel), path);
    this.#kinds.set(rel, "file");
  }

  /** Checks that `rel` is new and its parents are real directories, creating missing ones. */
  async #fresh(name: string, rel: string): Promise<void> {
    if (rel === "") throw this.#refuse(name, "is not a directory but names the archive root");
    await this.#parents(name, rel);
    const kind = this.#kinds.get(rel);
    if (kind !== undefined) throw this.#refuse(name, `repeats an earlier ${kind} entry`);
  }

  async #parents(name: string, rel: string): Promise<void> {
    const parts = rel.split("/");
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join("/");
      const kind = this.#kinds.get(prefix);
      if (kind === "directory") continue;
      if (kind === "symlink") throw this.#refuse(name, `lies beneath symlink "${prefix}"`);
      if (kind === "file") throw this.#refuse(name, `lies beneath file "${prefix}"`);
      await Deno.mkdir(join(this.#root, prefix), { mode: 0o700 });
      this.#kinds.set(prefix, "directory");
    }
  }

  /** A later symlink can redirect an earlier one: check them all again. */
  #checkAllLinks(): void {
    for (const [rel, target] of this.#links) {
      const problem = symlinkProblem(rel, target, this.#links);
      if (problem !== undefined) {
        throw this.#refuse(rel, `is a symlink to "${target}", which ${problem}`);
      }
    }
  }

  /** Directory modes and mtimes last, deepest first: writing inside would change them. */
  async #applyDirectoryMeta(): Promise<void> {
    const dirs = [...this.#dirMeta].sort(([a], [b]) => depth(b) - depth(a));
    for (const [rel, { mode, mtime }] of dirs) {
      const path = join(this.#root, rel);
      // The root stays usable by its owner whatever the archive says: the
      // service must be able to write its own data directory.
      await Deno.chmod(path, rel === "" ? mode | 0o700 : mode);
      await Deno.utime(path, mtime, mtime);
    }
  }

  #refuse(name: string, problem: string): ArchiveError {
    return new ArchiveError(
      `Refusing to restore into "${this.#dest}": entry "${name}" ${problem}`,
      { entry: name },
    );
  }
}

/** A failure reading the archive stream inside an entry body, as opposed to writing files. */
class BodyError extends Error {}

/** An entry's body, with stream failures marked as {@linkcode BodyError}. */
async function* readBody(body: AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
  const chunks = body[Symbol.asyncIterator]();
  while (true) {
    let next: IteratorResult<unknown>;
    try {
      next = await chunks.next();
    } catch (error) {
      throw new BodyError("archive stream failed", { cause: error });
    }
    if (next.done) return;
    yield next.value as Uint8Array;
  }
}

function depth(rel: string): number {
  return rel === "" ? 0 : rel.split("/").length;
}

async function writeAll(file: Deno.FsFile, chunk: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < chunk.byteLength) offset += await file.write(chunk.subarray(offset));
}

async function moveIntoPlace(
  staging: string,
  dest: string,
  state: DestinationState,
  tag: string,
): Promise<void> {
  if (state === "missing") {
    await Deno.rename(staging, dest);
    return;
  }
  if (state === "empty") {
    await Deno.remove(dest);
    await Deno.rename(staging, dest);
    return;
  }
  const old = join(dirname(dest), `.${basename(dest)}.old-${tag}`);
  await Deno.rename(dest, old);
  try {
    await Deno.rename(staging, dest);
  } catch (error) {
    await Deno.rename(old, dest);
    throw error;
  }
  await Deno.remove(old, { recursive: true }).catch(() => {});
}

async function destinationState(dest: string): Promise<DestinationState> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(dest);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return "missing";
    throw error;
  }
  if (!info.isDirectory) {
    throw new Deno.errors.NotADirectory(
      `Cannot restore into "${dest}": it exists and is not a directory; remove it or choose another destination`,
    );
  }
  for await (const _ of Deno.readDir(dest)) return "full";
  return "empty";
}

async function requireParent(dest: string, parent: string): Promise<void> {
  try {
    const info = await Deno.stat(parent);
    if (info.isDirectory) return;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot restore into "${dest}": the parent directory "${parent}" does not exist; create it first`,
        { cause: error },
      );
    }
    throw error;
  }
  throw new Deno.errors.NotADirectory(
    `Cannot restore into "${dest}": the parent "${parent}" is not a directory`,
  );
}

async function requireArchive(archive: string, dest: string): Promise<void> {
  try {
    const info = await Deno.stat(archive);
    if (info.isFile) return;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(
        `Cannot restore "${archive}" into "${dest}": the archive file does not exist`,
        { cause: error },
      );
    }
    throw error;
  }
  throw new TypeError(`Cannot restore "${archive}" into "${dest}": the archive is not a file`);
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
