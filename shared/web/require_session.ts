/**
 * Middleware that admits only requests with a valid MCIAS session cookie.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { createMiddleware } from "hono/factory";
import type { TokenInfo, TokenValidator } from "../auth/types.ts";
import type { Logger } from "../log/mod.ts";
import { safeNextPath } from "./safe_next_path.ts";
import { clearSessionCookie, DEFAULT_SESSION_COOKIE, getSessionCookie } from "./session_cookie.ts";

/** Context variables set by {@linkcode requireSession}. */
export interface SessionVariables {
  /** What MCIAS says about the signed-in user; `valid` is always true here. */
  session: TokenInfo;
  /** The user's MCIAS token, for calls made on the user's behalf. */
  sessionToken: string;
}

/** Options for {@linkcode requireSession}. */
export interface RequireSessionOptions {
  /** Checks the token with MCIAS (normally the cached MCIAS client). */
  validator: TokenValidator;
  /**
   * Session cookie name.
   *
   * @default {"__Host-mc_session"}
   */
  cookieName?: string;
  /**
   * Where to send users who are not signed in.
   *
   * @default {"/login"}
   */
  loginPath?: string;
  /** Where to report validator failures; the token is never logged. */
  logger?: Logger;
}

/**
 * Session middleware: reads the session cookie, validates the token with
 * `options.validator`, and sets `c.var.session` and `c.var.sessionToken`.
 *
 * Without a valid session it answers:
 * - htmx requests (`HX-Request: true`): 401 with `HX-Redirect` to the login
 *   page, which htmx follows with a full page load;
 * - requests accepting HTML: 303 to the login page, with `next` set to the
 *   page asked for when it was a GET;
 * - anything else: 401 in plain text.
 *
 * An invalid cookie is cleared. When the validator throws (MCIAS
 * unreachable) it answers 503 and keeps the cookie, since the session may
 * still be good.
 *
 * @param options Validator, cookie name, login path and logger.
 * @returns The middleware.
 * @throws {TypeError} If `loginPath` is not a local path.
 *
 * @example Redirecting to the login page
 * ```ts
 * import { Hono } from "hono";
 * import { requireSession } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * const validator = {
 *   validate: () => Promise.resolve({ valid: false, username: "", accountType: "human" as const, roles: [], expiresAt: new Date(0) }),
 * };
 * const app = new Hono();
 * app.use(requireSession({ validator }));
 * app.get("/", (c) => c.text("secret"));
 * const res = await app.request("/", { headers: { Accept: "text/html" } });
 * assert.equal(res.status, 303);
 * assert.equal(res.headers.get("location"), "/login?next=%2F");
 * ```
 */
export function requireSession(
  options: RequireSessionOptions,
): MiddlewareHandler<{ Variables: SessionVariables }> {
  const { validator, cookieName = DEFAULT_SESSION_COOKIE, loginPath = "/login", logger } = options;
  if (safeNextPath(loginPath, "") !== loginPath) {
    throw new TypeError(
      `Cannot use login path ${
        JSON.stringify(loginPath)
      }: expected a local path starting with a single "/"`,
    );
  }

  return createMiddleware<{ Variables: SessionVariables }>(async function requireSession(c, next) {
    const token = getSessionCookie(c, { name: cookieName });
    if (token === undefined) return signInFirst(c, loginPath, false, cookieName);

    let info: TokenInfo;
    try {
      info = await validator.validate(token);
    } catch (error) {
      logger?.error("session validation failed", {
        error: error instanceof Error ? error.message : String(error),
      });
      c.header("Cache-Control", "no-store");
      return c.text(
        "Service unavailable: cannot check your session with MCIAS right now; try again shortly",
        503,
      );
    }
    if (!info.valid) return signInFirst(c, loginPath, true, cookieName);

    c.set("session", info);
    c.set("sessionToken", token);
    await next();
  });
}

function signInFirst(
  c: Context,
  loginPath: string,
  clear: boolean,
  cookieName: string,
): Response {
  if (clear) clearSessionCookie(c, { name: cookieName });
  c.header("Cache-Control", "no-store");
  if (c.req.header("HX-Request") === "true") {
    // The fragment URL is no place to come back to; the page htmx runs in
    // is. Only its path is kept, so a forged header cannot point elsewhere.
    const current = c.req.header("HX-Current-URL");
    c.header("HX-Redirect", loginUrl(loginPath, current ? pathOf(current) : undefined));
    return c.text("Unauthorized: sign in first", 401);
  }
  if (c.req.header("Accept")?.includes("text/html")) {
    const url = new URL(c.req.url);
    const next = c.req.method === "GET" ? url.pathname + url.search : undefined;
    return c.redirect(loginUrl(loginPath, next), 303);
  }
  return c.text("Unauthorized: sign in first", 401);
}

function loginUrl(loginPath: string, next: string | undefined): string {
  const safe = next === undefined ? "" : safeNextPath(next, "");
  return safe === "" ? loginPath : `${loginPath}?next=${encodeURIComponent(safe)}`;
}

function pathOf(href: string): string | undefined {
  try {
    const url = new URL(href);
    return url.pathname + url.search;
  } catch {
    return undefined;
  }
}
