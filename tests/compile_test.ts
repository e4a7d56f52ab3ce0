/**
 * `deno task compile` is real: it runs `deno compile` with the service's
 * exact flags, and where the denort runtime cannot be had it says so.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../tasks/_launcher.ts";
import { makeFixtureDir, run } from "./fixture/_testing.ts";

function compile(config: string, output: string, env: Record<string, string> = {}) {
  return run(Deno.execPath(), [
    "task",
    "compile",
    "fixture",
    "--config",
    config,
    "--output",
    output,
  ], {
    cwd: ROOT,
    env: { NO_COLOR: "1", ...env },
  });
}

Deno.test("deno task compile bakes the manifest's flags and names a missing DENORT_BIN", async () => {
  await using dir = await makeFixtureDir();
  const out = await compile(dir.config, join(dir.root, "dist"), {
    DENORT_BIN: join(dir.root, "no-such-denort"),
  });
  assert.equal(out.code, 1, out.stderr);
  assert.match(
    out.stderr,
    new RegExp(`--allow-net=127\\.0\\.0\\.1:${dir.httpsPort},127\\.0\\.0\\.1:${dir.grpcPort}`),
  );
  assert.match(out.stderr, /--allow-read=\S*fixture\.toml/);
  assert.ok(!/--allow-all|-A |--allow-ffi/.test(out.stderr), out.stderr);
  assert.match(out.stderr, /DENORT_BIN is set to ".*no-such-denort", which does not exist/);
});

Deno.test("deno task compile either builds the binary or explains the unreachable runtime", async () => {
  await using dir = await makeFixtureDir();
  const output = join(dir.root, "dist");
  const out = await compile(dir.config, output, {});
  if (out.code === 0) {
    // A machine that can download denort gets a real binary.
    const info = await Deno.stat(join(output, "fixture"));
    assert.ok(info.isFile && (info.mode! & 0o111) !== 0);
  } else {
    assert.match(out.stderr, /could not get the denort runtime for Deno 2\.9\.6/);
    assert.match(out.stderr, /DENORT_BIN=/);
    assert.match(out.stderr, /deno task fixture server --config/);
  }
});
