import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { createDevPki } from "../tls/mod.ts";
import { createLogger } from "../log/mod.ts";
import { clientCredentials, createGrpcClient, createGrpcServer, serverCredentials } from "./mod.ts";
import { Echo, ECHO_ACCESS, echoService, FakeValidator } from "./testdata/echo_service.ts";
import type { EchoClient } from "./testdata/gen/mcdsl/test/v1/Echo.ts";

const pki = await createDevPki({ hosts: ["localhost", "127.0.0.1"] });

function newServer() {
  return createGrpcServer({
    services: [echoService],
    access: ECHO_ACCESS,
    validator: new FakeValidator(),
    logger: createLogger({ write: () => {} }),
  });
}

async function sClient(port: number, caFile: string, ...flags: string[]): Promise<string> {
  const out = await new Deno.Command("openssl", {
    args: ["s_client", "-connect", `127.0.0.1:${port}`, "-CAfile", caFile, ...flags],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return dec.decode(out.stdout) + dec.decode(out.stderr);
}

Deno.test("serverCredentials() listeners refuse TLS 1.2 and accept TLS 1.3 with ALPN h2", async () => {
  const dir = await Deno.makeTempDir();
  const listener = await newServer().listen({ addr: "127.0.0.1:0", tls: pki.server });
  try {
    await Deno.writeTextFile(`${dir}/ca.pem`, pki.ca.cert);
    const tls12 = await sClient(listener.port!, `${dir}/ca.pem`, "-tls1_2");
    assert.match(tls12, /alert protocol version/);
    assert.match(tls12, /Cipher is \(NONE\)/);
    const tls13 = await sClient(listener.port!, `${dir}/ca.pem`, "-tls1_3", "-alpn", "h2");
    assert.match(tls13, /New, TLSv1\.3, Cipher is TLS_/);
    assert.match(tls13, /ALPN protocol: h2/);
    assert.match(tls13, /Verify return code: 0 \(ok\)/);
  } finally {
    await listener.shutdown(1000);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("serverCredentials() throws TypeError for non-PEM input and mTLS without ca", () => {
  assert.throws(() => serverCredentials({ cert: "garbage", key: pki.server.key }), {
    name: "TypeError",
    message: 'Cannot use TLS cert: expected PEM text ("-----BEGIN ..."), got other data',
  });
  assert.throws(
    () => serverCredentials({ ...pki.server, requireClientCert: true }),
    {
      name: "TypeError",
      message: "Cannot create TLS server credentials: requireClientCert needs ca",
    },
  );
});

Deno.test("clientCredentials() throws TypeError for a cert without its key", () => {
  assert.throws(() => clientCredentials({ ca: pki.ca.cert, cert: pki.server.cert }), {
    name: "TypeError",
    message: "Cannot create TLS client credentials: give both cert and key, or neither",
  });
});

/** A client certificate signed by the dev CA, made with the openssl CLI. */
async function clientCert(dir: string): Promise<{ cert: string; key: string }> {
  await Deno.writeTextFile(`${dir}/ca.pem`, pki.ca.cert);
  await Deno.writeTextFile(`${dir}/ca.key`, pki.ca.key);
  await Deno.writeTextFile(`${dir}/ext.cnf`, "extendedKeyUsage=clientAuth\n");
  const run = async (...args: string[]) => {
    const out = await new Deno.Command("openssl", { args, stdout: "null", stderr: "piped" })
      .output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
  };
  await run("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", `${dir}/c.key`);
  await run("req", "-new", "-key", `${dir}/c.key`, "-subj", "/CN=agent", "-out", `${dir}/c.csr`);
  await run(
    "x509",
    "-req",
    "-in",
    `${dir}/c.csr`,
    "-CA",
    `${dir}/ca.pem`,
    "-CAkey",
    `${dir}/ca.key`,
    "-CAcreateserial",
    "-days",
    "1",
    "-extfile",
    `${dir}/ext.cnf`,
    "-out",
    `${dir}/c.pem`,
  );
  return {
    cert: await Deno.readTextFile(`${dir}/c.pem`),
    key: await Deno.readTextFile(`${dir}/c.key`),
  };
}

Deno.test("serverCredentials() with requireClientCert accepts only clients with a CA-signed cert", async () => {
  const dir = await Deno.makeTempDir();
  const listener = await newServer().listen({
    addr: "127.0.0.1:0",
    tls: { ...pki.server, ca: pki.ca.cert, requireClientCert: true },
  });
  const clients: grpc.Client[] = [];
  const ping = (tls: { ca: string; cert?: string; key?: string }) => {
    const c = createGrpcClient(Echo, { target: `localhost:${listener.port}`, tls });
    clients.push(c);
    return new Promise<string>((resolve) =>
      (c as unknown as EchoClient).Ping(
        { message: "m" },
        { deadline: Date.now() + 5000 },
        (e, r) => resolve(e ? grpc.status[e.code] : r!.message),
      )
    );
  };
  try {
    const mine = await clientCert(dir);
    assert.equal(await ping({ ca: pki.ca.cert, ...mine }), "m");
    assert.equal(await ping({ ca: pki.ca.cert }), "UNAVAILABLE");
  } finally {
    for (const c of clients) c.close();
    await listener.shutdown(1000);
    await Deno.remove(dir, { recursive: true });
  }
});
