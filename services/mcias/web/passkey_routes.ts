/**
 * Passkeys in the web UI: JSON endpoints behind the session cookie and
 * CSRF, called by `/static/passkey.js`. Registration for the signed-in
 * user; sign-in without a password (discoverable credentials).
 *
 * @module
 */

import type { Context, Hono } from "hono";
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { HttpError, readJson } from "@mc/mcdsl/httpserver";
import type { Logger } from "@mc/mcdsl/log";
import { safeNextPath, setSessionCookie } from "@mc/mcdsl/web";
import { LoginFailedError, McIasError, type McIasMfa } from "../core/types.ts";
import { remoteAddrOf, SESSION_COOKIE, sessionOf, type WebEnv } from "./_page.ts";
import { PASSKEY_SCRIPT, PASSKEY_SCRIPT_PATH } from "./passkey_script.ts";

/** Largest WebAuthn JSON body accepted. */
const MAX_BODY = 32 * 1024;

/** What the passkey routes need. */
export interface PasskeyRoutesOptions {
  /** Second factors; without them every endpoint answers 404. */
  mfa?: McIasMfa;
  /** Refusals and registrations (never a credential). */
  logger: Logger;
  /** Clock for the cookie's Max-Age. */
  now?: () => Date;
}

/**
 * Registers `GET /static/passkey.js`, `POST /account/passkeys/options`,
 * `POST /account/passkeys`, `POST /login/passkey/options` and
 * `POST /login/passkey` on `routes`.
 *
 * @param routes The app's route table.
 * @param options Second factors, logger, clock.
 */
export function registerPasskeyRoutes(routes: Hono<WebEnv>, options: PasskeyRoutesOptions): void {
  const { mfa, logger, now } = options;
  const cookie = { name: SESSION_COOKIE, ...(now ? { now } : {}) };

  routes.get(PASSKEY_SCRIPT_PATH, (c) => {
    c.header("Cache-Control", "no-cache");
    c.header("Content-Type", "text/javascript; charset=utf-8");
    return c.body(PASSKEY_SCRIPT);
  });

  routes.post("/account/passkeys/options", (c) =>
    answer(c, async (mfa) => {
      // A passkey signs in alone: a stolen session must not add one, so
      // re-authenticate (password, or TOTP code), throttled and counted.
      const username = sessionOf(c).username;
      const body = await readJson(c, { maxBytes: 4096, allowedKeys: ["password", "code"] });
      const text = (v: unknown) => (typeof v === "string" && v !== "" ? v : undefined);
      try {
        await mfa.reauthenticate(username, {
          password: text(body.password),
          code: text(body.code),
          remoteAddr: remoteAddrOf(c),
        });
      } catch (error) {
        if (error instanceof LoginFailedError && error.status === 401) {
          throw new HttpError(
            403,
            "Enter your password (or a current TOTP code) to add a passkey",
          );
        }
        throw error;
      }
      return await mfa.beginPasskeyRegistration(username);
    }));

  routes.post("/account/passkeys", (c) =>
    answer(c, async (mfa) => {
      const username = sessionOf(c).username;
      const body = await readJson(c, { maxBytes: MAX_BODY, allowedKeys: ["response", "name"] });
      if (typeof body.response !== "object" || body.response === null) {
        throw new HttpError(400, 'field "response" must be the credential as JSON');
      }
      const name = typeof body.name === "string" && body.name.trim() !== ""
        ? body.name.trim()
        : undefined;
      await mfa.finishPasskeyRegistration(
        username,
        body.response as RegistrationResponseJSON,
        name,
      );
      logger.info("passkey registered", { account: username });
      return { ok: true };
    }));

  routes.post("/login/passkey/options", (c) =>
    answer(c, async (mfa) => {
      return await mfa.beginPasskeyLogin();
    }));

  routes.post("/login/passkey", (c) =>
    answer(c, async (mfa) => {
      const body = await readJson(c, { maxBytes: MAX_BODY, allowedKeys: ["response", "next"] });
      if (typeof body.response !== "object" || body.response === null) {
        throw new HttpError(400, 'field "response" must be the credential as JSON');
      }
      const next = safeNextPath(typeof body.next === "string" ? body.next : "", "/account");
      const grant = await mfa.finishPasskeyLogin(body.response as AuthenticationResponseJSON, {
        serviceName: "mcias",
        remoteAddr: remoteAddrOf(c),
      });
      setSessionCookie(c, grant.token, grant.expiresAt, cookie);
      return { next };
    }));

  /** Runs `work` and answers JSON: its result, or `{"error"}` with the right status. */
  async function answer(
    c: Context<WebEnv>,
    work: (mfa: McIasMfa) => Promise<unknown>,
  ): Promise<Response> {
    c.header("Cache-Control", "no-store");
    if (mfa === undefined) {
      return c.json({ error: "Passkeys are not available on this server" }, 404);
    }
    try {
      return c.json(await work(mfa) as Record<string, unknown>);
    } catch (error) {
      if (error instanceof HttpError) {
        return c.json({ error: error.message }, error.status);
      }
      if (error instanceof McIasError) return c.json({ error: error.message }, error.status);
      if (error instanceof LoginFailedError) {
        logger.info("passkey sign-in refused", { status: error.status });
        const wait = error.options.retryAfterSeconds;
        if (wait !== undefined) c.header("Retry-After", String(wait));
        const text = error.status === 403
          ? "MCIAS login policy does not let this account sign in here: ask an administrator"
          : error.status === 429
          ? "Too many failed sign-ins: try again later"
          : "This passkey was not accepted: use your password, or register the passkey again";
        return c.json({ error: text }, error.status);
      }
      throw error;
    }
  }
}
