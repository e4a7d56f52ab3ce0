/**
 * Self-service: the signed-in user's account, TOTP enrolment and removal,
 * and passkey status. Second factors need the optional {@linkcode McIasMfa};
 * without it the page says they are not available.
 *
 * @module
 */

import type { Hono } from "hono";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { Logger } from "@mc/mcdsl/log";
import { csrfInput } from "@mc/mcdsl/web";
import {
  type Account,
  LoginFailedError,
  type McIas,
  McIasError,
  type McIasMfa,
} from "../core/types.ts";
import { PASSKEY_SCRIPT_PATH } from "./passkey_script.ts";
import {
  formStatus,
  message,
  page,
  readForm,
  remoteAddrOf,
  sessionOf,
  type WebContext,
  type WebEnv,
} from "./_page.ts";

/** What the account page needs. */
export interface AccountPageOptions {
  /** The core (`getAccount`). */
  mcias: Pick<McIas, "getAccount">;
  /** Second factors, when this server has them. */
  mfa?: McIasMfa;
  /** Audit lines (never a secret or code). */
  logger: Logger;
}

interface AccountView {
  error?: string;
  ok?: string;
  /** TOTP enrolment in progress: the secret to type into an authenticator. */
  enrolment?: { secret: string; uri: string };
  /** Shown once, right after enrolment. */
  recoveryCodes?: string[];
}

const HX_FORM = html`hx-target="#main" hx-select="#main" hx-swap="outerHTML"`;

/**
 * Registers `GET /account` and `POST /account/totp/{begin,confirm,disable}`.
 *
 * @param routes The app's route table.
 * @param options Core, optional second factors, logger.
 */
export function registerAccountPage(routes: Hono<WebEnv>, options: AccountPageOptions): void {
  const { mcias, mfa, logger } = options;

  routes.get("/account", (c) => accountPage(c));

  routes.post("/account/totp/begin", async (c) => {
    if (mfa === undefined) return unavailable(c);
    const username = sessionOf(c).username;
    try {
      const enrolment = await mfa.beginTotpEnrolment(username);
      return accountPage(c, { enrolment });
    } catch (error) {
      return accountPage(c, { error: callerError(error) }, 400);
    }
  });

  routes.post("/account/totp/confirm", async (c) => {
    if (mfa === undefined) return unavailable(c);
    const username = sessionOf(c).username;
    const code = (await readForm(c)).field("code");
    if (!/^\d{6}$/.test(code)) {
      return accountPage(
        c,
        { error: "Enter the six-digit code from your authenticator app." },
        400,
      );
    }
    try {
      const { recoveryCodes } = await mfa.confirmTotpEnrolment(username, code);
      logger.info("totp enabled", { account: username });
      return accountPage(c, { recoveryCodes, ok: "Two-factor authentication is on." });
    } catch (error) {
      return accountPage(c, { error: callerError(error) }, 400);
    }
  });

  routes.post("/account/totp/disable", async (c) => {
    if (mfa === undefined) return unavailable(c);
    const username = sessionOf(c).username;
    // A stolen session alone must not strip the second factor: a current
    // code (or a recovery code) is required, throttled and counted.
    const code = (await readForm(c)).field("code").trim();
    if (code === "" || code.length > 32) {
      return accountPage(
        c,
        { error: "Enter a current code from your authenticator app (or a recovery code)." },
        400,
      );
    }
    try {
      await mfa.reauthenticate(username, { code, remoteAddr: remoteAddrOf(c) });
      mfa.disableTotp(username);
    } catch (error) {
      if (error instanceof LoginFailedError) {
        return accountPage(
          c,
          {
            error: error.status === 429
              ? "Too many failed attempts: try again later."
              : "That code is not right: two-factor authentication is still on.",
          },
          400,
        );
      }
      return accountPage(c, { error: callerError(error) }, 400);
    }
    logger.info("totp disabled", { account: username });
    return accountPage(c, { ok: "Two-factor authentication is off." });
  });

  function unavailable(c: WebContext): Response | Promise<Response> {
    return accountPage(c, { error: "Second factors are not available on this server." }, 400);
  }

  function accountPage(
    c: WebContext,
    view: AccountView = {},
    status: 200 | 400 = 200,
  ): Response | Promise<Response> {
    const account = mcias.getAccount(sessionOf(c).username);
    return page(c, {
      title: "Your account",
      status: formStatus(c, status),
      head: mfa === undefined ? "" : html`<script src="${PASSKEY_SCRIPT_PATH}" defer></script>`,
      body: html`
        <h1>Your account</h1>
        ${message("error", view.error)}${message("ok", view.ok)}
        <table>
          <tr>
            <th>Username</th>
            <td>${account.username}</td>
          </tr>
          <tr>
            <th>Type</th>
            <td>${account.type}</td>
          </tr>
          <tr>
            <th>Roles</th>
            <td>${account.roles.join(", ") || "—"}</td>
          </tr>
          <tr>
            <th>Member since</th>
            <td>${account.createdAt.toISOString().slice(0, 10)}</td>
          </tr>
        </table>
        <h2>Authenticator app (TOTP)</h2>
        ${totpSection(c, account, mfa !== undefined, view)}
        <h2>Passkeys</h2>
        <p id="passkeys">Registered passkeys: ${account.passkeys}.${mfa === undefined
          ? html`
            Passkeys are not available on this server.
          `
          : ""}</p>
        ${mfa === undefined ? "" : passkeyForm()}
      `,
    });
  }
}

function passkeyForm(): HtmlEscapedString {
  return html`
    <label>Name for a new passkey <input type="text" id="passkey-name" maxlength="64" placeholder="e.g. laptop"></label>
    <label>Your password <input type="password" id="passkey-password" autocomplete="current-password" maxlength="1024"></label>
    <label>Or a current TOTP code <input type="text" id="passkey-code" autocomplete="one-time-code" maxlength="32"></label>
    <p><button type="button" id="passkey-register">Add a passkey</button></p>
    <p id="passkey-message" class="message error" role="alert" hidden></p>
  ` as HtmlEscapedString;
}

function totpSection(
  c: WebContext,
  account: Account,
  available: boolean,
  view: AccountView,
): HtmlEscapedString | string {
  if (!available) {
    return html`<p id="totp">Status: ${
      account.totpEnabled ? "on" : "off"
    }. Two-factor authentication is not available on this server.</p>` as HtmlEscapedString;
  }
  if (view.recoveryCodes !== undefined) {
    return html`
      <div id="totp">
        <p>Status: on.</p>
        <p>Recovery codes: each works once in place of a code. Store them somewhere safe now; they are not shown again.</p>
        <ul class="secret">${view.recoveryCodes.map((code) =>
          html`<li><code>${code}</code></li>`
        )}</ul>
      </div>
    ` as HtmlEscapedString;
  }
  if (view.enrolment !== undefined) {
    return html`
      <div id="totp">
        <p>Add this account to your authenticator app, then enter the code it shows.</p>
        <p>Secret: <code class="secret">${view.enrolment.secret}</code></p>
        <p>Or open: <a href="${view.enrolment.uri}"><code class="secret">${view.enrolment
          .uri}</code></a></p>
        <form method="post" action="/account/totp/confirm" hx-post="/account/totp/confirm" ${HX_FORM}>
      ${csrfInput(c.var.csrfToken)}
      <label>Code <input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" pattern="[0-9]{6}" required></label>
      <button type="submit">Turn on</button>
        </form>
      </div>
    ` as HtmlEscapedString;
  }
  if (account.totpEnabled) {
    return html`
      <div id="totp">
        <p>Status: on.</p>
        <form method="post" action="/account/totp/disable" hx-post="/account/totp/disable"
          hx-confirm="Turn off two-factor authentication?" ${HX_FORM}>
      ${csrfInput(c.var.csrfToken)}
      <label>Current code <input type="text" name="code" autocomplete="one-time-code" maxlength="32" required></label>
      <button type="submit">Turn off</button></form>
      </div>
    ` as HtmlEscapedString;
  }
  return html`
    <div id="totp">
      <p>Status: off.</p>
      <form method="post" action="/account/totp/begin" hx-post="/account/totp/begin" ${HX_FORM}>
    ${csrfInput(c.var.csrfToken)}<button type="submit">Set up an authenticator app</button></form>
    </div>
  ` as HtmlEscapedString;
}

function callerError(error: unknown): string {
  if (error instanceof McIasError) return error.message;
  throw error;
}
