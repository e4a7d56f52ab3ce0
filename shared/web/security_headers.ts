/**
 * Security headers for server-rendered pages, built on Hono's
 * `secureHeaders` with a strict Content-Security-Policy.
 *
 * @module
 */

import type { MiddlewareHandler } from "hono";
import { secureHeaders as honoSecureHeaders } from "hono/secure-headers";

/**
 * The Content-Security-Policy every page gets: scripts, styles, fetches and
 * form posts only from this origin, no inline script or eval, no framing.
 *
 * `form-action 'self'` is why the "Sign in with MCIAS" button is a link, not
 * a form: browsers apply form-action to the redirect to MCIAS too.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
  "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'";

/** Options for {@linkcode securityHeaders}. */
export interface SecurityHeadersOptions {
  /**
   * Strict-Transport-Security value, or `false` to leave it out.
   *
   * @default {"max-age=63072000; includeSubDomains"}
   */
  hsts?: string | false;
}

/**
 * Middleware that adds to every response: the strict
 * {@linkcode CONTENT_SECURITY_POLICY}, `X-Content-Type-Options: nosniff`,
 * `Referrer-Policy: same-origin`, `X-Frame-Options: DENY`, HSTS, and Hono's
 * other secure defaults (COOP, CORP, ...). A Content-Security-Policy a
 * handler set itself is kept.
 *
 * The Referrer-Policy is `same-origin`, not `no-referrer`: under
 * `no-referrer` browsers send `Origin: null` on same-origin form posts,
 * which the CSRF origin check must refuse.
 *
 * @param options HSTS value.
 * @returns The middleware.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { securityHeaders } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono();
 * app.use(securityHeaders());
 * app.get("/", (c) => c.text("hi"));
 * const res = await app.request("/");
 * assert.equal(res.headers.get("x-content-type-options"), "nosniff");
 * assert.match(res.headers.get("content-security-policy")!, /script-src 'self'/);
 * ```
 */
export function securityHeaders(options: SecurityHeadersOptions = {}): MiddlewareHandler {
  const { hsts = "max-age=63072000; includeSubDomains" } = options;
  const inner = honoSecureHeaders({
    strictTransportSecurity: hsts,
    referrerPolicy: "same-origin",
    xFrameOptions: "DENY",
    xContentTypeOptions: "nosniff",
  });
  return async function securityHeaders(c, next) {
    await inner(c, async () => {
      await next();
      // Hono's secureHeaders writes into c.res.headers, which throws for a
      // Response with immutable headers (Response.redirect(), a proxied
      // fetch): give it a mutable copy in that case.
      if (!headersWritable(c.res)) c.res = new Response(c.res.body, c.res);
    });
    // Set as one constant rather than Hono's directive object so that the
    // documented value is exactly what browsers get; a handler that set its
    // own policy for one response keeps it.
    if (!c.res.headers.has("Content-Security-Policy")) {
      c.header("Content-Security-Policy", CONTENT_SECURITY_POLICY);
    }
  };
}

function headersWritable(res: Response): boolean {
  try {
    // A harmless probe: this exact header is set right after anyway.
    res.headers.set("X-Content-Type-Options", "nosniff");
    return true;
  } catch {
    return false;
  }
}
