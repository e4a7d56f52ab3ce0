/**
 * Extraction of the bearer token from an `Authorization` header.
 *
 * @module
 */

// RFC 6750 section 2.1: the scheme, one or more spaces, then a b64token.
// The scheme is case-insensitive (RFC 9110 section 11.1).
const BEARER = /^Bearer +([A-Za-z0-9\-._~+/]+=*) *$/i;

/**
 * Returns the bearer token of `request`, or `undefined` when there is none
 * or the `Authorization` header is malformed (another scheme, no token,
 * several tokens, characters a token cannot hold). Callers treat both cases
 * alike: no usable credentials, answer 401.
 *
 * @param request The incoming request.
 * @returns The token, or `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bearerToken } from "./bearer_token.ts";
 *
 * const request = new Request("https://mcr.example/v1/repos", {
 *   headers: { authorization: "Bearer eyJhbGciOiJFZERTQSJ9.e30.c2ln" },
 * });
 * assert.equal(bearerToken(request), "eyJhbGciOiJFZERTQSJ9.e30.c2ln");
 * assert.equal(bearerToken(new Request("https://mcr.example/")), undefined);
 * ```
 */
export function bearerToken(request: Request): string | undefined {
  const header = request.headers.get("authorization");
  if (header === null) return undefined;
  return BEARER.exec(header)?.[1];
}
