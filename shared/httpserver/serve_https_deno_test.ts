import assert from "node:assert/strict";
import { Hono } from "hono";
import { offersTls13 } from "./_deno_engine.ts";
import { captureLogger, run, tempPki } from "./_testing.ts";
import { type HttpsBindings, serveHttps, type ServeHttpsOptions } from "./serve_https.ts";

function denoOptions(
  pki: { cert: string; key: string },
  extra: Partial<ServeHttpsOptions> = {},
): ServeHttpsOptions {
  return {
    listenAddr: "127.0.0.1:0",
    tlsCert: pki.cert,
    tlsKey: pki.key,
    logger: captureLogger().logger,
    engine: "deno",
    ...extra,
  };
}

function peerApp(): Hono<{ Bindings: HttpsBindings }> {
  return new Hono<{ Bindings: HttpsBindings }>()
    .get("/v1/health", (c) => c.json({ ok: true }))
    .get("/v1/peer", (c) => c.text(c.env.incoming.socket.remoteAddress ?? "?"))
    .post("/v1/echo", async (c) => c.json(await c.req.json()));
}

Deno.test('serveHttps({ engine: "deno" }) serves TLS 1.3 and passes the real peer address', async () => {
  await using pki = await tempPki();
  await using server = await serveHttps(peerApp(), denoOptions(pki));
  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  const base = `https://127.0.0.1:${server.addr.port}`;
  assert.deepEqual(await (await fetch(`${base}/v1/health`, { client })).json(), { ok: true });
  assert.equal(await (await fetch(`${base}/v1/peer`, { client })).text(), "127.0.0.1");
  const echoed = await fetch(`${base}/v1/echo`, {
    client,
    method: "POST",
    body: JSON.stringify({ a: "x".repeat(100_000) }),
  });
  assert.equal((await echoed.json()).a.length, 100_000);

  const curl = await run("curl", [
    "-sS",
    "--http1.1",
    "--cacert",
    pki.caCert,
    "-w",
    "\n%{http_code} %{http_version}",
    `${base}/v1/health`,
  ]);
  assert.equal(curl.stdout, '{"ok":true}\n200 1.1');
});

Deno.test('serveHttps({ engine: "deno" }) refuses TLS 1.2 with a protocol_version alert', async () => {
  await using pki = await tempPki();
  const { logger, records } = captureLogger();
  await using server = await serveHttps(peerApp(), denoOptions(pki, { logger }));
  const connect = ["s_client", "-connect", `127.0.0.1:${server.addr.port}`, "-CAfile", pki.caCert];
  const tls12 = await run("openssl", [...connect, "-tls1_2"]);
  assert.notEqual(tls12.code, 0);
  assert.match(tls12.stderr, /alert protocol version/);
  const tls13 = await run("openssl", [...connect, "-tls1_3", "-verify_return_error"]);
  assert.equal(tls13.code, 0, tls13.stderr);
  assert.match(tls13.stdout, /New, TLSv1\.3, Cipher is TLS_/);
  const curl12 = await run("curl", [
    "-sS",
    "--cacert",
    pki.caCert,
    "--tls-max",
    "1.2",
    `https://127.0.0.1:${server.addr.port}/v1/health`,
  ]);
  assert.equal(curl12.code, 35);
  const failures = records().filter((r) => r.msg === "tls handshake failed");
  assert.equal(failures.length, 2);
  assert.equal(failures[0].remoteAddr, "127.0.0.1");
});

Deno.test('serveHttps({ engine: "deno" }) shuts down gracefully and on abort', async () => {
  await using pki = await tempPki();
  const started = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const app = new Hono().get("/slow", async (c) => {
    started.resolve();
    await release.promise;
    return c.json({ done: true });
  });
  const server = await serveHttps(app, denoOptions(pki));
  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  const slow = fetch(`https://127.0.0.1:${server.addr.port}/slow`, { client });
  await started.promise;
  const stopping = server.shutdown(30_000);
  assert.equal(server.shutdown(), stopping);
  release.resolve();
  const response = await slow;
  assert.deepEqual(await response.json(), { done: true });
  await stopping;
  await server.finished;

  const controller = new AbortController();
  const second = await serveHttps(app, denoOptions(pki, { signal: controller.signal }));
  const raw = await Deno.connect({ hostname: "127.0.0.1", port: second.addr.port });
  controller.abort();
  await second.finished;
  raw.close();
});

Deno.test("offersTls13() reads supported_versions from a ClientHello", () => {
  const hello = (versions: number[] | undefined) => {
    const ext = versions === undefined ? [] : [
      0,
      43,
      0,
      1 + 2 * versions.length,
      2 * versions.length,
      ...versions.flatMap((v) => [v >> 8, v & 255]),
    ];
    const body = [
      3,
      3,
      ...new Array(32).fill(7),
      0, // session id
      0,
      2,
      0x13,
      0x01, // cipher suites
      1,
      0, // compression
      ext.length >> 8,
      ext.length & 255,
      ...ext,
    ];
    const hs = [1, 0, body.length >> 8, body.length & 255, ...body];
    return new Uint8Array([22, 3, 1, hs.length >> 8, hs.length & 255, ...hs]);
  };
  assert.equal(offersTls13(hello([0x0304, 0x0303])), true);
  assert.equal(offersTls13(hello([0x0303])), false);
  assert.equal(offersTls13(hello(undefined)), false);
  assert.equal(offersTls13(hello([0x0304]).subarray(0, 20)), undefined);
  assert.equal(offersTls13(new TextEncoder().encode("GET / HTTP/1.1\r\n\r\n")), false);
});
