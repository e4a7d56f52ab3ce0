/**
 * The service launcher derives permissions from the same arguments the
 * service parses, or refuses them.
 */
import assert from "node:assert/strict";
import {
  flagValue,
  NO_REMOTE_CODE_FLAGS,
  planService,
  udpSourceBinds,
} from "../tasks/_launcher.ts";
import { isHelpRequest } from "../tasks/service.ts";
import { makeFixtureDir } from "./fixture/_testing.ts";

Deno.test("flagValue() reads --name <v> and --name=<v>, and stops at --", () => {
  assert.equal(flagValue(["--config", "/a.toml"], "config"), "/a.toml");
  assert.equal(flagValue(["--config=/a.toml", "x"], "config"), "/a.toml");
  assert.equal(flagValue(["--other", "1"], "config"), undefined);
  assert.equal(flagValue(["--", "--config", "/b.toml"], "config"), undefined);
});

Deno.test("flagValue() refuses a repeated flag and the short forms the service CLI accepts", () => {
  const cases: [string[], string, string][] = [
    [["--config", "/a.toml", "--config", "/b.toml"], "config", "--config"],
    [["--config=/a.toml", "--config", "/b.toml"], "config", "--config"],
    [["--config", "/a.toml", "-c", "/b.toml"], "config", '"-c"'],
    [["-c/b.toml"], "config", '"-c/b.toml"'],
    [["-c", "/b.toml"], "config", '"-c"'],
    [["--output", "/tmp/a", "-o", "/etc/b"], "output", '"-o"'],
    [["--output=/tmp/a", "--output=/etc/b"], "output", "--output"],
  ];
  for (const [args, name, found] of cases) {
    assert.throws(
      () => flagValue(args, name),
      (e: Error) =>
        e.message.startsWith(`Cannot derive permissions: pass --${name} once, in long form`) &&
        e.message.includes(found),
      JSON.stringify(args),
    );
  }
});

Deno.test("planService() refuses two configs instead of granting one and running the other", async () => {
  await using a = await makeFixtureDir();
  await using b = await makeFixtureDir();
  await assert.rejects(
    planService("fixture", "server", ["--config", a.config, "--config", b.config]),
    /pass --config once, in long form/,
  );
  await assert.rejects(
    planService("fixture", "server", ["--config", a.config, "-c", b.config]),
    /pass --config once, in long form/,
  );
  const plan = await planService("fixture", "server", ["--config", a.config]);
  assert.deepEqual(plan.flags.slice(-NO_REMOTE_CODE_FLAGS.length), [...NO_REMOTE_CODE_FLAGS]);
});

Deno.test("isHelpRequest() treats -h, help and --help alike", () => {
  assert.equal(isHelpRequest(undefined, []), true);
  assert.equal(isHelpRequest("help", []), true);
  assert.equal(isHelpRequest("-h", []), true);
  assert.equal(isHelpRequest("--help", []), true);
  assert.equal(isHelpRequest("server", ["-h"]), true);
  assert.equal(isHelpRequest("server", ["--help"]), true);
  assert.equal(isHelpRequest("server", ["--config", "/a.toml"]), false);
});

Deno.test("planService() resolves placeholders through arrays of tables (mc-proxy listeners and routes)", async () => {
  const dir = await Deno.makeTempDir({ prefix: "launcher_mcproxy_" });
  try {
    const config = `${dir}/mc-proxy.toml`;
    await Deno.writeTextFile(
      config,
      `
[database]
path = "${dir}/data/mc-proxy.db"

[[listeners]]
addr = ":8443"

[[listeners.routes]]
hostname = "a.test"
backend = "127.0.0.1:9001"

[[listeners.routes]]
hostname = "b.test"
backend = "10.0.0.2:443"
mode = "l7"
tls_cert = "data/certs/b.pem"
tls_key = "data/certs/b.key"

[[listeners]]
addr = "127.0.0.1:9443"

[proxy]
backend_hosts = ["10.0.0.3"]
`,
    );
    const plan = await planService("mc-proxy", "server", ["--config", config], {
      env: () => undefined,
    });
    const net = plan.flags.find((f) => f.startsWith("--allow-net="))!.slice(12).split(",");
    assert.deepEqual(net.toSorted(), [
      "0.0.0.0:8443",
      "10.0.0.2:443",
      "10.0.0.3",
      "127.0.0.1:9001",
      "127.0.0.1:9443",
    ]);
    const read = plan.flags.find((f) => f.startsWith("--allow-read="))!.slice(13).split(",");
    assert.ok(read.includes(`${dir}/data/certs/b.pem`));
    assert.ok(read.includes(`${dir}/data/certs/b.key`));
    assert.ok(read.includes(`${dir}/data`));
    assert.ok(!read.some((p) => p === "" || p === dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("udp_source: grants a port-0 bind per address family only while the list is set", () => {
  assert.deepEqual(udpSourceBinds(undefined), []);
  assert.deepEqual(udpSourceBinds([]), []);
  assert.deepEqual(udpSourceBinds(["127.0.0.1:53", "10.0.0.1:53"]), ["0.0.0.0:0"]);
  assert.deepEqual(udpSourceBinds(["[::1]:53", "127.0.0.1:53"]), ["[::]:0", "0.0.0.0:0"]);
});
