/**
 * JWTs: issued with EdDSA (Ed25519) and the active key's `kid`, verified
 * against the published keys. Tokens are stored only as SHA-256 hashes (see
 * {@linkcode tokenHash}); revocation is by `jti` in the database, checked by
 * the core on every validation.
 *
 * @module
 */

import { createHash } from "node:crypto";
import { type JWTPayload, jwtVerify, SignJWT } from "jose";
import type { AccountType } from "@mc/mcdsl/auth/types";
import type { SigningKeys } from "./signing.ts";

/** Kinds of token. */
export type TokenKind = "session" | "system";

/** The claims MCIAS puts in every token. */
export interface TokenClaims {
  /** Issuer: MCIAS's public URL. */
  iss: string;
  /** Username. */
  sub: string;
  /** Token id, the revocation handle. */
  jti: string;
  /** Issued at, epoch seconds. */
  iat: number;
  /** Expires at, epoch seconds. */
  exp: number;
  /** Session or system. */
  typ: TokenKind;
  /** Roles when issued. */
  roles: string[];
  /** Account type. */
  account_type: AccountType;
  /** The service the token is for; absent on system tokens (valid for any service). */
  aud?: string;
}

/** What to put in a new token. */
export interface IssueRequest {
  /** Account name. */
  username: string;
  /** Roles. */
  roles: string[];
  /** Account type. */
  accountType: AccountType;
  /** Session or system. */
  kind: TokenKind;
  /** Lifetime in milliseconds. */
  ttlMs: number;
  /** The `aud` claim; omitted when empty. */
  audience?: string;
}

/** A signed token and its claims. */
export interface IssuedToken {
  /** The JWT. */
  token: string;
  /** Its claims. */
  claims: TokenClaims;
}

/** Longest token considered at all. */
export const MAX_TOKEN_LENGTH = 16 * 1024;

/** SHA-256 of a token, hex: what the database stores instead of the token. */
export function tokenHash(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

function newJti(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_")
    .replaceAll("=", "");
}

/** Options for {@linkcode TokenSigner}. */
export interface TokenSignerOptions {
  /** The `iss` claim. */
  issuer: string;
  /** Current time in epoch milliseconds. @default {Date.now} */
  now?: () => number;
  /** Verified tokens remembered, to skip repeated signature checks. @default {10_000} */
  cacheSize?: number;
}

/** Issues and verifies MCIAS JWTs. */
export class TokenSigner {
  #keys: SigningKeys;
  #issuer: string;
  #now: () => number;
  #cacheSize: number;
  // Signature checks are the costly part of validation and a token's
  // signature never changes: remember good ones (revocation is still
  // checked by the caller every time).
  #verified = new Map<string, TokenClaims>();

  /** @param keys Signing keys. */
  constructor(keys: SigningKeys, options: TokenSignerOptions) {
    this.#keys = keys;
    this.#issuer = options.issuer;
    this.#now = options.now ?? Date.now;
    this.#cacheSize = options.cacheSize ?? 10_000;
  }

  /** Signs a new token. */
  async issue(request: IssueRequest): Promise<IssuedToken> {
    const key = this.#keys.active();
    const nowMs = this.#now();
    const claims: TokenClaims = {
      iss: this.#issuer,
      sub: request.username,
      jti: newJti(),
      iat: Math.floor(nowMs / 1000),
      exp: Math.floor((nowMs + request.ttlMs) / 1000),
      typ: request.kind,
      roles: [...request.roles],
      account_type: request.accountType,
    };
    if (request.audience !== undefined && request.audience !== "") claims.aud = request.audience;
    const token = await new SignJWT({ ...claims } as unknown as JWTPayload)
      .setProtectedHeader({ alg: "EdDSA", kid: key.kid, typ: "JWT" })
      .sign(key.privateJwk);
    return { token, claims };
  }

  /**
   * Checks signature, issuer, algorithm and expiry.
   *
   * @returns The claims, or `undefined` for any token that fails.
   */
  async verify(token: string): Promise<TokenClaims | undefined> {
    if (typeof token !== "string" || token.length === 0 || token.length > MAX_TOKEN_LENGTH) {
      return undefined;
    }
    const nowS = this.#now() / 1000;
    const cached = this.#verified.get(token);
    if (cached !== undefined) {
      if (cached.exp > nowS) return cached;
      this.#verified.delete(token);
      return undefined;
    }
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, (header) => {
        const key = header.kid === undefined ? undefined : this.#keys.publicKey(header.kid);
        if (key === undefined) throw new Error("unknown kid");
        return key;
      }, {
        issuer: this.#issuer,
        algorithms: ["EdDSA"],
        currentDate: new Date(this.#now()),
        clockTolerance: 0,
      }));
    } catch {
      return undefined;
    }
    const claims = checkClaims(payload);
    if (claims === undefined || claims.exp <= nowS) return undefined;
    if (this.#verified.size >= this.#cacheSize) {
      this.#verified.delete(this.#verified.keys().next().value!);
    }
    this.#verified.set(token, claims);
    return claims;
  }

  /** Drops a token from the verification cache. */
  forget(token: string): void {
    this.#verified.delete(token);
  }
}

function checkClaims(p: JWTPayload): TokenClaims | undefined {
  const c = p as Record<string, unknown>;
  if (
    typeof c.sub !== "string" || typeof c.jti !== "string" || typeof c.exp !== "number" ||
    typeof c.iat !== "number" || (c.typ !== "session" && c.typ !== "system") ||
    (c.account_type !== "human" && c.account_type !== "system") || !Array.isArray(c.roles) ||
    (c.aud !== undefined && typeof c.aud !== "string")
  ) {
    return undefined;
  }
  return c as unknown as TokenClaims;
}
