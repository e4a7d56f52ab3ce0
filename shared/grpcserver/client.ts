/**
 * A grpc-js client factory for tests and CLIs: TLS 1.3 with an explicit CA or
 * a unix socket, and a bearer token on every call.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { clientCredentials, type ClientTlsOptions } from "./credentials.ts";
import { installHttp2Fix } from "./http2_fix.ts";

/** Supplies the bearer token for each call. */
export type TokenSource = string | (() => string | Promise<string>);

/** Options for {@linkcode createGrpcClient}. */
export interface GrpcClientOptions {
  /** `host:port` (with `tls`) or `unix:///absolute/path.sock` (without). */
  target: string;
  /** The CA to trust (and a client certificate for mutual TLS); required for TCP. */
  tls?: ClientTlsOptions;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: TokenSource;
  /** Extra grpc-js channel options. */
  channelOptions?: grpc.ChannelOptions;
}

/** A generated client class, such as `proto.grpc.mcns.v1.RecordService`. */
export type ClientConstructor<C extends grpc.Client> = new (
  address: string,
  credentials: grpc.ChannelCredentials,
  options?: grpc.ClientOptions,
) => C;

/**
 * Creates a client of `ctor` for `options.target`. Close it with `close()`.
 *
 * @param ctor The generated client class.
 * @param options Target, TLS material and token.
 * @returns The client.
 * @throws {TypeError} For TCP without `tls`, or `tls` with a unix socket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createGrpcClient, loadProto } from "./mod.ts";
 * import { PROTO_JSON } from "./testdata/gen/descriptor.ts";
 * import type { ProtoGrpcType } from "./testdata/gen/echo.ts";
 * const { Echo } = loadProto<ProtoGrpcType>(PROTO_JSON).grpc.mcdsl.test.v1;
 * const client = createGrpcClient(Echo, { target: "unix:///run/echo.sock", token: "t" });
 * assert.equal(client.getChannel().getTarget(), "unix:///run/echo.sock");
 * client.close();
 * ```
 */
export function createGrpcClient<C extends grpc.Client>(
  ctor: ClientConstructor<C>,
  options: GrpcClientOptions,
): C {
  installHttp2Fix();
  const { target, tls, token, channelOptions = {} } = options;
  const unix = target.startsWith("unix:");
  if (unix && tls !== undefined) {
    throw new TypeError(`Cannot connect to "${target}": unix sockets are plaintext, drop tls`);
  }
  if (!unix && tls === undefined) {
    throw new TypeError(`Cannot connect to "${target}": TCP needs tls ({ ca })`);
  }
  if (!unix && isIpLiteral(target)) {
    throw new TypeError(
      `Cannot connect to "${target}" over TLS: grpc-js sends the host as the TLS server name and Deno refuses IP addresses there; use a DNS name the certificate holds (e.g. localhost:PORT)`,
    );
  }
  const credentials = unix ? grpc.credentials.createInsecure() : clientCredentials(tls!);
  const interceptors: grpc.Interceptor[] = [];
  if (token !== undefined) interceptors.push(bearerInterceptor(token));
  return new ctor(target, credentials, { ...channelOptions, interceptors });
}

function isIpLiteral(target: string): boolean {
  const host = target.replace(/^dns:(\/\/[^/]*\/)?/, "").replace(/:\d+$/, "");
  return /^\[.*\]$/.test(host) || /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

/**
 * A client interceptor adding `authorization: Bearer <token>`. Call
 * credentials would do the same over TLS, but grpc-js refuses them on the
 * insecure channels unix sockets use.
 *
 * @param token The token or a function returning it.
 * @returns The interceptor.
 */
export function bearerInterceptor(token: TokenSource): grpc.Interceptor {
  return (options, nextCall) =>
    new grpc.InterceptingCall(nextCall(options), {
      start(metadata, listener, next) {
        Promise.resolve(typeof token === "function" ? token() : token).then(
          (value) => {
            metadata.set("authorization", `Bearer ${value}`);
            next(metadata, listener);
          },
          (error: Error) => {
            listener.onReceiveStatus?.({
              code: grpc.status.UNAUTHENTICATED,
              details: `cannot get a bearer token: ${error.message}`,
              metadata: new grpc.Metadata(),
            });
          },
        );
      },
    });
}
