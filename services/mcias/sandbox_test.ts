/**
 * MCIAS under its sandbox: a probe run with the server's exact flags is
 * denied everything the manifest does not declare, and a full run under
 * `DENO_AUDIT_PERMISSIONS` uses nothing undeclared.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { createGrpcClient } from "@mc/mcdsl/grpcserver";
import { readAudit, undeclaredAccesses } from "@mc/mcdsl/sandbox";
import { planService, ROOT } from "../../tasks/_launcher.ts";
import { PROTO } from "./grpc/server.ts";
import { freePort, makeMcIasDir, mciasctl, run, startMcIasProcess } from "./_testing.ts";

const PASSWORD = "correct horse battery staple";

Deno.test("mcias server sandbox denies what its manifest does not declare", async () => {
  await using dir = await makeMcIasDir();
  const other = await Deno.makeTempDir({ prefix: "other_" });
  try {
    const plan = await planService("mcias", "server", ["--config", dir.config]);
    assert.ok(
      !plan.flags.some((f) =>
        /^(-A|--allow-all|--allow-ffi|--allow-run|--allow-env|--allow-sys)$/.test(f)
      ),
      plan.flags.join(" "),
    );
    const probe = join(ROOT, "tests/sandbox_probe.ts");
    const out = await run(Deno.execPath(), [
      "run",
      ...plan.flags,
      `--allow-read=${probe}`,
      probe,
      other,
      String(freePort()),
      dir.dataDir,
    ]);
    assert.equal(out.code, 0, out.stderr);
    const results: Record<string, string> = JSON.parse(out.stdout);
    const { writeOwnDataDir, ...rest } = results;
    assert.equal(writeOwnDataDir, "allowed");
    for (
      const probeName of [
        "readOtherDir",
        "writeOtherDir",
        "readEtc",
        "listenOtherPort",
        "connectOut",
        "envHome",
        "envAll",
        "run",
        "ffi",
        "sys",
      ]
    ) {
      assert.equal(rest[probeName], "denied", probeName);
    }
    // Whatever else the probe tries must be denied too.
    for (const [probeName, outcome] of Object.entries(rest)) {
      assert.equal(outcome, "denied", probeName);
    }
  } finally {
    await Deno.remove(other, { recursive: true });
  }
});

Deno.test("mcias uses only declared capabilities (DENO_AUDIT_PERMISSIONS)", async () => {
  await using dir = await makeMcIasDir();
  const initAudit = join(dir.root, "init-audit.jsonl");
  const init = await mciasctl(dir, ["init", "--password-stdin"], PASSWORD + "\n", {
    DENO_AUDIT_PERMISSIONS: initAudit,
  });
  assert.equal(init.code, 0, init.stderr);
  assert.deepEqual(undeclaredAccesses(await readAudit(initAudit), init.plan.permissions), []);

  const audit = join(dir.root, "audit.jsonl");
  const proc = await startMcIasProcess(dir, { DENO_AUDIT_PERMISSIONS: audit });
  const client = Deno.createHttpClient({ caCerts: [dir.ca] });
  try {
    const post = async (path: string, body: unknown, token?: string) => {
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (token) headers.authorization = `Bearer ${token}`;
      const res = await fetch(`${dir.url}${path}`, {
        client,
        method: "POST",
        headers,
        body: JSON.stringify(body),
      });
      return res.status === 204 ? {} : await res.json();
    };
    const { token } = await post("/v1/auth/login", { username: "admin", password: PASSWORD });
    assert.equal((await post("/v1/token/validate", { token })).valid, true);
    await post("/v1/accounts", { username: "bot", type: "system" }, token);
    const sys = await post("/v1/accounts/bot/tokens", {}, token);
    assert.equal((await post("/v1/token/validate", { token: sys.token })).valid, true);
    const renewed = await post("/v1/auth/renew", {}, token);
    await post("/v1/auth/logout", {}, renewed.token);
    const res = await fetch(`${dir.url}/.well-known/jwks.json`, { client });
    await res.body?.cancel();
    // The web UI on the same origin: a page and its static assets.
    const page = await fetch(`${dir.url}/login`, { client });
    assert.equal(page.status, 200);
    const html = await page.text();
    for (const [, src] of html.matchAll(/(?:src|href)="(\/static\/[^"]+)"/g)) {
      const asset = await fetch(`${dir.url}${src}`, { client });
      assert.equal(asset.status, 200, src);
      await asset.body?.cancel();
    }
    // And over gRPC.
    const grpc = createGrpcClient(PROTO.AuthService, {
      target: `localhost:${dir.grpcPort}`,
      tls: { ca: dir.ca },
    });
    try {
      const info = await new Promise<{ valid: boolean }>((resolve, reject) =>
        grpc.ValidateToken({ token: sys.token }, (e, r) => e ? reject(e) : resolve(r!))
      );
      assert.equal(info.valid, true);
    } finally {
      grpc.close();
    }
  } finally {
    client.close();
    assert.equal(await proc.stop(), 0, proc.stderr());
  }
  const entries = await readAudit(audit);
  assert.ok(entries.some((e) => e.permission === "net"), "audit recorded nothing");
  assert.deepEqual(undeclaredAccesses(entries, proc.plan.permissions), []);
});
