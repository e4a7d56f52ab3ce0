/**
 * Types shared by every part of mcdsl that makes an access decision: the
 * HTTP route map, the gRPC interceptor map and the MCIAS client.
 *
 * @module
 */

/**
 * Who may call a route or RPC.
 *
 * - `public`: anyone, no token needed.
 * - `authenticated`: any caller with a valid MCIAS token.
 * - `admin`: a caller whose MCIAS token carries the `admin` role.
 */
export type Access = "public" | "authenticated" | "admin";

/** Every access level, for validating declarations read at start-up. */
export const ACCESS_LEVELS: readonly Access[] = ["public", "authenticated", "admin"];

/** Kind of MCIAS account behind a token. */
export type AccountType = "human" | "system";

/** What MCIAS says about a bearer token (`POST /v1/token/validate`). */
export interface TokenInfo {
  /** Whether the token is well-formed, signed, unexpired and not revoked. */
  valid: boolean;
  /** Account name; empty when `valid` is false. */
  username: string;
  /** Account kind; `human` when unknown. */
  accountType: AccountType;
  /** MCIAS roles (`admin`, `user`, `guest`); system accounts carry none. */
  roles: string[];
  /** When the token stops being valid. */
  expiresAt: Date;
}

/** Anything that can turn a bearer token into a {@linkcode TokenInfo}. */
export interface TokenValidator {
  /** Validates `token`; resolves `valid: false` for bad, expired or revoked tokens. */
  validate(token: string): Promise<TokenInfo>;
}

/** Whether `info` grants `access`. */
export function allows(access: Access, info: TokenInfo | undefined): boolean {
  if (access === "public") return true;
  if (info === undefined || !info.valid) return false;
  if (access === "authenticated") return true;
  return info.roles.includes("admin");
}
