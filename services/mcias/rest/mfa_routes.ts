/**
 * REST routes for second factors: self-service TOTP and passkey
 * registration for the logged-in caller, and public passkey login. Mount
 * the app returned by {@linkcode createMfaRoutes} inside the service's
 * `secureApp` and merge {@linkcode MFA_ACCESS} into its access map.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import type { AuthenticationResponseJSON, RegistrationResponseJSON } from "@simplewebauthn/server";
import { type AccessMap, type AccessVariables, HttpError, readJson } from "@mc/mcdsl/httpserver";
import { LoginFailedError, McIasError, type McIasMfa } from "../core/types.ts";

/** Who may call each second-factor route. */
export const MFA_ACCESS: AccessMap = {
  "POST /v1/account/totp/enrol": "authenticated",
  "POST /v1/account/totp/confirm": "authenticated",
  "DELETE /v1/account/totp": "authenticated",
  "POST /v1/account/webauthn/register/options": "authenticated",
  "POST /v1/account/webauthn/register": "authenticated",
  "POST /v1/auth/webauthn/options": "public",
  "POST /v1/auth/webauthn/login": "public",
};

/** Options for {@linkcode createMfaRoutes}. */
export interface MfaRoutesOptions {
  /** The second-factor service. */
  mfa: McIasMfa;
  /**
   * The client address, for throttling.
   * @default {the TLS socket's peer address (serveHttps bindings), else "unknown"}
   */
  remoteAddr?: (c: Context) => string;
}

type Env = { Variables: AccessVariables };

const MAX_WEBAUTHN_BODY = 32 * 1024;

/**
 * Builds the second-factor routes.
 *
 * @param options The MFA service and how to read the client address.
 * @returns A Hono app whose routes are exactly the keys of {@linkcode MFA_ACCESS}.
 */
export function createMfaRoutes(options: MfaRoutesOptions): Hono<Env> {
  const { mfa, remoteAddr = socketAddr } = options;
  return new Hono<Env>()
    .post("/v1/account/totp/enrol", async (c) => {
      const { secret, uri } = await call(() => mfa.beginTotpEnrolment(caller(c)));
      c.header("cache-control", "no-store");
      return c.json({ secret, uri }, 201);
    })
    .post("/v1/account/totp/confirm", async (c) => {
      const { code } = await readJson(c, { allowedKeys: ["code"], validate: codeField });
      const { recoveryCodes } = await call(() => mfa.confirmTotpEnrolment(caller(c), code));
      c.header("cache-control", "no-store");
      return c.json({ recovery_codes: recoveryCodes });
    })
    .delete("/v1/account/totp", async (c) => {
      // A stolen session alone must not strip the second factor: ask for it.
      const username = caller(c);
      const { code } = await readJson(c, { allowedKeys: ["code"], validate: codeField });
      if (!mfa.totpEnabled(username)) {
        throw new HttpError(409, "TOTP is not enabled for this account");
      }
      // Throttled and counted like a login, so the code cannot be guessed.
      await reauth(() => mfa.reauthenticate(username, { code, remoteAddr: remoteAddr(c) }));
      await call(() => mfa.disableTotp(username));
      return c.body(null, 204);
    })
    .post("/v1/account/webauthn/register/options", async (c) => {
      // A new passkey logs in alone: a stolen session must not add one.
      const username = caller(c);
      const proof = hasBody(c)
        ? await readJson(c, {
          allowedKeys: ["password", "code"],
          validate: (b) => ({
            password: optionalString(b.password, "password", 1024),
            code: optionalString(b.code, "code", 32),
          }),
        })
        : {};
      await reauth(() => mfa.reauthenticate(username, { ...proof, remoteAddr: remoteAddr(c) }));
      const options = await call(() => mfa.beginPasskeyRegistration(username));
      return c.json(options);
    })
    .post("/v1/account/webauthn/register", async (c) => {
      const body = await readJson(c, {
        maxBytes: MAX_WEBAUTHN_BODY,
        allowedKeys: ["response", "name"],
        validate: (b) => ({
          response: credentialField(b.response) as unknown as RegistrationResponseJSON,
          name: optionalString(b.name, "name"),
        }),
      });
      await call(() => mfa.finishPasskeyRegistration(caller(c), body.response, body.name));
      return c.json({ passkeys: mfa.passkeyCount(caller(c)) }, 201);
    })
    .post("/v1/auth/webauthn/options", async (c) => {
      const { username } = hasBody(c)
        ? await readJson(c, {
          allowedKeys: ["username"],
          validate: (b) => ({ username: optionalString(b.username, "username") }),
        })
        : { username: undefined };
      return c.json(await call(() => mfa.beginPasskeyLogin(username || undefined)));
    })
    .post("/v1/auth/webauthn/login", async (c) => {
      const body = await readJson(c, {
        maxBytes: MAX_WEBAUTHN_BODY,
        allowedKeys: ["response", "service_name", "tags"],
        validate: (b) => ({
          response: credentialField(b.response) as unknown as AuthenticationResponseJSON,
          serviceName: optionalString(b.service_name, "service_name"),
          tags: optionalTags(b.tags),
        }),
      });
      const grant = await call(() =>
        mfa.finishPasskeyLogin(body.response, {
          serviceName: body.serviceName,
          tags: body.tags,
          remoteAddr: remoteAddr(c),
        })
      );
      c.header("cache-control", "no-store");
      return c.json({ token: grant.token, expires_at: grant.expiresAt.toISOString() });
    });
}

function hasBody(c: Context): boolean {
  const length = c.req.header("content-length");
  return length === undefined ? c.req.raw.body !== null : length !== "0";
}

function caller(c: Context<Env>): string {
  const info = c.var.tokenInfo;
  // secureApp guarantees this on authenticated routes; refuse if mounted without it.
  if (info === undefined || !info.valid) {
    throw new HttpError(401, "Log in first: send a bearer token");
  }
  return info.username;
}

function socketAddr(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? "unknown";
}

/** Maps domain errors to HTTP errors with the same message. */
async function call<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof McIasError) {
      throw new HttpError(error.status, error.message, { cause: error });
    }
    if (error instanceof LoginFailedError) {
      const headers: Record<string, string> = {};
      if (error.options.retryAfterSeconds !== undefined) {
        headers["retry-after"] = String(error.options.retryAfterSeconds);
      }
      throw new HttpError(error.status, error.message, { cause: error, headers });
    }
    throw error;
  }
}

// Re-authentication on an authenticated route: a wrong proof is 403 (the
// session is fine), 429 when throttled.
async function reauth(fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (error) {
    if (error instanceof LoginFailedError && error.status === 401) {
      throw new HttpError(403, error.message, { cause: error });
    }
    return await call(() => Promise.reject(error));
  }
}

function codeField(b: Record<string, unknown>): { code: string } {
  if (typeof b.code !== "string" || b.code.length === 0 || b.code.length > 32) {
    throw new TypeError('Field "code" must be the 6-digit TOTP code or a recovery code');
  }
  return { code: b.code };
}

function optionalString(value: unknown, field: string, max = 256): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "string" || value.length > max) {
    throw new TypeError(`Field "${field}" must be a string of at most ${max} characters`);
  }
  return value;
}

function optionalTags(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  if (
    !Array.isArray(value) || value.length > 64 ||
    !value.every((t) => typeof t === "string" && t.length <= 256)
  ) {
    throw new TypeError('Field "tags" must be an array of strings');
  }
  return value as string[];
}

function credentialField(value: unknown): Record<string, unknown> {
  if (
    value === null || typeof value !== "object" || Array.isArray(value) ||
    typeof (value as { id?: unknown }).id !== "string" ||
    typeof (value as { response?: unknown }).response !== "object"
  ) {
    throw new TypeError(
      'Field "response" must be the credential from startRegistration()/startAuthentication()',
    );
  }
  return value as Record<string, unknown>;
}
