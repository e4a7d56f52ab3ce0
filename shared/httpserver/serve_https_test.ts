import assert from "node:assert/strict";
import { Hono } from "hono";
import { createDevPki, writeDevPki } from "../tls/mod.ts";
import { captureLogger, run, tempPki } from "./_testing.ts";
import { type HttpsServer, serveHttps, type ServeHttpsOptions } from "./serve_https.ts";

const IPV6 = (() => {
  try {
    Deno.listen({ hostname: "::1", port: 0 }).close();
    return true;
  } catch {
    return false;
  }
})();

function baseOptions(
  pki: { cert: string; key: string },
  extra: Partial<ServeHttpsOptions> = {},
): ServeHttpsOptions {
  return {
    listenAddr: "127.0.0.1:0",
    tlsCert: pki.cert,
    tlsKey: pki.key,
    logger: captureLogger().logger,
    ...extra,
  };
}

function helloApp(): Hono {
  return new Hono().get("/v1/health", (c) => c.json({ ok: true }));
}

function url(server: HttpsServer, path: string): string {
  return `https://127.0.0.1:${server.addr.port}${path}`;
}

Deno.test("serveHttps() serves a Hono app over TLS 1.3 to fetch and curl --cacert", async () => {
  await using pki = await tempPki();
  const { logger, records } = captureLogger();
  await using server = await serveHttps(helloApp(), baseOptions(pki, { logger }));
  assert.equal(server.addr.hostname, "127.0.0.1");
  assert.ok(server.addr.port > 0);
  assert.deepEqual(records()[0], {
    ...records()[0],
    msg: "https server listening",
    addr: `127.0.0.1:${server.addr.port}`,
  });

  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  const response = await fetch(url(server, "/v1/health"), { client });
  assert.deepEqual(await response.json(), { ok: true });

  const curl = await run("curl", [
    "-sS",
    "--cacert",
    pki.caCert,
    "-w",
    "\n%{http_code} %{http_version} %{ssl_verify_result}",
    url(server, "/v1/health"),
  ]);
  assert.equal(curl.stderr, "");
  assert.equal(curl.stdout, '{"ok":true}\n200 1.1 0');
});

Deno.test("serveHttps() refuses a TLS 1.2 handshake and accepts TLS 1.3 (openssl s_client)", async () => {
  await using pki = await tempPki();
  const { logger, records } = captureLogger();
  await using server = await serveHttps(helloApp(), baseOptions(pki, { logger }));
  const connect = ["s_client", "-connect", `127.0.0.1:${server.addr.port}`, "-CAfile", pki.caCert];

  const tls12 = await run("openssl", [...connect, "-tls1_2"]);
  assert.notEqual(tls12.code, 0);
  assert.match(tls12.stderr, /alert protocol version/);

  const tls13 = await run("openssl", [
    ...connect,
    "-tls1_3",
    "-verify_return_error",
    "-verify_ip",
    "127.0.0.1",
    "-alpn",
    "h2,http/1.1",
  ]);
  assert.equal(tls13.code, 0, tls13.stderr);
  assert.match(tls13.stdout, /New, TLSv1\.3, Cipher is TLS_/);
  assert.match(tls13.stdout, /ALPN protocol: http\/1\.1/);
  assert.match(tls13.stdout, /Verify return code: 0 \(ok\)/);

  const curl12 = await run("curl", [
    "-sS",
    "--cacert",
    pki.caCert,
    "--tls-max",
    "1.2",
    url(server, "/v1/health"),
  ]);
  assert.equal(curl12.code, 35); // CURLE_SSL_CONNECT_ERROR
  const failures = records().filter((r) => r.msg === "tls handshake failed");
  assert.equal(failures.length, 2);
  assert.equal(failures[0].level, "debug");
  assert.equal(failures[0].remoteAddr, "127.0.0.1");
});

Deno.test("serveHttps() accepts a plain fetch function and an IPv6 listen address", {
  ignore: !IPV6,
}, async () => {
  await using pki = await tempPki();
  await using server = await serveHttps(
    (request) => Response.json({ path: new URL(request.url).pathname }),
    baseOptions(pki, { listenAddr: "[::1]:0" }),
  );
  assert.equal(server.addr.hostname, "::1");
  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  const response = await fetch(`https://[::1]:${server.addr.port}/x`, { client });
  assert.deepEqual(await response.json(), { path: "/x" });
});

Deno.test("serveHttps() answers 500 JSON and logs when a fetch function throws", async () => {
  await using pki = await tempPki();
  const { logger, records } = captureLogger();
  await using server = await serveHttps(() => {
    throw new Error("handler bug");
  }, baseOptions(pki, { logger }));
  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  const response = await fetch(url(server, "/x"), { client });
  assert.equal(response.status, 500);
  assert.deepEqual(await response.json(), { error: "internal error" });
  const failure = records().find((r) => r.msg === "unhandled error");
  assert.deepEqual(failure?.error, { name: "Error", message: "handler bug" });
});

Deno.test("serveHttps() calls onListen with the bound address instead of logging", async () => {
  await using pki = await tempPki();
  const { logger, records } = captureLogger();
  const seen: unknown[] = [];
  await using server = await serveHttps(
    helloApp(),
    baseOptions(pki, { logger, onListen: (addr) => seen.push(addr) }),
  );
  assert.deepEqual(seen, [{ hostname: "127.0.0.1", port: server.addr.port }]);
  assert.equal(records().some((r) => r.msg === "https server listening"), false);
});

Deno.test("serveHttps() names server.tls_cert or server.tls_key when one is not set", async () => {
  await using pki = await tempPki();
  await assert.rejects(
    serveHttps(helloApp(), baseOptions(pki, { tlsCert: "" })),
    new TypeError(
      "Cannot start HTTPS server: server.tls_cert is not set; set it to the path of the PEM " +
        "certificate (TLS is required, there is no plain-HTTP mode)",
    ),
  );
  await assert.rejects(
    serveHttps(helloApp(), baseOptions(pki, { tlsKey: "" })),
    new TypeError(
      "Cannot start HTTPS server: server.tls_key is not set; set it to the path of the PEM " +
        "private key (TLS is required, there is no plain-HTTP mode)",
    ),
  );
});

Deno.test("serveHttps() names the key and path of a certificate or key file it cannot read", async () => {
  await using pki = await tempPki();
  const missing = `${pki.dir}/missing.pem`;
  await assert.rejects(serveHttps(helloApp(), baseOptions(pki, { tlsCert: missing })), {
    name: "Error",
    message:
      `Cannot start HTTPS server: cannot read server.tls_cert "${missing}": the file does not exist`,
  });
  await assert.rejects(serveHttps(helloApp(), baseOptions(pki, { tlsKey: missing })), {
    message:
      `Cannot start HTTPS server: cannot read server.tls_key "${missing}": the file does not exist`,
  });
});

Deno.test("serveHttps() refuses files that are not PEM and a key that does not match", async () => {
  await using pki = await tempPki();
  const junk = `${pki.dir}/junk.pem`;
  await Deno.writeTextFile(junk, "not a pem file\n");
  await assert.rejects(serveHttps(helloApp(), baseOptions(pki, { tlsCert: junk })), (e: Error) => {
    assert.ok(
      e.message.startsWith(
        `Cannot start HTTPS server: server.tls_cert "${junk}" is not a PEM certificate: `,
      ),
      e.message,
    );
    return true;
  });
  await assert.rejects(serveHttps(helloApp(), baseOptions(pki, { tlsKey: junk })), {
    message: `Cannot start HTTPS server: server.tls_key "${junk}" is not a PEM private key ` +
      "(unencrypted PKCS#8, SEC1 or PKCS#1)",
  });
  const otherDir = `${pki.dir}/other`;
  await Deno.mkdir(otherDir);
  const other = await writeDevPki(otherDir, await createDevPki());
  await assert.rejects(serveHttps(helloApp(), baseOptions(pki, { tlsKey: other.key })), {
    message: `Cannot start HTTPS server: server.tls_key "${other.key}" is not the private key ` +
      `of server.tls_cert "${pki.cert}"; point both at the same key pair`,
  });
});

Deno.test("serveHttps() reports an address in use and a malformed listen address", async () => {
  await using pki = await tempPki();
  await using first = await serveHttps(helloApp(), baseOptions(pki));
  const addr = `127.0.0.1:${first.addr.port}`;
  await assert.rejects(serveHttps(helloApp(), baseOptions(pki, { listenAddr: addr })), {
    message: `Cannot start HTTPS server: cannot listen on "${addr}" (server.listen_addr): ` +
      `listen EADDRINUSE: address already in use ${addr}`,
  });
  await assert.rejects(
    serveHttps(helloApp(), baseOptions(pki, { listenAddr: "8443" })),
    SyntaxError,
  );
  await assert.rejects(serveHttps(helloApp(), baseOptions(pki, { graceMs: -1 })), {
    name: "RangeError",
    message: 'Cannot start HTTPS server: "graceMs" must be a non-negative number of ' +
      "milliseconds, got -1",
  });
});

Deno.test("serveHttps() lets two servers share a port with reusePort", async () => {
  await using pki = await tempPki();
  await using first = await serveHttps(helloApp(), baseOptions(pki, { reusePort: true }));
  await using second = await serveHttps(
    helloApp(),
    baseOptions(pki, { reusePort: true, listenAddr: `127.0.0.1:${first.addr.port}` }),
  );
  assert.equal(second.addr.port, first.addr.port);
  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  const response = await fetch(url(second, "/v1/health"), { client });
  assert.deepEqual(await response.json(), { ok: true });
});

Deno.test("serveHttps() answers 400 to a request without a Host header", async () => {
  await using pki = await tempPki();
  await using server = await serveHttps(helloApp(), baseOptions(pki));
  const out = await run("openssl", [
    "s_client",
    "-quiet",
    "-connect",
    `127.0.0.1:${server.addr.port}`,
    "-CAfile",
    pki.caCert,
  ], "GET /v1/health HTTP/1.0\r\n\r\n");
  assert.match(out.stdout, /^HTTP\/1\.[01] 400 /);
  assert.match(out.stdout, /\{"error":"bad request"\}/);
});

function slowApp(started: PromiseWithResolvers<void>, release: Promise<void>): Hono {
  return new Hono()
    .get("/fast", (c) => c.text("fast"))
    .get("/slow", async (c) => {
      started.resolve();
      await release;
      return c.json({ done: true });
    });
}

async function connectRefused(port: number): Promise<boolean> {
  try {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    conn.close();
    return false;
  } catch (error) {
    return error instanceof Deno.errors.ConnectionRefused;
  }
}

Deno.test("serveHttps() shutdown lets an in-flight request finish and refuses new connections", async () => {
  await using pki = await tempPki();
  const started = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const { logger, records } = captureLogger();
  const server = await serveHttps(slowApp(started, release.promise), baseOptions(pki, { logger }));
  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  const slow = fetch(url(server, "/slow"), { client });
  await started.promise;

  const begin = performance.now();
  const stopping = server.shutdown(30_000);
  assert.equal(server.shutdown(), stopping, "a second shutdown() returns the same promise");
  assert.equal(await connectRefused(server.addr.port), true);

  release.resolve();
  const response = await slow;
  assert.equal(response.status, 200);
  assert.equal(response.headers.get("connection"), "close");
  assert.deepEqual(await response.json(), { done: true });
  await stopping;
  await server.finished;
  // The busy connection closed after its response, long before the grace period.
  assert.ok(performance.now() - begin < 10_000);
  assert.deepEqual(
    records().map((r) => r.msg),
    ["https server listening", "https server shutting down", "https server stopped"],
  );
});

Deno.test("serveHttps() shutdown closes idle keep-alive connections at once", async () => {
  await using pki = await tempPki();
  const server = await serveHttps(helloApp(), baseOptions(pki));
  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  for (let i = 0; i < 3; i++) {
    const response = await fetch(url(server, "/v1/health"), { client });
    await response.body?.cancel();
  }
  const begin = performance.now();
  await server.shutdown(30_000);
  assert.ok(performance.now() - begin < 5_000, "did not wait for the idle connection");
});

Deno.test("serveHttps() shutdown cuts requests still running after the grace period", async () => {
  await using pki = await tempPki();
  const started = Promise.withResolvers<void>();
  const release = Promise.withResolvers<void>();
  const server = await serveHttps(slowApp(started, release.promise), baseOptions(pki));
  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  const slow = fetch(url(server, "/slow"), { client });
  await started.promise;
  const cut = assert.rejects(slow, TypeError);
  await server.shutdown(50);
  await cut;
  release.resolve();
});

Deno.test("serveHttps() shuts down when the signal aborts", async () => {
  await using pki = await tempPki();
  const controller = new AbortController();
  const server = await serveHttps(helloApp(), baseOptions(pki, { signal: controller.signal }));
  controller.abort();
  await server.finished;
  assert.equal(await connectRefused(server.addr.port), true);
  const aborted = AbortSignal.abort();
  await assert.rejects(
    serveHttps(helloApp(), baseOptions(pki, { signal: aborted })),
    (e: unknown) => e instanceof DOMException && e.name === "AbortError",
  );
});

Deno.test("serveHttps() shutdown closes a connection that never finished its TLS handshake", async () => {
  await using pki = await tempPki();
  const server = await serveHttps(helloApp(), baseOptions(pki));
  const raw = await Deno.connect({ hostname: "127.0.0.1", port: server.addr.port });
  // A full request on a second connection means the server has accepted the first.
  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  const response = await fetch(url(server, "/v1/health"), { client });
  await response.body?.cancel();
  const begin = performance.now();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const outcome = await Promise.race([
    server.shutdown(200).then(() => "stopped"),
    new Promise<string>((resolve) => timer = setTimeout(() => resolve("hung"), 3_000)),
  ]);
  const took = performance.now() - begin;
  clearTimeout(timer);
  raw.close();
  await server.finished;
  assert.equal(outcome, "stopped");
  assert.ok(took < 1_000, `took ${took} ms`);
});
