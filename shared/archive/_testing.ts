/**
 * Test helpers: GNU tar and zstd subprocesses, directory trees described as
 * plain objects, and hand-made (hostile) archives.
 *
 * @module
 */

import { createWriteStream } from "node:fs";
import { pipeline } from "node:stream/promises";
import { createZstdCompress } from "node:zlib";
import { type Header, pack as tarPack } from "tar-stream";

/** Output of a finished subprocess. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, without a shell. */
export async function run(cmd: string, args: string[], cwd?: string): Promise<RunResult> {
  const { code, stdout, stderr } = await new Deno.Command(cmd, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code, stdout: dec.decode(stdout), stderr: dec.decode(stderr) };
}

/** Runs a command and throws with its stderr if it fails. */
export async function runOk(cmd: string, args: string[], cwd?: string): Promise<string> {
  const result = await run(cmd, args, cwd);
  if (result.code !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} exited ${result.code}: ${result.stderr}`);
  }
  return result.stdout;
}

/** Entry names listed by GNU `tar --zstd -tf`, sorted. */
export async function gnuList(archive: string): Promise<string[]> {
  const out = await runOk("tar", ["--zstd", "-tf", archive]);
  return out.split("\n").filter((line) => line !== "").sort();
}

/** One node of a tree description. */
export type Node =
  | { type: "file"; mode: number; text: string; mtime: number }
  | { type: "dir"; mode: number }
  | { type: "symlink"; target: string };

/**
 * Describes the tree under `root` (excluding `root` itself) as path → node,
 * with file contents as text and mtimes in whole seconds: what a restore
 * must reproduce.
 */
export async function describeTree(root: string): Promise<Record<string, Node>> {
  const out: Record<string, Node> = {};
  async function walk(rel: string): Promise<void> {
    const names: string[] = [];
    for await (const e of Deno.readDir(rel === "" ? root : `${root}/${rel}`)) names.push(e.name);
    for (const name of names.sort()) {
      const path = rel === "" ? name : `${rel}/${name}`;
      const full = `${root}/${path}`;
      const info = await Deno.lstat(full);
      if (info.isSymlink) {
        out[path] = { type: "symlink", target: await Deno.readLink(full) };
      } else if (info.isDirectory) {
        out[path] = { type: "dir", mode: info.mode! & 0o7777 };
        await walk(path);
      } else {
        out[path] = {
          type: "file",
          mode: info.mode! & 0o7777,
          text: await Deno.readTextFile(full),
          mtime: Math.floor(info.mtime!.getTime() / 1000),
        };
      }
    }
  }
  await walk("");
  return out;
}

/** Names directly inside `dir`, sorted. */
export async function namesIn(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

/** Whether anything (even a dangling symlink) exists at `path`. */
export async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return false;
    throw error;
  }
}

/** An entry of a hand-made archive: a tar-stream header and an optional body. */
export interface CraftedEntry {
  header: Partial<Header> & { name: string };
  body?: string;
}

/** Writes a `.tar.zst` holding exactly `entries`, headers as given (no checks). */
export async function craftArchive(path: string, entries: CraftedEntry[]): Promise<void> {
  const tar = tarPack();
  const done = pipeline(tar, createZstdCompress(), createWriteStream(path));
  for (const { header, body } of entries) {
    await new Promise<void>((resolve, reject) => {
      const callback = (error?: Error | null) => (error ? reject(error) : resolve());
      if (body === undefined) tar.entry(header, callback).end(null);
      else tar.entry(header, body, callback);
    });
  }
  tar.finalize();
  await done;
}
