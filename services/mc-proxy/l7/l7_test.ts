import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import { createDevPki } from "@mc/mcdsl/tls";
import { run } from "@mc/mcdsl/testing";
import type { Route } from "../types.ts";
import { createL7Terminator } from "./terminator.ts";
import type { L7Proxy } from "./terminator.ts";
import {
  CountingObserver,
  ECHO_SERVICE,
  type Harness,
  type Msg,
  startEchoBackend,
  startGrpcBackend,
  startHarness,
  startWsBackend,
  waitFor,
  wsReadText,
  wsTextFrame,
} from "./_harness.ts";

const HOSTS = ["app.test", "grpc.test", "ws.test", "tls.test", "down.test"];

interface Fixture {
  dir: string;
  caPath: string;
  ca: string;
  certPath: string;
  keyPath: string;
  cert: string;
  key: string;
}

async function fixture(): Promise<Fixture> {
  const dir = await Deno.makeTempDir({ prefix: "mc-proxy-l7-" });
  const pki = await createDevPki({ hosts: HOSTS });
  const f: Fixture = {
    dir,
    caPath: `${dir}/ca.pem`,
    ca: pki.ca.cert,
    certPath: `${dir}/cert.pem`,
    keyPath: `${dir}/key.pem`,
    cert: pki.server.cert,
    key: pki.server.key,
  };
  await Deno.writeTextFile(f.caPath, pki.ca.cert);
  await Deno.writeTextFile(f.certPath, pki.server.cert);
  await Deno.writeTextFile(f.keyPath, pki.server.key, { mode: 0o600 });
  return f;
}

function l7Route(f: Fixture, hostname: string, backend: string, backendTls = false): Route {
  return {
    listener: ":443",
    hostname,
    backend,
    mode: "l7",
    tlsCert: f.certPath,
    tlsKey: f.keyPath,
    backendTls,
    sendProxyProtocol: false,
  };
}

/** curl through the harness; the last output line is `<code> <http_version>`. */
async function curl(
  f: Fixture,
  host: string,
  port: number,
  path: string,
  extra: string[] = [],
): Promise<{ code: number; status: number; version: string; body: string; stderr: string }> {
  const out = await run("curl", [
    "-sS",
    "--max-time",
    "20",
    "--cacert",
    f.caPath,
    "--resolve",
    `${host}:${port}:127.0.0.1`,
    "-w",
    "\n%{http_code} %{http_version}",
    ...extra,
    `https://${host}:${port}${path}`,
  ]);
  const lines = out.stdout.split("\n");
  const [status, version] = (lines.pop() ?? "").split(" ");
  return {
    code: out.code,
    status: Number(status),
    version,
    body: lines.join("\n"),
    stderr: out.stderr,
  };
}

function grpcClient(f: Fixture, port: number, host = "grpc.test") {
  const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, "Echo");
  return new Client(
    `127.0.0.1:${port}`,
    grpc.credentials.createSsl(Buffer.from(f.ca)),
    { "grpc.ssl_target_name_override": host, "grpc.default_authority": host },
  ) as grpc.Client & Record<string, CallableFunction>;
}

Deno.test("createL7Terminator() terminates TLS 1.3 and proxies HTTP/2, HTTP/1.1, gRPC and WebSocket", async (t) => {
  const f = await fixture();
  const observer = new CountingObserver();
  const l7: L7Proxy = createL7Terminator({
    firewall: { blockedUserAgent: (ua) => ua.toLowerCase().includes("badbot") },
    observer,
    connectTimeoutMs: 1000,
    idleTimeoutMs: 30_000,
  });
  const echo = await startEchoBackend();
  const grpcBackend = await startGrpcBackend();
  const ws = startWsBackend();
  const tlsBackend = await startEchoBackend({ cert: f.cert, key: f.key });
  const deadPort = await (async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    const p = (s.address() as AddressInfo).port;
    await new Promise<void>((r) => s.close(() => r()));
    return p;
  })();
  const routes = {
    app: l7Route(f, "app.test", `127.0.0.1:${echo.port}`),
    grpc: l7Route(f, "grpc.test", `127.0.0.1:${grpcBackend.port}`),
    ws: l7Route(f, "ws.test", `127.0.0.1:${ws.port}`),
    tls: l7Route(f, "tls.test", `127.0.0.1:${tlsBackend.port}`, true),
    down: l7Route(f, "down.test", `127.0.0.1:${deadPort}`),
  };
  await l7.updateRoutes(Object.values(routes));
  const h: Record<keyof typeof routes, Harness> = {
    app: await startHarness(l7, routes.app),
    grpc: await startHarness(l7, routes.grpc),
    ws: await startHarness(l7, routes.ws),
    tls: await startHarness(l7, routes.tls),
    down: await startHarness(l7, routes.down),
  };
  try {
    await t.step(
      "curl --http2 reaches the h2c backend with X-Forwarded-For and X-Real-IP",
      async () => {
        const r = await curl(f, "app.test", h.app.port, "/headers", [
          "--http2",
          "-H",
          "X-Forwarded-For: 198.51.100.1",
          "-H",
          "X-Real-IP: 203.0.113.66",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.status, 200);
        assert.equal(r.version, "2");
        const seen = JSON.parse(r.body);
        assert.equal(seen["x-forwarded-for"], "198.51.100.1, 192.0.2.10");
        assert.equal(seen["x-real-ip"], "192.0.2.10");
        assert.equal(seen["x-forwarded-proto"], "https");
        assert.equal(seen[":authority"], `app.test:${h.app.port}`);
        assert.equal(seen[":scheme"], "http");
      },
    );

    await t.step(
      "curl --http1.1 is proxied to the h2 backend, hop-by-hop fields dropped",
      async () => {
        const r = await curl(f, "app.test", h.app.port, "/headers", [
          "--http1.1",
          "-H",
          "Connection: keep-alive, X-Secret-Hop",
          "-H",
          "X-Secret-Hop: 1",
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.status, 200);
        assert.equal(r.version, "1.1");
        const seen = JSON.parse(r.body);
        assert.equal(seen["x-forwarded-for"], "192.0.2.10");
        assert.equal(seen["x-real-ip"], "192.0.2.10");
        assert.equal(seen[":authority"], `app.test:${h.app.port}`);
        assert.equal(seen["x-secret-hop"], undefined);
        assert.equal(seen.connection, undefined);
      },
    );

    await t.step(
      "openssl s_client -servername sees the proxy's certificate over TLS 1.3",
      async () => {
        const out = await run("openssl", [
          "s_client",
          "-connect",
          `127.0.0.1:${h.app.port}`,
          "-servername",
          "app.test",
          "-CAfile",
          f.caPath,
          "-alpn",
          "h2",
        ], { stdin: "" });
        assert.match(out.stdout, /subject=CN = app\.test/);
        assert.match(out.stdout, /issuer=CN = Metacircular Dev Root CA/);
        assert.match(out.stdout, /New, TLSv1\.3/);
        assert.match(out.stdout, /ALPN protocol: h2/);
        assert.match(out.stdout, /Verify return code: 0 \(ok\)/);
      },
    );

    await t.step("openssl s_client -tls1_2 is refused", async () => {
      const out = await run("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${h.app.port}`,
        "-servername",
        "app.test",
        "-tls1_2",
      ], { stdin: "" });
      assert.notEqual(out.code, 0);
      assert.doesNotMatch(out.stdout, /BEGIN CERTIFICATE/);
    });

    await t.step("a few MiB stream both ways over HTTP/2 and HTTP/1.1", async () => {
      const size = 4 * 1024 * 1024 + 123;
      const data = crypto.getRandomValues(new Uint8Array(65536));
      const big = new Uint8Array(size);
      for (let i = 0; i < size; i += data.length) big.set(data.subarray(0, size - i), i);
      const inPath = `${f.dir}/big.bin`;
      await Deno.writeFile(inPath, big);
      const want = new Uint8Array(await crypto.subtle.digest("SHA-256", big));
      for (const version of ["--http2", "--http1.1"]) {
        const outPath = `${f.dir}/big.out`;
        const r = await curl(f, "app.test", h.app.port, "/echo", [
          version,
          "--data-binary",
          `@${inPath}`,
          "-H",
          "Content-Type: application/octet-stream",
          "-o",
          outPath,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.status, 200);
        const got = await Deno.readFile(outPath);
        assert.equal(got.length, size);
        assert.deepEqual(new Uint8Array(await crypto.subtle.digest("SHA-256", got)), want);
      }
    });

    await t.step("HTTP/2 response trailers reach the client", async () => {
      const session = http2.connect(`https://127.0.0.1:${h.app.port}`, {
        ca: f.ca,
        servername: "app.test",
      });
      session.on("error", () => {});
      try {
        const req = session.request({ ":method": "POST", ":path": "/echo" });
        req.end("ping");
        let body = "";
        let trailers: http2.IncomingHttpHeaders | undefined;
        req.setEncoding("utf8");
        req.on("data", (c: string) => body += c);
        req.on("trailers", (tr) => trailers = tr);
        await new Promise((resolve, reject) => {
          req.on("end", resolve);
          req.on("error", reject);
        });
        assert.equal(body, "ping");
        assert.equal(trailers?.["x-echo-trailer"], "done");
      } finally {
        session.close();
      }
    });

    await t.step("gRPC unary, server-streaming and bidi keep status and trailers", async () => {
      const client = grpcClient(f, h.grpc.port);
      try {
        const unary = await new Promise<{ msg: Msg; trailer: grpc.Metadata }>(
          (resolve, reject) => {
            let msg: Msg | undefined;
            const call = client.makeUnaryRequest(
              "/t.Echo/Unary",
              ECHO_SERVICE.Unary.requestSerialize,
              ECHO_SERVICE.Unary.responseDeserialize,
              { text: "hi" },
              (err: grpc.ServiceError | null, value?: Msg) => {
                if (err) reject(err);
                msg = value;
              },
            );
            call.on("status", (s: grpc.StatusObject) => {
              if (s.code === grpc.status.OK && msg) resolve({ msg, trailer: s.metadata });
            });
          },
        );
        assert.equal(unary.msg.text, "hi|192.0.2.10");
        assert.deepEqual(unary.trailer.get("x-trailer"), ["unary"]);

        const failed = await new Promise<grpc.ServiceError>((resolve, reject) => {
          client.makeUnaryRequest(
            "/t.Echo/Unary",
            ECHO_SERVICE.Unary.requestSerialize,
            ECHO_SERVICE.Unary.responseDeserialize,
            { text: "missing" },
            (err: grpc.ServiceError | null) => err ? resolve(err) : reject(new Error("no error")),
          );
        });
        assert.equal(failed.code, grpc.status.NOT_FOUND);
        assert.equal(failed.details, "no such thing: missing");

        const stream = client.makeServerStreamRequest(
          "/t.Echo/ServerStream",
          ECHO_SERVICE.ServerStream.requestSerialize,
          ECHO_SERVICE.ServerStream.responseDeserialize,
          { text: "m", count: 50 },
        );
        const got: string[] = [];
        stream.on("data", (m: Msg) => got.push(m.text));
        const status = await new Promise<grpc.StatusObject>((resolve) =>
          stream.on("status", resolve)
        );
        assert.equal(status.code, grpc.status.OK);
        assert.deepEqual(status.metadata.get("x-trailer"), ["server-stream"]);
        assert.equal(got.length, 50);
        assert.equal(got[49], "m-49");

        const bidi = client.makeBidiStreamRequest(
          "/t.Echo/Bidi",
          ECHO_SERVICE.Bidi.requestSerialize,
          ECHO_SERVICE.Bidi.responseDeserialize,
        );
        const echoed: string[] = [];
        bidi.on("data", (m: Msg) => echoed.push(m.text));
        const bidiStatus = new Promise<grpc.StatusObject>((resolve) => bidi.on("status", resolve));
        for (const word of ["a", "bb", "ccc"]) bidi.write({ text: word });
        bidi.end();
        const bs = await bidiStatus;
        assert.equal(bs.code, grpc.status.OK);
        assert.deepEqual(bs.metadata.get("x-trailer"), ["bidi"]);
        assert.deepEqual(echoed, ["A", "BB", "CCC"]);
      } finally {
        client.close();
      }
    });

    await t.step("a blocked user agent gets 403 and the backend is never contacted", async () => {
      const before = echo.hits;
      const blocksBefore = observer.blocks.length;
      for (const version of ["--http2", "--http1.1"]) {
        const r = await curl(f, "app.test", h.app.port, "/headers", [
          version,
          "-A",
          "Mozilla/5.0 BadBot/1.0",
        ]);
        assert.equal(r.status, 403);
        assert.equal(r.body, "Forbidden\n");
      }
      assert.equal(echo.hits, before);
      assert.deepEqual(observer.blocks.slice(blocksBefore), ["user_agent", "user_agent"]);
    });

    await t.step("backend down answers 502", async () => {
      for (const version of ["--http2", "--http1.1"]) {
        const r = await curl(f, "down.test", h.down.port, "/", [version]);
        assert.equal(r.status, 502);
        assert.equal(r.body, "Bad Gateway\n");
      }
    });

    await t.step("a backend that never finishes its TLS handshake answers 504", async () => {
      const silent = net.createServer((s) => s.on("error", () => {}));
      const held = new Set<net.Socket>();
      silent.on("connection", (s) => held.add(s));
      await new Promise<void>((r) => silent.listen(0, "127.0.0.1", r));
      const route = l7Route(
        f,
        "tls.test",
        `127.0.0.1:${(silent.address() as AddressInfo).port}`,
        true,
      );
      const harness = await startHarness(l7, { ...route, listener: ":8443" });
      try {
        const r = await curl(f, "tls.test", harness.port, "/", ["--http2"]);
        assert.equal(r.status, 504);
        assert.equal(r.body, "Gateway Timeout\n");
      } finally {
        await harness.close();
        for (const s of held) s.destroy();
        await new Promise<void>((r) => silent.close(() => r()));
      }
    });

    await t.step("an h2-over-TLS backend (backend_tls) is reached", async () => {
      const before = tlsBackend.hits;
      const r = await curl(f, "tls.test", h.tls.port, "/headers", ["--http2"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.status, 200);
      const seen = JSON.parse(r.body);
      assert.equal(seen[":scheme"], "https");
      assert.equal(seen["x-real-ip"], "192.0.2.10");
      assert.equal(tlsBackend.hits, before + 1);
    });

    await t.step("a WebSocket upgrade is relayed and echoes", async () => {
      const socket = tls.connect({
        host: "127.0.0.1",
        port: h.ws.port,
        servername: "ws.test",
        ca: f.ca,
        ALPNProtocols: ["http/1.1"],
      });
      socket.on("error", () => {});
      try {
        await new Promise<void>((resolve, reject) => {
          socket.once("secureConnect", resolve);
          socket.once("error", reject);
        });
        let buffered = new Uint8Array(0);
        const more = () =>
          new Promise<void>((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error("no data from proxy")), 5000);
            socket.once("data", (chunk: Buffer) => {
              clearTimeout(timer);
              const next = new Uint8Array(buffered.length + chunk.length);
              next.set(buffered);
              next.set(chunk, buffered.length);
              buffered = next;
              resolve();
            });
          });
        socket.write(
          "GET /chat HTTP/1.1\r\nHost: ws.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        );
        let end = -1;
        for (let i = 0; i < 20 && end < 0; i++) {
          await more();
          end = new TextDecoder().decode(buffered).indexOf("\r\n\r\n");
        }
        const head = new TextDecoder().decode(buffered.subarray(0, end));
        assert.match(head, /^HTTP\/1\.1 101/);
        assert.match(head, /sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i);
        buffered = buffered.subarray(end + 4);
        socket.write(wsTextFrame("hello"));
        let text = wsReadText(buffered);
        for (let i = 0; i < 20 && text === undefined; i++) {
          await more();
          text = wsReadText(buffered);
        }
        assert.equal(text, "echo:hello");
        const seen = ws.seen.at(-1);
        assert.equal(seen?.["x-forwarded-for"], "192.0.2.10");
        assert.equal(seen?.["x-real-ip"], "192.0.2.10");
      } finally {
        socket.destroy();
      }
    });

    await t.step("the observer saw routes, statuses, latencies and bytes", () => {
      assert.ok(observer.routedCount >= 10);
      assert.ok(observer.statuses.includes(200));
      assert.ok(observer.statuses.includes(403));
      assert.ok(observer.statuses.includes(502));
      assert.ok(observer.statuses.includes(504));
      assert.ok(observer.latencies.length > 0);
      assert.ok(observer.bytesIn > 8 * 1024 * 1024);
      assert.ok(observer.bytesOut > 8 * 1024 * 1024);
    });
  } finally {
    await l7.close(Date.now());
    for (const harness of Object.values(h)) await harness.close();
    await echo.close();
    await tlsBackend.close();
    grpcBackend.close();
    await ws.close();
    await Deno.remove(f.dir, { recursive: true });
  }
});

/** Opens an HTTP/2 session to the harness as `host`, trusting the test CA. */
function h2session(f: Fixture, port: number, host = "app.test"): http2.ClientHttp2Session {
  const session = http2.connect(`https://127.0.0.1:${port}`, { ca: f.ca, servername: host });
  session.on("error", () => {});
  return session;
}

/** One GET over `session`: status and body. */
function h2get(
  session: http2.ClientHttp2Session,
  path: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = session.request({ ":path": path });
    let status = 0;
    let body = "";
    req.setEncoding("utf8");
    req.on("response", (h) => status = Number(h[":status"]));
    req.on("data", (c: string) => body += c);
    req.on("end", () => resolve({ status, body }));
    req.on("error", reject);
  });
}

/** The peer certificate's SHA-256 fingerprint a TLS 1.3 client sees for `host`. */
async function peerFingerprint(f: Fixture, port: number, host: string): Promise<string> {
  const socket = tls.connect({ host: "127.0.0.1", port, servername: host, ca: f.ca });
  socket.on("error", () => {});
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once("secureConnect", resolve);
      socket.once("error", reject);
    });
    assert.equal(socket.getProtocol(), "TLSv1.3");
    return socket.getPeerCertificate().fingerprint256;
  } finally {
    socket.destroy();
  }
}

/** A real ClientHello for `host`, captured from node:tls. */
async function captureClientHello(host: string): Promise<Uint8Array> {
  const { promise, resolve } = Promise.withResolvers<Uint8Array>();
  const server = net.createServer((s) => {
    s.once("data", (chunk: Buffer) => resolve(new Uint8Array(chunk)));
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const client = tls.connect({
    host: "127.0.0.1",
    port: (server.address() as AddressInfo).port,
    servername: host,
    rejectUnauthorized: false,
  });
  client.on("error", () => {});
  const hello = await promise;
  client.destroy();
  await new Promise<void>((r) => {
    server.close(() => r());
    server.emit("close");
  });
  return hello;
}

Deno.test("createL7Terminator() cancels backend streams on client aborts and survives churn", async (t) => {
  const f = await fixture();
  const l7 = createL7Terminator({
    firewall: { blockedUserAgent: () => false },
    connectTimeoutMs: 1000,
    idleTimeoutMs: 30_000,
  });
  const echo = await startEchoBackend();
  const route = l7Route(f, "app.test", `127.0.0.1:${echo.port}`);
  const harness = await startHarness(l7, route);
  try {
    await t.step("an HTTP/2 stream reset by the client resets the backend stream", async () => {
      const session = h2session(f, harness.port);
      try {
        const req = session.request({ ":path": "/slow" });
        req.on("error", () => {});
        await new Promise((resolve) => req.once("data", resolve));
        assert.equal(echo.openStreams, 1);
        req.close(http2.constants.NGHTTP2_CANCEL);
        await waitFor(() => echo.openStreams === 0, 5000, "backend stream to close");
        const again = await h2get(session, "/headers");
        assert.equal(again.status, 200);
      } finally {
        session.close();
      }
    });

    await t.step(
      "an HTTP/1.1 client that hangs up mid-response resets the backend stream",
      async () => {
        const socket = tls.connect({
          host: "127.0.0.1",
          port: harness.port,
          servername: "app.test",
          ca: f.ca,
          ALPNProtocols: ["http/1.1"],
        });
        socket.on("error", () => {});
        await new Promise((resolve) => socket.once("secureConnect", resolve));
        socket.write("GET /slow HTTP/1.1\r\nHost: app.test\r\n\r\n");
        await new Promise((resolve) => socket.once("data", resolve));
        assert.equal(echo.openStreams, 1);
        socket.destroy();
        await waitFor(() => echo.openStreams === 0, 5000, "backend stream to close");
      },
    );

    await t.step("a backend GOAWAY makes the pool reconnect", async () => {
      const session = h2session(f, harness.port);
      try {
        assert.equal((await h2get(session, "/headers")).status, 200);
        const seen = echo.sessionsSeen;
        echo.dropSessions();
        await waitFor(() => echo.openStreams === 0, 1000, "backend sessions to close");
        let status = 0;
        for (let i = 0; i < 20 && status !== 200; i++) {
          status = (await h2get(session, "/headers")).status;
        }
        assert.equal(status, 200);
        assert.ok(echo.sessionsSeen > seen);
      } finally {
        session.close();
      }
    });

    await t.step(
      "churn: abrupt disconnects mid-handshake and mid-stream leave it serving, nothing leaked",
      async () => {
        const hello = await captureClientHello("app.test");
        const kinds = [
          // Half a ClientHello, then gone.
          async () => {
            const s = net.connect(harness.port, "127.0.0.1");
            s.on("error", () => {});
            await new Promise((r) => s.once("connect", r));
            s.write(hello.subarray(0, Math.floor(hello.length / 2)));
            s.resetAndDestroy();
          },
          // A whole ClientHello, then RST before the handshake completes.
          async () => {
            const s = net.connect(harness.port, "127.0.0.1");
            s.on("error", () => {});
            await new Promise((r) => s.once("connect", r));
            s.write(hello);
            await new Promise((r) => setTimeout(r, 1));
            s.resetAndDestroy();
          },
          // A ClientHello, then a corrupt record; the client hangs up later.
          // (Deno does not close a TCP connection whose TLS handshake failed
          // until the peer does: see README.md, "Known limits".)
          async () => {
            const s = net.connect(harness.port, "127.0.0.1");
            s.on("error", () => {});
            await new Promise((r) => s.once("connect", r));
            s.write(hello);
            s.write(new Uint8Array([0x17, 0x03, 0x03, 0x00, 0x05, 1, 2, 3, 4, 5]));
            await new Promise((r) => setTimeout(r, 20));
            s.destroy();
          },
          // HTTP/2: streaming response, then the TCP connection vanishes.
          async () => {
            const socket = tls.connect({
              host: "127.0.0.1",
              port: harness.port,
              servername: "app.test",
              ca: f.ca,
              ALPNProtocols: ["h2"],
            });
            socket.on("error", () => {});
            const session = http2.connect("https://app.test", { createConnection: () => socket });
            session.on("error", () => {});
            const req = session.request({ ":path": "/slow" });
            req.on("error", () => {});
            await new Promise((r) => {
              req.once("data", r);
              req.once("close", r);
            });
            socket.destroy();
            session.destroy();
          },
          // HTTP/2: a client GOAWAY while a stream is open.
          async () => {
            const session = h2session(f, harness.port);
            const req = session.request({ ":path": "/slow" });
            req.on("error", () => {});
            await new Promise((r) => {
              req.once("data", r);
              req.once("close", r);
            });
            session.goaway(http2.constants.NGHTTP2_PROTOCOL_ERROR);
            session.destroy();
          },
          // HTTP/2: upload cut off mid-body.
          async () => {
            const session = h2session(f, harness.port);
            const req = session.request({ ":method": "POST", ":path": "/echo" });
            req.on("error", () => {});
            req.write(new Uint8Array(100_000));
            await new Promise((r) => {
              req.once("data", r);
              req.once("close", r);
            });
            session.destroy();
          },
        ];
        const total = Number(Deno.env.get("L7_CHURN_TOTAL") ?? 300);
        const concurrency = 12;
        let next = 0;
        const deadline = Date.now() + 60_000;
        const stuck: number[] = [];
        await Promise.all(Array.from({ length: concurrency }, async () => {
          while (next < total && Date.now() < deadline) {
            const index = next++ % kinds.length;
            let timer: ReturnType<typeof setTimeout> | undefined;
            const result = await Promise.race([
              kinds[index]().then(() => "done"),
              new Promise<string>((r) => timer = setTimeout(() => r("stuck"), 5000)),
            ]);
            clearTimeout(timer);
            if (result === "stuck") stuck.push(index);
          }
        }));
        assert.equal(next, total);
        assert.deepEqual(stuck, []);
        await waitFor(() => echo.openStreams === 0, 10_000, "backend streams to close");
        await waitFor(() => harness.open() === 0, 10_000, "client connections to close");
        const session = h2session(f, harness.port);
        try {
          assert.equal((await h2get(session, "/headers")).status, 200);
        } finally {
          session.close();
        }
      },
    );
  } finally {
    await l7.close(Date.now());
    await harness.close();
    await echo.close();
    await Deno.remove(f.dir, { recursive: true });
  }
});

Deno.test("createL7Terminator() drains on close(), times out idle clients and reloads certificates", async (t) => {
  const f = await fixture();
  const echo = await startEchoBackend();
  const route = l7Route(f, "app.test", `127.0.0.1:${echo.port}`);

  await t.step(
    "close() lets an in-flight request finish, then refuses new connections",
    async () => {
      const l7 = createL7Terminator({ firewall: { blockedUserAgent: () => false } });
      const harness = await startHarness(l7, route);
      const session = h2session(f, harness.port);
      try {
        const pending = h2get(session, "/delay");
        await waitFor(() => echo.openStreams === 1, 5000, "request to reach the backend");
        const closed = l7.close(Date.now() + 5000);
        const r = await pending;
        assert.deepEqual(r, { status: 200, body: "done" });
        await closed;
        const out = await curl(f, "app.test", harness.port, "/headers", ["--http2"]);
        assert.notEqual(out.code, 0);
      } finally {
        session.destroy();
        await harness.close();
      }
    },
  );

  await t.step("close() past its deadline cuts endless streams", async () => {
    const l7 = createL7Terminator({ firewall: { blockedUserAgent: () => false } });
    const harness = await startHarness(l7, route);
    const session = h2session(f, harness.port);
    try {
      const req = session.request({ ":path": "/slow" });
      req.on("error", () => {});
      req.resume();
      const ended = new Promise((r) => req.once("close", r));
      await waitFor(() => echo.openStreams === 1, 5000, "request to reach the backend");
      const started = Date.now();
      await l7.close(Date.now() + 200);
      await ended;
      assert.ok(Date.now() - started < 5000);
      await waitFor(() => echo.openStreams === 0, 5000, "backend stream to close");
    } finally {
      session.destroy();
      await harness.close();
    }
  });

  await t.step("an idle client connection is closed after idleTimeoutMs", async () => {
    const l7 = createL7Terminator({
      firewall: { blockedUserAgent: () => false },
      idleTimeoutMs: 300,
    });
    const harness = await startHarness(l7, route);
    const socket = tls.connect({
      host: "127.0.0.1",
      port: harness.port,
      servername: "app.test",
      ca: f.ca,
      ALPNProtocols: ["http/1.1"],
    });
    socket.on("error", () => {});
    try {
      await new Promise((r) => socket.once("secureConnect", r));
      const closed = new Promise((r) => socket.once("close", r));
      await waitFor(() => socket.destroyed || socket.readableEnded, 5000, "proxy to close idle");
      await closed;
      await waitFor(() => harness.open() === 0, 5000, "harness socket to close");
    } finally {
      socket.destroy();
      await l7.close(Date.now());
      await harness.close();
    }
  });

  await t.step("the idle timeout spares connections with traffic either way", async () => {
    const l7 = createL7Terminator({
      firewall: { blockedUserAgent: () => false },
      idleTimeoutMs: 400,
    });
    const harness = await startHarness(l7, route);
    const session = h2session(f, harness.port);
    try {
      // Download only, for three idle periods.
      const down = session.request({ ":path": "/slow" });
      down.on("error", () => {});
      let ticks = 0;
      down.on("data", () => ticks++);
      await new Promise((r) => setTimeout(r, 1200));
      assert.equal(down.closed, false);
      assert.ok(ticks > 10);
      down.close(http2.constants.NGHTTP2_CANCEL);
      // Upload only, for three idle periods.
      const up = session.request({ ":method": "POST", ":path": "/sink" });
      up.on("error", () => {});
      let body = "";
      up.setEncoding("utf8");
      up.on("data", (c: string) => body += c);
      for (let i = 0; i < 12; i++) {
        up.write(new Uint8Array(100));
        await new Promise((r) => setTimeout(r, 100));
      }
      up.end();
      await new Promise((r) => up.once("end", r));
      assert.equal(body, "1200");
    } finally {
      session.destroy();
      await l7.close(Date.now());
      await harness.close();
    }
  });

  await t.step("updateRoutes() picks up a replaced certificate for new connections", async () => {
    const l7 = createL7Terminator({ firewall: { blockedUserAgent: () => false } });
    const harness = await startHarness(l7, route);
    try {
      await l7.updateRoutes([route]);
      const before = await peerFingerprint(f, harness.port, "app.test");
      const fresh = await createDevPki({ hosts: HOSTS });
      await Deno.writeTextFile(f.certPath, fresh.server.cert);
      await Deno.writeTextFile(f.keyPath, fresh.server.key);
      await Deno.writeTextFile(f.caPath, fresh.ca.cert);
      const g = { ...f, ca: fresh.ca.cert };
      assert.equal(await peerFingerprint(f, harness.port, "app.test"), before);
      await l7.updateRoutes([route]);
      const after = await peerFingerprint(g, harness.port, "app.test");
      assert.notEqual(after, before);
      Object.assign(f, { ca: fresh.ca.cert, cert: fresh.server.cert, key: fresh.server.key });
    } finally {
      await l7.close(Date.now());
      await harness.close();
    }
  });

  await t.step("a route whose certificate cannot be read gets a TCP reset", async () => {
    const l7 = createL7Terminator({ firewall: { blockedUserAgent: () => false } });
    const broken = { ...route, tlsCert: `${f.dir}/missing.pem` };
    const harness = await startHarness(l7, broken);
    try {
      const out = await run("openssl", [
        "s_client",
        "-connect",
        `127.0.0.1:${harness.port}`,
        "-servername",
        "app.test",
      ], { stdin: "" });
      assert.notEqual(out.code, 0);
      assert.match(out.stderr, /errno=104/); // ECONNRESET
      assert.doesNotMatch(out.stdout, /BEGIN CERTIFICATE/);
    } finally {
      await l7.close(Date.now());
      await harness.close();
    }
  });

  await t.step("a TLS backend is verified when backendCa is set", async () => {
    const tlsBackend = await startEchoBackend({ cert: f.cert, key: f.key });
    const tlsRoute = l7Route(f, "tls.test", `127.0.0.1:${tlsBackend.port}`, true);
    const other = await createDevPki({ hosts: HOSTS });
    for (const [ca, want] of [[f.ca, 200], [other.ca.cert, 502]] as const) {
      const l7 = createL7Terminator({
        firewall: { blockedUserAgent: () => false },
        backendCa: ca,
      });
      const harness = await startHarness(l7, tlsRoute);
      try {
        const r = await curl(f, "tls.test", harness.port, "/headers", ["--http2"]);
        assert.equal(r.status, want);
      } finally {
        await l7.close(Date.now());
        await harness.close();
      }
    }
    await tlsBackend.close();
  });

  await echo.close();
  await Deno.remove(f.dir, { recursive: true });
});
