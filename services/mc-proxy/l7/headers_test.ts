import assert from "node:assert/strict";
import { backendRequestHeaders, clientResponseHeaders } from "./headers.ts";
import { upgradeRequestHead } from "./websocket.ts";

const target = {
  method: "POST",
  path: "/a?b=c",
  authority: "app.test",
  scheme: "http" as const,
  clientAddress: "2001:db8::7",
};

Deno.test("backendRequestHeaders() sets pseudo-headers and forwarding fields", () => {
  const h = backendRequestHeaders({ host: "app.test", accept: "*/*" }, target);
  assert.deepEqual(h, {
    ":method": "POST",
    ":path": "/a?b=c",
    ":scheme": "http",
    ":authority": "app.test",
    accept: "*/*",
    "x-forwarded-for": "2001:db8::7",
    "x-real-ip": "2001:db8::7",
    "x-forwarded-proto": "https",
  });
});

Deno.test("backendRequestHeaders() appends to X-Forwarded-For and overrides X-Real-IP", () => {
  const h = backendRequestHeaders({
    "x-forwarded-for": ["198.51.100.1", "198.51.100.2"],
    "x-real-ip": "203.0.113.9",
    "x-forwarded-proto": "http",
  }, target);
  assert.equal(h["x-forwarded-for"], "198.51.100.1, 198.51.100.2, 2001:db8::7");
  assert.equal(h["x-real-ip"], "2001:db8::7");
  assert.equal(h["x-forwarded-proto"], "https");
});

Deno.test("backendRequestHeaders() drops hop-by-hop fields and those Connection names", () => {
  const h = backendRequestHeaders({
    connection: "keep-alive, X-Hop",
    "keep-alive": "timeout=5",
    "proxy-connection": "x",
    "transfer-encoding": "chunked",
    upgrade: "h2c",
    "http2-settings": "AAA",
    expect: "100-continue",
    "x-hop": "1",
    "x-kept": "2",
  }, target);
  for (const name of Object.keys(h)) assert.ok(name.startsWith(":") || name.startsWith("x-"));
  assert.equal(h["x-hop"], undefined);
  assert.equal(h["x-kept"], "2");
});

Deno.test("backendRequestHeaders() keeps te: trailers only", () => {
  assert.equal(backendRequestHeaders({ te: "trailers" }, target).te, "trailers");
  assert.equal(backendRequestHeaders({ te: "gzip" }, target).te, undefined);
});

Deno.test("backendRequestHeaders() leaves :authority out when the client sent none", () => {
  const h = backendRequestHeaders({}, { ...target, authority: undefined });
  assert.equal(":authority" in h, false);
});

Deno.test("clientResponseHeaders() keeps end-to-end fields and multi-valued ones", () => {
  const h = clientResponseHeaders({
    ":status": 200,
    "set-cookie": ["a=1", "b=2"],
    "grpc-status": "0",
    connection: "close",
    "transfer-encoding": "chunked",
  });
  assert.deepEqual(h, { "set-cookie": ["a=1", "b=2"], "grpc-status": "0" });
});

Deno.test("upgradeRequestHead() re-sends the upgrade with forwarding fields", () => {
  const head = upgradeRequestHead({
    client: undefined as never,
    head: new Uint8Array(),
    method: "GET",
    path: "/chat",
    headers: {
      host: "ws.test",
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "k",
    },
    clientAddress: "192.0.2.1",
    route: { backend: "127.0.0.1:1", backendTls: false, hostname: "ws.test" },
    connectTimeoutMs: 1,
    idleTimeoutMs: 1,
    onConnected() {},
    onBytes() {},
    onFailed() {},
    onClosed() {},
  });
  assert.equal(
    head,
    "GET /chat HTTP/1.1\r\nhost: ws.test\r\nsec-websocket-key: k\r\n" +
      "x-forwarded-for: 192.0.2.1\r\nx-real-ip: 192.0.2.1\r\nx-forwarded-proto: https\r\n" +
      "connection: Upgrade\r\nupgrade: websocket\r\n\r\n",
  );
});
