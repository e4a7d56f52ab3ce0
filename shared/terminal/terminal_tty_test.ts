// Runs the prompts in a real pseudo-terminal: a detached tmux session on a
// private socket, driven with `tmux send-keys` and read with `capture-pane`.
import assert from "node:assert/strict";

const MOD_URL = new URL("./mod.ts", import.meta.url).href;

/** The program under test: prompts, then writes what it read as JSON. */
const SCRIPT = `
import { promptLine, promptSecret } from ${JSON.stringify(MOD_URL)};
const out = Deno.args[0];
const result = {};
try {
  result.secret = await promptSecret("Password: ");
} catch (error) {
  result.error = error.name;
}
result.name = await promptLine("Name: ");
await Deno.writeTextFile(out + ".tmp", JSON.stringify(result));
await Deno.rename(out + ".tmp", out);
`;

const DEADLINE_MS = 20_000;

async function run(args: string[]): Promise<string> {
  const { success, stdout, stderr } = await new Deno.Command("tmux", {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!success) throw new Error(`tmux ${args.join(" ")} failed: ${decoder.decode(stderr)}`);
  return decoder.decode(stdout);
}

/** Polls `check` until it returns a value, failing after the deadline. */
async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  describe: () => Promise<string> = () => Promise.resolve(""),
): Promise<T> {
  const deadline = Date.now() + DEADLINE_MS;
  while (Date.now() < deadline) {
    const value = await check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`Timed out after ${DEADLINE_MS} ms waiting for ${what}${await describe()}`);
}

/** A tmux server on a socket inside a temp dir, running the script in one pane. */
async function startSession() {
  const dir = await Deno.makeTempDir({ prefix: "mcdsl_tty_" });
  const socket = `${dir}/tmux.sock`;
  const out = `${dir}/result.json`;
  await Deno.writeTextFile(`${dir}/prompt.ts`, SCRIPT);
  // remain-on-exit keeps the pane, and so its screen, after the script ends.
  await Deno.writeTextFile(`${dir}/tmux.conf`, "set -g remain-on-exit on\n");
  const command = [
    Deno.execPath(),
    "run",
    "--no-config",
    `--allow-read=${dir}`,
    `--allow-write=${dir}`,
    `${dir}/prompt.ts`,
    out,
  ].map((arg) => `'${arg}'`).join(" ");
  const tmux = (...args: string[]) => run(["-S", socket, ...args]);
  const describe = async () =>
    `; the screen shows:\n${await tmux("capture-pane", "-p", "-t", "t")}`;
  await tmux(
    "-f",
    `${dir}/tmux.conf`,
    "new-session",
    "-d",
    "-s",
    "t",
    "-x",
    "80",
    "-y",
    "24",
    command,
  );
  return {
    // With the scrollback (-S -): the "Pane is dead" line tmux adds when the
    // script exits scrolls the first line out of the visible screen.
    screen: () => tmux("capture-pane", "-p", "-S", "-", "-t", "t"),
    keys: (...keys: string[]) => tmux("send-keys", "-t", "t", ...keys),
    text: (text: string) => tmux("send-keys", "-t", "t", "-l", text),
    // capture-pane trims trailing spaces: match "Password:", not "Password: ".
    waitForScreen(pattern: RegExp) {
      return waitFor(`the screen to match ${pattern}`, async () => {
        const screen = await tmux("capture-pane", "-p", "-t", "t");
        return pattern.test(screen) ? screen : undefined;
      }, describe);
    },
    result: () =>
      waitFor("the result file", async () => {
        try {
          return JSON.parse(await Deno.readTextFile(out));
        } catch (error) {
          if (error instanceof Deno.errors.NotFound) return undefined;
          throw error;
        }
      }, describe),
    async [Symbol.asyncDispose]() {
      await tmux("kill-server").catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("promptSecret() in a real terminal never shows the password and handles Backspace", async () => {
  await using session = await startSession();
  await session.waitForScreen(/^Password:/m);
  await session.text("hunter2x");
  await session.keys("BSpace");
  // Echo off: nothing typed may have reached the screen, even before Enter.
  assert.doesNotMatch(await session.screen(), /hunter|\*/);
  await session.keys("Enter");
  await session.waitForScreen(/^Name:/m);
  await session.text("visible-name");
  await session.keys("Enter");
  assert.deepEqual(await session.result(), { secret: "hunter2", name: "visible-name" });
  const screen = await session.screen();
  assert.doesNotMatch(screen, /hunter/);
  // The newline after the password puts the next prompt on its own line, and
  // echo is back on for it.
  const lines = screen.split("\n").map((line) => line.trimEnd());
  assert.deepEqual(lines.slice(0, 2), ["Password:", "Name: visible-name"]);
});

Deno.test("promptSecret() in a real terminal aborts on Ctrl-C and restores echo", async () => {
  await using session = await startSession();
  await session.waitForScreen(/^Password:/m);
  await session.text("abc");
  await session.keys("C-c");
  await session.waitForScreen(/^Name:/m);
  await session.text("after");
  await session.keys("Enter");
  assert.deepEqual(await session.result(), { error: "PromptInterruptedError", name: "after" });
  const lines = (await session.screen()).split("\n").map((line) => line.trimEnd());
  assert.deepEqual(lines.slice(0, 2), ["Password:", "Name: after"]);
});

Deno.test("promptSecret() reads a piped password without writing a question", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcdsl_pipe_" });
  try {
    await Deno.writeTextFile(`${dir}/prompt.ts`, SCRIPT);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-config",
        `--allow-read=${dir}`,
        `--allow-write=${dir}`,
        `${dir}/prompt.ts`,
        `${dir}/result.json`,
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("s3cret\nalice\n"));
    await writer.close();
    const { success, stdout, stderr } = await child.output();
    const decoder = new TextDecoder();
    assert.ok(success, decoder.decode(stderr));
    assert.equal(decoder.decode(stdout), "");
    assert.equal(decoder.decode(stderr), "");
    assert.deepEqual(JSON.parse(await Deno.readTextFile(`${dir}/result.json`)), {
      secret: "s3cret",
      name: "alice",
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
