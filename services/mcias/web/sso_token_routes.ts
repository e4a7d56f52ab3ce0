/**
 * `POST /v1/sso/token`: the server-to-server half of SSO, where a client
 * service trades the authorization code for an MCIAS token. It belongs to
 * the REST API (mount it there); it lives here beside `/sso/authorize`.
 *
 * @module
 */

import { Hono } from "hono";
import type { AccessMap } from "@mc/mcdsl/httpserver";
import { HttpError, jsonErrorHandler, readJson } from "@mc/mcdsl/httpserver";
import type { Logger } from "@mc/mcdsl/log";
import { SsoError } from "../core/sso.ts";
import { LoginFailedError, type McIasSso, type SsoTokenRequest } from "../core/types.ts";

/** Access of the SSO token route, to merge into the REST access map. */
export const SSO_REST_ACCESS: AccessMap = {
  "POST /v1/sso/token": "public",
};

/** Options for {@linkcode createSsoTokenRoutes}. */
export interface SsoTokenRoutesOptions {
  /** The SSO provider. */
  sso: McIasSso;
  /** Refusals and errors (never a code, verifier or token). */
  logger: Logger;
}

const FIELDS = ["grant_type", "code", "client_id", "redirect_uri", "code_verifier"];

/**
 * Builds the sub-app serving `POST /v1/sso/token`.
 *
 * Request (JSON, as mcdsl `mountLoginRoutes` sends it):
 * `{"grant_type":"authorization_code","code","client_id","redirect_uri","code_verifier"}`.
 * Answer: `200 {"token","expires_at"}` (RFC 3339), or `{"error"}` with 400
 * (bad request or unusable code), 403 (policy) or 429 (throttled).
 *
 * Mount it on the REST app before `secureApp` (`api.route("/", routes)`) and
 * spread {@linkcode SSO_REST_ACCESS} into the access map.
 *
 * @param options SSO provider and logger.
 * @returns The sub-app.
 *
 * @example
 * ```ts ignore
 * api.route("/", createSsoTokenRoutes({ sso, logger }));
 * const app = secureApp(api, { ...REST_ACCESS, ...SSO_REST_ACCESS }, { validator: mcias, logger });
 * ```
 */
export function createSsoTokenRoutes(options: SsoTokenRoutesOptions): Hono {
  const { sso, logger } = options;
  const app = new Hono();
  app.onError(jsonErrorHandler({ logger }));
  app.post("/v1/sso/token", async (c) => {
    const request = await readJson<SsoTokenRequest>(c, {
      maxBytes: 8 * 1024,
      allowedKeys: FIELDS,
      validate(body) {
        if (body.grant_type !== "authorization_code") {
          throw new TypeError('field "grant_type" must be "authorization_code"');
        }
        for (const name of ["code", "client_id", "redirect_uri"]) {
          if (typeof body[name] !== "string" || body[name] === "") {
            throw new TypeError(`field "${name}" must be a non-empty string`);
          }
        }
        if (body.code_verifier !== undefined && typeof body.code_verifier !== "string") {
          throw new TypeError('field "code_verifier" must be a string');
        }
        return {
          code: body.code as string,
          clientId: body.client_id as string,
          redirectUri: body.redirect_uri as string,
          ...(typeof body.code_verifier === "string" && body.code_verifier !== ""
            ? { codeVerifier: body.code_verifier }
            : {}),
        };
      },
    });
    try {
      const grant = await sso.exchangeSsoCode(request);
      logger.info("sso code exchanged", { clientId: request.clientId });
      c.header("Cache-Control", "no-store");
      return c.json({ token: grant.token, expires_at: grant.expiresAt.toISOString() });
    } catch (error) {
      if (error instanceof SsoError) {
        logger.info("sso code refused", { clientId: request.clientId, code: error.code });
        throw new HttpError(400, error.message);
      }
      if (error instanceof LoginFailedError) {
        logger.info("sso login refused", { clientId: request.clientId, status: error.status });
        const wait = error.options.retryAfterSeconds;
        throw new HttpError(
          error.status === 401 ? 403 : error.status,
          error.status === 429
            ? "too many failed attempts for this account or address; retry later"
            : "MCIAS login policy does not allow this account on this service",
          wait === undefined ? {} : { headers: { "retry-after": String(wait) } },
        );
      }
      throw error;
    }
  });
  return app;
}
