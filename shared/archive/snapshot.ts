/**
 * Snapshots of a service data directory as `.tar.zst`.
 *
 * @module
 */

import { createWriteStream } from "node:fs";
import { once } from "node:events";
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import type { DatabaseSync } from "node:sqlite";
import { pipeline } from "node:stream/promises";
import { constants as zlibConstants, createZstdCompress } from "node:zlib";
import { type Header, type Pack, pack as tarPack } from "tar-stream";
import { backupDatabase } from "../db/backup_database.ts";
import { ArchiveError } from "./archive_error.ts";
import { symlinkProblem } from "./_paths.ts";

/** A tar-stream header as passed to `pack.entry()`: name required, the rest defaulted. */
type EntryHeader = Partial<Header> & { name: string };

/** Progress of a snapshot or restore, reported after each entry. */
export interface ArchiveProgress {
  /** Entries (files, directories, links) done so far. */
  entries: number;
  /** File content bytes done so far. */
  bytes: number;
  /** The entry just done, relative to the data directory. */
  path: string;
}

/** Something in the data directory that was deliberately left out of the archive. */
export interface SkippedEntry {
  /** Path relative to the data directory. */
  path: string;
  /** Why: `"live database file"`, `"backups directory"`, `"socket"`, `"fifo"`, `"device"`. */
  reason: string;
}

/** Options for {@linkcode snapshot}. */
export interface SnapshotOptions {
  /** The service data directory, e.g. `/srv/mcns`. */
  dataDir: string;
  /**
   * The service name. The database copy is stored under the live database's
   * path relative to `dataDir` (e.g. `store.sqlite`), or as `<service>.db`
   * when that path is unknown or outside `dataDir`.
   */
  service: string;
  /** The live database: an open connection (preferred: no second connection) or its path. */
  database: DatabaseSync | string;
  /**
   * Where to write the archive; it must not exist, its directory must.
   * @default {"<dataDir>/backups/<service>-<YYYYMMDDTHHMMSSZ>.tar.zst"}
   */
  output?: string;
  /**
   * Directory for the temporary database copy; it must be writable and is
   * cleaned up. Keep it inside the granted paths of a sandboxed service
   * (`Deno.makeTempDir()` would use /tmp).
   * @default {dataDir}
   */
  tempDir?: string;
  /**
   * zstd compression level, 1 (fast) to 19 (small).
   * @default {3}
   */
  compressionLevel?: number;
  /** Called after each entry is written. */
  onProgress?: (progress: ArchiveProgress) => void;
  /**
   * Clock for the default output file name.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/** What {@linkcode snapshot} wrote. */
export interface SnapshotResult {
  /** The archive path. */
  path: string;
  /** Entries in the archive, the database copy included. */
  entries: number;
  /** File content bytes in the archive (before compression). */
  bytes: number;
  /** What was left out and why, in walk order. */
  skipped: SkippedEntry[];
}

const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;
const LIVE_DATABASE = /\.(db|sqlite|sqlite3)(-wal|-shm|-journal)?$/;
const CHUNK_BYTES = 256 * 1024;

/**
 * Writes a `.tar.zst` snapshot of a service data directory that extracts
 * straight into a working service directory (see {@linkcode restore}).
 *
 * The archive holds everything under `dataDir` except live SQLite files
 * (`database` itself whatever its name, and `*.db`, `*.sqlite`, `*.sqlite3`
 * with their `-wal`, `-shm`, `-journal`, at any depth: copied mid-write
 * they would be torn) and the top-level `backups/` directory. In their
 * place it holds a consistent copy of `database`, made with
 * {@linkcode backupDatabase} while the service keeps running, under the
 * database's own path relative to `dataDir` (`<service>.db` when that path
 * is unknown or outside `dataDir`).
 * Other databases in the directory are therefore NOT archived; they are
 * listed in `skipped`.
 *
 * Entries are stored with paths relative to `dataDir` (no leading `./`),
 * directories before their contents in name order, with mode bits, mtime
 * and numeric owner; file contents are streamed in 256 KiB chunks, so any
 * file size works in constant memory. Only these kinds are archived:
 * - regular files (a hard-linked file is stored once per name);
 * - directories;
 * - symlinks whose target is relative and resolves inside `dataDir`. Any
 *   other symlink makes the snapshot fail with an {@linkcode ArchiveError}
 *   naming it: skipping it would make a migrated service silently
 *   incomplete, and storing it would make {@linkcode restore} refuse the
 *   archive later.
 * Sockets, FIFOs and devices are skipped (listed in `skipped`).
 *
 * A file that shrinks while being read fails the snapshot; one that grows
 * is archived up to its size when first seen. The archive is written under
 * a temporary name (mode 0600) beside `output`, flushed to disk and renamed
 * into place, so a file at `output` is always complete.
 *
 * Needs read access to `dataDir` and write access to `tempDir` and to the
 * output directory; nothing else (no env, no /tmp).
 *
 * @param options What to archive and where to write it.
 * @returns The archive path, counts and skipped entries.
 * @throws {TypeError} If an option has the wrong type.
 * @throws {RangeError} If `service` is not a plain name or `compressionLevel` is out of range.
 * @throws {Deno.errors.NotFound} If `dataDir`, `tempDir` or the output directory is missing.
 * @throws {Deno.errors.AlreadyExists} If `output` exists.
 * @throws {ArchiveError} If a symlink points outside `dataDir` or a file shrinks while read.
 *
 * @example Snapshot a data directory
 * ```ts
 * import { snapshot } from "@mc/mcdsl/archive";
 * import { openDatabase } from "@mc/mcdsl/db";
 * import assert from "node:assert/strict";
 *
 * const dataDir = await Deno.makeTempDir();
 * const db = openDatabase(`${dataDir}/demo.db`);
 * db.exec("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1)");
 * await Deno.writeTextFile(`${dataDir}/demo.toml`, "[server]\n");
 * const result = await snapshot({ dataDir, service: "demo", database: db });
 * assert.match(result.path, /\/backups\/demo-\d{8}T\d{6}Z\.tar\.zst$/);
 * assert.equal(result.entries, 2); // demo.db (the copy) and demo.toml
 * db.close();
 * await Deno.remove(dataDir, { recursive: true });
 * ```
 */
export async function snapshot(options: SnapshotOptions): Promise<SnapshotResult> {
  const {
    service,
    database,
    compressionLevel = 3,
    onProgress,
    now = () => new Date(),
  } = options ?? {};
  if (typeof options?.dataDir !== "string" || options.dataDir === "") {
    throw new TypeError(
      `Cannot snapshot: dataDir must be a non-empty path, got ${options?.dataDir}`,
    );
  }
  if (typeof service !== "string" || !SERVICE_NAME.test(service)) {
    throw new RangeError(
      `Cannot snapshot "${options.dataDir}": service must be a plain name of letters, digits, ".", "_" or "-", got ${
        JSON.stringify(service)
      }`,
    );
  }
  if (typeof database !== "string" && (typeof database !== "object" || database === null)) {
    throw new TypeError(
      `Cannot snapshot "${options.dataDir}": database must be an open DatabaseSync or a path, got ${typeof database}`,
    );
  }
  if (
    !Number.isInteger(compressionLevel) || compressionLevel < 1 || compressionLevel > 19
  ) {
    throw new RangeError(
      `Cannot snapshot "${options.dataDir}": compressionLevel must be an integer from 1 to 19, got ${compressionLevel}`,
    );
  }

  const dataDir = resolve(options.dataDir);
  await requireDirectory(dataDir, "data directory");
  const tempDir = options.tempDir === undefined ? dataDir : resolve(options.tempDir);
  await requireDirectory(tempDir, "tempDir");
  let output: string;
  if (options.output === undefined) {
    output = join(dataDir, "backups", `${service}-${stamp(now())}.tar.zst`);
    await Deno.mkdir(dirname(output), { recursive: true, mode: 0o700 });
  } else {
    output = resolve(options.output);
    await requireDirectory(dirname(output), "output directory");
  }
  if (await exists(output)) {
    throw new Deno.errors.AlreadyExists(
      `Cannot snapshot "${dataDir}" to "${output}": the file already exists; remove it or choose another output`,
    );
  }

  const tag = crypto.randomUUID().slice(0, 8);
  const dbCopy = join(tempDir, `.${service}.snapshot-${tag}.db`);
  const partial = join(dirname(output), `.${basename(output)}.partial-${tag}`);
  // The copy goes where the live file is, so a restored service opens it
  // under its configured `[database] path`; the live file and its journals
  // are never archived, whatever their names.
  const livePath = databasePath(database);
  const rel = livePath === undefined ? undefined : relative(dataDir, livePath);
  const entryName = rel === undefined || rel === "" || rel.startsWith("..") || isAbsolute(rel)
    ? `${service}.db`
    : rel.split(sep).join("/");
  const live = livePath === undefined
    ? new Set<string>()
    : new Set(["", "-wal", "-shm", "-journal"].map((suffix) => livePath + suffix));
  try {
    await backupDatabase(database, dbCopy);
    const writer = new ArchiveWriter(partial, compressionLevel, onProgress);
    try {
      const copy = { name: entryName, path: dbCopy, info: await Deno.stat(dbCopy) };
      const walker = new Walker(dataDir, writer, new Set([output, partial, dbCopy]), live, copy);
      // At the top level it comes first, as it always has; deeper, the
      // walker adds it after its directory.
      if (!entryName.includes("/")) await writer.addFile(entryName, dbCopy, copy.info, 0o600);
      await walker.walk("");
      walker.checkLinks();
      await writer.finish();
      await Deno.rename(partial, output);
      return {
        path: output,
        entries: writer.entries,
        bytes: writer.bytes,
        skipped: walker.skipped,
      };
    } catch (error) {
      await writer.abort(error);
      await removeQuietly(partial);
      throw error;
    }
  } finally {
    await removeQuietly(dbCopy);
  }
}

/** The live database file's absolute path, when it can be known. */
function databasePath(database: DatabaseSync | string): string | undefined {
  if (typeof database === "string") return resolve(database);
  // node:sqlite's location() names the main database file; null in memory.
  const location = (database as { location?: () => string | null }).location?.();
  return typeof location === "string" && location !== "" ? resolve(location) : undefined;
}

/** Streams tar entries through zstd into a file. */
class ArchiveWriter {
  entries = 0;
  bytes = 0;
  #path: string;
  #tar: Pack;
  #done: Promise<void>;
  #failed: Promise<never>;
  #onProgress?: (progress: ArchiveProgress) => void;

  constructor(path: string, level: number, onProgress?: (progress: ArchiveProgress) => void) {
    this.#path = path;
    this.#onProgress = onProgress;
    this.#tar = tarPack();
    const zstd = createZstdCompress({
      params: {
        [zlibConstants.ZSTD_c_compressionLevel]: level,
        // A content checksum, as the zstd CLI writes by default, so
        // `zstd -t` and GNU tar detect corruption in transit.
        [zlibConstants.ZSTD_c_checksumFlag]: 1,
      },
    });
    const file = createWriteStream(path, { flags: "wx", mode: 0o600 });
    this.#done = pipeline(this.#tar, zstd, file).catch((error) => {
      throw new Error(`Cannot write archive "${path}": ${messageOf(error)}`, { cause: error });
    });
    // Rejects as soon as the output side fails, so a producer waiting for
    // room in the tar stream does not wait forever.
    this.#failed = this.#done.then(() => {
      throw new Error(`Cannot write archive "${path}": the stream ended early`);
    });
    this.#done.catch(() => {});
    this.#failed.catch(() => {});
  }

  async addDirectory(name: string, info: Deno.FileInfo): Promise<void> {
    await this.#entry({ ...meta(name.endsWith("/") ? name : `${name}/`, info), type: "directory" });
    this.#progress(name);
  }

  async addSymlink(name: string, target: string, info: Deno.FileInfo): Promise<void> {
    await this.#entry({ ...meta(name, info), type: "symlink", linkname: target, mode: 0o777 });
    this.#progress(name);
  }

  async addFile(name: string, path: string, info: Deno.FileInfo, mode?: number): Promise<void> {
    const size = info.size;
    const header: EntryHeader = { ...meta(name, info), type: "file", size };
    if (mode !== undefined) header.mode = mode;
    const file = await Deno.open(path, { read: true });
    try {
      await this.#entry(header, async (write) => {
        let remaining = size;
        while (remaining > 0) {
          const buffer = new Uint8Array(Math.min(CHUNK_BYTES, remaining));
          const n = await file.read(buffer);
          if (n === null) {
            throw new ArchiveError(
              `Cannot snapshot "${name}": the file shrank while being archived (${size} bytes when listed, ${
                size - remaining
              } read); retry the snapshot`,
              { entry: name },
            );
          }
          await write(buffer.subarray(0, n));
          remaining -= n;
          this.bytes += n;
        }
      });
    } finally {
      file.close();
    }
    this.#progress(name);
  }

  async finish(): Promise<void> {
    this.#tar.finalize();
    await this.#done;
    // The rename that follows must not publish an archive still in the page
    // cache only: a crash would leave a truncated "complete" snapshot.
    const file = await Deno.open(this.#path, { read: true });
    try {
      await file.sync();
    } finally {
      file.close();
    }
  }

  async abort(reason: unknown): Promise<void> {
    this.#tar.destroy(reason instanceof Error ? reason : new Error(String(reason)));
    await this.#done.catch(() => {});
  }

  #progress(path: string): void {
    this.entries++;
    this.#onProgress?.({ entries: this.entries, bytes: this.bytes, path });
  }

  async #entry(
    header: EntryHeader,
    fill?: (write: (chunk: Uint8Array) => Promise<void>) => Promise<void>,
  ): Promise<void> {
    const { promise: written, resolve, reject } = Promise.withResolvers<void>();
    const sink = this.#tar.entry(header, (error) => (error ? reject(error) : resolve()));
    written.catch(() => {});
    if (fill !== undefined) {
      try {
        await fill(async (chunk) => {
          if (!sink.write(chunk)) await Promise.race([once(sink, "drain"), this.#failed]);
        });
        sink.end(null);
      } catch (error) {
        sink.destroy(error instanceof Error ? error : new Error(String(error)));
        throw error;
      }
    }
    await Promise.race([written, this.#failed]);
  }
}

/** Walks the data directory, feeding the writer. */
class Walker {
  readonly skipped: SkippedEntry[] = [];
  #root: string;
  #writer: ArchiveWriter;
  #exclude: Set<string>;
  #links = new Map<string, string>();

  #live: Set<string>;
  #copy: { name: string; path: string; info: Deno.FileInfo };
  #copyAdded: boolean;

  constructor(
    root: string,
    writer: ArchiveWriter,
    exclude: Set<string>,
    live: Set<string>,
    copy: { name: string; path: string; info: Deno.FileInfo },
  ) {
    this.#root = root;
    this.#writer = writer;
    this.#exclude = exclude;
    this.#live = live;
    this.#copy = copy;
    this.#copyAdded = !copy.name.includes("/");
  }

  async walk(dir: string): Promise<void> {
    const names: string[] = [];
    for await (const entry of Deno.readDir(join(this.#root, dir))) names.push(entry.name);
    names.sort();
    for (const name of names) {
      const rel = dir === "" ? name : `${dir}/${name}`;
      const path = join(this.#root, rel);
      if (this.#exclude.has(path)) continue;
      const info = await Deno.lstat(path);
      if (info.isDirectory) {
        if (rel === "backups") {
          this.skipped.push({ path: rel, reason: "backups directory" });
          continue;
        }
        await this.#writer.addDirectory(rel, info);
        await this.walk(rel);
      } else if (info.isSymlink) {
        const target = await Deno.readLink(path);
        this.#links.set(rel, target);
        this.#check(rel, target);
        await this.#writer.addSymlink(rel, target, info);
      } else if (info.isFile) {
        if (rel === this.#copy.name && !this.#copyAdded) {
          this.#copyAdded = true;
          await this.#writer.addFile(rel, this.#copy.path, this.#copy.info, 0o600);
          continue;
        }
        if (this.#live.has(path) || LIVE_DATABASE.test(name)) {
          this.skipped.push({ path: rel, reason: "live database file" });
          continue;
        }
        await this.#writer.addFile(rel, path, info);
      } else {
        this.skipped.push({ path: rel, reason: specialKind(info) });
      }
    }
  }

  /** Checks every symlink again now that all are known: one can redirect another. */
  checkLinks(): void {
    for (const [rel, target] of this.#links) this.#check(rel, target);
  }

  #check(rel: string, target: string): void {
    const problem = symlinkProblem(rel, target, this.#links);
    if (problem === undefined) return;
    throw new ArchiveError(
      `Cannot snapshot "${this.#root}": symlink "${rel}" -> "${target}" ${problem}; only relative links that stay inside the data directory are archived: make it one or remove it`,
      { entry: rel },
    );
  }
}

function meta(name: string, info: Deno.FileInfo): EntryHeader {
  return {
    name,
    mode: (info.mode ?? 0o644) & 0o7777,
    mtime: info.mtime ?? new Date(),
    uid: info.uid ?? 0,
    gid: info.gid ?? 0,
  };
}

function specialKind(info: Deno.FileInfo): string {
  if (info.isSocket) return "socket";
  if (info.isFifo) return "fifo";
  return "device";
}

/** `20250102T030405Z`: sortable, and without the colons GNU tar reads as a remote host. */
function stamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z").replace(/[-:]/g, "");
}

async function requireDirectory(path: string, what: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`Cannot snapshot: ${what} "${path}" does not exist`, {
        cause: error,
      });
    }
    throw error;
  }
  if (!info.isDirectory) {
    throw new Deno.errors.NotADirectory(`Cannot snapshot: ${what} "${path}" is not a directory`);
  }
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

async function removeQuietly(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch {
    // Best effort: it may never have been created.
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
