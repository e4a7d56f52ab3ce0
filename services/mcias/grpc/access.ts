/**
 * The MCIAS RPC access map: every method of `proto/mcias/v1/mcias.proto`
 * declared `public`, `authenticated` or `admin`, checked against the
 * registered services when the server is built.
 *
 * @module
 */

import type { AccessMap } from "@mc/mcdsl/grpcserver";

/** Who may call each MCIAS RPC. */
export const GRPC_ACCESS: AccessMap = Object.freeze({
  // Logging in and checking a token need no token of one's own: the
  // credentials (or the token in the request) are what is checked.
  "/mcias.v1.AuthService/Login": "public",
  "/mcias.v1.AuthService/ValidateToken": "public",
  "/mcias.v1.AuthService/GetJwks": "public",
  // The bearer token is the one renewed or revoked.
  "/mcias.v1.AuthService/Renew": "authenticated",
  "/mcias.v1.AuthService/Logout": "authenticated",
  "/mcias.v1.AccountService/ListAccounts": "admin",
  "/mcias.v1.AccountService/GetAccount": "admin",
  "/mcias.v1.AccountService/CreateAccount": "admin",
  "/mcias.v1.AccountService/UpdateAccount": "admin",
  "/mcias.v1.AccountService/DeleteAccount": "admin",
  "/mcias.v1.AccountService/IssueSystemToken": "admin",
  "/mcias.v1.AccountService/RevokeToken": "admin",
  "/mcias.v1.PolicyService/ListRules": "admin",
  "/mcias.v1.PolicyService/CreateRule": "admin",
  "/mcias.v1.PolicyService/UpdateRule": "admin",
  "/mcias.v1.PolicyService/DeleteRule": "admin",
  "/mcias.v1.PolicyService/TestPolicy": "admin",
});
