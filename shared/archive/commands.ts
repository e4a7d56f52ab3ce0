/**
 * The `snapshot` and `restore` subcommands every service's CLI has, built
 * once: knowing one service's CLI means knowing all.
 *
 * @module
 */

import { dirname } from "node:path";
import type { CommandSpec } from "../cli/mod.ts";
import { restore } from "./restore.ts";
import { type ArchiveProgress, snapshot } from "./snapshot.ts";

const encoder = new TextEncoder();

/** Progress on one terminal line, only when someone is watching. */
function progress(p: ArchiveProgress): void {
  if (!Deno.stderr.isTerminal()) return;
  Deno.stderr.writeSync(encoder.encode(`\r${p.entries} entries, ${p.bytes} bytes`));
}

/** Options for {@linkcode snapshotCommand}. */
export interface SnapshotCommandOptions {
  /** Service name: the archive is `<service>-<time>.tar.zst`. */
  service: string;
  /**
   * Loads the config named by `--config` and returns its `[database] path`;
   * the data directory is the directory holding it.
   */
  databasePath: (configPath: string) => Promise<string>;
}

/**
 * `snapshot --config <path> [--output <archive>]`: a consistent `.tar.zst`
 * of the data directory, safe while the server runs (the database is copied
 * by path through SQLite's backup API, never opened for writing).
 *
 * @param options The service and how to find its database.
 * @returns The subcommand.
 */
export function snapshotCommand(options: SnapshotCommandOptions): CommandSpec {
  const { service, databasePath } = options;
  return {
    summary: "Write a .tar.zst snapshot of the data directory (safe while the server runs)",
    options: {
      config: {
        type: "string",
        valueName: "path",
        description: "Config file (TOML)",
        required: true,
      },
      output: {
        type: "string",
        valueName: "path",
        description: `Archive to write (default: <data dir>/backups/${service}-<time>.tar.zst)`,
      },
    },
    async run({ values }) {
      const database = await databasePath(values.config as string);
      const dataDir = dirname(database);
      await Deno.mkdir(`${dataDir}/backups`, { recursive: true });
      const result = await snapshot({
        dataDir,
        service,
        database,
        output: values.output as string | undefined,
        onProgress: progress,
      });
      if (Deno.stderr.isTerminal()) console.error("");
      console.log(result.path);
    },
  };
}

/**
 * `restore --from <archive> --to <dir> [--force]`: extracts a snapshot into a
 * new data directory, all or nothing.
 *
 * @returns The subcommand.
 */
export function restoreCommand(): CommandSpec {
  return {
    summary: "Restore a snapshot into a new data directory",
    options: {
      from: {
        type: "string",
        valueName: "archive",
        description: "Snapshot (.tar.zst) to restore",
        required: true,
      },
      to: {
        type: "string",
        valueName: "dir",
        description: "Data directory to create",
        required: true,
      },
      force: {
        type: "boolean",
        description: "Replace the directory if it exists and is not empty",
      },
    },
    async run({ values }) {
      const result = await restore({
        archive: values.from as string,
        dest: values.to as string,
        overwrite: values.force === true,
        onProgress: progress,
      });
      if (Deno.stderr.isTerminal()) console.error("");
      console.log(`restored ${result.entries} entries (${result.bytes} bytes) into ${result.path}`);
    },
  };
}
