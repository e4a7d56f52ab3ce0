/**
 * `deno task up` runs what exists, prints its endpoints, and stops cleanly
 * on Ctrl-C (SIGINT).
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import { ROOT } from "../tasks/_launcher.ts";
import { devEnv } from "../tasks/up.ts";
import { freePort } from "./fixture/_testing.ts";

Deno.test("devEnv() drops the port and per-service overrides a developer's shell may hold", () => {
  const env = {
    HOME: "/home/dev",
    PATH: "/usr/bin",
    DENO_DIR: "/cache",
    PORT: "8080",
    PORT_REST: "8081",
    PORT_GRPC: "9090",
    FIXTURE_SERVER_LISTEN_ADDR: "0.0.0.0:1",
    MC_PROXY_LOG_LEVEL: "debug",
    FIXTURES: "kept",
    PORTAL: "kept",
  };
  assert.deepEqual(devEnv(env, ["fixture", "mc-proxy"]), {
    HOME: "/home/dev",
    PATH: "/usr/bin",
    DENO_DIR: "/cache",
    FIXTURES: "kept",
    PORTAL: "kept",
  });
  assert.equal(env.PORT, "8080", "the input is not modified");
});

Deno.test("deno task up starts MCIAS first, prints endpoints and admin credentials that log in, MCNS answers dig, stops on SIGINT", async () => {
  const dataDir = await Deno.makeTempDir({ prefix: "mc_up_" });
  const child = new Deno.Command(Deno.execPath(), {
    args: ["task", "up", "--data-dir", dataDir],
    cwd: ROOT,
    // A PORT in the developer's shell must not move the services.
    env: { NO_COLOR: "1", PORT: String(freePort()), FIXTURE_SERVER_GRPC_ADDR: "0.0.0.0:1" },
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
    // MCIAS comes first, and the printed first-admin credentials log in.
    assert.ok(out.indexOf("mcias ") < out.indexOf("fixture "), out);
    const rest = /mcias\s+rest\s+(https:\/\/\S+)/.exec(out);
    const admin = /MCIAS admin: (\S+) \/ (\S+)/.exec(out);
    assert.ok(rest && admin, out);
    const login = await fetch(`${rest[1]}/v1/auth/login`, {
      client,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: admin[1], password: admin[2] }),
    });
    assert.equal(login.status, 200);
    const { token } = await login.json();
    const check = await fetch(`${rest[1]}/v1/token/validate`, {
      client,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token }),
    });
    const info = await check.json();
    assert.equal(info.valid, true);
    assert.deepEqual([info.username, info.roles], [admin[1], ["admin"]]);

    // MCNS comes after MCIAS; the seeded name resolves with dig, and the
    // record API accepts the admin's token (MCIAS validates it).
    assert.ok(out.indexOf("mcias ") < out.indexOf("mcns "), out);
    const dns = /mcns\s+dns\s+127\.0\.0\.1:(\d+)/.exec(out);
    const mcnsRest = /mcns\s+rest\s+(https:\/\/\S+)/.exec(out);
    const example = /dig @127\.0\.0\.1 -p (\d+) (\S+) \+short/.exec(out);
    assert.ok(dns && mcnsRest && example, out);
    assert.equal(example[1], dns[1]);
    let answer = "";
    // The seed was written by the CLI; the server picks it up within its
    // 250 ms reload interval.
    for (let i = 0; i < 20 && answer !== "127.0.0.1"; i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 250));
      const dig = await new Deno.Command("dig", {
        args: ["@127.0.0.1", "-p", dns[1], example[2], "A", "+short", "+time=2", "+tries=1"],
        stdout: "piped",
        stderr: "piped",
      }).output();
      answer = new TextDecoder().decode(dig.stdout).trim();
    }
    assert.equal(answer, "127.0.0.1", `dig ${example[2]}`);
    // A token is for one service: log in to mcns.
    const mcnsLogin = await fetch(`${rest[1]}/v1/auth/login`, {
      client,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: admin[1], password: admin[2], service_name: "mcns" }),
    });
    assert.equal(mcnsLogin.status, 200);
    const zones = await fetch(`${mcnsRest[1]}/v1/zones`, {
      client,
      headers: { authorization: `Bearer ${(await mcnsLogin.json()).token}` },
    });
    assert.equal(zones.status, 200);
    const { zones: list } = await zones.json();
    assert.ok(list.some((z: { name: string }) => example[2].endsWith(`.${z.name}`)));
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
