/**
 * Password prompt that never echoes what is typed.
 *
 * @module
 */

import { checkMaxLength, readByte, readLine, tooLong, writeAll } from "./_io.ts";
import { EndOfInputError, NotATerminalError, PromptInterruptedError } from "./errors.ts";
import type { PromptInput, PromptIoOptions } from "./prompt_io.ts";

/** Options for {@linkcode promptSecret}. */
export interface PromptSecretOptions extends PromptIoOptions {
  /**
   * What happens when stdin is not a terminal: `true` reads one line from it
   * (for automation, e.g. `printf '%s\n' "$PW" | mcp login`), `false` throws
   * {@linkcode NotATerminalError}.
   *
   * @default {true}
   */
  allowNonTerminal?: boolean;
}

const CTRL_C = 0x03;
const CTRL_D = 0x04;
const BACKSPACE = 0x08;
const LINE_FEED = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const CTRL_U = 0x15;
const ESCAPE = 0x1b;
const DELETE = 0x7f;

/**
 * Asks for a secret on the terminal without echoing it.
 *
 * The question goes to stderr, then stdin is put in raw mode and read key by
 * key: Enter ends the answer, Backspace erases a character, Ctrl-U erases
 * everything, Ctrl-C aborts, Ctrl-D ends the answer (or aborts when nothing
 * was typed), and arrow or function keys are ignored. Raw mode is always
 * switched off again before returning or throwing, and a newline is written
 * so that the next output starts on its own line.
 *
 * When stdin is not a terminal, no question is written and one line is read
 * (as `read -p` does in bash), unless `allowNonTerminal` is false.
 *
 * @param message The question, e.g. `"Password: "`.
 * @param options Input, output, length bound and non-terminal policy.
 * @returns The secret, without the line ending.
 * @throws {PromptInterruptedError} On Ctrl-C; a CLI exits with status 130.
 * @throws {EndOfInputError} When input ends before anything is typed.
 * @throws {NotATerminalError} When stdin is not a terminal and `allowNonTerminal` is false.
 * @throws {RangeError} When the secret is longer than `maxLength` bytes.
 *
 * @example Reading a piped password
 * ```ts
 * import assert from "node:assert/strict";
 * import { promptSecret } from "./prompt_secret.ts";
 *
 * // Stands in for Deno.stdin when it is a pipe.
 * const bytes = new TextEncoder().encode("hunter2\nnext line\n");
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
 * assert.equal(await promptSecret("Password: ", { input }), "hunter2");
 * ```
 */
export async function promptSecret(
  message: string,
  options: PromptSecretOptions = {},
): Promise<string> {
  const {
    input = Deno.stdin,
    output = Deno.stderr,
    maxLength = 4096,
    allowNonTerminal = true,
  } = options;
  checkMaxLength(maxLength);
  if (!input.isTerminal()) {
    if (!allowNonTerminal) throw new NotATerminalError("password");
    return await readLine(input, "password", maxLength);
  }
  await writeAll(output, message);
  input.setRaw(true);
  try {
    return await readRawSecret(input, maxLength);
  } finally {
    input.setRaw(false);
    await writeAll(output, "\n");
  }
}

async function readRawSecret(input: PromptInput, maxLength: number): Promise<string> {
  const bytes: number[] = [];
  const buffer = new Uint8Array(1);
  // Escape sequences (arrow keys, bracketed-paste markers) must not end up in
  // the secret: "escape" after ESC, "csi" inside ESC [ ... final byte, "ss3"
  // for the one byte after ESC O.
  let state: "text" | "escape" | "csi" | "ss3" = "text";
  try {
    while (true) {
      const byte = await readByte(input, buffer);
      if (byte === undefined) {
        if (bytes.length === 0) throw new EndOfInputError("password");
        break;
      }
      if (state === "escape") {
        state = byte === 0x5b ? "csi" : byte === 0x4f ? "ss3" : "text";
        continue;
      }
      if (state === "csi") {
        if (byte >= 0x40 && byte <= 0x7e) state = "text";
        continue;
      }
      if (state === "ss3") {
        state = "text";
        continue;
      }
      if (byte === CARRIAGE_RETURN || byte === LINE_FEED) break;
      if (byte === CTRL_C) throw new PromptInterruptedError();
      if (byte === CTRL_D) {
        if (bytes.length === 0) throw new EndOfInputError("password");
        break;
      }
      if (byte === BACKSPACE || byte === DELETE) {
        eraseLastCharacter(bytes);
      } else if (byte === CTRL_U) {
        bytes.fill(0);
        bytes.length = 0;
      } else if (byte === ESCAPE) {
        state = "escape";
      } else if (byte >= 0x20) {
        if (bytes.length >= maxLength) throw tooLong("password", maxLength);
        bytes.push(byte);
      }
    }
    return new TextDecoder().decode(new Uint8Array(bytes));
  } finally {
    // Best effort: the returned string itself cannot be wiped.
    bytes.fill(0);
  }
}

/** Removes the last UTF-8 character: its continuation bytes, then its lead byte. */
function eraseLastCharacter(bytes: number[]): void {
  while (bytes.length > 0 && (bytes[bytes.length - 1] & 0xc0) === 0x80) bytes.pop();
  bytes.pop();
}
