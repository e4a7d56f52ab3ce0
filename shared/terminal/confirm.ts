/**
 * Yes/no question.
 *
 * @module
 */

import { EndOfInputError } from "./errors.ts";
import { promptLine } from "./prompt_line.ts";
import type { PromptIoOptions } from "./prompt_io.ts";

/** Options for {@linkcode confirm}. */
export interface ConfirmOptions extends PromptIoOptions {
  /**
   * Answer for an empty line or end of input; shown in capitals in the hint.
   *
   * @default {false}
   */
  default?: boolean;
}

/** Unrecognised answers tolerated before giving up. */
const MAX_ATTEMPTS = 3;

/**
 * Asks a yes/no question, appending `[y/N]` (or `[Y/n]`). Accepts `y`,
 * `yes`, `n`, `no` in any case; an empty line or end of input gives the
 * default. After three unrecognised answers it returns `false`, the safe
 * answer to "Delete everything?".
 *
 * @param message The question, e.g. `"Undeploy mcr?"`.
 * @param options Default answer, input and output.
 * @returns Whether the user said yes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { confirm } from "./confirm.ts";
 *
 * // Stands in for Deno.stdin when it is a pipe.
 * const bytes = new TextEncoder().encode("maybe\nYes\n");
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
 * assert.equal(await confirm("Undeploy mcr?", { input }), true);
 * ```
 */
export async function confirm(message: string, options: ConfirmOptions = {}): Promise<boolean> {
  const { default: fallback = false, ...io } = options;
  const question = `${message} ${fallback ? "[Y/n]" : "[y/N]"} `;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    let answer: string;
    try {
      answer = (await promptLine(question, io)).trim().toLowerCase();
    } catch (error) {
      if (error instanceof EndOfInputError) return fallback;
      throw error;
    }
    if (answer === "") return fallback;
    if (answer === "y" || answer === "yes") return true;
    if (answer === "n" || answer === "no") return false;
  }
  return false;
}
