/**
 * Byte-level helpers shared by the prompts.
 *
 * @module
 */

import { EndOfInputError } from "./errors.ts";
import type { PromptInput, PromptOutput } from "./prompt_io.ts";

/** Writes all of `text` to `output`. */
export async function writeAll(output: PromptOutput, text: string): Promise<void> {
  let bytes = new TextEncoder().encode(text);
  while (bytes.length > 0) {
    const written = await output.write(bytes);
    bytes = bytes.subarray(written);
  }
}

/**
 * Reads one byte; `undefined` at end of input. One byte at a time so that
 * nothing after the answer's newline is consumed: the next prompt (or the
 * program) reads it.
 */
export async function readByte(
  input: PromptInput,
  buffer: Uint8Array,
): Promise<number | undefined> {
  // A read may return 0 bytes without being at the end; bounded retries.
  for (let attempt = 0; attempt < 16; attempt++) {
    const n = await input.read(buffer.subarray(0, 1));
    if (n === null) return undefined;
    if (n > 0) return buffer[0];
  }
  return undefined;
}

/**
 * Reads one line, without its `\n` or `\r\n`, in the terminal's normal
 * (cooked) mode or from a pipe.
 *
 * @throws {EndOfInputError} When input ends before any byte.
 * @throws {RangeError} When the line is longer than `maxLength` bytes.
 */
export async function readLine(
  input: PromptInput,
  what: string,
  maxLength: number,
): Promise<string> {
  const bytes: number[] = [];
  const buffer = new Uint8Array(1);
  try {
    while (true) {
      const byte = await readByte(input, buffer);
      if (byte === undefined) {
        if (bytes.length === 0) throw new EndOfInputError(what);
        break;
      }
      if (byte === 0x0a) break;
      if (bytes.length >= maxLength) throw tooLong(what, maxLength);
      bytes.push(byte);
    }
    if (bytes.at(-1) === 0x0d) bytes.pop();
    return new TextDecoder().decode(new Uint8Array(bytes));
  } finally {
    bytes.fill(0);
  }
}

/** The error for an answer longer than `maxLength`. */
export function tooLong(what: string, maxLength: number): RangeError {
  return new RangeError(`Cannot read ${what}: input is longer than ${maxLength} bytes`);
}

/** Checks a `maxLength` option. */
export function checkMaxLength(maxLength: number): void {
  if (!Number.isInteger(maxLength) || maxLength < 1) {
    throw new RangeError(`Cannot prompt: "maxLength" must be a positive integer, got ${maxLength}`);
  }
}
