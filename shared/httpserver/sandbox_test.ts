// Runs testdata/sandbox_server.ts as a service runs: `deno run` with only
// scoped permissions, to prove serveHttps (node:https, @hono/node-server,
// node:crypto) needs nothing beyond read on its two PEM files and net on
// its own address: no env, no sys.
import assert from "node:assert/strict";
import { run, tempPki } from "./_testing.ts";

const SCRIPT = new URL("./testdata/sandbox_server.ts", import.meta.url).pathname;
const CWD = new URL(".", import.meta.url).pathname;

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr;
  listener.close();
  return port;
}

function spawnServer(port: number, readable: string[], cert: string, key: string) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--allow-net=127.0.0.1:${port}`,
      `--allow-read=${readable.join(",")}`,
      SCRIPT,
      String(port),
      cert,
      key,
    ],
    cwd: CWD,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

/** Collects a stream's text and tells when a marker shows up. */
function collect(stream: ReadableStream<Uint8Array>, marker: string) {
  const seen = Promise.withResolvers<void>();
  let text = "";
  const done = (async () => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      text += chunk;
      if (text.includes(marker)) seen.resolve();
    }
    seen.reject(new Error(`stream ended without ${JSON.stringify(marker)}`));
  })();
  seen.promise.catch(() => {});
  return { seen: seen.promise, done: done.then(() => text) };
}

Deno.test("serveHttps() runs with only --allow-net=<addr> and --allow-read=<cert>,<key>", async () => {
  await using pki = await tempPki();
  const port = freePort();
  const child = spawnServer(port, [pki.cert, pki.key], pki.cert, pki.key);
  const stdout = collect(child.stdout, `listening ${port}`);
  const stderr = collect(child.stderr, "\n");
  try {
    await stdout.seen;
    const base = `https://127.0.0.1:${port}`;
    using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
    const health = await fetch(`${base}/v1/health`, { client });
    assert.deepEqual(await health.json(), { ok: true });
    const echo = await fetch(`${base}/v1/echo`, {
      client,
      method: "POST",
      headers: { authorization: "Bearer good", "content-type": "application/json" },
      body: '{"a":1}',
    });
    assert.deepEqual(await echo.json(), { a: 1 });
    const denied = await fetch(`${base}/v1/echo`, { client, method: "POST" });
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const tls12 = await run("openssl", [
      "s_client",
      "-connect",
      `127.0.0.1:${port}`,
      "-tls1_2",
    ]);
    assert.notEqual(tls12.code, 0);
  } finally {
    child.kill("SIGTERM");
  }
  const status = await child.status;
  const [out, err] = await Promise.all([stdout.done, stderr.done]);
  assert.equal(status.code, 0, err);
  assert.match(out, /stopped/);
  assert.doesNotMatch(err, /NotCapable|Requires .* access|PermissionDenied/);
  const messages = err.trim().split("\n").map((line) => JSON.parse(line).msg);
  assert.deepEqual(messages, [
    "request",
    "request",
    "request",
    "tls handshake failed",
    "https server shutting down",
    "https server stopped",
  ]);
});

Deno.test("serveHttps() says which file it may not read when --allow-read lacks the key", async () => {
  await using pki = await tempPki();
  const port = freePort();
  const child = spawnServer(port, [pki.cert], pki.cert, pki.key);
  const { code, stderr } = await child.output();
  const text = new TextDecoder().decode(stderr);
  assert.equal(code, 1);
  assert.match(
    text,
    new RegExp(
      `Cannot start HTTPS server: cannot read server\\.tls_key "${pki.key}": read access is ` +
        `denied; grant it \\(--allow-read\\) or fix the file mode`,
    ),
  );
});
