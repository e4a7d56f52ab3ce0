/**
 * The admin API and mcproxyctl against the real `mc-proxy server` process
 * (started under its sandbox manifest through the launcher's plan): routes
 * added over the socket route new connections at once and survive a restart;
 * the CLI's subcommands round-trip through their own manifests.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import type net from "node:net";
import tls from "node:tls";
import { createDevPki, type DevPki } from "@mc/mcdsl/tls";
import { connectAdmin } from "./client.ts";
import { makeProxyDir, mcproxyctl, startProxyProcess } from "./_testing.ts";
import { ROOT } from "../../../tasks/_launcher.ts";

/** A TLS backend with its own certificate, so a client can tell it saw the backend. */
async function tlsBackend(pki: DevPki) {
  const server = tls.createServer(
    { cert: pki.server.cert, key: pki.server.key, minVersion: "TLSv1.3" },
    (s) => {
      s.on("error", () => {});
      s.end("hello from backend\n");
    },
  );
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    async [Symbol.asyncDispose]() {
      await new Promise((r) => server.close(r));
    },
  };
}

/** Connects through the proxy with `servername`; resolves with what the backend sent, or the error code. */
function through(port: number, servername: string, ca: string): Promise<string> {
  return new Promise((resolve) => {
    const s = tls.connect({ port, host: "127.0.0.1", servername, ca });
    let data = "";
    const timer = setTimeout(() => {
      s.destroy();
      resolve("timeout");
    }, 10_000);
    s.setEncoding("utf8");
    s.on("data", (d: string) => data += d);
    s.on("end", () => {
      clearTimeout(timer);
      resolve(data);
    });
    s.on("error", (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code ?? e.message);
    });
  });
}

Deno.test("routes added over the admin socket apply at once and survive a restart", async () => {
  const backendPki = await createDevPki({ hosts: ["late.test"], caName: "Backend CA" });
  await using backend = await tlsBackend(backendPki);
  await using dir = await makeProxyDir({ hosts: ["late.test"] });
  {
    await using proxy = await startProxyProcess(dir);
    // The socket the real process made is 0600.
    const info = await Deno.stat(dir.socket);
    assert.equal(info.isSocket, true);
    assert.equal(info.mode! & 0o777, 0o600);
    // Before the route exists: unknown SNI, refused (the RST itself is the
    // listener core's test).
    assert.notEqual(
      await through(dir.port, "late.test", backendPki.ca.cert),
      "hello from backend\n",
    );
    using admin = connectAdmin(dir.socket);
    const added = await admin.addRoute({
      listener: dir.listener,
      hostname: "late.test",
      backend: `127.0.0.1:${backend.port}`,
      mode: "l4",
    });
    assert.equal(added.replaced, false);
    // No restart: the next connection is routed, and the client verified the
    // BACKEND's certificate (its own CA), so this is L4 passthrough.
    assert.equal(
      await through(dir.port, "late.test", backendPki.ca.cert),
      "hello from backend\n",
    );
    // A backend outside the sandbox's net grant is refused before it is stored.
    await assert.rejects(
      admin.addRoute({
        listener: dir.listener,
        hostname: "far.test",
        backend: "192.0.2.10:443",
        mode: "l4",
      }),
      /backend_hosts/,
    );
    assert.equal(await proxy.stop(), 0);
  }
  // The socket is gone after a clean stop; the database holds the route.
  await assert.rejects(() => Deno.lstat(dir.socket), Deno.errors.NotFound);
  {
    await using _proxy = await startProxyProcess(dir);
    using admin = connectAdmin(dir.socket);
    const routes = await admin.listRoutes();
    assert.deepEqual(routes.map((r) => [r.hostname, r.backend, r.mode]), [
      ["late.test", `127.0.0.1:${backend.port}`, "l4"],
    ]);
    assert.equal(
      await through(dir.port, "late.test", backendPki.ca.cert),
      "hello from backend\n",
    );
    // Removing it applies at once too.
    await admin.removeRoute(dir.listener, "late.test");
    assert.notEqual(
      await through(dir.port, "late.test", backendPki.ca.cert),
      "hello from backend\n",
    );
  }
});

Deno.test("mcproxyctl: route, firewall and status round-trip through deno task mc-proxy", async () => {
  await using dir = await makeProxyDir({ hosts: ["ctl.test"] });
  await using _proxy = await startProxyProcess(dir);
  const cfg = ["--config", dir.config];

  let r = await mcproxyctl(["status", ...cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^version\t0\.1\.0$/m);
  assert.match(r.stdout, new RegExp(`^listener ${dir.listener}\\t0 routes\\t0 connections$`, "m"));

  const add = [
    "route",
    "add",
    ...cfg,
    "--listener",
    dir.listener,
    "--hostname",
    "CTL.test",
    "--backend",
    "127.0.0.1:9443",
    "--send-proxy-protocol",
  ];
  r = await mcproxyctl(add);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `added\t${dir.listener}\tctl.test\tl4\t127.0.0.1:9443\tproxy_v2\n`);
  r = await mcproxyctl(add); // idempotent
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^replaced\t/);

  r = await mcproxyctl([
    "route",
    "add",
    ...cfg,
    "--listener",
    dir.listener,
    "--hostname",
    "tls.test",
    "--backend",
    "127.0.0.1:9444",
    "--mode",
    "l7",
    "--tls-cert",
    dir.cert,
    "--tls-key",
    dir.key,
    "--backend-tls",
  ]);
  assert.equal(r.code, 0, r.stderr);
  r = await mcproxyctl(["route", "list", ...cfg]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(
    r.stdout,
    `${dir.listener}\tctl.test\tl4\t127.0.0.1:9443\tproxy_v2\n` +
      `${dir.listener}\ttls.test\tl7\t127.0.0.1:9444\tbackend_tls\t${dir.cert}\n`,
  );
  r = await mcproxyctl(["route", "list", ...cfg, "--json"]);
  assert.deepEqual(JSON.parse(r.stdout).map((x: { hostname: string }) => x.hostname), [
    "ctl.test",
    "tls.test",
  ]);

  // Refusals exit non-zero with the server's message.
  r = await mcproxyctl([
    "route",
    "add",
    ...cfg,
    "--listener",
    dir.listener,
    "--hostname",
    "bad_name!",
    "--backend",
    "127.0.0.1:1",
  ]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /Cannot use hostname "bad_name!"/);
  r = await mcproxyctl([
    "route",
    "remove",
    ...cfg,
    "--listener",
    dir.listener,
    "--hostname",
    "missing.test",
  ]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no such route/);

  r = await mcproxyctl(["firewall", "add", ...cfg, "--kind", "cidr", "--value", "10.0.0.0/8"]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, "added\tcidr\t10.0.0.0/8\n");
  r = await mcproxyctl(["firewall", "add", ...cfg, "--kind", "country", "--value", "de"]);
  assert.equal(r.stdout, "added\tcountry\tDE\n");
  r = await mcproxyctl(["firewall", "list", ...cfg]);
  assert.equal(r.stdout, "cidr\t10.0.0.0/8\ncountry\tDE\n");
  r = await mcproxyctl(["firewall", "remove", ...cfg, "--kind", "country", "--value", "DE"]);
  assert.equal(r.code, 0, r.stderr);
  r = await mcproxyctl(["firewall", "remove", ...cfg, "--kind", "country", "--value", "DE"]);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /no such rule/);

  r = await mcproxyctl([
    "route",
    "remove",
    ...cfg,
    "--listener",
    dir.listener,
    "--hostname",
    "ctl.test",
  ]);
  assert.equal(r.code, 0, r.stderr);
  r = await mcproxyctl(["status", ...cfg, "--json"]);
  const status = JSON.parse(r.stdout);
  assert.equal(status.totalRoutes, 1);
  assert.equal(status.firewallRules, 1);

  // snapshot while the server runs (the live socket is skipped), then restore.
  const snap = join(dir.dataDir, "..", "snap.tar.zst");
  r = await mcproxyctl(["snapshot", ...cfg, "--output", snap]);
  assert.equal(r.code, 0, r.stderr);
  const restored = join(dir.dataDir, "..", "restored");
  r = await mcproxyctl(["restore", "--from", snap, "--to", restored]);
  assert.equal(r.code, 0, r.stderr);
  assert.ok((await Deno.stat(join(restored, "mc-proxy.db"))).isFile);
  await assert.rejects(() => Deno.lstat(join(restored, "mc-proxy.sock")), Deno.errors.NotFound);

  // The CLI's sandbox: only the config and the socket (read, write and the
  // unix: net grant Deno's node:net checks), no other net, no database.
  const { planService } = await import("../../../tasks/_launcher.ts");
  const plan = await planService("mc-proxy", "route", ["list", ...cfg]);
  assert.deepEqual(plan.permissions.read?.sort(), [dir.config, dir.socket].sort());
  assert.deepEqual(plan.permissions.write, [dir.socket]);
  assert.deepEqual(plan.permissions.net, [`unix:${dir.socket}`]);
});

Deno.test("mcproxyctl: --help on every admin subcommand, without permissions", async () => {
  for (
    const args of [
      ["route", "--help"],
      ["route", "add", "--help"],
      ["route", "list", "--help"],
      ["route", "remove", "--help"],
      ["firewall", "add", "--help"],
      ["firewall", "list", "--help"],
      ["firewall", "remove", "--help"],
      ["status", "--help"],
      ["snapshot", "--help"],
      ["restore", "--help"],
    ]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", join(ROOT, "services/mc-proxy/main.ts"), ...args],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `${args.join(" ")}: ${text}`);
    assert.match(text, /usage|Usage/, args.join(" "));
  }
});
