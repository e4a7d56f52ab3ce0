/**
 * Sign-in, sign-out and the SSO authorization endpoint.
 *
 * @module
 */

import type { Hono } from "hono";
import { html } from "hono/html";
import type { Logger } from "@mc/mcdsl/log";
import {
  clearSessionCookie,
  csrfInput,
  getSessionCookie,
  safeNextPath,
  setSessionCookie,
} from "@mc/mcdsl/web";
import { SsoError } from "../core/sso.ts";
import { LoginFailedError, type McIas, type McIasSso } from "../core/types.ts";
import { PASSKEY_SCRIPT_PATH } from "./passkey_script.ts";
import {
  message,
  page,
  readForm,
  remoteAddrOf,
  SESSION_COOKIE,
  type WebContext,
  type WebEnv,
} from "./_page.ts";

/** Where a signed-in user lands without a `next`. */
const HOME = "/account";

/** Longest `state` passed through to the client. */
const MAX_STATE_LENGTH = 512;

/** What the sign-in pages need. */
export interface LoginPagesOptions {
  /** The core. */
  mcias: McIas;
  /** The SSO provider. */
  sso: McIasSso;
  /** Failures and refusals (never a password, token or code). */
  logger: Logger;
  /** Whether to offer passkey sign-in (second factors are available). */
  passkeys?: boolean;
  /** Clock for the cookie's Max-Age. */
  now?: () => Date;
}

interface LoginFormState {
  next: string;
  username?: string;
  error?: string;
  totpRequired?: boolean;
}

/**
 * Registers `GET /`, `GET /login`, `POST /login`, `POST /logout` and
 * `GET /sso/authorize` on `routes`.
 *
 * @param routes The app's route table.
 * @param options Core, SSO provider, logger, clock.
 */
export function registerLoginPages(routes: Hono<WebEnv>, options: LoginPagesOptions): void {
  const { mcias, sso, logger, passkeys = false, now } = options;
  const cookie = { name: SESSION_COOKIE, ...(now ? { now } : {}) };

  routes.get("/", (c) => c.redirect(HOME, 303));

  routes.get("/login", async (c) => {
    const next = safeNextPath(c.req.query("next"), "");
    const token = getSessionCookie(c, cookie);
    if (token !== undefined && (await mcias.validate(token)).valid) {
      return continueTo(c, next || HOME);
    }
    return loginForm(c, { next });
  });

  function loginForm(
    c: WebContext,
    state: LoginFormState,
    status: 200 | 400 | 401 | 403 | 429 = 200,
  ): Response | Promise<Response> {
    return renderLoginForm(c, state, passkeys, status);
  }

  routes.post("/login", async (c) => {
    const form = await readForm(c);
    const username = form.field("username");
    const password = form.field("password", true);
    const totpCode = form.field("totp_code");
    const next = safeNextPath(form.field("next"), "");
    if (username === "" || password === "") {
      return loginForm(c, {
        next,
        username,
        totpRequired: totpCode !== "",
        error: "Enter your username and password.",
      }, 400);
    }
    try {
      const grant = await mcias.login({
        username,
        password,
        ...(totpCode === "" ? {} : { totpCode }),
        serviceName: "mcias",
        remoteAddr: remoteAddrOf(c),
      });
      setSessionCookie(c, grant.token, grant.expiresAt, cookie);
    } catch (error) {
      if (!(error instanceof LoginFailedError)) throw error;
      logger.info("web sign-in refused", { username, status: error.status });
      if (error.status === 429) {
        const wait = error.options.retryAfterSeconds;
        if (wait !== undefined) c.header("Retry-After", String(wait));
        return loginForm(c, {
          next,
          username,
          error: `Too many failed sign-ins: try again${
            wait === undefined ? " later" : ` in ${Math.ceil(wait / 60)} minute(s)`
          }.`,
        }, 429);
      }
      if (error.status === 403) {
        return loginForm(c, {
          next,
          username,
          error: "MCIAS login policy does not let this account sign in here: ask an administrator.",
        }, 403);
      }
      if (error.options.totpRequired === true) {
        // The password is not echoed back into the page: the user types it again.
        return loginForm(c, {
          next,
          username,
          totpRequired: true,
          error: totpCode === ""
            ? "This account has two-factor authentication: enter your password again and the code from your authenticator app (or a recovery code)."
            : "Invalid credentials: check your password and code.",
        }, 401);
      }
      return loginForm(c, {
        next,
        username,
        totpRequired: totpCode !== "",
        error: "Invalid credentials: check your username and password.",
      }, 401);
    }
    return continueTo(c, next || HOME);
  });

  routes.post("/logout", async (c) => {
    const token = getSessionCookie(c, cookie);
    if (token !== undefined) {
      try {
        await mcias.logout(token);
      } catch (error) {
        logger.warn("web sign-out could not revoke the session token", {
          error: error instanceof Error ? error.message : String(error),
        });
      }
    }
    clearSessionCookie(c, cookie);
    c.header("Cache-Control", "no-store");
    return c.redirect("/login", 303);
  });

  routes.get("/sso/authorize", async (c) => {
    const query = (name: string) => c.req.query(name) ?? "";
    const clientId = query("client_id");
    const redirectUri = query("redirect_uri");
    const state = query("state");
    // Until the client and its redirect URI are known good, errors stay
    // here: redirecting them would make MCIAS an open redirector.
    const client = sso.ssoClient(clientId);
    if (client === undefined) {
      logger.warn("sso authorize for an unknown client", { clientId: clientId.slice(0, 64) });
      return ssoErrorPage(
        c,
        `The service asking you to sign in (client_id ${
          JSON.stringify(clientId.slice(0, 64))
        }) is not registered with MCIAS: tell its administrator to add it to [[sso_clients]].`,
      );
    }
    if (redirectUri !== client.redirectUri) {
      logger.warn("sso authorize with a wrong redirect_uri", { clientId });
      return ssoErrorPage(
        c,
        `The service ${
          JSON.stringify(clientId)
        } asked to send you back to an address MCIAS does not know for it: its redirect_uri must equal the one registered in [[sso_clients]].`,
      );
    }
    if (state.length > MAX_STATE_LENGTH) {
      return ssoErrorPage(c, "The sign-in request is malformed (state is too long).");
    }
    const back = (params: Record<string, string>) => {
      const url = new URL(client.redirectUri);
      for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
      if (state !== "") url.searchParams.set("state", state);
      c.header("Cache-Control", "no-store");
      c.header("Referrer-Policy", "no-referrer");
      return c.redirect(url.href, 302);
    };
    if (query("response_type") !== "code") return back({ error: "unsupported_response_type" });

    const token = getSessionCookie(c, cookie);
    if (token === undefined) {
      const site = c.req.header("Sec-Fetch-Site");
      if (site === "cross-site" || site === "same-site") {
        // Browsers withhold the SameSite=Strict session cookie on a
        // navigation that came from another site: reload this URL from
        // this site, which sends it, before deciding the user is signed out.
        return sameSiteReload(c);
      }
      return toLogin(c);
    }
    const codeChallenge = c.req.query("code_challenge");
    const codeChallengeMethod = c.req.query("code_challenge_method");
    let code: string;
    try {
      code = await sso.authorizeSso({
        token,
        clientId,
        redirectUri,
        ...(codeChallenge === undefined ? {} : { codeChallenge }),
        ...(codeChallengeMethod === undefined ? {} : { codeChallengeMethod }),
        remoteAddr: remoteAddrOf(c),
      });
    } catch (error) {
      if (!(error instanceof SsoError)) throw error;
      if (error.code === "login_required") {
        clearSessionCookie(c, cookie);
        return toLogin(c);
      }
      logger.info("sso authorize refused", { clientId, code: error.code });
      if (error.code === "invalid_client") return ssoErrorPage(c, error.message);
      return back({ error: error.code });
    }
    logger.info("sso code issued", { clientId });
    return back({ code });
  });

  function toLogin(c: WebContext): Response {
    const url = new URL(c.req.url);
    const next = safeNextPath(url.pathname + url.search, "");
    c.header("Cache-Control", "no-store");
    return c.redirect(next === "" ? "/login" : `/login?next=${encodeURIComponent(next)}`, 303);
  }
}

/**
 * Sends a signed-in browser on to `next`. A 303 for local pages; for the
 * SSO endpoint a page with a meta refresh, because the endpoint redirects to
 * the client service and browsers apply CSP `form-action 'self'` to every
 * redirect that follows a form post.
 */
function continueTo(c: WebContext, next: string): Response | Promise<Response> {
  c.header("Cache-Control", "no-store");
  if (!next.startsWith("/sso/")) return c.redirect(next, 303);
  return page(c, {
    title: "Signed in",
    head: html`
      <meta name="referrer" content="no-referrer">
      <meta http-equiv="refresh" content="0;url=${next}">
    `,
    body: html`<p>Signed in. <a href="${next}">Continue</a></p>`,
  });
}

function sameSiteReload(c: WebContext): Response | Promise<Response> {
  const url = new URL(c.req.url);
  const self = url.pathname + url.search;
  return page(c, {
    title: "Signing in",
    head: html`
      <meta name="referrer" content="no-referrer">
      <meta http-equiv="refresh" content="0;url=${self}">
    `,
    body: html`<p>Checking your MCIAS session… <a href="${self}">Continue</a></p>`,
  });
}

function ssoErrorPage(c: WebContext, text: string): Response | Promise<Response> {
  return page(c, {
    title: "Sign-in request refused",
    status: 400,
    body: html`<h1>Sign-in request refused</h1>${message("error", text)}`,
  });
}

function renderLoginForm(
  c: WebContext,
  state: LoginFormState,
  passkeys: boolean,
  status: 200 | 400 | 401 | 403 | 429,
): Response | Promise<Response> {
  const { next, username = "", error, totpRequired = false } = state;
  return page(c, {
    title: "Sign in",
    status,
    head: passkeys ? html`<script src="${PASSKEY_SCRIPT_PATH}" defer></script>` : "",
    body: html`<h1>Sign in to MCIAS</h1>
${message("error", error)}
<form method="post" action="/login">
${csrfInput(c.var.csrfToken)}
${next === "" ? "" : html`<input type="hidden" name="next" value="${next}">`}
<label>Username <input type="text" name="username" value="${username}" autocomplete="username" required ${
      username === "" ? "autofocus" : ""
    }></label>
<label>Password <input type="password" name="password" autocomplete="current-password" required ${
      username === "" ? "" : "autofocus"
    }></label>
${
      totpRequired
        ? html`<label>Authentication code <input type="text" name="totp_code" inputmode="numeric" autocomplete="one-time-code" required></label>`
        : ""
    }
<button type="submit">Sign in</button>
</form>
${
      passkeys
        ? html`<p><button type="button" id="passkey-login" data-next="${next}" hidden>Sign in with a passkey</button></p>
<p id="passkey-message" class="message error" role="alert" hidden></p>`
        : ""
    }`,
  });
}
