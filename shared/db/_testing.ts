/**
 * Test helpers: a writer in another process, to prove copies are consistent
 * while the database is being written.
 *
 * @module
 */

import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

const WRITER = fileURLToPath(new URL("./testdata/writer.ts", import.meta.url));

/** A running writer process. */
export interface Writer {
  /** Stops the writer and returns the number of rows it committed. */
  stop(): Promise<number>;
}

/**
 * Starts a process that inserts rows into table `t (id INTEGER PRIMARY KEY,
 * pad TEXT)` of the database at `dbPath`, one commit per row, and resolves
 * once its first rows are committed.
 */
export async function startWriter(dbPath: string): Promise<Writer> {
  const dir = dirname(dbPath);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", `--allow-read=${dir}`, `--allow-write=${dir}`, WRITER, dbPath],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter());
  const reader = lines.getReader();
  const first = await reader.read();
  if (first.value !== "ready") {
    await child.stdin.close().catch(() => {});
    await reader.cancel();
    await child.status;
    throw new Error(`writer did not start: got ${JSON.stringify(first.value)}`);
  }
  return {
    async stop() {
      await child.stdin.close();
      const last = await reader.read();
      await reader.cancel();
      const status = await child.status;
      if (!status.success) throw new Error(`writer exited with code ${status.code}`);
      const match = /^rows (\d+)$/.exec(last.value ?? "");
      if (!match) throw new Error(`writer printed ${JSON.stringify(last.value)}`);
      return Number(match[1]);
    },
  };
}

function lineSplitter(): TransformStream<string, string> {
  let buffer = "";
  return new TransformStream({
    transform(chunk, controller) {
      buffer += chunk;
      const parts = buffer.split("\n");
      buffer = parts.pop() ?? "";
      for (const part of parts) controller.enqueue(part);
    },
    flush(controller) {
      if (buffer) controller.enqueue(buffer);
    },
  });
}
