import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { createDevPki } from "../tls/mod.ts";
import { createLogger } from "../log/mod.ts";
import { createGrpcClient, createGrpcServer, type GrpcClientOptions } from "./mod.ts";
import { Echo, ECHO_ACCESS, echoService, FakeValidator } from "./testdata/echo_service.ts";
import type { EchoClient } from "./testdata/gen/mcdsl/test/v1/Echo.ts";

const pki = await createDevPki({ hosts: ["localhost", "127.0.0.1"] });

async function withServer(fn: (port: number) => Promise<void>): Promise<void> {
  const listener = await createGrpcServer({
    services: [echoService],
    access: ECHO_ACCESS,
    validator: new FakeValidator(),
    logger: createLogger({ write: () => {} }),
  }).listen({ addr: "127.0.0.1:0", tls: pki.server });
  try {
    await fn(listener.port!);
  } finally {
    await listener.shutdown(1000);
  }
}

function whoami(options: GrpcClientOptions): Promise<string> {
  const client = createGrpcClient(Echo, options) as unknown as EchoClient;
  return new Promise<string>((resolve) =>
    client.Whoami({ message: "m" }, { deadline: Date.now() + 5000 }, (e, r) => {
      client.close();
      resolve(e ? `${grpc.status[e.code]}: ${e.details}` : r!.caller);
    })
  );
}

Deno.test("createGrpcClient() sends a token from a string or a function", async () => {
  await withServer(async (port) => {
    const target = `localhost:${port}`;
    const tls = { ca: pki.ca.cert };
    assert.equal(await whoami({ target, tls, token: "user-token" }), "bob");
    assert.equal(
      await whoami({ target, tls, token: () => Promise.resolve("admin-token") }),
      "alice",
    );
    assert.equal(
      await whoami({ target, tls, token: () => Promise.reject(new Error("no session")) }),
      "UNAUTHENTICATED: cannot get a bearer token: no session",
    );
  });
});

Deno.test("createGrpcClient() fails calls to a server whose CA it does not trust", async () => {
  const other = await createDevPki();
  await withServer(async (port) => {
    const result = await whoami({
      target: `localhost:${port}`,
      tls: { ca: other.ca.cert },
      token: "user-token",
    });
    assert.match(result, /^UNAVAILABLE: /);
  });
});

Deno.test("createGrpcClient() throws TypeError for IP targets over TLS and mismatched transports", () => {
  assert.throws(
    () => createGrpcClient(Echo, { target: "127.0.0.1:9443", tls: { ca: pki.ca.cert } }),
    {
      name: "TypeError",
      message:
        'Cannot connect to "127.0.0.1:9443" over TLS: grpc-js sends the host as the TLS server name and Deno refuses IP addresses there; use a DNS name the certificate holds (e.g. localhost:PORT)',
    },
  );
  assert.throws(
    () => createGrpcClient(Echo, { target: "[::1]:9443", tls: { ca: pki.ca.cert } }),
    TypeError,
  );
  assert.throws(() => createGrpcClient(Echo, { target: "localhost:9443" }), {
    name: "TypeError",
    message: 'Cannot connect to "localhost:9443": TCP needs tls ({ ca })',
  });
  assert.throws(
    () => createGrpcClient(Echo, { target: "unix:///run/x.sock", tls: { ca: pki.ca.cert } }),
    {
      name: "TypeError",
      message: 'Cannot connect to "unix:///run/x.sock": unix sockets are plaintext, drop tls',
    },
  );
});
