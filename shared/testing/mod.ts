/**
 * Test support shared by every suite: free loopback ports and subprocesses
 * with captured output. Test-only; no service imports it.
 *
 * ```ts
 * import { freePort, run } from "@mc/mcdsl/testing";
 * const port = freePort();
 * const { code } = await run("true", []);
 * ```
 *
 * @module
 */

/**
 * A loopback TCP port that was free a moment ago (bind to port 0, read it,
 * close). Use it for configs that need the number before the server starts.
 */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

/** Options for {@linkcode run}. */
export interface RunOptions {
  /** Extra environment. */
  env?: Record<string, string>;
  /** Text written to stdin, then closed; stdin is null when absent. */
  stdin?: string;
  /** Working directory. */
  cwd?: string;
}

/** What {@linkcode run} returns. */
export interface RunResult {
  /** Exit code. */
  code: number;
  /** Decoded stdout. */
  stdout: string;
  /** Decoded stderr. */
  stderr: string;
}

/**
 * Runs a command to completion and returns its exit code and output.
 *
 * @param cmd Program.
 * @param args Arguments.
 * @param options Environment, stdin text, working directory.
 * @returns Code and output.
 *
 * @example Usage
 * ```ts
 * import { run } from "./mod.ts";
 * import assert from "node:assert/strict";
 * const { code, stdout } = await run("sh", ["-c", "cat"], { stdin: "hi" });
 * assert.deepEqual([code, stdout], [0, "hi"]);
 * ```
 */
export async function run(
  cmd: string,
  args: string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const child = new Deno.Command(cmd, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: options.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (options.stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(options.stdin));
    await writer.close();
  }
  const out = await child.output();
  const decoder = new TextDecoder();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}
