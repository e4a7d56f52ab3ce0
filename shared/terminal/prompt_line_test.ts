import assert from "node:assert/strict";
import { confirm } from "./confirm.ts";
import { EndOfInputError } from "./errors.ts";
import type { PromptInput, PromptOutput } from "./prompt_io.ts";
import { promptLine } from "./prompt_line.ts";

/** Input that delivers `text` as a cooked-mode terminal or a pipe would. */
function lines(text: string, terminal: boolean): PromptInput {
  const bytes = new TextEncoder().encode(text);
  let at = 0;
  return {
    isTerminal: () => terminal,
    setRaw: () => {
      throw new Error("a line prompt must not use raw mode");
    },
    read(p: Uint8Array) {
      if (at >= bytes.length) return Promise.resolve(null);
      const n = Math.min(p.length, bytes.length - at);
      p.set(bytes.subarray(at, at + n));
      at += n;
      return Promise.resolve(n);
    },
  };
}

function screen(): PromptOutput & { text: string } {
  return {
    text: "",
    write(p: Uint8Array) {
      this.text += new TextDecoder().decode(p);
      return Promise.resolve(p.length);
    },
  };
}

Deno.test("promptLine() writes the question on a terminal and returns the line without its ending", async () => {
  const input = lines("alice\r\nbob\n", true);
  const output = screen();
  assert.equal(await promptLine("Username: ", { input, output }), "alice");
  assert.equal(await promptLine("Next: ", { input, output }), "bob");
  assert.equal(output.text, "Username: Next: ");
});

Deno.test("promptLine() returns a last line that has no newline, then throws EndOfInputError", async () => {
  const input = lines("carol", false);
  const output = screen();
  assert.equal(await promptLine("Username: ", { input, output }), "carol");
  await assert.rejects(promptLine("Username: ", { input, output }), {
    name: "EndOfInputError",
    message: "Cannot read answer: input ended before a line was entered",
  });
  assert.equal(output.text, "");
});

Deno.test("promptLine() throws RangeError for maxLength that is not a positive integer", async () => {
  await assert.rejects(promptLine("x", { input: lines("", false), maxLength: 0 }), {
    name: "RangeError",
    message: 'Cannot prompt: "maxLength" must be a positive integer, got 0',
  });
});

Deno.test("confirm() accepts y, yes, n and no in any case", async () => {
  for (const [answer, expected] of [["y", true], ["YES", true], [" n ", false], ["No", false]]) {
    const output = screen();
    assert.equal(
      await confirm("Undeploy mcr?", { input: lines(`${answer}\n`, true), output }),
      expected,
    );
    assert.equal(output.text, "Undeploy mcr? [y/N] ");
  }
});

Deno.test("confirm() gives the default for an empty line or end of input", async () => {
  const output = screen();
  assert.equal(await confirm("Go?", { input: lines("\n", true), output, default: true }), true);
  assert.equal(output.text, "Go? [Y/n] ");
  assert.equal(await confirm("Go?", { input: lines("", false) }), false);
  assert.equal(await confirm("Go?", { input: lines("", false), default: true }), true);
});

Deno.test("confirm() asks again after an unrecognised answer and says no after three", async () => {
  const output = screen();
  assert.equal(await confirm("Go?", { input: lines("maybe\nyes\n", true), output }), true);
  assert.equal(output.text, "Go? [y/N] Go? [y/N] ");
  assert.equal(
    await confirm("Go?", { input: lines("a\nb\nc\nyes\n", true), output, default: true }),
    false,
  );
});

Deno.test("EndOfInputError is what promptLine() throws on empty input", async () => {
  await assert.rejects(
    promptLine("x", { input: lines("", true), output: screen() }),
    EndOfInputError,
  );
});
