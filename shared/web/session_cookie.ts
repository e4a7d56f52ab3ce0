/**
 * The session cookie that carries a user's MCIAS token.
 *
 * The cookie holds the MCIAS JWT itself, not an encrypted copy. The token is
 * signed by MCIAS and validated with MCIAS on every request, so the browser
 * cannot forge or extend it; HttpOnly keeps scripts away from it; and an
 * encrypted cookie would be just as good a bearer credential to whoever
 * stole it. Encrypting would only hide claims the user may see anyway, at the
 * price of a key every service must keep, rotate and share across restarts.
 *
 * @module
 */

import type { Context } from "hono";
import { getCookie, setCookie } from "hono/cookie";

/**
 * Default name of the session cookie. The `__Host-` prefix makes browsers
 * refuse it unless it is Secure, host-only and for `/`, so a sibling
 * `*.svc` service cannot plant a session (login CSRF, fixation).
 */
export const DEFAULT_SESSION_COOKIE = "__Host-mc_session";

/** Default upper bound on the session cookie's lifetime: 7 days, in seconds. */
export const DEFAULT_SESSION_MAX_AGE = 7 * 24 * 60 * 60;

/** Characters a token may hold: base64url, JWT dots and the rest of RFC 6750 token68. */
const TOKEN_PATTERN = /^[A-Za-z0-9._~+/=-]{1,4000}$/;

/** Options shared by the session cookie helpers. */
export interface SessionCookieOptions {
  /**
   * Cookie name.
   *
   * @default {"__Host-mc_session"}
   */
  name?: string;
  /**
   * Upper bound on Max-Age in seconds; the token's expiry sets it when sooner.
   *
   * @default {604800}
   */
  maxAge?: number;
  /**
   * Clock, for tests.
   *
   * @default {() => new Date()}
   */
  now?: () => Date;
}

/**
 * Sets the session cookie to `token`: HttpOnly, Secure, SameSite=Strict,
 * Path=/, Max-Age until `expiresAt` but at most `options.maxAge`.
 *
 * @param c The request context whose response gets the cookie.
 * @param token The MCIAS token.
 * @param expiresAt When MCIAS says the token expires.
 * @param options Cookie name, Max-Age bound and clock.
 * @throws {TypeError} If `token` holds characters a token cannot have.
 * @throws {RangeError} If the token has already expired or `maxAge` is not a positive integer.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { setSessionCookie } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono();
 * app.get("/", (c) => {
 *   setSessionCookie(c, "a.b.c", new Date(Date.now() + 3600_000));
 *   return c.text("ok");
 * });
 * const res = await app.request("/");
 * assert.match(res.headers.get("set-cookie")!, /^__Host-mc_session=a\.b\.c; Max-Age=3\d{3}; Path=\/; HttpOnly; Secure; SameSite=Strict$/);
 * ```
 */
export function setSessionCookie(
  c: Context,
  token: string,
  expiresAt: Date,
  options: SessionCookieOptions = {},
): void {
  const {
    name = DEFAULT_SESSION_COOKIE,
    maxAge = DEFAULT_SESSION_MAX_AGE,
    now = () => new Date(),
  } = options;
  if (!Number.isInteger(maxAge) || maxAge <= 0) {
    throw new RangeError(
      `Cannot set the session cookie: maxAge is ${maxAge}, expected a positive whole number of seconds`,
    );
  }
  if (!TOKEN_PATTERN.test(token)) {
    // The token itself stays out of the message: it is a credential.
    throw new TypeError(
      `Cannot set the session cookie: the token (${token.length} characters) is not a bearer token of at most 4000 base64url/JWT characters`,
    );
  }
  const remaining = Math.floor((expiresAt.getTime() - now().getTime()) / 1000);
  if (!(remaining > 0)) {
    throw new RangeError(
      `Cannot set the session cookie: the token expired at ${expiresAt.toISOString()} (now ${now().toISOString()}); sign in again`,
    );
  }
  setCookie(c, name, token, {
    maxAge: Math.min(remaining, maxAge),
    path: "/",
    httpOnly: true,
    secure: true,
    sameSite: "Strict",
  });
}

/**
 * Reads the session cookie.
 *
 * @param c The request context.
 * @param options Cookie name.
 * @returns The token, or `undefined` when the cookie is absent or cannot be a token.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { getSessionCookie } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono();
 * app.get("/", (c) => c.text(getSessionCookie(c) ?? "none"));
 * const res = await app.request("/", { headers: { Cookie: "__Host-mc_session=a.b.c" } });
 * assert.equal(await res.text(), "a.b.c");
 * ```
 */
export function getSessionCookie(
  c: Context,
  options: Pick<SessionCookieOptions, "name"> = {},
): string | undefined {
  const value = getCookie(c, options.name ?? DEFAULT_SESSION_COOKIE);
  return value !== undefined && TOKEN_PATTERN.test(value) ? value : undefined;
}

/**
 * Expires the session cookie (signs the browser out).
 *
 * @param c The request context whose response clears the cookie.
 * @param options Cookie name.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { clearSessionCookie } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono();
 * app.get("/", (c) => {
 *   clearSessionCookie(c);
 *   return c.text("bye");
 * });
 * const res = await app.request("/");
 * assert.equal(res.headers.get("set-cookie"), "__Host-mc_session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict");
 * ```
 */
export function clearSessionCookie(
  c: Context,
  options: Pick<SessionCookieOptions, "name"> = {},
): void {
  setCookie(c, options.name ?? DEFAULT_SESSION_COOKIE, "", {
    maxAge: 0,
    path: "/",
    httpOnly: true,
    secure: true,
    sameSite: "Strict",
  });
}
