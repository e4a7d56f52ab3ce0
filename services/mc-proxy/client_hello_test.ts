import assert from "node:assert/strict";
import { createServer } from "node:net";
import { Buffer } from "node:buffer";
import { MAX_CLIENT_HELLO_BYTES, parseClientHello } from "./client_hello.ts";

/** Runs `cmd` against a TCP listener and returns the first bytes it sent (up to 32 KiB / 3 s). */
async function capture(cmd: string, args: (port: number) => string[]): Promise<Uint8Array> {
  const { promise, resolve } = Promise.withResolvers<Uint8Array>();
  const chunks: Buffer[] = [];
  const server = createServer((s) => {
    s.on("data", (c: Buffer) => {
      chunks.push(c);
      const all = Buffer.concat(chunks);
      if (parseClientHello(all).status !== "incomplete" || all.length > 32768) {
        resolve(all);
        s.destroy();
      }
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const child = new Deno.Command(cmd, {
    args: args(port),
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const timer = setTimeout(() => resolve(Buffer.concat(chunks)), 3000);
  const bytes = await promise;
  clearTimeout(timer);
  try {
    child.kill();
  } catch { /* already exited */ }
  await child.status;
  await new Promise((r) => server.close(r));
  return bytes;
}

Deno.test("parseClientHello() reads SNI and TLS 1.3 from a real openssl s_client hello", async () => {
  const hello = await capture("openssl", (port) => [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-servername",
    "A.Test",
  ]);
  assert.deepEqual(parseClientHello(hello), { status: "ok", sni: "a.test", tls13: true });
  // Every strict prefix is incomplete: the parser never guesses.
  for (const n of [0, 1, 4, 5, 6, 40, hello.length - 1]) {
    assert.equal(parseClientHello(hello.subarray(0, n)).status, "incomplete", `prefix ${n}`);
  }
});

Deno.test("parseClientHello() sees no TLS 1.3 in an openssl -tls1_2 hello, and no SNI without -servername", async () => {
  const v12 = await capture("openssl", (port) => [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-servername",
    "a.test",
    "-tls1_2",
  ]);
  assert.deepEqual(parseClientHello(v12), { status: "ok", sni: "a.test", tls13: false });
  const noSni = await capture("openssl", (port) => [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-noservername",
  ]);
  assert.deepEqual(parseClientHello(noSni), { status: "ok", tls13: true });
});

Deno.test("parseClientHello() reads a real curl hello", async () => {
  const hello = await capture("curl", (port) => [
    "-sk",
    "--max-time",
    "3",
    "--resolve",
    `b.test:${port}:127.0.0.1`,
    `https://b.test:${port}/`,
  ]);
  assert.deepEqual(parseClientHello(hello), { status: "ok", sni: "b.test", tls13: true });
});

/** Splits the handshake message of a one-record hello over two records. */
function splitRecords(hello: Uint8Array, at: number): Uint8Array {
  const body = hello.subarray(5);
  const rec = (b: Uint8Array) => [0x16, 0x03, 0x01, b.length >> 8, b.length & 0xff, ...b];
  return Uint8Array.from([...rec(body.subarray(0, at)), ...rec(body.subarray(at))]);
}

Deno.test("parseClientHello() reassembles a hello split over several records", async () => {
  const hello = await capture("openssl", (port) => [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-servername",
    "split.test",
  ]);
  for (const at of [1, 3, 4, 50, hello.length - 6]) {
    assert.deepEqual(parseClientHello(splitRecords(hello, at)), {
      status: "ok",
      sni: "split.test",
      tls13: true,
    }, `split at ${at}`);
  }
});

Deno.test("parseClientHello() refuses non-TLS, oversize and malformed input", () => {
  const enc = (s: string) => new TextEncoder().encode(s);
  assert.equal(parseClientHello(enc("GET / HTTP/1.1\r\n\r\n")).status, "invalid");
  assert.equal(parseClientHello(enc("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n")).status, "invalid");
  // A record claiming a 16 KiB handshake message made of many records: bounded.
  const big = new Uint8Array(MAX_CLIENT_HELLO_BYTES + 5);
  big.set([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x00, 0xff, 0xff]);
  assert.equal(parseClientHello(big, 1024).status, "invalid");
  // Many tiny records never complete the message: refused at the size bound.
  const tiny: number[] = [0x16, 0x03, 0x01, 0x00, 0x04, 0x01, 0x00, 0x10, 0x00];
  while (tiny.length < 2048) tiny.push(0x16, 0x03, 0x01, 0x00, 0x01, 0x00);
  assert.equal(parseClientHello(Uint8Array.from(tiny), 1024).status, "invalid");
  // A ServerHello (type 2) is not a ClientHello.
  assert.equal(
    parseClientHello(Uint8Array.from([0x16, 0x03, 0x03, 0x00, 0x04, 0x02, 0, 0, 0])).status,
    "invalid",
  );
});

Deno.test("parseClientHello() never throws on random or mutated input (bounded fuzz)", async () => {
  const hello = await capture("openssl", (port) => [
    "s_client",
    "-connect",
    `127.0.0.1:${port}`,
    "-servername",
    "fuzz.test",
  ]);
  let seed = 0x2545f491;
  const rand = () => {
    seed ^= seed << 13;
    seed ^= seed >>> 17;
    seed ^= seed << 5;
    return (seed >>> 0) / 0x100000000;
  };
  const counts = { ok: 0, invalid: 0, incomplete: 0 };
  for (let i = 0; i < 3000; i++) {
    let input: Uint8Array;
    if (i % 3 === 0) {
      input = Uint8Array.from({ length: Math.floor(rand() * 600) }, () => Math.floor(rand() * 256));
      if (rand() < 0.5 && input.length > 5) input.set([0x16, 0x03, 0x01]);
    } else {
      input = hello.slice(0, i % 3 === 1 ? hello.length : Math.floor(rand() * hello.length));
      const flips = 1 + Math.floor(rand() * 4);
      for (let f = 0; f < flips && input.length > 0; f++) {
        input[Math.floor(rand() * input.length)] = Math.floor(rand() * 256);
      }
    }
    const r = parseClientHello(input);
    counts[r.status]++;
    if (r.status === "ok" && r.sni !== undefined) {
      assert.match(r.sni, /^[a-z0-9._-]{1,253}$/);
    }
  }
  // The mutations hit all three outcomes.
  assert.ok(counts.ok > 0 && counts.invalid > 0 && counts.incomplete > 0, JSON.stringify(counts));
});
