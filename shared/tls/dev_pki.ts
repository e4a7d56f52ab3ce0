/**
 * A development PKI: a throwaway root CA and a server certificate signed by
 * it, for `deno task up` and for tests. Production certificates come from
 * Metacrypt; this exists so nothing ever runs without TLS.
 *
 * @module
 */

// @peculiar/x509 resolves its ASN.1 schemas through tsyringe, which needs
// the Reflect metadata polyfill loaded first.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";

/** A PEM certificate and its PEM (PKCS#8) private key. */
export interface Pem {
  /** PEM certificate (chain for leaf certificates: leaf only). */
  cert: string;
  /** PEM PKCS#8 private key. */
  key: string;
}

/** A root CA and one server certificate it issued. */
export interface DevPki {
  /** The self-signed root. */
  ca: Pem;
  /** A server certificate for the requested hosts. */
  server: Pem;
}

/** Options for {@linkcode createDevPki}. */
export interface DevPkiOptions {
  /**
   * DNS names and IP addresses the server certificate is valid for.
   * @default {["localhost", "127.0.0.1", "::1"]}
   */
  hosts?: string[];
  /**
   * Validity in days of both certificates.
   * @default {30}
   */
  days?: number;
  /**
   * Common name of the root CA.
   * @default {"Metacircular Dev Root CA"}
   */
  caName?: string;
}

const ALG: EcKeyGenParams & EcdsaParams = {
  name: "ECDSA",
  namedCurve: "P-256",
  hash: "SHA-256",
};

const DAY_MS = 86_400_000;

x509.cryptoProvider.set(crypto);

function isIp(host: string): boolean {
  return /^\d{1,3}(\.\d{1,3}){3}$/.test(host) || host.includes(":");
}

function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] &= 0x7f; // positive
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

async function keyPem(key: CryptoKey): Promise<string> {
  const der = await crypto.subtle.exportKey("pkcs8", key);
  return x509.PemConverter.encode(der, "PRIVATE KEY");
}

/**
 * Creates an ECDSA P-256 root CA and a server certificate signed by it.
 *
 * @param options Hosts, validity and CA name.
 * @returns The CA and the server certificate, as PEM.
 * @throws {RangeError} When `days` is not a positive integer or `hosts` is empty.
 *
 * @example Usage
 * ```ts
 * import { createDevPki } from "./dev_pki.ts";
 * import assert from "node:assert/strict";
 * const pki = await createDevPki({ hosts: ["localhost"] });
 * assert.match(pki.ca.cert, /^-----BEGIN CERTIFICATE-----/);
 * assert.match(pki.server.key, /^-----BEGIN PRIVATE KEY-----/);
 * ```
 */
export async function createDevPki(options: DevPkiOptions = {}): Promise<DevPki> {
  const {
    hosts = ["localhost", "127.0.0.1", "::1"],
    days = 30,
    caName = "Metacircular Dev Root CA",
  } = options;
  if (!Number.isInteger(days) || days < 1) {
    throw new RangeError(`Cannot create dev PKI: days must be a positive integer, got ${days}`);
  }
  if (hosts.length === 0) {
    throw new RangeError("Cannot create dev PKI: hosts is empty, give at least one name");
  }
  // Back-date a little so a clock slightly behind still accepts the certs.
  const notBefore = new Date(Date.now() - 5 * 60_000);
  const notAfter = new Date(notBefore.getTime() + days * DAY_MS);

  const caKeys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const caCert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: `CN=${caName}`,
    notBefore,
    notAfter,
    keys: caKeys,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const serverKeys = await crypto.subtle.generateKey(ALG, true, ["sign", "verify"]);
  const serverCert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${hosts[0]}`,
    issuer: caCert.subject,
    notBefore,
    notAfter,
    publicKey: serverKeys.publicKey,
    signingKey: caKeys.privateKey,
    signingAlgorithm: ALG,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(
        hosts.map((h): x509.JsonGeneralName => ({ type: isIp(h) ? "ip" : "dns", value: h })),
      ),
      await x509.AuthorityKeyIdentifierExtension.create(caCert),
    ],
  });

  return {
    ca: { cert: caCert.toString("pem"), key: await keyPem(caKeys.privateKey) },
    server: { cert: serverCert.toString("pem"), key: await keyPem(serverKeys.privateKey) },
  };
}

/** Paths written by {@linkcode writeDevPki}. */
export interface DevPkiPaths {
  /** The root CA certificate, to trust. */
  caCert: string;
  /** The server certificate. */
  cert: string;
  /** The server private key (mode 0600). */
  key: string;
}

/**
 * Writes `ca.pem`, `cert.pem` and `key.pem` (mode 0600) into `dir`, which
 * must exist. The CA private key is not written: a dev CA that is never
 * stored cannot issue anything else.
 *
 * @param dir Existing directory.
 * @param pki What {@linkcode createDevPki} made.
 * @returns The three paths.
 */
export async function writeDevPki(dir: string, pki: DevPki): Promise<DevPkiPaths> {
  const paths: DevPkiPaths = {
    caCert: `${dir}/ca.pem`,
    cert: `${dir}/cert.pem`,
    key: `${dir}/key.pem`,
  };
  await Deno.writeTextFile(paths.caCert, pki.ca.cert);
  await Deno.writeTextFile(paths.cert, pki.server.cert);
  await Deno.writeTextFile(paths.key, pki.server.key, { mode: 0o600 });
  return paths;
}
