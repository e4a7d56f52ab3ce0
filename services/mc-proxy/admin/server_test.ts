import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { createLogger } from "@mc/mcdsl/log";
import { createDevPki } from "@mc/mcdsl/tls";
import { createMetrics } from "../metrics.ts";
import { openProxyStore, type ProxyStore } from "../store.ts";
import { ADMIN_ACCESS } from "./access.ts";
import { connectAdmin } from "./client.ts";
import { type AdminServer, PROTO, startAdminServer } from "./server.ts";

const LISTENERS = [
  { addr: ":443", trusted_proxies: [], routes: [] },
  { addr: "127.0.0.1:8443", trusted_proxies: ["10.0.0.0/8"], routes: [] },
];

interface Harness extends AsyncDisposable {
  dir: string;
  socket: string;
  store: ProxyStore;
  metrics: ReturnType<typeof createMetrics>;
  server: AdminServer;
  logs: string[];
}

async function harness(dir?: string): Promise<Harness> {
  const root = dir ?? await Deno.makeTempDir({ prefix: "mcproxy_admin_" });
  await Deno.chmod(root, 0o700);
  const socket = join(root, "mc-proxy.sock");
  const store = openProxyStore(join(root, "mc-proxy.db"));
  store.syncListeners(LISTENERS);
  const metrics = createMetrics();
  const logs: string[] = [];
  const server = await startAdminServer({
    socket,
    store,
    status: metrics,
    logger: createLogger({ level: "info", write: (l) => logs.push(l) }),
    version: "0.1.0-test",
    checkBackend: (b) => {
      if (b.startsWith("192.0.2.")) {
        throw new RangeError(`Cannot use backend "${b}": not in [proxy] backend_hosts`);
      }
    },
  });
  return {
    dir: root,
    socket,
    store,
    metrics,
    server,
    logs,
    async [Symbol.asyncDispose]() {
      await server.shutdown(100);
      store.close();
      if (dir === undefined) await Deno.remove(root, { recursive: true });
    },
  };
}

async function rejectsWith(p: Promise<unknown>, code: grpc.status, message: RegExp) {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `${e.code} ${e.details}`);
    assert.match(e.details, message);
    return true;
  });
}

const L4 = { listener: ":443", hostname: "App.Test", backend: "127.0.0.1:9000", mode: "l4" };

Deno.test("admin access map declares every method of ProxyAdminService", () => {
  const paths = Object.values(PROTO.ProxyAdminService.service).map((m) => m.path).sort();
  assert.deepEqual(Object.keys(ADMIN_ACCESS).sort(), paths);
});

Deno.test("admin socket is a 0600 unix socket; a live one is not stolen, a stale one is replaced", async () => {
  await using h = await harness();
  const info = await Deno.stat(h.socket);
  assert.equal(info.isSocket, true);
  assert.equal(info.mode! & 0o777, 0o600);
  // A second server on the same socket must refuse while the first answers.
  await assert.rejects(
    () =>
      startAdminServer({
        socket: h.socket,
        store: h.store,
        status: h.metrics,
        logger: createLogger({ level: "error", write: () => {} }),
        version: "x",
      }),
    /another process is serving on it/,
  );
  await assert.rejects(
    () =>
      startAdminServer({
        socket: "relative.sock",
        store: h.store,
        status: h.metrics,
        logger: createLogger({ level: "error", write: () => {} }),
        version: "x",
      }),
    RangeError,
  );
  // A stale socket file (left by a process that died without unlinking it)
  // is removed at start.
  const stalePath = join(h.dir, "stale.sock");
  const died = await new Deno.Command(Deno.execPath(), {
    args: [
      "eval",
      `Deno.listen({ transport: "unix", path: ${JSON.stringify(stalePath)} }); Deno.exit(0);`,
    ],
    stdout: "null",
    stderr: "null",
  }).output();
  assert.equal(died.code, 0);
  assert.equal((await Deno.lstat(stalePath)).isSocket, true);
  const second = await startAdminServer({
    socket: stalePath,
    store: h.store,
    status: h.metrics,
    logger: createLogger({ level: "error", write: () => {} }),
    version: "x",
  });
  using c = connectAdmin(stalePath);
  assert.equal((await c.getStatus()).version, "x");
  await second.shutdown(100);
  await assert.rejects(() => Deno.lstat(stalePath), Deno.errors.NotFound);
});

Deno.test("AddRoute is an idempotent upsert; RemoveRoute removes or answers NOT_FOUND", async () => {
  await using h = await harness();
  using c = connectAdmin(h.socket);
  const first = await c.addRoute(L4);
  assert.equal(first.replaced, false);
  assert.equal(first.route?.hostname, "app.test");
  const again = await c.addRoute(L4);
  assert.equal(again.replaced, true);
  assert.deepEqual((await c.listRoutes()).map((r) => r.hostname), ["app.test"]);
  // Same hostname, new backend: replaced, still one route.
  await c.addRoute({ ...L4, backend: "127.0.0.1:9001", sendProxyProtocol: true });
  const routes = await c.listRoutes();
  assert.equal(routes.length, 1);
  assert.equal(routes[0].backend, "127.0.0.1:9001");
  assert.equal(routes[0].sendProxyProtocol, true);
  // The store (and so the listeners' tables) holds the change.
  assert.equal(h.store.tables().byListener.get(":443")?.get("app.test")?.backend, "127.0.0.1:9001");
  // Same hostname on another listener is another route; the filter works.
  await c.addRoute({ ...L4, listener: "127.0.0.1:8443" });
  assert.equal((await c.listRoutes()).length, 2);
  assert.deepEqual((await c.listRoutes("127.0.0.1:8443")).map((r) => r.listener), [
    "127.0.0.1:8443",
  ]);
  await c.removeRoute(":443", "APP.test.");
  assert.deepEqual((await c.listRoutes()).map((r) => r.listener), ["127.0.0.1:8443"]);
  await rejectsWith(c.removeRoute(":443", "app.test"), grpc.status.NOT_FOUND, /no such route/);
  assert.ok(h.logs.some((l) => l.includes("route upserted")));
});

Deno.test("AddRoute refuses bad input with INVALID_ARGUMENT and a clear message", async () => {
  await using h = await harness();
  using c = connectAdmin(h.socket);
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ hostname: "*.test" }, /Cannot use hostname "\*\.test"/],
    [{ hostname: "" }, /Cannot use hostname/],
    [{ backend: "nope" }, /Cannot use backend "nope"/],
    [{ backend: "127.0.0.1:0" }, /Cannot use backend/],
    [{ mode: "l3" }, /Cannot use mode "l3"/],
    [{ listener: ":9999" }, /unknown listener ":9999"/],
    [{ mode: "l7" }, /tls_cert and tls_key are required/],
    [{ backend: "192.0.2.1:443" }, /not in \[proxy\] backend_hosts/],
    [{ mode: "l7", tlsCert: "/nonexistent/c.pem", tlsKey: "/nonexistent/k.pem" }, /cannot read/],
  ];
  for (const [patch, message] of bad) {
    await rejectsWith(c.addRoute({ ...L4, ...patch }), grpc.status.INVALID_ARGUMENT, message);
  }
  assert.equal((await c.listRoutes()).length, 0);

  // L7 with real PEM files is stored; a non-PEM "certificate" is refused.
  const pki = await createDevPki({ hosts: ["app.test"] });
  const cert = join(h.dir, "app.pem");
  const key = join(h.dir, "app.key");
  await Deno.writeTextFile(cert, pki.server.cert);
  await Deno.writeTextFile(key, pki.server.key, { mode: 0o600 });
  await rejectsWith(
    c.addRoute({ ...L4, mode: "l7", tlsCert: key, tlsKey: key }),
    grpc.status.INVALID_ARGUMENT,
    /not a PEM certificate/,
  );
  const l7 = await c.addRoute({ ...L4, mode: "l7", tlsCert: cert, tlsKey: key, backendTls: true });
  assert.equal(l7.route?.mode, "l7");
  assert.equal(l7.route?.tlsCert, cert);
  assert.equal(h.store.listRoutes()[0].tlsKey, key);
});

Deno.test("firewall rule CRUD over the admin socket", async () => {
  await using h = await harness();
  using c = connectAdmin(h.socket);
  assert.deepEqual(await c.addFirewallRule("ip", "192.0.2.7"), { kind: "ip", value: "192.0.2.7" });
  assert.deepEqual(await c.addFirewallRule("cidr", "2001:DB8::/32"), {
    kind: "cidr",
    value: "2001:db8::/32",
  });
  assert.deepEqual(await c.addFirewallRule("country", "cn"), { kind: "country", value: "CN" });
  assert.deepEqual(await c.addFirewallRule("user_agent", "ZGrab"), {
    kind: "user_agent",
    value: "zgrab",
  });
  await c.addFirewallRule("country", "CN"); // no-op
  assert.deepEqual(await c.listFirewallRules(), [
    { kind: "cidr", value: "2001:db8::/32" },
    { kind: "country", value: "CN" },
    { kind: "ip", value: "192.0.2.7" },
    { kind: "user_agent", value: "zgrab" },
  ]);
  assert.equal(h.store.tables().rules.length, 4);
  await rejectsWith(
    c.addFirewallRule("cidr", "10.0.0.0/40"),
    grpc.status.INVALID_ARGUMENT,
    /Cannot use cidr rule "10\.0\.0\.0\/40"/,
  );
  await rejectsWith(c.addFirewallRule("asn", "1"), grpc.status.INVALID_ARGUMENT, /kind "asn"/);
  await c.removeFirewallRule("country", "cn");
  await rejectsWith(
    c.removeFirewallRule("country", "CN"),
    grpc.status.NOT_FOUND,
    /no such rule/,
  );
  assert.deepEqual((await c.listFirewallRules()).map((r) => r.kind), ["cidr", "ip", "user_agent"]);
});

Deno.test("GetStatus reports version, uptime, listeners, routes and live connections", async () => {
  await using h = await harness();
  using c = connectAdmin(h.socket);
  await c.addRoute(L4);
  await c.addRoute({ ...L4, hostname: "b.test" });
  await c.addFirewallRule("ip", "192.0.2.1");
  h.metrics.observer.connectionOpened(":443");
  h.metrics.observer.connectionOpened(":443");
  h.metrics.observer.connectionOpened("127.0.0.1:8443");
  const s = await c.getStatus();
  assert.equal(s.version, "0.1.0-test");
  assert.ok(s.uptimeSeconds >= 0 && s.uptimeSeconds < 60);
  assert.ok(!Number.isNaN(Date.parse(s.startedAt)));
  assert.equal(s.liveConnections, "3");
  assert.equal(s.totalRoutes, 2);
  assert.equal(s.firewallRules, 1);
  assert.deepEqual(
    s.listeners.map((l) => [l.addr, l.routes, l.activeConnections, l.trustedProxies]),
    [["127.0.0.1:8443", 0, "1", ["10.0.0.0/8"]], [":443", 2, "2", []]],
  );
});

Deno.test("routes and rules added over the admin socket survive a restart", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcproxy_admin_restart_" });
  try {
    {
      await using h = await harness(dir);
      using c = connectAdmin(h.socket);
      await c.addRoute(L4);
      await c.addFirewallRule("cidr", "10.9.0.0/16");
    }
    // The socket is removed on shutdown; a new server over the reopened database.
    await assert.rejects(() => Deno.lstat(join(dir, "mc-proxy.sock")), Deno.errors.NotFound);
    await using h = await harness(dir);
    using c = connectAdmin(h.socket);
    assert.deepEqual((await c.listRoutes()).map((r) => [r.hostname, r.backend]), [
      ["app.test", "127.0.0.1:9000"],
    ]);
    assert.deepEqual(await c.listFirewallRules(), [{ kind: "cidr", value: "10.9.0.0/16" }]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
