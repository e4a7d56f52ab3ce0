import assert from "node:assert/strict";
import { installHttp2Fix } from "./http2_fix.ts";

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const TESTDATA = new URL("./testdata/", import.meta.url).pathname;

Deno.test("installHttp2Fix() patches the native session handle once", () => {
  assert.equal(installHttp2Fix(), true);
  assert.equal(installHttp2Fix(), true);
});

/**
 * Runs testdata/h2_server.ts with glibc's MALLOC_PERTURB_ (freed memory gets
 * overwritten, so a use-after-free crashes at once), sends idle-session
 * GOAWAYs for `seconds`, and returns the server's fate.
 */
async function goawayStorm(
  fix: boolean,
  seconds: number,
): Promise<{ alive: boolean; status: Deno.CommandStatus }> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/h2.sock`;
  const server = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--quiet",
      "--config",
      CONFIG,
      "-A",
      `${TESTDATA}h2_server.ts`,
      "--path",
      path,
      ...(fix ? ["--fix"] : []),
    ],
    env: { MALLOC_PERTURB_: "165" },
    stdin: "null",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  try {
    const reader = server.stdout.getReader();
    await reader.read();
    reader.releaseLock();
    let exited = false;
    const status = server.status.then((s) => {
      exited = true;
      return s;
    });
    const driver = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--quiet",
        "--config",
        CONFIG,
        "-A",
        `${TESTDATA}churn_raw.ts`,
        "--transport",
        "unix",
        "--addr",
        path,
        "--seconds",
        String(seconds),
        "--goaway-only",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    await Promise.race([driver.status, status]);
    try {
      driver.kill("SIGKILL");
    } catch { /* exited */ }
    await driver.status;
    const alive = !exited;
    if (alive) server.kill("SIGTERM");
    await server.stdout.cancel().catch(() => {});
    return { alive, status: await status };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("installHttp2Fix() keeps a node:http2 server alive through idle-session GOAWAYs", async () => {
  const control = await goawayStorm(false, 5);
  assert.equal(
    control.alive,
    false,
    "the unpatched server survived: Deno may have fixed denoland/deno#36788; re-run the CHURN.md trials and consider removing http2_fix.ts",
  );
  assert.ok(
    control.status.signal === "SIGSEGV" || control.status.signal === "SIGABRT",
    `control died by ${JSON.stringify(control.status)}`,
  );
  const fixed = await goawayStorm(true, 5);
  assert.equal(fixed.alive, true, `patched server died: ${JSON.stringify(fixed.status)}`);
  assert.equal(fixed.status.code, 0);
});
