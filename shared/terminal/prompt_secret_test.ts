import assert from "node:assert/strict";
import { EndOfInputError, NotATerminalError, PromptInterruptedError } from "./errors.ts";
import type { PromptInput, PromptOutput } from "./prompt_io.ts";
import { promptSecret } from "./prompt_secret.ts";

/**
 * Input that replays keystrokes as a terminal in raw mode delivers them, and
 * records raw mode switches. The real terminal is exercised under tmux in
 * terminal_tty_test.ts; this covers the key handling byte by byte.
 */
class Keystrokes implements PromptInput {
  raw: boolean[] = [];
  #bytes: Uint8Array;
  #at = 0;
  #terminal: boolean;

  constructor(keys: string, terminal = true) {
    this.#bytes = new TextEncoder().encode(keys);
    this.#terminal = terminal;
  }
  isTerminal(): boolean {
    return this.#terminal;
  }
  setRaw(mode: boolean): void {
    this.raw.push(mode);
  }
  read(p: Uint8Array): Promise<number | null> {
    if (this.#at >= this.#bytes.length) return Promise.resolve(null);
    p[0] = this.#bytes[this.#at++];
    return Promise.resolve(1);
  }
  /** What was not read. */
  get rest(): string {
    return new TextDecoder().decode(this.#bytes.subarray(this.#at));
  }
}

class Screen implements PromptOutput {
  text = "";
  write(p: Uint8Array): Promise<number> {
    this.text += new TextDecoder().decode(p);
    return Promise.resolve(p.length);
  }
}

async function type(keys: string) {
  const input = new Keystrokes(keys);
  const output = new Screen();
  const result = await promptSecret("Password: ", { input, output }).catch((e) => e);
  return { result, input, output };
}

Deno.test("promptSecret() reads up to Enter in raw mode and writes only the question and a newline", async () => {
  const { result, input, output } = await type("hunter2\rnext");
  assert.equal(result, "hunter2");
  assert.deepEqual(input.raw, [true, false]);
  assert.equal(output.text, "Password: \n");
  assert.equal(input.rest, "next");
});

Deno.test("promptSecret() erases whole UTF-8 characters on Backspace and Delete", async () => {
  assert.equal((await type("pass\u00e9\x7fe!\r")).result, "passe!");
  assert.equal((await type("ab\u20ac\x08\x08c\r")).result, "ac");
  assert.equal((await type("\x7f\x7fab\r")).result, "ab");
});

Deno.test("promptSecret() clears the answer on Ctrl-U", async () => {
  assert.equal((await type("wrong\x15right\n")).result, "right");
});

Deno.test("promptSecret() ignores arrow keys, function keys and bracketed-paste markers", async () => {
  assert.equal((await type("a\x1b[Db\x1bOPc\x1b[200~d\x1b[201~\x1b[15~\t\r")).result, "abcd");
});

Deno.test("promptSecret() throws PromptInterruptedError on Ctrl-C after leaving raw mode", async () => {
  const { result, input, output } = await type("abc\x03def\r");
  assert.ok(result instanceof PromptInterruptedError);
  assert.equal(result.message, "Prompt interrupted with Ctrl-C");
  assert.deepEqual(input.raw, [true, false]);
  assert.equal(output.text, "Password: \n");
});

Deno.test("promptSecret() ends the answer on Ctrl-D, or throws EndOfInputError when nothing was typed", async () => {
  assert.equal((await type("abc\x04")).result, "abc");
  const empty = await type("\x04");
  assert.ok(empty.result instanceof EndOfInputError);
  assert.equal(empty.result.message, "Cannot read password: input ended before a line was entered");
  assert.deepEqual(empty.input.raw, [true, false]);
  assert.ok((await type("")).result instanceof EndOfInputError);
});

Deno.test("promptSecret() throws RangeError past maxLength and leaves raw mode", async () => {
  const input = new Keystrokes("123456\r");
  const error = await promptSecret("PIN: ", { input, output: new Screen(), maxLength: 5 })
    .catch((e) => e);
  assert.ok(error instanceof RangeError);
  assert.equal(error.message, "Cannot read password: input is longer than 5 bytes");
  assert.deepEqual(input.raw, [true, false]);
});

Deno.test("promptSecret() reads one line without a question when stdin is not a terminal", async () => {
  const input = new Keystrokes("s3cret\r\nalice\n", false);
  const output = new Screen();
  assert.equal(await promptSecret("Password: ", { input, output }), "s3cret");
  assert.equal(output.text, "");
  assert.deepEqual(input.raw, []);
  assert.equal(input.rest, "alice\n");
});

Deno.test("promptSecret() throws NotATerminalError when non-terminal input is not allowed", async () => {
  const input = new Keystrokes("s3cret\n", false);
  await assert.rejects(
    promptSecret("Password: ", { input, output: new Screen(), allowNonTerminal: false }),
    (error: Error) => {
      assert.ok(error instanceof NotATerminalError);
      assert.equal(
        error.message,
        "Cannot read password: stdin is not a terminal; run the command in a terminal " +
          "so the input is not echoed",
      );
      return true;
    },
  );
  assert.equal(input.rest, "s3cret\n");
});
