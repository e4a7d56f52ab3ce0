import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { namesIn } from "./_testing.ts";

const SCRIPT = fileURLToPath(new URL("./testdata/sandbox_cycle.ts", import.meta.url));
const REPO = fileURLToPath(new URL("../../", import.meta.url));

Deno.test("snapshot() and restore() work with only scoped read/write permissions", async () => {
  const root = await Deno.makeTempDir();
  try {
    const dataDir = `${root}/srv/svc`;
    const outDir = `${root}/out`;
    await Deno.mkdir(dataDir, { recursive: true });
    await Deno.mkdir(outDir);
    const granted = `${dataDir},${outDir}`;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-prompt",
        `--allow-read=${granted}`,
        `--allow-write=${granted}`,
        SCRIPT,
        dataDir,
        outDir,
      ],
      // From the repository root, so the workspace import map is found.
      cwd: REPO,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, err);
    const report = JSON.parse(new TextDecoder().decode(stdout));
    assert.match(
      report.archives[0],
      new RegExp(`^${dataDir}/backups/svc-\\d{8}T\\d{6}Z\\.tar\\.zst$`),
    );
    assert.equal(report.archives[1], `${outDir}/svc.tar.zst`);
    // svc.db, certs/, certs/cert.pem, svc.toml
    assert.deepEqual(report.entries, [4, 4]);
    assert.deepEqual(report.rows, [250, 250]);
    assert.equal(report.cert, "-----BEGIN CERTIFICATE-----\n");
    assert.equal(report.tmpWritable, "prompt");
    assert.equal(report.envGranted, "prompt");
    // No temporary files were left in either granted directory.
    assert.deepEqual(await namesIn(outDir), ["restored-1", "restored-2", "svc.tar.zst"]);
    assert.deepEqual(await namesIn(dataDir), ["backups", "certs", "svc.db", "svc.toml"]);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
