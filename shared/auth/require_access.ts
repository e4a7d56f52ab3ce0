/**
 * Hono middleware that admits a request only when its bearer token grants an
 * {@linkcode Access} level.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { bearerToken } from "./bearer_token.ts";
import {
  type Access,
  ACCESS_LEVELS,
  allows,
  type TokenInfo,
  type TokenValidator,
} from "./types.ts";

/** Context variables set by {@linkcode requireAccess} for the handlers after it. */
export interface AuthVariables {
  /** What MCIAS said about the caller's token; absent on public routes. */
  tokenInfo?: TokenInfo;
}

/** Options for {@linkcode requireAccess}. */
export interface RequireAccessOptions {
  /** Validates tokens, usually an {@linkcode AuthClient}. */
  validator: TokenValidator;
  /** Access level the route needs. */
  access: Access;
  /**
   * Realm named in `WWW-Authenticate`, usually the service name.
   *
   * @default {"metacircular"}
   */
  realm?: string;
  /**
   * Told when the validator throws (MCIAS unreachable), to log it; the
   * caller gets 503 either way.
   */
  onError?: (error: unknown) => void;
}

/**
 * Builds a middleware that answers 401 when the request has no valid bearer
 * token, 403 when the token lacks the `admin` role an `admin` route needs,
 * 503 when MCIAS cannot be asked, and otherwise sets `tokenInfo` and calls
 * `next()`. Answers are `application/problem+json`; 401 and 403 carry an RFC
 * 6750 `WWW-Authenticate` header. Public routes never ask MCIAS.
 *
 * @param options The validator, the access level and the realm.
 * @returns The middleware.
 * @throws {TypeError} When `access` is not an access level.
 *
 * @example Guarding an admin route
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hono } from "hono";
 * import { requireAccess } from "./require_access.ts";
 *
 * const validator = {
 *   validate: (token: string) =>
 *     Promise.resolve({
 *       valid: token === "good",
 *       username: "alice",
 *       accountType: "human" as const,
 *       roles: ["user"],
 *       expiresAt: new Date(Date.now() + 60_000),
 *     }),
 * };
 * const app = new Hono().get("/admin", requireAccess({ validator, access: "admin" }), (c) =>
 *   c.text("ok"));
 * const noToken = await app.request("/admin");
 * assert.equal(noToken.status, 401);
 * await noToken.body?.cancel();
 * const notAdmin = await app.request("/admin", { headers: { authorization: "Bearer good" } });
 * assert.equal(notAdmin.status, 403);
 * await notAdmin.body?.cancel();
 * ```
 */
export function requireAccess(
  options: RequireAccessOptions,
): MiddlewareHandler<{ Variables: AuthVariables }> {
  const { validator, access, realm = "metacircular", onError } = options;
  if (!ACCESS_LEVELS.includes(access)) {
    throw new TypeError(
      `Cannot build access middleware: "access" must be one of ${
        ACCESS_LEVELS.map((level) => `"${level}"`).join(", ")
      }, got ${JSON.stringify(access)}`,
    );
  }
  const challenge = `Bearer realm=${JSON.stringify(realm)}`;
  return async function requireAccessMiddleware(c, next) {
    if (access === "public") return await next();
    const token = bearerToken(c.req.raw);
    if (token === undefined) {
      return problem(
        401,
        "Authentication required",
        "Send an MCIAS token as Authorization: Bearer",
        {
          "www-authenticate": challenge,
        },
      );
    }
    let info: TokenInfo;
    try {
      info = await validator.validate(token);
    } catch (error) {
      onError?.(error);
      return problem(503, "Identity service unavailable", "Cannot validate the token now; retry");
    }
    if (!info.valid) {
      return problem(401, "Invalid token", "The token is malformed, expired or revoked; log in", {
        "www-authenticate": `${challenge}, error="invalid_token"`,
      });
    }
    if (!allows(access, info)) {
      return problem(403, "Forbidden", "This needs the MCIAS admin role", {
        "www-authenticate": `${challenge}, error="insufficient_scope"`,
      });
    }
    c.set("tokenInfo", info);
    await next();
  };
}

function problem(
  status: number,
  title: string,
  detail: string,
  headers: Record<string, string> = {},
): Response {
  return new Response(JSON.stringify({ type: "about:blank", title, status, detail }), {
    status,
    headers: { "content-type": "application/problem+json", ...headers },
  });
}
