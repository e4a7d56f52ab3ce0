/**
 * Errors raised by the terminal prompts. CLIs catch them to exit quietly:
 * 130 after Ctrl-C, 1 otherwise.
 *
 * @module
 */

/**
 * The user pressed Ctrl-C at a password prompt. The terminal has already
 * been restored; a CLI usually exits with status 130.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PromptInterruptedError } from "./errors.ts";
 *
 * const error = new PromptInterruptedError();
 * assert.equal(error.message, "Prompt interrupted with Ctrl-C");
 * ```
 */
export class PromptInterruptedError extends Error {
  /** Creates the error. */
  constructor() {
    super("Prompt interrupted with Ctrl-C");
    this.name = "PromptInterruptedError";
  }
}

/**
 * Input ended (Ctrl-D on an empty line, or end of file on a pipe) before an
 * answer was entered.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EndOfInputError } from "./errors.ts";
 *
 * assert.equal(
 *   new EndOfInputError("password").message,
 *   "Cannot read password: input ended before a line was entered",
 * );
 * ```
 */
export class EndOfInputError extends Error {
  /**
   * Creates the error.
   *
   * @param what What was being read, e.g. `password`.
   */
  constructor(what: string) {
    super(`Cannot read ${what}: input ended before a line was entered`);
    this.name = "EndOfInputError";
  }
}

/**
 * A secret prompt was asked to read from a stdin that is not a terminal
 * while `allowNonTerminal` is false.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NotATerminalError } from "./errors.ts";
 *
 * assert.match(new NotATerminalError("password").message, /^Cannot read password: stdin is not a terminal/);
 * ```
 */
export class NotATerminalError extends Error {
  /**
   * Creates the error.
   *
   * @param what What was being read, e.g. `password`.
   */
  constructor(what: string) {
    super(
      `Cannot read ${what}: stdin is not a terminal; run the command in a terminal ` +
        "so the input is not echoed",
    );
    this.name = "NotATerminalError";
  }
}
