/**
 * The listener core against real peers: openssl s_client, curl, node:tls
 * clients, HAProxy (send-proxy-v2 in front, accept-proxy behind), TLS
 * backends with their own certificates, a real SQLite store.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createSecureServer } from "node:http2";
import {
  connect as netConnect,
  createServer as netServer,
  type Server,
  type Socket,
} from "node:net";
import { connect as tlsConnect, createServer as tlsServer } from "node:tls";
import { freePort, run } from "@mc/mcdsl/testing";
import { createDevPki, type DevPki } from "@mc/mcdsl/tls";
import { createLogger } from "@mc/mcdsl/log";
import { Firewall } from "./firewall.ts";
import { parseClientHello } from "./client_hello.ts";
import { parseProxyHeader } from "./proxy_protocol.ts";
import { type RunningProxy, startProxy } from "./server.ts";
import { openProxyStore, type ProxyStore } from "./store.ts";
import type { BlockReason, FirewallRule, L7Terminator, ProxyObserver, Route } from "./types.ts";
import { startCaptureServer, startHaproxy } from "./_testing.ts";

const GEOIP = "/work/shared/testdata/geoip/GeoLite2-Country-Test.mmdb";
const LOGGER = createLogger({ level: "error" });

/** Counts what the proxy reports. */
class CountingObserver implements ProxyObserver {
  opened = 0;
  closed = 0;
  blocks: BlockReason[] = [];
  routes: string[] = [];
  bytesIn = 0;
  bytesOut = 0;
  connectionOpened() {
    this.opened++;
  }
  connectionClosed() {
    this.closed++;
  }
  blocked(reason: BlockReason) {
    this.blocks.push(reason);
  }
  routed(route: Route) {
    this.routes.push(route.hostname);
  }
  bytes(_r: Route, direction: "in" | "out", n: number) {
    if (direction === "in") this.bytesIn += n;
    else this.bytesOut += n;
  }
  latency() {}
  request() {}
}

/** A TLS backend with its own CA; greets every client with `greeting`. */
interface TlsBackend {
  port: number;
  pki: DevPki;
  close(): Promise<void>;
}

async function startTlsBackend(
  host: string,
  caName: string,
  greeting: string,
): Promise<TlsBackend> {
  const pki = await createDevPki({ hosts: [host], caName });
  const server = tlsServer(
    { cert: pki.server.cert, key: pki.server.key, minVersion: "TLSv1.3" },
    (s) => {
      s.on("error", () => {});
      s.end(greeting);
    },
  );
  server.on("tlsClientError", () => {});
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as { port: number }).port,
    pki,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

type Attempt =
  | { ok: true; data: string; issuer: string; authorized: boolean }
  | { ok: false; code: string };

/** A TLS 1.3 client through the proxy. */
function attempt(
  port: number,
  servername: string | undefined,
  ca?: string,
  options: { localAddress?: string; host?: string } = {},
): Promise<Attempt> {
  return new Promise((resolve) => {
    const raw = netConnect({
      host: options.host ?? "127.0.0.1",
      port,
      localAddress: options.localAddress,
    });
    let code: string | undefined;
    raw.on("error", (e: NodeJS.ErrnoException) => code ??= e.code ?? e.message);
    const s = tlsConnect({
      socket: raw,
      servername,
      ca,
      rejectUnauthorized: false,
      minVersion: "TLSv1.3",
    });
    let secure = false;
    let issuer = "";
    let authorized = false;
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      code ??= "TIMEOUT";
      s.destroy();
    }, 5000);
    s.on("secureConnect", () => {
      secure = true;
      issuer = String(s.getPeerCertificate()?.issuer?.CN ?? "");
      authorized = s.authorized;
    });
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", (e: NodeJS.ErrnoException) => code ??= e.code ?? e.message);
    s.on("close", () => {
      clearTimeout(timer);
      // Refused before the handshake finished: report how (ECONNRESET for a RST).
      if (!secure) resolve({ ok: false, code: code ?? "closed" });
      else resolve({ ok: true, data: Buffer.concat(chunks).toString(), issuer, authorized });
    });
  });
}

interface Fixture extends AsyncDisposable {
  dir: string;
  store: ProxyStore;
  proxy: RunningProxy;
  observer: CountingObserver;
  /** Port of listener `i`. */
  port(i?: number): number;
  /** Listener `i`'s configured address. */
  addr(i?: number): string;
}

interface FixtureOptions {
  listeners?: { trusted?: string[] }[];
  routes?: (addrs: string[]) => Route[];
  rules?: FirewallRule[];
  rateLimit?: number;
  l7?: L7Terminator;
  connectTimeoutMs?: number;
  idleTimeoutMs?: number;
}

function l4(
  listener: string,
  hostname: string,
  backendPort: number,
  extra: Partial<Route> = {},
): Route {
  return {
    listener,
    hostname,
    backend: `127.0.0.1:${backendPort}`,
    mode: "l4",
    backendTls: false,
    sendProxyProtocol: false,
    ...extra,
  };
}

async function startFixture(options: FixtureOptions = {}): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "mcproxy_test_" });
  const specs = options.listeners ?? [{}];
  const addrs = specs.map(() => `127.0.0.1:${freePort()}`);
  const store = openProxyStore(`${dir}/mc-proxy.db`);
  store.seedFromConfig({
    listeners: specs.map((s, i) => ({
      addr: addrs[i],
      trusted_proxies: s.trusted ?? [],
      routes: [],
    })),
    firewall: {
      blocked_ips: [],
      blocked_cidrs: [],
      blocked_countries: [],
      blocked_user_agents: [],
    },
  });
  for (const r of options.routes?.(addrs) ?? []) store.upsertRoute(r);
  for (const r of options.rules ?? []) store.addFirewallRule(r);
  const observer = new CountingObserver();
  const firewall = new Firewall({
    geoipDb: await Deno.readFile(GEOIP),
    rateLimit: { limit: options.rateLimit ?? 0, windowMs: 60_000 },
  });
  const proxy = await startProxy({
    store,
    firewall,
    observer,
    l7: options.l7,
    connectTimeoutMs: options.connectTimeoutMs ?? 2000,
    idleTimeoutMs: options.idleTimeoutMs ?? 10_000,
    logger: LOGGER,
  });
  const dispose = async () => {
    await proxy.close(Date.now() + 1000);
    store.close();
    await Deno.remove(dir, { recursive: true });
  };
  return {
    dir,
    store,
    proxy,
    observer,
    port: (i = 0) => proxy.listeners.get(addrs[i])!.port,
    addr: (i = 0) => addrs[i],
    [Symbol.asyncDispose]: dispose,
  };
}

/** Waits (bounded) until the proxy holds no client or backend connection. */
async function assertNoLeaks(proxy: RunningProxy): Promise<void> {
  for (let i = 0; i < 100 && (proxy.liveConnections() > 0 || proxy.liveBackends() > 0); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.equal(proxy.liveConnections(), 0, "client connections leaked");
  assert.equal(proxy.liveBackends(), 0, "backend connections leaked");
}

/** openssl s_client through the proxy; returns its combined output. */
async function sClient(port: number, ...args: string[]): Promise<string> {
  const out = await run("timeout", [
    "5",
    "openssl",
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    ...args,
  ], { stdin: "" });
  return out.stdout + out.stderr;
}

Deno.test("L4: openssl s_client -servername picks the route and sees the backend's own certificate", async () => {
  const a = await startTlsBackend("a.test", "Backend A CA", "hello from a\n");
  const b = await startTlsBackend("b.test", "Backend B CA", "hello from b\n");
  try {
    await using f = await startFixture({
      routes: ([addr]) => [l4(addr, "a.test", a.port), l4(addr, "B.Test", b.port)],
    });
    const outA = await sClient(f.port(), "-servername", "a.test");
    assert.match(outA, /issuer=CN ?= ?Backend A CA/);
    assert.match(outA, /TLSv1\.3/);
    const outB = await sClient(f.port(), "-servername", "B.TEST");
    assert.match(outB, /issuer=CN ?= ?Backend B CA/);
    // The backend's CA verifies the relayed handshake end to end; bytes flow both ways.
    const viaNode = await attempt(f.port(), "a.test", a.pki.ca.cert);
    assert.deepEqual(viaNode, {
      ok: true,
      data: "hello from a\n",
      issuer: "Backend A CA",
      authorized: true,
    });
    assert.deepEqual(f.observer.routes, ["a.test", "b.test", "a.test"]);
    assert.ok(f.observer.bytesIn > 0 && f.observer.bytesOut > 0);
    await assertNoLeaks(f.proxy);
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("refusals are TCP RSTs: TLS 1.2 only, unknown SNI, missing SNI, not TLS", async () => {
  const a = await startTlsBackend("a.test", "Backend A CA", "hi");
  try {
    await using f = await startFixture({ routes: ([addr]) => [l4(addr, "a.test", a.port)] });
    const v12 = await sClient(f.port(), "-servername", "a.test", "-tls1_2");
    assert.match(v12, /errno=104|Connection reset by peer/);
    assert.doesNotMatch(v12, /alert/i);
    assert.deepEqual(await attempt(f.port(), "nope.test"), { ok: false, code: "ECONNRESET" });
    // node:tls sends no SNI to an IP address.
    assert.deepEqual(await attempt(f.port(), undefined), { ok: false, code: "ECONNRESET" });
    const noSni = await sClient(f.port(), "-noservername");
    assert.match(noSni, /errno=104|Connection reset by peer/);
    const http = await run("curl", ["-sS", "--max-time", "5", `http://127.0.0.1:${f.port()}/`]);
    assert.match(http.stderr, /reset by peer|Recv failure/);
    assert.deepEqual(f.observer.blocks, [
      "not_tls13",
      "unknown_sni",
      "no_sni",
      "no_sni",
      "bad_client_hello",
    ]);
    assert.deepEqual(f.observer.routes, []);
    await assertNoLeaks(f.proxy);
  } finally {
    await a.close();
  }
});

Deno.test("a slow or oversized ClientHello is cut off with a RST (bounded time and size)", async () => {
  await using f = await startFixture({ connectTimeoutMs: 300 });
  const outcome = (s: Socket) =>
    new Promise<string>((resolve) => {
      const timer = setTimeout(() => resolve("still open"), 3000);
      s.on("error", (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        resolve(e.code ?? "error");
      });
      s.on("close", () => {
        clearTimeout(timer);
        resolve("closed");
      });
    });
  // Slowloris: a partial record, then nothing.
  const slow = netConnect({ host: "127.0.0.1", port: f.port() });
  slow.write(Uint8Array.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]));
  const t0 = Date.now();
  assert.equal(await outcome(slow), "ECONNRESET");
  assert.ok(Date.now() - t0 < 2500);
  // Oversized: records that never complete a ClientHello within 16 KiB.
  const big = netConnect({ host: "127.0.0.1", port: f.port() });
  const header = [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x80, 0x00];
  const filler: number[] = [];
  while (filler.length < 20_000) filler.push(0x16, 0x03, 0x01, 0x00, 0x01, 0x00);
  big.write(Uint8Array.from([...header, ...filler]));
  assert.equal(await outcome(big), "ECONNRESET");
  assert.deepEqual(f.observer.blocks, ["bad_client_hello", "bad_client_hello"]);
  await assertNoLeaks(f.proxy);
});

Deno.test("routes added or removed in the store apply to the next connection without restart", async () => {
  const a = await startTlsBackend("late.test", "Late CA", "late\n");
  try {
    await using f = await startFixture();
    assert.deepEqual(await attempt(f.port(), "late.test"), { ok: false, code: "ECONNRESET" });
    f.store.upsertRoute(l4(f.addr(), "late.test", a.port));
    const ok = await attempt(f.port(), "late.test");
    assert.equal(ok.ok && ok.data, "late\n");
    f.store.removeRoute(f.addr(), "late.test");
    assert.deepEqual(await attempt(f.port(), "late.test"), { ok: false, code: "ECONNRESET" });
    await assertNoLeaks(f.proxy);
  } finally {
    await a.close();
  }
});

Deno.test("firewall: IP, CIDR and rate-limit rules reset direct clients; changes apply at once", async () => {
  const a = await startTlsBackend("a.test", "Backend A CA", "ok");
  try {
    await using f = await startFixture({
      routes: ([addr]) => [l4(addr, "a.test", a.port)],
      rules: [{ kind: "ip", value: "127.0.0.2" }, { kind: "cidr", value: "127.0.1.0/24" }],
      rateLimit: 3,
    });
    assert.deepEqual(await attempt(f.port(), "a.test", undefined, { localAddress: "127.0.0.2" }), {
      ok: false,
      code: "ECONNRESET",
    });
    assert.deepEqual(await attempt(f.port(), "a.test", undefined, { localAddress: "127.0.1.9" }), {
      ok: false,
      code: "ECONNRESET",
    });
    f.store.removeFirewallRule({ kind: "ip", value: "127.0.0.2" });
    const freed = await attempt(f.port(), "a.test", undefined, { localAddress: "127.0.0.2" });
    assert.equal(freed.ok, true, "rule removal applies to the next connection");
    // Rate limit: 3 per window per IP; 127.0.0.1 gets 3, the 4th and 5th are reset.
    const results = [];
    for (let i = 0; i < 5; i++) results.push((await attempt(f.port(), "a.test")).ok);
    assert.deepEqual(results, [true, true, true, false, false]);
    assert.deepEqual(f.observer.blocks, ["ip", "cidr", "rate_limit", "rate_limit"]);
    await assertNoLeaks(f.proxy);
  } finally {
    await a.close();
  }
});

Deno.test("IPv6: a v6 listener routes, and a v6 CIDR rule blocks ::1", async () => {
  const a = await startTlsBackend("a.test", "Backend A CA", "v6 ok");
  try {
    const port = freePort();
    await using f = await startFixture({ routes: () => [] });
    // A second store/listener on [::1].
    const dir = await Deno.makeTempDir({ prefix: "mcproxy_v6_" });
    using store = openProxyStore(`${dir}/db`);
    store.seedFromConfig({
      listeners: [{ addr: `[::1]:${port}`, trusted_proxies: [], routes: [] }],
      firewall: {
        blocked_ips: [],
        blocked_cidrs: [],
        blocked_countries: [],
        blocked_user_agents: [],
      },
    });
    store.upsertRoute(l4(`[::1]:${port}`, "a.test", a.port));
    const observer = new CountingObserver();
    const proxy = await startProxy({
      store,
      firewall: new Firewall(),
      observer,
      connectTimeoutMs: 2000,
      idleTimeoutMs: 5000,
      logger: LOGGER,
    });
    try {
      const ok = await attempt(port, "a.test", undefined, { host: "::1" });
      assert.equal(ok.ok && ok.data, "v6 ok");
      store.addFirewallRule({ kind: "cidr", value: "::/127" });
      assert.deepEqual(await attempt(port, "a.test", undefined, { host: "::1" }), {
        ok: false,
        code: "ECONNRESET",
      });
      assert.deepEqual(observer.blocks, ["cidr"]);
      await assertNoLeaks(proxy);
    } finally {
      await proxy.close(Date.now() + 500);
      await Deno.remove(dir, { recursive: true });
    }
    void f;
  } finally {
    await a.close();
  }
});

Deno.test("HAProxy send-proxy-v2 in front: the firewall acts on the original client IP (ip, cidr, country)", async () => {
  const a = await startTlsBackend("a.test", "Backend A CA", "through haproxy\n");
  try {
    await using f = await startFixture({
      listeners: [{ trusted: ["127.0.0.1"] }],
      routes: ([addr]) => [l4(addr, "a.test", a.port)],
      rules: [
        { kind: "ip", value: "192.0.2.50" },
        { kind: "cidr", value: "198.51.100.0/24" },
        { kind: "cidr", value: "2001:db8:1::/48" },
        { kind: "country", value: "GB" },
        { kind: "country", value: "JP" },
      ],
    });
    // One HAProxy frontend per faked client address.
    const clients: [string, string, string][] = [
      ["ipv4(89.160.20.115)", "SE: allowed", "ok"],
      ["ipv4(192.0.2.50)", "ip rule", "ip"],
      ["ipv4(198.51.100.7)", "cidr v4 rule", "cidr"],
      ["ipv6(2001:db8:1::5)", "cidr v6 rule", "cidr"],
      ["ipv4(81.2.69.142)", "GB", "country"],
      ["ipv6(2001:218::1)", "JP", "country"],
    ];
    const ports = clients.map(() => freePort());
    const frontends = clients.map(([src], i) =>
      `frontend f${i}\n  bind 127.0.0.1:${
        ports[i]
      }\n  tcp-request connection set-src ${src}\n  default_backend mc\n`
    ).join("");
    await using _h = await startHaproxy(
      `${frontends}backend mc\n  server p 127.0.0.1:${f.port()} send-proxy-v2\n`,
      ports[0],
    );
    for (const p of ports.slice(1)) {
      (await Deno.connect({ hostname: "127.0.0.1", port: p }).catch(() => undefined))?.close();
    }
    // The probe connections above reached MC-Proxy as PROXY headers with no ClientHello.
    await new Promise((r) => setTimeout(r, 300));
    const before = f.observer.blocks.length;
    const outcomes: string[] = [];
    for (const [i, [, label, expect]] of clients.entries()) {
      const r = await attempt(ports[i], "a.test", a.pki.ca.cert);
      outcomes.push(r.ok ? (r.data === "through haproxy\n" ? "ok" : "bad data") : "refused");
      assert.equal(outcomes[i], expect === "ok" ? "ok" : "refused", label);
    }
    assert.deepEqual(f.observer.blocks.slice(before), ["ip", "cidr", "cidr", "country", "country"]);
    await assertNoLeaks(f.proxy);
  } finally {
    await a.close();
  }
});

Deno.test("a PROXY header from an untrusted peer is a bad ClientHello: RST", async () => {
  const a = await startTlsBackend("a.test", "Backend A CA", "x");
  try {
    await using f = await startFixture({
      listeners: [{ trusted: ["10.0.0.0/8"] }],
      routes: ([addr]) => [l4(addr, "a.test", a.port)],
    });
    const s = netConnect({ host: "127.0.0.1", port: f.port() });
    s.write("PROXY TCP4 89.160.20.115 127.0.0.1 1234 443\r\n");
    const code = await new Promise<string>((resolve) => {
      s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      s.on("close", () => resolve("closed"));
    });
    assert.equal(code, "ECONNRESET");
    assert.deepEqual(f.observer.blocks, ["bad_client_hello"]);
    // A trusted listener still takes a direct TLS client without a header.
    await using g = await startFixture({
      listeners: [{ trusted: ["127.0.0.1"] }],
      routes: ([addr]) => [l4(addr, "a.test", a.port)],
    });
    const direct = await attempt(g.port(), "a.test");
    assert.equal(direct.ok, true);
  } finally {
    await a.close();
  }
});

Deno.test("send_proxy_protocol: the backend gets a v2 header with the real client, parsed by us and by HAProxy accept-proxy", async () => {
  await using capture = await startCaptureServer();
  const haproxyPort = freePort();
  await using _h = await startHaproxy(
    `frontend in\n  bind 127.0.0.1:${haproxyPort} accept-proxy\n  default_backend cap\nbackend cap\n  server c 127.0.0.1:${capture.port} send-proxy-v2\n`,
    haproxyPort,
  );
  await using f = await startFixture({
    routes: ([addr]) => [
      l4(addr, "direct.test", capture.port, { sendProxyProtocol: true }),
      l4(addr, "via-haproxy.test", haproxyPort, { sendProxyProtocol: true }),
    ],
  });
  const complete = (b: Uint8Array) => {
    const r = parseProxyHeader(b);
    return r.status === "invalid" ||
      (r.status === "ok" && parseClientHello(b.subarray(r.length)).status !== "incomplete");
  };
  for (const host of ["direct.test", "via-haproxy.test"]) {
    const client = tlsConnect({
      host: "127.0.0.1",
      port: f.port(),
      servername: host,
      rejectUnauthorized: false,
    });
    client.on("error", () => {});
    await new Promise((r) => client.once("connect", r));
    const clientPort = client.localPort;
    // HAProxy's waitForPort probe reached the capture server first (no header from HAProxy then).
    let bytes = await capture.next(complete);
    while (parseProxyHeader(bytes).status !== "ok" || bytes.length < 20) {
      bytes = await capture.next(complete);
    }
    client.destroy();
    const r = parseProxyHeader(bytes);
    assert.equal(r.status, "ok", host);
    if (r.status !== "ok") continue;
    assert.deepEqual(r.source, {
      address: "127.0.0.1",
      port: clientPort,
      localAddress: "127.0.0.1",
      localPort: f.port(),
    }, host);
    const hello = parseClientHello(bytes.subarray(r.length));
    assert.deepEqual(hello, { status: "ok", sni: host, tls13: true }, host);
  }
  await assertNoLeaks(f.proxy);
});

Deno.test("L7 routes: handed to the terminator with the ClientHello replayed; refused without one", async () => {
  const pki = await createDevPki({ hosts: ["l7.test"], caName: "Proxy L7 CA" });
  // A minimal terminator (the real one is l7/): node:http2 over the handed socket.
  const h2 = createSecureServer({
    cert: pki.server.cert,
    key: pki.server.key,
    minVersion: "TLSv1.3",
    allowHTTP1: true,
    ALPNProtocols: ["h2", "http/1.1"],
  }, (req, res) => {
    res.end(`terminated ${req.httpVersion} ${req.headers["x-test"] ?? ""}`);
  });
  h2.on("tlsClientError", () => {});
  const handed: string[] = [];
  const l7: L7Terminator = {
    handle(socket, route, client) {
      handed.push(`${route.hostname} ${client.address}`);
      h2.emit("connection", socket);
    },
    updateRoutes() {},
    close: () => Promise.resolve(),
  };
  const route = (addr: string): Route => ({
    listener: addr,
    hostname: "l7.test",
    backend: "127.0.0.1:1",
    mode: "l7",
    tlsCert: "/unused/cert.pem",
    tlsKey: "/unused/key.pem",
    backendTls: false,
    sendProxyProtocol: false,
  });
  {
    await using f = await startFixture({ routes: ([addr]) => [route(addr)], l7 });
    const caFile = `${f.dir}/ca.pem`;
    await Deno.writeTextFile(caFile, pki.ca.cert);
    for (const [flag, version] of [["--http2", "2.0"], ["--http1.1", "1.1"]]) {
      const out = await run("curl", [
        "-sS",
        flag,
        "--max-time",
        "5",
        "--cacert",
        caFile,
        "-H",
        "x-test: yes",
        "--resolve",
        `l7.test:${f.port()}:127.0.0.1`,
        `https://l7.test:${f.port()}/`,
      ]);
      assert.equal(out.stdout, `terminated ${version} yes`, out.stderr);
    }
    const s = await sClient(f.port(), "-servername", "l7.test");
    assert.match(s, /issuer=CN ?= ?Proxy L7 CA/);
    assert.deepEqual(handed, ["l7.test 127.0.0.1", "l7.test 127.0.0.1", "l7.test 127.0.0.1"]);
    await assertNoLeaks(f.proxy);
  }
  {
    await using f = await startFixture({ routes: ([addr]) => [route(addr)] });
    assert.deepEqual(await attempt(f.port(), "l7.test"), { ok: false, code: "ECONNRESET" });
  }
});

Deno.test("graceful shutdown: stops accepting, lets live connections finish, destroys the rest at the deadline", async () => {
  // A backend that holds connections open and echoes.
  const held = new Set<Socket>();
  const backend: Server = netServer((s) => {
    held.add(s);
    s.on("error", () => {});
    s.on("close", () => held.delete(s));
    s.on("data", (d) => s.write(d));
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  const backendPort = (backend.address() as { port: number }).port;
  try {
    await using f = await startFixture({
      routes: ([addr]) => [l4(addr, "hold.test", backendPort)],
    });
    const hello = await captureHello("hold.test");
    const open = async () => {
      const s = netConnect({ host: "127.0.0.1", port: f.port() });
      s.on("error", () => {});
      s.write(hello);
      // The echo proves the relay is up.
      await new Promise<void>((resolve) => s.once("data", () => resolve()));
      return s;
    };
    const finishing = await open();
    const stuck = await open();
    assert.equal(f.proxy.liveConnections(), 2);
    const closed = f.proxy.close(Date.now() + 800);
    await new Promise((r) => setTimeout(r, 100));
    // No new connections.
    const refused = await new Promise<string>((resolve) => {
      const s = netConnect({ host: "127.0.0.1", port: f.port() });
      s.on("connect", () => {
        s.destroy();
        resolve("accepted");
      });
      s.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
    });
    assert.equal(refused, "ECONNREFUSED");
    // The live one still relays, then ends on its own.
    finishing.write("more");
    await new Promise<void>((resolve) => finishing.once("data", () => resolve()));
    finishing.end();
    const destroyed = await closed;
    assert.equal(destroyed, 1, "only the stuck connection was cut");
    assert.equal(f.proxy.liveConnections(), 0);
    stuck.destroy();
    await assertNoLeaks(f.proxy);
  } finally {
    for (const s of held) s.destroy();
    await new Promise((r) => backend.close(r));
  }
});

Deno.test("abrupt client disconnects mid-handshake and mid-stream leak nothing (bounded churn)", async () => {
  const a = await startTlsBackend("a.test", "Backend A CA", "x".repeat(65536));
  try {
    await using f = await startFixture({ routes: ([addr]) => [l4(addr, "a.test", a.port)] });
    const hello = await captureHello("a.test");
    const rounds = 300;
    for (let i = 0; i < rounds; i += 20) {
      await Promise.all(Array.from({ length: 20 }, (_, j) =>
        new Promise<void>((resolve) => {
          const s = netConnect({ host: "127.0.0.1", port: f.port() });
          s.on("error", () => {});
          s.on("close", () => resolve());
          const mode = (i + j) % 3;
          s.on("connect", () => {
            if (mode === 0) s.write(hello.subarray(0, 20)); // mid-ClientHello
            else s.write(hello); // full hello: relayed to the backend
            setTimeout(() => mode === 2 ? s.destroy() : s.resetAndDestroy(), mode === 0 ? 1 : 20);
          });
        })));
    }
    await assertNoLeaks(f.proxy);
    // Still serving.
    const ok = await attempt(f.port(), "a.test");
    assert.equal(ok.ok, true);
    assert.equal(f.observer.opened, rounds + 1);
  } finally {
    await a.close();
  }
});

Deno.test("L4 relay: half-close passes through, and an idle pair is closed after idle_timeout", async () => {
  // The backend answers after the client's FIN, then closes.
  const backend: Server = netServer({ allowHalfOpen: true }, (s) => {
    s.on("error", () => {});
    const got: Buffer[] = [];
    s.on("data", (d: Buffer) => got.push(d));
    s.on("end", () => s.end(`got ${Buffer.concat(got).length} bytes`));
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  const backendPort = (backend.address() as { port: number }).port;
  try {
    await using f = await startFixture({
      routes: ([addr]) => [l4(addr, "half.test", backendPort)],
      idleTimeoutMs: 300,
    });
    const hello = await captureHello("half.test");
    const half = netConnect({ host: "127.0.0.1", port: f.port(), allowHalfOpen: true });
    half.on("error", () => {});
    const answer = new Promise<string>((resolve) => {
      const chunks: Buffer[] = [];
      half.on("data", (c: Buffer) => chunks.push(c));
      half.on("end", () => resolve(Buffer.concat(chunks).toString()));
    });
    half.end(hello);
    assert.equal(await within(5000, answer, "half-closed answer"), `got ${hello.length} bytes`);
    half.destroy();
    // Idle: a pair that stays silent is closed (bounded: well under 3 s).
    const idle = netConnect({ host: "127.0.0.1", port: f.port(), allowHalfOpen: true });
    idle.on("error", () => {});
    idle.write(hello);
    const t0 = Date.now();
    await within(
      5000,
      new Promise<void>((resolve) => idle.once("close", () => resolve())),
      "idle close",
    );
    const took = Date.now() - t0;
    assert.ok(took >= 250 && took < 3000, `closed after ${took} ms`);
    await assertNoLeaks(f.proxy);
  } finally {
    await new Promise((r) => backend.close(r));
  }
});

/** `promise`, or a rejection naming `what` after `ms`. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing after ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A real openssl ClientHello for `servername` (captured once). */
async function captureHello(servername: string): Promise<Uint8Array> {
  await using capture = await startCaptureServer();
  const child = new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${capture.port}`, "-servername", servername],
    stdin: "piped",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const bytes = await capture.next((b) => parseClientHello(b).status !== "incomplete");
  await child.stdin.close().catch(() => {});
  try {
    child.kill();
  } catch { /* exited */ }
  await child.status;
  return bytes;
}
