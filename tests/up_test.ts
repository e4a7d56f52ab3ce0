/**
 * `deno task up` runs what exists, prints its endpoints, and stops cleanly
 * on Ctrl-C (SIGINT).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../tasks/_launcher.ts";

Deno.test("deno task up starts every service, prints endpoints and stops on SIGINT", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "mc_up_" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "up", "--data-dir", dataDir],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let out = "";
  const decoder = new TextDecoder();
  const reader = child.stdout.getReader();
  const errText = new Response(child.stderr).text();
  try {
    const deadline = Date.now() + 60_000;
    while (!out.includes("Ctrl-C stops everything")) {
      assert.ok(Date.now() < deadline, `up did not come up:\n${out}`);
      const { value, done } = await reader.read();
      if (done) break;
      out += decoder.decode(value);
    }
    assert.match(out, /Metacircular is up/);
    const health = /fixture\s+rest\s+(https:\/\/\S+)/.exec(out);
    assert.ok(health, out);
    const client = Deno.createHttpClient({
      caCerts: [await Deno.readTextFile(join(dataDir, "pki", "ca.pem"))],
    });
    const res = await fetch(health[1], { client });
    assert.deepEqual(await res.json(), { status: "ok" });
    client.close();
  } finally {
    child.kill("SIGINT");
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      out += decoder.decode(value);
    }
    const status = await child.status;
    await errText;
    await Deno.remove(dataDir, { recursive: true });
    assert.equal(status.code, 0, out);
    assert.match(out, /stopped/);
  }
});
