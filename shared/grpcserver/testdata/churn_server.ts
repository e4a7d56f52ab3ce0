// The server under churn, in its own process so that a crash is an exit code.
//
// deno run churn_server.ts --mode mcdsl|naive --addr 127.0.0.1:0|unix:///PATH [--certs DIR]
// Prints "READY <port or path>" once serving; exits 0 on SIGTERM.
//
// mcdsl: createGrpcServer (HTTP/2 fix installed, access map, TLS 1.3).
// naive: a bare grpc-js server, nothing else: the control that shows the
// churn reaches the crash. naive-tuned: the same with the server options one
// might hope to help (few streams, keepalive, little session memory).
import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import { parseArgs } from "node:util";
import { createLogger } from "../../log/mod.ts";
import { createGrpcServer } from "../server.ts";
import { ECHO_ACCESS, echoService, FakeValidator } from "./echo_service.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    mode: { type: "string", default: "mcdsl" },
    addr: { type: "string", default: "127.0.0.1:0" },
    certs: { type: "string" },
  },
});
const addr = values.addr!;
const certs = values.certs;
const tls = certs === undefined ? undefined : {
  cert: Deno.readTextFileSync(`${certs}/cert.pem`),
  key: Deno.readTextFileSync(`${certs}/key.pem`),
};

let stop: () => Promise<void>;
if (values.mode === "naive" || values.mode === "naive-tuned") {
  const server = new grpc.Server(
    values.mode === "naive" ? {} : {
      "grpc.max_concurrent_streams": 10,
      "grpc.keepalive_time_ms": 1000,
      "grpc.keepalive_timeout_ms": 500,
      "grpc.max_connection_idle_ms": 2000,
      "grpc-node.max_session_memory": 1,
    },
  );
  server.addService(echoService.definition, echoService.implementation);
  const credentials = tls === undefined
    ? grpc.ServerCredentials.createInsecure()
    // An explicit CA: with null, grpc-js loads every default root and Deno's
    // TLS handshake then fails (HandshakePayloadTooLarge).
    : grpc.ServerCredentials.createSsl(Buffer.from(Deno.readTextFileSync(`${certs}/ca.pem`)), [{
      cert_chain: Buffer.from(tls.cert),
      private_key: Buffer.from(tls.key),
    }]);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(addr, credentials, (e, p) => e ? reject(e) : resolve(p))
  );
  console.log(`READY ${addr.startsWith("unix:") ? addr.slice(7) : port}`);
  stop = () => new Promise((resolve) => server.tryShutdown(() => resolve()));
} else {
  const server = createGrpcServer({
    services: [echoService],
    access: ECHO_ACCESS,
    validator: new FakeValidator(),
    logger: createLogger({ level: "warn" }),
  });
  const listener = await server.listen({ addr, tls });
  console.log(`READY ${listener.port ?? addr.slice(7)}`);
  stop = () => listener.shutdown(2000);
}
Deno.addSignalListener("SIGTERM", async () => {
  await stop();
  Deno.exit(0);
});
