/**
 * Churn: thousands of abrupt client disconnects against the real MC-Proxy
 * process (under its sandbox manifest), in three kinds:
 *
 * - mid-handshake: a partial ClientHello, then a TCP RST (or a plain close);
 * - L7 mid-TLS-handshake: a whole ClientHello for an l7 route (so the L7
 *   terminator's TLS server has answered), then RST or close;
 * - L4 mid-stream: a full TLS handshake with the backend through an l4
 *   route, some application data, then the socket destroyed;
 * - L7 mid-stream: an h2 request started through an l7 route (body still
 *   open, the backend streaming), then the socket destroyed.
 *
 * Afterwards the process is alive, still routes L4 and L7, and its live
 * connection count (GetStatus over the admin socket, and the metrics gauge)
 * returns to 0 within a bounded time. Every loop is bounded in count and time.
 */

import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import { createDevPki } from "@mc/mcdsl/tls";
import { connectAdmin } from "./admin/client.ts";
import { makeProxyDir, startProxyProcess, waitFor } from "./admin/_testing.ts";

const L4_HOST = "churn-l4.test";
const L7_HOST = "churn-l7.test";
const HALF_OPEN = Number(Deno.env.get("CHURN_HANDSHAKE") ?? "1500");
const L7_HANDSHAKE = Number(Deno.env.get("CHURN_L7_HANDSHAKE") ?? "500");
const L4_STREAMS = Number(Deno.env.get("CHURN_L4") ?? "1000");
const L7_STREAMS = Number(Deno.env.get("CHURN_L7") ?? "500");
const CONCURRENCY = 40;
const BUDGET_MS = 60_000;

/** A real ClientHello for `servername`, captured from node:tls. */
async function captureClientHello(servername: string): Promise<Uint8Array> {
  const { promise, resolve, reject } = Promise.withResolvers<Uint8Array>();
  const server = net.createServer((s) => {
    s.once("data", (d: Uint8Array) => {
      resolve(new Uint8Array(d));
      s.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const client = tls.connect({ port, host: "127.0.0.1", servername, rejectUnauthorized: false });
  client.on("error", () => {});
  const timer = setTimeout(() => reject(new Error("no ClientHello captured")), 5000);
  try {
    return await promise;
  } finally {
    clearTimeout(timer);
    client.destroy();
    await new Promise((r) => server.close(r));
  }
}

/** Runs `task(i)` for i < n with `CONCURRENCY` in flight, until done or the deadline. */
async function pool(
  n: number,
  deadline: number,
  task: (i: number) => Promise<void>,
): Promise<number> {
  let next = 0;
  let done = 0;
  async function worker() {
    while (next < n && Date.now() < deadline) {
      const i = next++;
      await task(i).catch(() => {});
      done++;
    }
  }
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return done;
}

/** Resolves on `event` or after `ms` (a wedged peer never hangs the test). */
function once(emitter: NodeJS.EventEmitter, event: string, ms = 5000): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    emitter.once(event, () => {
      clearTimeout(timer);
      resolve();
    });
    emitter.once("error", () => {
      clearTimeout(timer);
      resolve();
    });
    emitter.once("close", () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Starts the backends first, since the config names their ports. */
async function backends(pki: { cert: string; key: string }) {
  const l4 = tls.createServer({ cert: pki.cert, key: pki.key, minVersion: "TLSv1.3" }, (s) => {
    s.on("error", () => {});
    s.on("data", (d: Uint8Array) => s.write(d)); // echo
  });
  l4.on("error", () => {});
  await new Promise<void>((r) => l4.listen(0, "127.0.0.1", r));
  const h2c = http2.createServer();
  h2c.on("error", () => {});
  h2c.on("stream", (stream: http2.ServerHttp2Stream) => {
    stream.on("error", () => {});
    stream.respond({ ":status": 200, "content-type": "text/plain" });
    let n = 0;
    const timer = setInterval(() => {
      if (stream.destroyed || stream.closed || n++ >= 50) {
        clearInterval(timer);
        if (!stream.destroyed) stream.end("done\n");
        return;
      }
      stream.write("tick\n");
    }, 20);
    stream.on("close", () => clearInterval(timer));
  });
  await new Promise<void>((r) => h2c.listen(0, "127.0.0.1", r));
  return {
    l4Port: (l4.address() as net.AddressInfo).port,
    h2cPort: (h2c.address() as net.AddressInfo).port,
    async [Symbol.asyncDispose]() {
      // Backends may still hold half-closed sockets; close them hard.
      const l4Closed = new Promise((r) => l4.close(r));
      const h2cClosed = new Promise((r) => h2c.close(r));
      await Promise.race([
        Promise.all([l4Closed, h2cClosed]),
        new Promise((r) => setTimeout(r, 2000)),
      ]);
    },
  };
}

Deno.test({
  name: "churn: abrupt disconnects mid-handshake and mid-stream; MC-Proxy survives, no leaks",
  // node:http2 and node:tls keep internal timers past their close events.
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // The config names the backends' ports, so they start first, with a dev
    // PKI of their own (an L4 client verifies the backend's certificate).
    const backendPki = await createDevPki({ hosts: [L4_HOST] });
    await using be = await backends(backendPki.server);
    await using dir = await makeProxyDir({
      hosts: [L4_HOST, L7_HOST],
      routes: ({ cert, key }) => `
[[listeners.routes]]
hostname = "${L4_HOST}"
backend = "127.0.0.1:${be.l4Port}"
mode = "l4"

[[listeners.routes]]
hostname = "${L7_HOST}"
backend = "127.0.0.1:${be.h2cPort}"
mode = "l7"
tls_cert = "${cert}"
tls_key = "${key}"
`,
    });
    await using proxy = await startProxyProcess(dir);
    const hello = await captureClientHello(L4_HOST);
    assert.ok(hello.length > 100, `ClientHello of ${hello.length} bytes`);
    const hello7 = await captureClientHello(L7_HOST);
    const deadline = Date.now() + BUDGET_MS;
    // Connections the proxy certainly accepted (the client saw it connect).
    let connected = 0;

    // 1. Mid-handshake: a prefix of the ClientHello, then RST (even i) or FIN.
    const halfOpen = await pool(HALF_OPEN, deadline, async (i) => {
      const s = net.connect({ port: dir.port, host: "127.0.0.1" });
      s.on("error", () => {});
      s.once("connect", () => connected++);
      await once(s, "connect", 2000);
      const cut = 1 + (i * 37) % (hello.length - 1);
      s.write(hello.subarray(0, cut));
      await new Promise((r) => setTimeout(r, i % 5));
      if (i % 2 === 0) s.resetAndDestroy();
      else s.end();
      s.destroy();
    });

    // 1b. L7 mid-TLS-handshake: the whole ClientHello reaches the terminator,
    //     which answers with its ServerHello; the client vanishes.
    const l7Handshake = await pool(L7_HANDSHAKE, deadline, async (i) => {
      const s = net.connect({ port: dir.port, host: "127.0.0.1" });
      s.on("error", () => {});
      s.once("connect", () => connected++);
      await once(s, "connect", 2000);
      s.write(hello7);
      if (i % 2 === 0) await once(s, "data", 1000);
      if (i % 3 === 0) s.end();
      else s.resetAndDestroy();
      s.destroy();
    });

    // 2. L4 mid-stream: full handshake with the backend through the proxy,
    //    a write, then destroyed (RST on even i) with data in flight.
    const l4 = await pool(L4_STREAMS, deadline, async (i) => {
      const s = tls.connect({
        port: dir.port,
        host: "127.0.0.1",
        servername: L4_HOST,
        ca: backendPki.ca.cert,
      });
      s.on("error", () => {});
      s.once("connect", () => connected++);
      await once(s, "secureConnect", 5000);
      s.write(new Uint8Array(1024 + (i % 7) * 1000));
      if (i % 3 === 0) await once(s, "data", 1000);
      if (i % 2 === 0) (s as unknown as net.Socket).resetAndDestroy?.();
      s.destroy();
    });

    // 3. L7 mid-stream: an h2 POST with an open body while the backend
    //    streams, then the TCP socket is destroyed under the session.
    const l7 = await pool(L7_STREAMS, deadline, async (i) => {
      let raw: tls.TLSSocket | undefined;
      const session = http2.connect(`https://${L7_HOST}`, {
        createConnection: () => {
          raw = tls.connect({
            port: dir.port,
            host: "127.0.0.1",
            servername: L7_HOST,
            ca: dir.pki.ca.cert,
            ALPNProtocols: ["h2"],
          });
          raw.on("error", () => {});
          raw.once("connect", () => connected++);
          return raw;
        },
      });
      session.on("error", () => {});
      const req = session.request({ ":method": "POST", ":path": `/churn/${i}` });
      req.on("error", () => {});
      req.write("partial body");
      if (i % 2 === 0) await once(req, "response", 3000);
      else await new Promise((r) => setTimeout(r, 5));
      raw?.destroy();
      session.destroy();
    });

    assert.ok(!proxy.exited(), `proxy exited during churn:\n${proxy.stderr()}`);
    const total = halfOpen + l7Handshake + l4 + l7;
    assert.equal(
      total,
      HALF_OPEN + L7_HANDSHAKE + L4_STREAMS + L7_STREAMS,
      `only ${total} disconnects in ${BUDGET_MS} ms (${halfOpen}/${l7Handshake}/${l4}/${l7})`,
    );
    assert.ok(connected >= total * 0.9, `only ${connected} of ${total} clients connected`);

    // Still serving: an L4 echo and an L7 request complete.
    const echo = tls.connect({
      port: dir.port,
      host: "127.0.0.1",
      servername: L4_HOST,
      ca: backendPki.ca.cert,
    });
    echo.on("error", () => {});
    await once(echo, "secureConnect", 5000);
    echo.write("ping");
    const got = await new Promise<string>((resolve) => {
      const t = setTimeout(() => resolve(""), 5000);
      echo.once("data", (d: Uint8Array) => {
        clearTimeout(t);
        resolve(new TextDecoder().decode(d));
      });
    });
    echo.destroy();
    assert.equal(got, "ping");

    const session = http2.connect(`https://${L7_HOST}`, {
      createConnection: () =>
        tls.connect({
          port: dir.port,
          host: "127.0.0.1",
          servername: L7_HOST,
          ca: dir.pki.ca.cert,
          ALPNProtocols: ["h2"],
        }),
    });
    session.on("error", () => {});
    const body = await new Promise<string>((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`L7 request after churn timed out\n${proxy.stderr().slice(-3000)}`)),
        10_000,
      );
      const req = session.request({ ":path": "/after" });
      let text = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => text += c);
      req.on("end", () => {
        clearTimeout(t);
        resolve(text);
      });
      req.on("error", (e) => {
        clearTimeout(t);
        reject(e);
      });
      req.end();
    });
    session.close();
    assert.match(body, /done\n$/);

    // No leaks: the live count drains to 0 (bounded wait).
    using admin = connectAdmin(dir.socket);
    let last = "";
    const drained = await waitFor(
      async () => {
        last = (await admin.getStatus()).liveConnections;
        return last === "0";
      },
      20_000,
      200,
    );
    assert.ok(drained, `live connections stuck at ${last}\n${proxy.stderr().slice(-4000)}`);
    const metrics = await (await fetch(`http://127.0.0.1:${dir.metricsPort}/metrics`)).text();
    for (const line of metrics.split("\n")) {
      if (line.startsWith("mcproxy_connections_active{")) assert.match(line, / 0$/, line);
    }
    const opened = /mcproxy_connections_opened_total\{[^}]*\} (\d+)/.exec(metrics);
    assert.ok(Number(opened?.[1]) >= connected, `opened counter ${opened?.[1]} < ${connected}`);
    assert.ok(!proxy.exited(), `proxy exited:\n${proxy.stderr()}`);
    console.log(
      `churn: ${halfOpen} mid-ClientHello, ${l7Handshake} L7 mid-TLS-handshake, ` +
        `${l4} L4 mid-stream, ${l7} L7 mid-stream ` +
        `(${connected} connected, ${opened?.[1]} accepted); drained to 0`,
    );
  },
});
