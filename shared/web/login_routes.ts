/**
 * Sign-in routes for web UIs: MCIAS single sign-on (authorization code flow
 * with PKCE) and the direct username/password form used when SSO is not
 * configured.
 *
 * @module
 */

import type { Context, Env, Hono } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { Logger } from "../log/mod.ts";
import { encodeBase64Url, randomToken, timingSafeEqualText } from "./_crypto.ts";
import { csrfInput, type CsrfVariables } from "./csrf.ts";
import { type PageContent, renderPage } from "./layout.ts";
import { safeNextPath } from "./safe_next_path.ts";
import {
  clearSessionCookie,
  getSessionCookie,
  type SessionCookieOptions,
  setSessionCookie,
} from "./session_cookie.ts";

/** Name of the short-lived cookie holding an SSO attempt's state and PKCE verifier. */
export const SSO_STATE_COOKIE = "__Host-mc_sso";

/** Seconds a user has to finish signing in at MCIAS. */
const STATE_MAX_AGE = 600;

/** Path MCIAS must redirect back to; `redirectUri` must end in it. */
const CALLBACK_PATH = "/sso/callback";

/** How the service reaches MCIAS for SSO (`[mcias]` and `[sso]` config). */
export interface SsoClientOptions {
  /** MCIAS base URL, e.g. `https://mcias.metacircular.net:8443` (https only). */
  mciasUrl: string;
  /** This service's SSO client id, as registered in MCIAS `[[sso_clients]]`. */
  clientId: string;
  /** The callback URL registered in MCIAS, exactly; its path must be `/sso/callback`. */
  redirectUri: string;
  /** PEM text of the CA that signed MCIAS's certificate, when not a public CA. */
  caCert?: string;
  /**
   * fetch for the server-to-server code exchange, for tests.
   *
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
  /**
   * Milliseconds to wait for MCIAS's token endpoint.
   *
   * @default {10000}
   */
  timeout?: number;
}

/** What a user typed into the direct sign-in form. */
export interface DirectLoginCredentials {
  /** MCIAS account name. */
  username: string;
  /** Password; never logged or echoed. */
  password: string;
  /** TOTP code, when the user gave one. */
  totpCode?: string;
}

/** A token MCIAS issued for a direct sign-in. */
export interface DirectLoginResult {
  /** The MCIAS token for the session cookie. */
  token: string;
  /** When the token expires. */
  expiresAt: Date;
}

/** Options for {@linkcode mountLoginRoutes}. */
export interface LoginRoutesOptions {
  /** MCIAS SSO client settings; without them `/login` shows the direct sign-in form. */
  sso?: SsoClientOptions;
  /**
   * Handles `POST /login` from the direct form, normally by calling MCIAS's
   * login endpoint. Resolve `null` when MCIAS rejects the credentials; throw
   * when MCIAS cannot be asked. Without it, the service mounts its own
   * `POST /login`.
   */
  directLogin?: (credentials: DirectLoginCredentials) => Promise<DirectLoginResult | null>;
  /**
   * Name shown on the sign-in page.
   *
   * @default {"Metacircular"}
   */
  serviceName?: string;
  /** Session cookie name, Max-Age bound and clock. */
  session?: SessionCookieOptions;
  /** Where to report failures; codes, tokens and passwords are never logged. */
  logger?: Logger;
  /**
   * Revokes the session's token at MCIAS on `POST /logout`, normally the
   * mcdsl auth client's `logout`. Without it, logout only clears the cookie
   * and the token stays valid until it expires. A failure is logged and the
   * cookie is cleared anyway.
   */
  revoke?: (token: string) => Promise<void>;
}

/**
 * Mounts the sign-in routes on `app`:
 *
 * - `GET /login`: the sign-in page, with a "Sign in with MCIAS" button when
 *   `sso` is set, else a username/password/TOTP form posting to `/login`;
 * - `POST /login` (only with `directLogin`): checks the form with MCIAS,
 *   sets the session cookie, redirects to `next`;
 * - `GET /sso/redirect` (only with `sso`): starts an SSO attempt (state and
 *   PKCE S256 verifier in a 10-minute SameSite=Lax cookie, Lax because MCIAS
 *   sends the browser back with a cross-site redirect) and redirects to
 *   MCIAS `/sso/authorize`;
 * - `GET /sso/callback` (only with `sso`): checks `state`, exchanges the code
 *   at MCIAS `POST /v1/sso/token`, sets the session cookie and sends the
 *   browser on to `next`;
 * - `POST /logout`: revokes the token (with `revoke`), clears the session cookie, redirects to `/login`.
 *
 * After SSO the browser is sent on by a page with a meta refresh, not a 3xx:
 * a redirect would continue the cross-site navigation that came from MCIAS,
 * on which browsers withhold the new SameSite=Strict session cookie.
 *
 * Mount {@linkcode csrf} first: the forms here need `c.var.csrfToken`, and
 * the POST routes rely on it for CSRF protection.
 *
 * @param app The service's Hono app.
 * @param options SSO client settings, direct login handler, page name, cookie options, logger.
 * @throws {TypeError} If an SSO setting is malformed.
 *
 * @example Direct sign-in form when SSO is not configured
 * ```ts
 * import { Hono } from "hono";
 * import { csrf, mountLoginRoutes } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono();
 * app.use(csrf());
 * mountLoginRoutes(app, { serviceName: "MCR" });
 * const page = await (await app.request("https://mcr.test/login")).text();
 * assert.match(page, /<input type="password" name="password"/);
 * ```
 */
export function mountLoginRoutes<E extends Env>(
  app: Hono<E>,
  options: LoginRoutesOptions = {},
): void {
  const { directLogin, serviceName = "Metacircular", session = {}, logger } = options;
  const sso = options.sso && checkSso(options.sso);

  app.get("/login", (c) => {
    const next = safeNextPath(c.req.query("next"), "");
    return loginPage(c, serviceName, sso !== undefined, next, 200);
  });

  if (directLogin !== undefined) {
    app.post("/login", async (c) => {
      const body = await c.req.parseBody();
      const field = (name: string) => typeof body[name] === "string" ? body[name] as string : "";
      const username = field("username").trim();
      const password = field("password");
      const totpCode = field("totp_code").trim();
      const next = safeNextPath(field("next"), "");
      if (username === "" || password === "") {
        return loginPage(
          c,
          serviceName,
          false,
          next,
          400,
          "Enter your username and password.",
          username,
        );
      }
      let result: DirectLoginResult | null;
      try {
        result = await directLogin({ username, password, ...(totpCode ? { totpCode } : {}) });
      } catch (error) {
        logger?.error("direct sign-in failed", { username, error: messageOf(error) });
        return loginPage(
          c,
          serviceName,
          false,
          next,
          502,
          "Cannot reach MCIAS to check your credentials; try again shortly.",
          username,
        );
      }
      if (result === null) {
        logger?.info("direct sign-in refused", { username });
        return loginPage(
          c,
          serviceName,
          false,
          next,
          401,
          "MCIAS did not accept these credentials: check your username, password and TOTP code.",
          username,
        );
      }
      try {
        setSessionCookie(c, result.token, result.expiresAt, session);
      } catch (error) {
        logger?.error("direct sign-in returned an unusable token", { error: messageOf(error) });
        return errorPage(c, 502, "MCIAS returned a token this service cannot use.");
      }
      c.header("Cache-Control", "no-store");
      return c.redirect(next || "/", 303);
    });
  }

  app.post("/logout", async (c) => {
    const token = getSessionCookie(c, session);
    if (token !== undefined && options.revoke !== undefined) {
      try {
        await options.revoke(token);
      } catch (error) {
        logger?.warn("logout: revoking the session token at MCIAS failed", {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    clearSessionCookie(c, session);
    c.header("Cache-Control", "no-store");
    return c.redirect("/login", 303);
  });

  if (sso === undefined) return;

  app.get("/sso/redirect", async (c) => {
    const state = randomToken();
    const verifier = randomToken();
    const next = safeNextPath(c.req.query("next"));
    const challenge = encodeBase64Url(
      new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier))),
    );
    setCookie(c, SSO_STATE_COOKIE, encodeState({ state, verifier, next }), {
      maxAge: STATE_MAX_AGE,
      path: "/",
      httpOnly: true,
      secure: true,
      sameSite: "Lax",
    });
    const url = new URL(`${sso.mciasUrl}/sso/authorize`);
    url.search = new URLSearchParams({
      client_id: sso.clientId,
      redirect_uri: sso.redirectUri,
      state,
      code_challenge: challenge,
      code_challenge_method: "S256",
      response_type: "code",
    }).toString();
    c.header("Cache-Control", "no-store");
    return c.redirect(url.href, 302);
  });

  app.get(CALLBACK_PATH, async (c) => {
    const attempt = decodeState(getCookie(c, SSO_STATE_COOKIE));
    // One attempt, one callback: the state cookie goes whatever happens next.
    setCookie(c, SSO_STATE_COOKIE, "", {
      maxAge: 0,
      path: "/",
      httpOnly: true,
      secure: true,
      sameSite: "Lax",
    });
    const error = c.req.query("error");
    if (error !== undefined) {
      const shown = /^[A-Za-z0-9_.-]{1,64}$/.test(error) ? ` (${error})` : "";
      return errorPage(c, 400, `MCIAS did not sign you in${shown}.`);
    }
    if (attempt === undefined) {
      return errorPage(
        c,
        400,
        "This sign-in attempt has expired or this browser blocks cookies: start again from the sign-in page.",
      );
    }
    const state = c.req.query("state");
    if (state === undefined || !timingSafeEqualText(state, attempt.state)) {
      logger?.warn("sso callback state mismatch");
      return errorPage(
        c,
        400,
        "The answer from MCIAS does not belong to this browser's sign-in attempt (state mismatch): start again from the sign-in page.",
      );
    }
    const code = c.req.query("code");
    if (code === undefined || code === "") {
      return errorPage(
        c,
        400,
        "MCIAS sent no authorization code: start again from the sign-in page.",
      );
    }

    let result: DirectLoginResult;
    try {
      result = await exchangeCode(sso, code, attempt.verifier);
      setSessionCookie(c, result.token, result.expiresAt, session);
    } catch (error) {
      logger?.error("sso code exchange failed", { error: messageOf(error) });
      return errorPage(
        c,
        502,
        `Signing in with MCIAS failed: ${
          error instanceof SsoExchangeError
            ? error.message
            : "MCIAS returned a token this service cannot use"
        }. Try again shortly.`,
      );
    }
    const next = safeNextPath(attempt.next);
    c.header("Cache-Control", "no-store");
    return c.html(
      renderPage({
        title: "Signed in",
        // no-referrer keeps the callback URL, code included, out of the
        // next request's Referer and so out of access logs.
        head: html`
          <meta name="referrer" content="no-referrer">
          <meta http-equiv="refresh" content="0;url=${next}">
        `,
        body: html`<p>Signed in. <a href="${next}">Continue</a></p>`,
      }),
    );
  });
}

/** A failure of the code exchange, with a message safe to show the user. */
class SsoExchangeError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "SsoExchangeError";
  }
}

type CheckedSso = SsoClientOptions & { timeout: number };

interface SsoAttempt {
  state: string;
  verifier: string;
  next: string;
}

function checkSso(sso: SsoClientOptions): CheckedSso {
  const mcias = parseUrl(sso.mciasUrl);
  if (mcias?.protocol !== "https:" || mcias.search !== "" || mcias.hash !== "") {
    throw new TypeError(
      `Cannot use MCIAS URL ${
        JSON.stringify(sso.mciasUrl)
      }: expected an https URL without query, such as "https://mcias.metacircular.net:8443"; check [mcias] server_url`,
    );
  }
  if (typeof sso.clientId !== "string" || sso.clientId === "") {
    throw new TypeError(
      'Cannot use SSO client id "": expected the client_id registered in MCIAS [[sso_clients]]; set it to the service name',
    );
  }
  const redirect = parseUrl(sso.redirectUri);
  if (redirect?.protocol !== "https:" || redirect.pathname !== CALLBACK_PATH) {
    throw new TypeError(
      `Cannot use SSO redirect URI ${
        JSON.stringify(sso.redirectUri)
      }: expected "https://<service host>${CALLBACK_PATH}", exactly as registered in MCIAS; check [sso] redirect_uri`,
    );
  }
  if (sso.caCert !== undefined && !sso.caCert.includes("-----BEGIN CERTIFICATE-----")) {
    throw new TypeError(
      'Cannot use the MCIAS CA certificate: expected PEM text with "-----BEGIN CERTIFICATE-----"; pass the file\'s contents, not its path',
    );
  }
  const timeout = sso.timeout ?? 10_000;
  if (!Number.isInteger(timeout) || timeout <= 0) {
    throw new TypeError(
      `Cannot use SSO timeout ${timeout}: expected a positive whole number of milliseconds`,
    );
  }
  return { ...sso, mciasUrl: sso.mciasUrl.replace(/\/+$/, ""), timeout };
}

function parseUrl(value: string): URL | undefined {
  try {
    return new URL(value);
  } catch {
    return undefined;
  }
}

function encodeState(attempt: SsoAttempt): string {
  return encodeBase64Url(new TextEncoder().encode(JSON.stringify(attempt)));
}

function decodeState(value: string | undefined): SsoAttempt | undefined {
  if (value === undefined || value.length > 4096) return undefined;
  try {
    const bytes = Uint8Array.fromBase64(value, { alphabet: "base64url" });
    const parsed = JSON.parse(new TextDecoder().decode(bytes));
    if (
      typeof parsed?.state === "string" && parsed.state !== "" &&
      typeof parsed.verifier === "string" && parsed.verifier !== "" &&
      typeof parsed.next === "string"
    ) {
      return { state: parsed.state, verifier: parsed.verifier, next: parsed.next };
    }
  } catch {
    // an unreadable cookie is treated as no attempt at all
  }
  return undefined;
}

/** Server-to-server exchange of the authorization code for an MCIAS token. */
async function exchangeCode(
  sso: CheckedSso,
  code: string,
  verifier: string,
): Promise<DirectLoginResult> {
  const doFetch = sso.fetch ?? fetch;
  const client = sso.caCert === undefined
    ? undefined
    : Deno.createHttpClient({ caCerts: [sso.caCert] });
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), sso.timeout);
  let response: Response;
  try {
    response = await doFetch(`${sso.mciasUrl}/v1/sso/token`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({
        grant_type: "authorization_code",
        code,
        client_id: sso.clientId,
        redirect_uri: sso.redirectUri,
        code_verifier: verifier,
      }),
      signal: controller.signal,
      // Following would resend the code and code_verifier to wherever
      // Location points; a 3xx is refused below like any non-2xx.
      redirect: "manual",
      ...(client ? { client } : {}),
    });
  } catch (error) {
    client?.close();
    clearTimeout(timer);
    throw new SsoExchangeError(`cannot reach MCIAS at ${sso.mciasUrl}`, { cause: error });
  }
  try {
    if (!response.ok) {
      await response.body?.cancel();
      throw new SsoExchangeError(`MCIAS refused the authorization code (HTTP ${response.status})`);
    }
    let body: { token?: unknown; expires_at?: unknown };
    try {
      body = await response.json();
    } catch (error) {
      throw new SsoExchangeError(
        "MCIAS answered the code exchange with something other than JSON",
        {
          cause: error,
        },
      );
    }
    const expiresAt = parseExpiry(body?.expires_at);
    if (typeof body?.token !== "string" || body.token === "" || expiresAt === undefined) {
      throw new SsoExchangeError("MCIAS answered the code exchange without a token and expiry");
    }
    return { token: body.token, expiresAt };
  } finally {
    clearTimeout(timer);
    client?.close();
  }
}

/** Accepts RFC 3339 text or Unix seconds. */
function parseExpiry(value: unknown): Date | undefined {
  const date = typeof value === "string"
    ? new Date(value)
    : typeof value === "number"
    ? new Date(value * 1000)
    : undefined;
  return date !== undefined && !Number.isNaN(date.getTime()) ? date : undefined;
}

function messageOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  return error.cause instanceof Error ? `${error.message}: ${error.cause.message}` : error.message;
}

function csrfTokenOf(c: Context): string | undefined {
  return (c.var as Partial<CsrfVariables>).csrfToken;
}

function loginPage(
  c: Context,
  serviceName: string,
  useSso: boolean,
  next: string,
  status: 200 | 400 | 401 | 502,
  message?: string,
  username = "",
): Response | Promise<Response> {
  const csrfToken = csrfTokenOf(c);
  let body: PageContent;
  if (useSso) {
    const href = next === "" ? "/sso/redirect" : `/sso/redirect?next=${encodeURIComponent(next)}`;
    // A link, not a form: CSP form-action 'self' would block a form whose
    // submission redirects to MCIAS.
    body = html`
      <main>
        <h1>${serviceName}</h1>
        <p><a class="button" href="${href}">Sign in with MCIAS</a></p>
      </main>
    `;
  } else {
    body = html`<main>
<h1>${serviceName}</h1>
${message === undefined ? "" : html`<p role="alert">${message}</p>`}
<form method="post" action="/login">
${csrfToken === undefined ? "" : csrfInput(csrfToken)}
${next === "" ? "" : html`<input type="hidden" name="next" value="${next}">`}
<label>Username <input type="text" name="username" value="${username}" autocomplete="username" required></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required></label>
<label>TOTP code <input type="text" name="totp_code" inputmode="numeric" autocomplete="one-time-code"></label>
<button type="submit">Sign in</button>
</form>
</main>`;
  }
  c.header("Cache-Control", "no-store");
  return c.html(renderPage({ title: `Sign in: ${serviceName}`, body, csrfToken }), status);
}

function errorPage(c: Context, status: 400 | 502, message: string): Response | Promise<Response> {
  c.header("Cache-Control", "no-store");
  const body: HtmlEscapedString | Promise<HtmlEscapedString> = html`
    <main>
      <h1>Sign-in failed</h1>
      <p role="alert">${message}</p>
      <p><a href="/login">Back to the sign-in page</a></p>
    </main>
  `;
  return c.html(renderPage({ title: "Sign-in failed", body }), status);
}
