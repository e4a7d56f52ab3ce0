/**
 * Starts the record API next to the DNS server: REST over HTTPS on
 * `[server] listen_addr` and, when `[server] grpc_addr` is set, gRPC, both
 * TLS 1.3 with `[server]`'s certificate, tokens validated by MCIAS
 * (`[mcias]`).
 *
 * @module
 */

import { createAuthClient } from "@mc/mcdsl/auth";
import { serveHttps } from "@mc/mcdsl/httpserver";
import type { Logger } from "@mc/mcdsl/log";
import type { McnsConfig } from "../config.ts";
import { normalizeName } from "../records.ts";
import type { ZoneStore } from "../store.ts";
import { createMcnsGrpcServer } from "./grpc.ts";
import { createRestApp } from "./rest.ts";

/** A running record API. */
export interface RunningApi extends AsyncDisposable {
  /** The HTTPS port. */
  httpsPort: number;
  /** The gRPC port, when `[server] grpc_addr` is set. */
  grpcPort: number | undefined;
  /** Stops both listeners and the MCIAS client. */
  close(): Promise<void>;
}

/** Options for {@linkcode startApi}. */
export interface StartApiOptions {
  /** The loaded config (`[server]`, `[mcias]`). */
  config: McnsConfig;
  /** The store the DNS server serves. */
  store: ZoneStore;
  /** Called after every write: the DNS server's `reload()` (a throw is logged, not answered). */
  onChange: () => void;
  /** Request and call log. */
  logger: Logger;
}

/**
 * Starts REST (and gRPC when configured).
 *
 * @throws {AccessMapError} When a route or method is undeclared.
 * @throws {Error} When the certificate cannot be read or an address is taken.
 */
export async function startApi(options: StartApiOptions): Promise<RunningApi> {
  const { config, store, onChange, logger } = options;
  const { server, mcias } = config;
  const validator = createAuthClient({
    serverUrl: mcias.server_url,
    caCert: mcias.ca_cert === undefined ? undefined : await Deno.readTextFile(mcias.ca_cert),
    serviceName: mcias.service_name,
    tags: mcias.tags,
  });
  const stack: (() => void | Promise<void>)[] = [() => validator.close()];
  const close = async () => {
    for (const f of stack.splice(0).reverse()) await f();
  };
  try {
    // System accounts own their name in this zone only (authz.ts).
    const serviceZone = `svc.mcp.${normalizeName(config.dns.domain, "[dns] domain")}`;
    const common = { store, onChange, serviceZone, validator, logger };
    const rest = await serveHttps(createRestApp(common), {
      listenAddr: server.listen_addr,
      tlsCert: server.tls_cert,
      tlsKey: server.tls_key,
      logger,
    });
    stack.push(() => rest.shutdown());
    let grpcPort: number | undefined;
    if (server.grpc_addr !== undefined) {
      const listener = await createMcnsGrpcServer(common).listen({
        addr: server.grpc_addr,
        tls: {
          cert: await Deno.readTextFile(server.tls_cert),
          key: await Deno.readTextFile(server.tls_key),
        },
      });
      stack.push(() => listener.shutdown());
      grpcPort = listener.port;
    }
    return { httpsPort: rest.addr.port, grpcPort, close, [Symbol.asyncDispose]: close };
  } catch (e) {
    await close();
    throw e;
  }
}
