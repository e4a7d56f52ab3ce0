import assert from "node:assert/strict";
import { openProxyStore, type SeedConfig } from "./store.ts";
import type { Route } from "./types.ts";

const SEED: SeedConfig = {
  listeners: [
    {
      addr: ":443",
      trusted_proxies: ["10.0.0.0/8"],
      routes: [
        {
          hostname: "Git.Example.NET.",
          backend: "10.0.0.2:443",
          mode: "l4",
          backend_tls: false,
          send_proxy_protocol: true,
        },
        {
          hostname: "web.example.net",
          backend: "10.0.0.3:8080",
          mode: "l7",
          tls_cert: "/srv/mc-proxy/certs/web.pem",
          tls_key: "/srv/mc-proxy/certs/web.key",
          backend_tls: false,
          send_proxy_protocol: false,
        },
      ],
    },
    { addr: ":8443", trusted_proxies: [], routes: [] },
  ],
  firewall: {
    blocked_ips: ["192.0.2.1"],
    blocked_cidrs: ["198.51.100.0/24"],
    blocked_countries: ["cn"],
    blocked_user_agents: ["BadBot"],
  },
};

const ROUTE: Route = {
  listener: ":8443",
  hostname: "new.example.net",
  backend: "10.0.0.9:443",
  mode: "l4",
  backendTls: false,
  sendProxyProtocol: false,
};

async function withDir(fn: (path: string) => void | Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "mcproxy_store_" });
  try {
    await fn(`${dir}/mc-proxy.db`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("seedFromConfig() seeds once; later config routes do not overwrite the database", () =>
  withDir((path) => {
    {
      using store = openProxyStore(path);
      assert.equal(store.seedFromConfig(SEED), true);
      assert.deepEqual(
        store.listRoutes().map((r) => [r.listener, r.hostname, r.sendProxyProtocol]),
        [
          [":443", "git.example.net", true],
          [":443", "web.example.net", false],
        ],
      );
      assert.deepEqual(store.listListeners(), [
        { addr: ":443", trustedProxies: ["10.0.0.0/8"] },
        { addr: ":8443", trustedProxies: [] },
      ]);
      assert.deepEqual(store.listFirewallRules(), [
        { kind: "cidr", value: "198.51.100.0/24" },
        { kind: "country", value: "CN" },
        { kind: "ip", value: "192.0.2.1" },
        { kind: "user_agent", value: "badbot" },
      ]);
      store.removeRoute(":443", "GIT.example.net");
    }
    using store = openProxyStore(path);
    assert.equal(store.seedFromConfig(SEED), false);
    // The removal survived; the config did not bring the route back.
    assert.deepEqual(store.listRoutes().map((r) => r.hostname), ["web.example.net"]);
  }));

Deno.test("upsertRoute() is idempotent, persists across reopen, and notifies after commit", () =>
  withDir((path) => {
    {
      using store = openProxyStore(path);
      store.seedFromConfig(SEED);
      const seen: string[][] = [];
      store.onChange((t) => seen.push(t.routes.map((r) => `${r.hostname}=${r.backend}`)));
      store.upsertRoute(ROUTE);
      store.upsertRoute(ROUTE);
      store.upsertRoute({ ...ROUTE, hostname: "NEW.example.net", backend: "10.0.0.10:443" });
      assert.equal(
        store.tables().byListener.get(":8443")?.get("new.example.net")?.backend,
        "10.0.0.10:443",
      );
      assert.equal(seen.length, 3);
      assert.ok(seen[2].includes("new.example.net=10.0.0.10:443"));
      assert.throws(
        () => store.upsertRoute({ ...ROUTE, listener: ":9999" }),
        /no listener ":9999"/,
      );
      assert.throws(
        () => store.upsertRoute({ ...ROUTE, mode: "l7" }),
        /needs tls_cert and tls_key/,
      );
      assert.throws(() => store.upsertRoute({ ...ROUTE, hostname: " " }), /hostname is empty/);
      assert.equal(seen.length, 3, "refused changes notify nobody");
    }
    using store = openProxyStore(path);
    store.seedFromConfig(SEED);
    const r = store.listRoutes().find((r) => r.hostname === "new.example.net");
    assert.deepEqual(r, { ...ROUTE, backend: "10.0.0.10:443" });
  }));

Deno.test("firewall rules add/remove are idempotent and persist", () =>
  withDir((path) => {
    {
      using store = openProxyStore(path);
      store.seedFromConfig(SEED);
      assert.equal(store.addFirewallRule({ kind: "ip", value: "2001:db8::1" }), true);
      assert.equal(store.addFirewallRule({ kind: "ip", value: "2001:db8::1" }), false);
      assert.equal(store.removeFirewallRule({ kind: "country", value: "cn" }), true);
      assert.equal(store.removeFirewallRule({ kind: "country", value: "CN" }), false);
      assert.throws(() => store.addFirewallRule({ kind: "nope" as "ip", value: "x" }), RangeError);
    }
    using store = openProxyStore(path);
    const rules = store.listFirewallRules();
    assert.ok(rules.some((r) => r.kind === "ip" && r.value === "2001:db8::1"));
    assert.ok(!rules.some((r) => r.kind === "country"));
  }));

Deno.test("syncListeners() follows the config; a dropped listener takes its routes", () =>
  withDir((path) => {
    using store = openProxyStore(path);
    store.seedFromConfig(SEED);
    store.upsertRoute(ROUTE);
    const dropped = store.syncListeners([{ addr: ":443", trusted_proxies: [], routes: [] }]);
    assert.deepEqual(dropped, [":8443"]);
    assert.deepEqual(store.listListeners(), [{ addr: ":443", trustedProxies: [] }]);
    assert.ok(!store.listRoutes().some((r) => r.listener === ":8443"));
    assert.equal(store.tables().byListener.has(":8443"), false);
  }));

Deno.test("a throwing change handler does not undo the committed change", () =>
  withDir((path) => {
    using store = openProxyStore(path);
    store.seedFromConfig(SEED);
    store.onChange(() => {
      throw new Error("handler bug");
    });
    store.upsertRoute(ROUTE);
    assert.ok(store.listRoutes().some((r) => r.hostname === ROUTE.hostname));
  }));
