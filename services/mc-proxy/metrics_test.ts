import assert from "node:assert/strict";
import { createMetrics, parseMetricsAddr } from "./metrics.ts";
import type { Route } from "./types.ts";

const L4: Route = {
  listener: ":443",
  hostname: "a.example.com",
  backend: "127.0.0.1:8443",
  mode: "l4",
  backendTls: false,
  sendProxyProtocol: false,
};
const L7: Route = { ...L4, hostname: "b.example.com", mode: "l7", tlsCert: "c", tlsKey: "k" };

/** Parses exposition text into `name{labels}` → value (histogram series included). */
function parseExposition(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-z_:][a-z0-9_:]*)(\{[^}]*\})? (\S+)$/i.exec(line);
    assert.ok(m, `unparsable exposition line: ${line}`);
    const labels = m[2] === undefined ? "" : [...m[2].slice(1, -1).matchAll(/(\w+)="([^"]*)"/g)]
      .map(([, k, v]) => `${k}=${v}`).sort().join(",");
    out.set(`${m[1]}{${labels}}`, Number(m[3]));
  }
  return out;
}

Deno.test("createMetrics() counts connections, blocks, routes, bytes, requests and latency", async () => {
  const m = createMetrics();
  const o = m.observer;
  o.connectionOpened(":443");
  o.connectionOpened(":443");
  o.connectionOpened(":8443");
  o.connectionClosed(":443");
  o.blocked("rate_limit");
  o.blocked("rate_limit");
  o.blocked("unknown_sni");
  o.routed(L4);
  o.routed(L7);
  o.routed(L7);
  o.bytes(L4, "in", 100);
  o.bytes(L4, "in", 50);
  o.bytes(L4, "out", 4096);
  o.request(L7, 200);
  o.request(L7, 204);
  o.request(L7, 403);
  o.request(L7, 502);
  o.latency(L4, 0.0004);
  o.latency(L4, 0.02);
  o.latency(L7, 3);

  const s = parseExposition(await m.render());
  assert.equal(s.get("mcproxy_connections_opened_total{listener=:443}"), 2);
  assert.equal(s.get("mcproxy_connections_opened_total{listener=:8443}"), 1);
  assert.equal(s.get("mcproxy_connections_active{listener=:443}"), 1);
  assert.equal(s.get("mcproxy_connections_active{listener=:8443}"), 1);
  assert.equal(m.liveConnections(), 2);
  assert.deepEqual([...m.activeConnections()], [[":443", 1], [":8443", 1]]);
  assert.equal(s.get("mcproxy_blocks_total{reason=rate_limit}"), 2);
  assert.equal(s.get("mcproxy_blocks_total{reason=unknown_sni}"), 1);
  assert.equal(
    s.get("mcproxy_route_connections_total{listener=:443,mode=l4,route=a.example.com}"),
    1,
  );
  assert.equal(
    s.get("mcproxy_route_connections_total{listener=:443,mode=l7,route=b.example.com}"),
    2,
  );
  assert.equal(
    s.get("mcproxy_route_bytes_total{direction=in,listener=:443,route=a.example.com}"),
    150,
  );
  assert.equal(
    s.get("mcproxy_route_bytes_total{direction=out,listener=:443,route=a.example.com}"),
    4096,
  );
  const req = (cls: string) =>
    s.get(`mcproxy_route_requests_total{listener=:443,route=b.example.com,status_class=${cls}}`);
  assert.equal(req("2xx"), 2);
  assert.equal(req("4xx"), 1);
  assert.equal(req("5xx"), 1);
  const bucket = (le: string) =>
    s.get(
      `mcproxy_route_latency_seconds_bucket{le=${le},listener=:443,mode=l4,route=a.example.com}`,
    );
  assert.equal(bucket("0.0005"), 1);
  assert.equal(bucket("0.025"), 2);
  assert.equal(
    s.get("mcproxy_route_latency_seconds_count{listener=:443,mode=l7,route=b.example.com}"),
    1,
  );
  assert.equal(
    s.get("mcproxy_route_latency_seconds_sum{listener=:443,mode=l7,route=b.example.com}"),
    3,
  );
});

Deno.test("createMetrics() observer ignores bad input and never throws", async () => {
  const m = createMetrics();
  const o = m.observer;
  o.connectionClosed(":443"); // close without open
  o.bytes(L4, "in", -5);
  o.bytes(L4, "in", NaN);
  o.latency(L4, -1);
  o.latency(L4, Infinity);
  o.request(L7, 0);
  // A route with odd label text (quotes, newlines) is escaped, not fatal.
  o.routed({ ...L4, hostname: 'x"y\nz' });
  const text = await m.render();
  const s = parseExposition(text);
  assert.equal(m.liveConnections(), 0);
  assert.equal(s.get("mcproxy_connections_active{listener=:443}"), undefined);
  assert.equal(
    s.get("mcproxy_route_bytes_total{direction=in,listener=:443,route=a.example.com}"),
    undefined,
  );
  assert.equal(
    s.get("mcproxy_route_requests_total{listener=:443,route=b.example.com,status_class=other}"),
    1,
  );
});

Deno.test("parseMetricsAddr() accepts loopback and refuses anything else", () => {
  assert.deepEqual(parseMetricsAddr("127.0.0.1:9100"), { hostname: "127.0.0.1", port: 9100 });
  assert.deepEqual(parseMetricsAddr("[::1]:0"), { hostname: "::1", port: 0 });
  assert.deepEqual(parseMetricsAddr("localhost:9100"), { hostname: "localhost", port: 9100 });
  for (const bad of [":9100", "0.0.0.0:9100", "10.0.0.1:9100", "[::]:9100", "example.com:80"]) {
    assert.throws(() => parseMetricsAddr(bad), /must listen on loopback/, bad);
  }
  for (const bad of ["127.0.0.1", "127.0.0.1:99999", "127.0.0.1:x", ""]) {
    assert.throws(() => parseMetricsAddr(bad), /expected host:port/, bad);
  }
});

Deno.test("createMetrics().serve() answers GET /metrics on loopback, 404 elsewhere", async () => {
  const m = createMetrics();
  m.observer.blocked("ip");
  const listener = await m.serve("127.0.0.1:0");
  try {
    const base = `http://127.0.0.1:${listener.port}`;
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
    assert.equal(parseExposition(await res.text()).get("mcproxy_blocks_total{reason=ip}"), 1);
    const other = await fetch(`${base}/`);
    assert.equal(other.status, 404);
    await other.body?.cancel();
    const post = await fetch(`${base}/metrics`, { method: "POST" });
    assert.equal(post.status, 405);
    await post.body?.cancel();
  } finally {
    await listener.close();
  }
  await assert.rejects(() => m.serve("0.0.0.0:0"), RangeError);
});
