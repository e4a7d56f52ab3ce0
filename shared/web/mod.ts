/**
 * Building blocks for server-rendered htmx web UIs on Hono: CSRF protection,
 * the MCIAS session cookie and the middleware that requires it, the MCIAS
 * SSO sign-in routes, htmx served locally, a page shell and security
 * headers.
 *
 * ```ts
 * import { Hono } from "hono";
 * import { html } from "hono/html";
 * import {
 *   csrf,
 *   type CsrfVariables,
 *   mountHtmx,
 *   mountLoginRoutes,
 *   renderPage,
 *   requireSession,
 *   securityHeaders,
 *   type SessionVariables,
 * } from "@mc/mcdsl/web";
 * import type { TokenValidator } from "@mc/mcdsl/auth/types";
 * import assert from "node:assert/strict";
 *
 * const validator: TokenValidator = {
 *   validate: () => Promise.resolve({ valid: true, username: "ada", accountType: "human", roles: [], expiresAt: new Date(Date.now() + 3600_000) }),
 * };
 * const app = new Hono<{ Variables: CsrfVariables & SessionVariables }>();
 * app.use(securityHeaders());
 * app.use(csrf());
 * mountHtmx(app);
 * mountLoginRoutes(app, {
 *   sso: { mciasUrl: "https://mcias.example.net:8443", clientId: "mcr", redirectUri: "https://mcr.example.net/sso/callback" },
 * });
 * app.use("/app/*", requireSession({ validator }));
 * app.get("/app/", (c) =>
 *   c.html(renderPage({ title: "MCR", body: html`<p>Hello ${c.var.session.username}</p>`, csrfToken: c.var.csrfToken })));
 *
 * const res = await app.request("https://mcr.example.net/app/", { headers: { Cookie: "__Host-mc_session=a.b.c" } });
 * assert.match(await res.text(), /Hello ada/);
 * ```
 *
 * @module
 */
export * from "./csrf.ts";
export * from "./htmx.ts";
export * from "./layout.ts";
export * from "./login_routes.ts";
export * from "./require_session.ts";
export * from "./safe_next_path.ts";
export * from "./security_headers.ts";
export * from "./session_cookie.ts";
