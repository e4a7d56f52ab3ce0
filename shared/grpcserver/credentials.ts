/**
 * TLS 1.3-only credentials for grpc-js servers and clients.
 *
 * grpc-js's `ServerCredentials.createSsl` offers no TLS version setting, but
 * grpc-js spreads a credentials object's constructor options into
 * `http2.createSecureServer`, and Deno's `node:tls` honours `minVersion`: a
 * TLS 1.2 ClientHello is answered with a `protocol_version` alert.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { Buffer } from "node:buffer";
import tls from "node:tls";

/** PEM material for a TLS listener. */
export interface ServerTlsOptions {
  /** PEM certificate chain (leaf first). */
  cert: string | Uint8Array;
  /** PEM private key. */
  key: string | Uint8Array;
  /**
   * PEM CA certificates that client certificates must chain to. Only used
   * with `requireClientCert`.
   */
  ca?: string | Uint8Array;
  /**
   * Demand a client certificate signed by `ca` (mutual TLS).
   * @default {false}
   */
  requireClientCert?: boolean;
}

/** PEM material for a TLS client. */
export interface ClientTlsOptions {
  /** PEM CA certificates the server certificate must chain to. */
  ca: string | Uint8Array;
  /** PEM client certificate, for mutual TLS. */
  cert?: string | Uint8Array;
  /** PEM client key, for mutual TLS. */
  key?: string | Uint8Array;
}

function pem(value: string | Uint8Array, what: string): Buffer {
  const buffer = Buffer.from(value);
  if (!buffer.toString("latin1").includes("-----BEGIN ")) {
    throw new TypeError(
      `Cannot use TLS ${what}: expected PEM text ("-----BEGIN ..."), got other data`,
    );
  }
  return buffer;
}

class Tls13ServerCredentials extends grpc.ServerCredentials {
  _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}

/**
 * Server credentials that accept TLS 1.3 only.
 *
 * @param options Certificate, key and, for mutual TLS, the client CA.
 * @returns Credentials for `grpc.Server.bindAsync`.
 * @throws {TypeError} When a value is not PEM, or `requireClientCert` comes without `ca`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createDevPki } from "../tls/mod.ts";
 * import { serverCredentials } from "./credentials.ts";
 * const pki = await createDevPki();
 * assert.equal(serverCredentials(pki.server)._isSecure(), true);
 * ```
 */
export function serverCredentials(options: ServerTlsOptions): grpc.ServerCredentials {
  const { requireClientCert = false } = options;
  if (requireClientCert && options.ca === undefined) {
    throw new TypeError("Cannot create TLS server credentials: requireClientCert needs ca");
  }
  const context: tls.SecureContextOptions = {
    cert: pem(options.cert, "cert"),
    key: pem(options.key, "key"),
    minVersion: "TLSv1.3",
  };
  if (options.ca !== undefined) context.ca = pem(options.ca, "ca");
  return new Tls13ServerCredentials(
    {
      minVersion: "TLSv1.3",
      requestCert: requireClientCert,
      rejectUnauthorized: requireClientCert,
    },
    context,
  );
}

/**
 * Client credentials that trust only `ca` and speak TLS 1.3 only.
 *
 * @param options The CA and, for mutual TLS, a client certificate and key.
 * @returns Channel credentials for a grpc-js client.
 * @throws {TypeError} When a value is not PEM, or only one of `cert` and `key` is given.
 */
export function clientCredentials(options: ClientTlsOptions): grpc.ChannelCredentials {
  if ((options.cert === undefined) !== (options.key === undefined)) {
    throw new TypeError("Cannot create TLS client credentials: give both cert and key, or neither");
  }
  const context = tls.createSecureContext({
    ca: pem(options.ca, "ca"),
    cert: options.cert === undefined ? undefined : pem(options.cert, "cert"),
    key: options.key === undefined ? undefined : pem(options.key, "key"),
    minVersion: "TLSv1.3",
  });
  return grpc.credentials.createFromSecureContext(context);
}
