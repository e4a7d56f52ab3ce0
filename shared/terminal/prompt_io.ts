/**
 * The input and output a prompt uses, replaceable for tests.
 *
 * @module
 */

/** What a prompt reads from: `Deno.stdin` or anything shaped like it. */
export interface PromptInput {
  /** Reads up to `p.length` bytes; `null` at end of input. */
  read(p: Uint8Array): Promise<number | null>;
  /** Whether the input is a terminal. */
  isTerminal(): boolean;
  /** Switches the terminal's raw mode (no echo, no line editing, no signals). */
  setRaw(mode: boolean, options?: Deno.SetRawOptions): void;
}

/** Where a prompt writes its question: `Deno.stderr` or anything shaped like it. */
export interface PromptOutput {
  /** Writes some of `p`, returning how many bytes were written. */
  write(p: Uint8Array): Promise<number>;
}

/** Options shared by every prompt. */
export interface PromptIoOptions {
  /**
   * Where answers are read from.
   *
   * @default {Deno.stdin}
   */
  input?: PromptInput;
  /**
   * Where questions are written; stderr, so that stdout stays clean for the
   * command's own output.
   *
   * @default {Deno.stderr}
   */
  output?: PromptOutput;
  /**
   * Longest answer accepted, in bytes.
   *
   * @default {4096}
   */
  maxLength?: number;
}
