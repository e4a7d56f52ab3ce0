/** `deno task unit` renders a systemd unit from the manifest, never a blanket flag. */

import assert from "node:assert/strict";
import { renderUnit } from "../tasks/unit.ts";
import { makeFixtureDir } from "./fixture/_testing.ts";

Deno.test("renderUnit() runs the server under the manifest's flags with systemd hardening", async () => {
  await using dir = await makeFixtureDir();
  const unit = await renderUnit("fixture", dir.config, "/usr/local/bin/deno");
  const exec = /^ExecStart=(.*)$/m.exec(unit)?.[1] ?? "";
  assert.match(exec, /^\/usr\/local\/bin\/deno run --no-prompt --allow-read=/);
  assert.ok(
    exec.includes(`--allow-net=127.0.0.1:${dir.httpsPort},127.0.0.1:${dir.grpcPort}`),
    exec,
  );
  assert.ok(exec.endsWith(`main.ts server --config ${dir.config}`), exec);
  assert.ok(!/ -A |--allow-all|--allow-ffi|--allow-run|--allow-env /.test(exec), exec);
  assert.match(unit, new RegExp(`^ReadWritePaths=${dir.dataDir}$`, "m"));
  assert.match(unit, /^ProtectSystem=strict$/m);
  assert.match(unit, /^NoNewPrivileges=true$/m);
});
