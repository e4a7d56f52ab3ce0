/**
 * Line prompt with echo, for non-secret answers such as a username.
 *
 * @module
 */

import { checkMaxLength, readLine, writeAll } from "./_io.ts";
import type { PromptIoOptions } from "./prompt_io.ts";

/** Options for {@linkcode promptLine}. */
export type PromptLineOptions = PromptIoOptions;

/**
 * Asks a question and reads one line, echoed as typed. The terminal's own
 * line editing applies (Backspace, Ctrl-U); Ctrl-C is the usual SIGINT.
 * When stdin is not a terminal, no question is written and one line is read.
 *
 * @param message The question, e.g. `"Username: "`.
 * @param options Input, output and length bound.
 * @returns The line, without its line ending.
 * @throws {EndOfInputError} When input ends before anything is typed.
 * @throws {RangeError} When the line is longer than `maxLength` bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { promptLine } from "./prompt_line.ts";
 *
 * // Stands in for Deno.stdin when it is a pipe.
 * const bytes = new TextEncoder().encode("alice\r\n");
 * let at = 0;
 * const input = {
 *   isTerminal: () => false,
 *   setRaw: () => {},
 *   read: (p: Uint8Array) => {
 *     if (at === bytes.length) return Promise.resolve(null);
 *     p[0] = bytes[at++];
 *     return Promise.resolve(1);
 *   },
 * };
 * assert.equal(await promptLine("Username: ", { input }), "alice");
 * ```
 */
export async function promptLine(
  message: string,
  options: PromptLineOptions = {},
): Promise<string> {
  const { input = Deno.stdin, output = Deno.stderr, maxLength = 4096 } = options;
  checkMaxLength(maxLength);
  if (input.isTerminal()) await writeAll(output, message);
  return await readLine(input, "answer", maxLength);
}
