import assert from "node:assert/strict";
import { createDevPki, writeDevPki } from "./mod.ts";

async function openssl(args: string[], stdin?: string): Promise<{ code: number; out: string }> {
  const child = new Deno.Command("openssl", {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(new TextEncoder().encode(stdin));
    await w.close();
  }
  const { code, stdout, stderr } = await child.output();
  const dec = new TextDecoder();
  return { code, out: dec.decode(stdout) + dec.decode(stderr) };
}

Deno.test("createDevPki() makes a server certificate that openssl verifies against the CA", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const paths = await writeDevPki(dir, await createDevPki({ hosts: ["localhost", "127.0.0.1"] }));
    const verify = await openssl([
      "verify",
      "-CAfile",
      paths.caCert,
      "-purpose",
      "sslserver",
      "-verify_hostname",
      "localhost",
      "-verify_ip",
      "127.0.0.1",
      paths.cert,
    ]);
    assert.equal(verify.code, 0, verify.out);
    assert.match(verify.out, /OK/);
    const keyCheck = await openssl(["pkey", "-in", paths.key, "-noout"]);
    assert.equal(keyCheck.code, 0, keyCheck.out);
    assert.equal((await Deno.stat(paths.key)).mode! & 0o777, 0o600);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("createDevPki() certificate serves TLS 1.3 through Deno.listenTls", async () => {
  const pki = await createDevPki();
  const listener = Deno.listenTls({
    hostname: "127.0.0.1",
    port: 0,
    cert: pki.server.cert,
    key: pki.server.key,
  });
  const accepted = (async () => {
    const conn = await listener.accept();
    await conn.handshake();
    conn.close();
  })();
  const client = await Deno.connectTls({
    hostname: "localhost",
    port: listener.addr.port,
    caCerts: [pki.ca.cert],
  });
  await client.handshake();
  client.close();
  await accepted;
  listener.close();
});

Deno.test("createDevPki() rejects bad options with the value given", async () => {
  await assert.rejects(() => createDevPki({ days: 0 }), /days must be a positive integer, got 0/);
  await assert.rejects(() => createDevPki({ hosts: [] }), /hosts is empty/);
});
