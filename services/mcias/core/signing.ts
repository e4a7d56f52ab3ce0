/**
 * Ed25519 signing keys: generated on first use, stored with the private key
 * sealed by the master key, published as a JWKS. Old keys stay in the JWKS
 * until retired, so tokens they signed keep verifying.
 *
 * @module
 */

import { createHash, createPrivateKey, generateKeyPairSync } from "node:crypto";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import { importJWK, type JWK } from "jose";
import { transaction } from "@mc/mcdsl/db";
import type { MasterKey } from "./secrets.ts";

/** The key tokens are signed with. */
export interface ActiveSigningKey {
  /** Key id, the RFC 7638 thumbprint of the public key. */
  kid: string;
  /** Private key as a JWK (jose imports and caches it). */
  privateJwk: JWK;
}

interface KeyRow {
  kid: string;
  private_key: Uint8Array;
  public_jwk: string;
}

const RELOAD_INTERVAL_MS = 1000;

function thumbprint(jwk: JWK): string {
  // RFC 7638: the required members in lexicographic order.
  const canonical = JSON.stringify({ crv: jwk.crv, kty: jwk.kty, x: jwk.x });
  return createHash("sha256").update(canonical).digest("base64url");
}

function context(kid: string): string {
  return `signing_key:${kid}`;
}

/** The signing keys of one database. */
export class SigningKeys {
  #db: DatabaseSync;
  #masterKey: MasterKey;
  #active: ActiveSigningKey | undefined;
  #publicJwks = new Map<string, JWK>();
  #cryptoKeys = new Map<string, Promise<CryptoKey>>();
  #lastReload = 0;
  #now: () => number;
  #selectAll: StatementSync;

  /**
   * @param db The MCIAS database (migrated).
   * @param masterKey Seals private keys.
   * @param now Clock for reload throttling.
   */
  constructor(db: DatabaseSync, masterKey: MasterKey, now: () => number = Date.now) {
    this.#db = db;
    this.#masterKey = masterKey;
    this.#now = now;
    this.#selectAll = db.prepare(
      "SELECT kid, private_key, public_jwk FROM signing_keys WHERE retired_at IS NULL " +
        "ORDER BY created_at, kid",
    );
    this.#reload();
  }

  #reload(): void {
    this.#lastReload = this.#now();
    const rows = this.#selectAll.all() as unknown as KeyRow[];
    for (const row of rows) {
      if (!this.#publicJwks.has(row.kid)) this.#publicJwks.set(row.kid, JSON.parse(row.public_jwk));
    }
    const newest = rows.at(-1);
    if (newest !== undefined && this.#active?.kid !== newest.kid) {
      const der = this.#masterKey.open(newest.private_key, context(newest.kid));
      const key = createPrivateKey({ key: Buffer.from(der), format: "der", type: "pkcs8" });
      this.#active = { kid: newest.kid, privateJwk: key.export({ format: "jwk" }) as JWK };
    }
  }

  /** The key to sign with; generates the first one when there is none. */
  active(): ActiveSigningKey {
    if (this.#active !== undefined) return this.#active;
    transaction(this.#db, () => {
      this.#reload();
      if (this.#active !== undefined) return;
      const { privateKey, publicKey } = generateKeyPairSync("ed25519");
      const publicJwk = publicKey.export({ format: "jwk" }) as JWK;
      const pkcs8 = privateKey.export({ format: "der", type: "pkcs8" });
      const kid = thumbprint(publicJwk);
      const pub: JWK = {
        kty: "OKP",
        crv: "Ed25519",
        x: publicJwk.x,
        kid,
        alg: "EdDSA",
        use: "sig",
      };
      this.#db.prepare(
        "INSERT INTO signing_keys (kid, private_key, public_jwk) VALUES (?, ?, ?)",
      ).run(kid, this.#masterKey.seal(new Uint8Array(pkcs8), context(kid)), JSON.stringify(pub));
      this.#reload();
    });
    return this.#active!;
  }

  /**
   * The verification key for `kid`, or `undefined` when unknown. An unknown
   * kid reloads the table (at most once a second), so a key another process
   * created is found.
   */
  publicKey(kid: string): Promise<CryptoKey> | undefined {
    let key = this.#cryptoKeys.get(kid);
    if (key !== undefined) return key;
    let jwk = this.#publicJwks.get(kid);
    if (jwk === undefined && this.#now() - this.#lastReload >= RELOAD_INTERVAL_MS) {
      this.#reload();
      jwk = this.#publicJwks.get(kid);
    }
    if (jwk === undefined) return undefined;
    key = importJWK(jwk, "EdDSA") as Promise<CryptoKey>;
    this.#cryptoKeys.set(kid, key);
    return key;
  }

  /** Every published public key, as a JWKS document. */
  jwks(): { keys: JsonWebKey[] } {
    if (this.#publicJwks.size === 0) this.active();
    return { keys: [...this.#publicJwks.values()].map((k) => ({ ...k }) as JsonWebKey) };
  }
}
