/**
 * The SSO provider: the authorization-code flow web UIs use to sign users in
 * with MCIAS (`GET /sso/authorize` → code → `POST /v1/sso/token`).
 *
 * Codes are 32 random bytes, single use, valid 60 s, and bound to the
 * client, the exact redirect URI, the account and the PKCE challenge. Only
 * their SHA-256 is kept, in memory: a restart forgets pending codes, which
 * costs a user one more click, never a token.
 *
 * @module
 */

import {
  type McIas,
  McIasError,
  type McIasSso,
  type PolicyDecision,
  type SsoAuthorizeRequest,
  type SsoClient,
  type SsoTokenRequest,
  type TokenGrant,
} from "./types.ts";

/** How long a code lives: 60 s. */
export const SSO_CODE_TTL_MS = 60_000;

/** Most codes waiting to be exchanged; beyond it the oldest are dropped. */
const MAX_PENDING_CODES = 10_000;

/** RFC 7636: a verifier is 43–128 characters of the unreserved set. */
const VERIFIER_PATTERN = /^[A-Za-z0-9._~-]{43,128}$/;

/** An S256 challenge is the base64url SHA-256 of the verifier: 43 characters. */
const CHALLENGE_PATTERN = /^[A-Za-z0-9_-]{43}$/;

/** OAuth 2.0 error codes the front ends can pass on. */
export type SsoErrorCode =
  | "invalid_request"
  | "invalid_client"
  | "invalid_grant"
  | "login_required"
  | "access_denied";

/**
 * Why an SSO step failed. `code` is the OAuth error code; `status` the HTTP
 * status the front end answers with; the message is safe to show.
 */
export class SsoError extends Error {
  /**
   * @param code OAuth error code.
   * @param status HTTP status for the front end.
   * @param message Safe to show the user or the client service.
   */
  constructor(readonly code: SsoErrorCode, readonly status: 400 | 401 | 403, message: string) {
    super(message);
    this.name = "SsoError";
  }
}

/** Options for {@linkcode createSso}. */
export interface SsoOptions {
  /** Registered clients (`[[sso_clients]]`, see {@linkcode ssoClientsFromConfig}). */
  clients: SsoClient[];
  /** The core: validates sessions, tests policy and issues the token. */
  mcias: Pick<McIas, "validate" | "completeLogin" | "testPolicy">;
  /**
   * Clock, for tests.
   *
   * @default {() => new Date()}
   */
  now?: () => Date;
}

interface PendingCode {
  clientId: string;
  redirectUri: string;
  username: string;
  codeChallenge: string | undefined;
  remoteAddr: string;
  expiresAt: number;
}

/**
 * Turns the `[[sso_clients]]` config tables into {@linkcode SsoClient}s.
 *
 * @param tables The config's `sso_clients`.
 * @returns The clients.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ssoClientsFromConfig } from "./sso.ts";
 *
 * const clients = ssoClientsFromConfig([
 *   { client_id: "mcr", redirect_uri: "https://mcr.test/sso/callback", service_name: "mcr", tags: [] },
 * ]);
 * assert.equal(clients[0]!.redirectUri, "https://mcr.test/sso/callback");
 * ```
 */
export function ssoClientsFromConfig(
  tables: readonly {
    client_id: string;
    redirect_uri: string;
    service_name: string;
    tags: string[];
  }[],
): SsoClient[] {
  return tables.map((t) => ({
    clientId: t.client_id,
    redirectUri: t.redirect_uri,
    serviceName: t.service_name,
    tags: [...t.tags],
  }));
}

/**
 * Creates the SSO provider.
 *
 * @param options Clients, the core and a clock.
 * @returns The provider.
 * @throws {TypeError} If a client is malformed or two share an id.
 *
 * @example Authorize, then exchange with PKCE
 * ```ts ignore
 * const sso = createSso({ clients, mcias });
 * const code = await sso.authorizeSso({ token, clientId: "mcr", redirectUri, codeChallenge, codeChallengeMethod: "S256" });
 * const grant = await sso.exchangeSsoCode({ code, clientId: "mcr", redirectUri, codeVerifier });
 * ```
 */
export function createSso(options: SsoOptions): McIasSso {
  const { mcias, now = () => new Date() } = options;
  const clients = new Map<string, SsoClient>();
  for (const client of options.clients) {
    checkClient(client);
    if (clients.has(client.clientId)) {
      throw new TypeError(
        `Cannot configure SSO client ${
          JSON.stringify(client.clientId)
        }: the id is used twice; give each [[sso_clients]] entry its own client_id`,
      );
    }
    clients.set(client.clientId, { ...client, tags: [...client.tags] });
  }
  // Keyed by SHA-256(code): a dump of memory holds no usable code, and the
  // lookup compares hashes, so its timing tells nothing about a code.
  const pending = new Map<string, PendingCode>();

  function purgeExpired(at: number): void {
    for (const [hash, entry] of pending) {
      if (entry.expiresAt <= at) pending.delete(hash);
    }
    // Map iteration is insertion order: the first keys are the oldest.
    for (const hash of pending.keys()) {
      if (pending.size < MAX_PENDING_CODES) break;
      pending.delete(hash);
    }
  }

  return {
    ssoClient(clientId) {
      const client = clients.get(clientId);
      return client && { ...client, tags: [...client.tags] };
    },

    async authorizeSso(request: SsoAuthorizeRequest): Promise<string> {
      const client = clients.get(request.clientId);
      if (client === undefined) {
        throw new SsoError(
          "invalid_client",
          400,
          `Unknown SSO client ${
            JSON.stringify(request.clientId)
          }: the service must be registered in MCIAS [[sso_clients]]`,
        );
      }
      if (request.redirectUri !== client.redirectUri) {
        throw new SsoError(
          "invalid_request",
          400,
          `The redirect_uri does not match the one registered for SSO client ${
            JSON.stringify(client.clientId)
          }: it must equal [[sso_clients]] redirect_uri exactly`,
        );
      }
      const codeChallenge = checkChallenge(request.codeChallenge, request.codeChallengeMethod);

      const info = await mcias.validate(request.token);
      if (!info.valid) {
        throw new SsoError("login_required", 401, "Sign in to MCIAS first");
      }
      let decision: PolicyDecision;
      try {
        decision = mcias.testPolicy(info.username, client.serviceName, client.tags);
      } catch (error) {
        // The account went away between validation and now.
        if (error instanceof McIasError) {
          throw new SsoError("login_required", 401, "Sign in to MCIAS first");
        }
        throw error;
      }
      if (!decision.allowed) {
        throw new SsoError(
          "access_denied",
          403,
          `MCIAS login policy does not let ${JSON.stringify(info.username)} sign in to ${
            JSON.stringify(client.serviceName)
          }: ask an administrator`,
        );
      }

      const at = now().getTime();
      purgeExpired(at);
      const code = randomCode();
      pending.set(await sha256Hex(code), {
        clientId: client.clientId,
        redirectUri: client.redirectUri,
        username: info.username,
        codeChallenge,
        remoteAddr: request.remoteAddr ?? "",
        expiresAt: at + SSO_CODE_TTL_MS,
      });
      return code;
    },

    async exchangeSsoCode(request: SsoTokenRequest): Promise<TokenGrant> {
      const invalid = () =>
        new SsoError(
          "invalid_grant",
          400,
          "The authorization code is invalid, expired, already used or was issued for another client or redirect_uri: start the sign-in again",
        );
      if (typeof request.code !== "string" || request.code === "" || request.code.length > 256) {
        throw invalid();
      }
      const hash = await sha256Hex(request.code);
      const entry = pending.get(hash);
      // Single use, whatever happens next: a failed exchange burns the code.
      pending.delete(hash);
      if (entry === undefined || entry.expiresAt <= now().getTime()) throw invalid();
      if (request.clientId !== entry.clientId || request.redirectUri !== entry.redirectUri) {
        throw invalid();
      }
      if (entry.codeChallenge === undefined) {
        // A verifier without a challenge means the two halves of the flow
        // disagree, which is what a PKCE downgrade looks like.
        if (request.codeVerifier !== undefined && request.codeVerifier !== "") throw invalid();
      } else {
        const verifier = request.codeVerifier;
        if (verifier === undefined || !VERIFIER_PATTERN.test(verifier)) throw invalid();
        if (!timingSafeEqualText(await s256(verifier), entry.codeChallenge)) throw invalid();
      }
      const client = clients.get(entry.clientId);
      if (client === undefined) throw invalid();
      try {
        return await mcias.completeLogin(entry.username, {
          serviceName: client.serviceName,
          tags: [...client.tags],
          remoteAddr: entry.remoteAddr,
        });
      } catch (error) {
        // The account was deleted after the code was issued.
        if (error instanceof McIasError) throw invalid();
        throw error;
      }
    },
  };
}

function checkClient(client: SsoClient): void {
  const problem = typeof client.clientId !== "string" || client.clientId === ""
    ? "client_id is empty"
    : !isHttpsUrl(client.redirectUri)
    ? `redirect_uri ${JSON.stringify(client.redirectUri)} is not an https URL`
    : typeof client.serviceName !== "string" || client.serviceName === ""
    ? "service_name is empty"
    : !Array.isArray(client.tags) || client.tags.some((t) => typeof t !== "string")
    ? "tags is not a list of strings"
    : undefined;
  if (problem !== undefined) {
    throw new TypeError(
      `Cannot configure SSO client ${
        JSON.stringify(client.clientId)
      }: ${problem}; fix its [[sso_clients]] entry`,
    );
  }
}

function isHttpsUrl(value: unknown): boolean {
  if (typeof value !== "string") return false;
  try {
    const url = new URL(value);
    return url.protocol === "https:" && url.hash === "";
  } catch {
    return false;
  }
}

function checkChallenge(
  challenge: string | undefined,
  method: string | undefined,
): string | undefined {
  const hasChallenge = challenge !== undefined && challenge !== "";
  const hasMethod = method !== undefined && method !== "";
  if (!hasChallenge && !hasMethod) return undefined;
  if (!hasChallenge) {
    throw new SsoError(
      "invalid_request",
      400,
      "code_challenge_method was given without code_challenge: send both or neither",
    );
  }
  if (method !== "S256") {
    throw new SsoError(
      "invalid_request",
      400,
      `Unsupported code_challenge_method ${
        JSON.stringify(method ?? "plain")
      }: MCIAS accepts only "S256"`,
    );
  }
  if (!CHALLENGE_PATTERN.test(challenge)) {
    throw new SsoError(
      "invalid_request",
      400,
      "code_challenge is not an S256 challenge: expected 43 base64url characters",
    );
  }
  return challenge;
}

function randomCode(): string {
  return crypto.getRandomValues(new Uint8Array(32)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
}

async function sha256(text: string): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)));
}

async function sha256Hex(text: string): Promise<string> {
  return (await sha256(text)).toHex();
}

async function s256(verifier: string): Promise<string> {
  return (await sha256(verifier)).toBase64({ alphabet: "base64url", omitPadding: true });
}

function timingSafeEqualText(a: string, b: string): boolean {
  const x = new TextEncoder().encode(a);
  const y = new TextEncoder().encode(b);
  if (x.byteLength !== y.byteLength) return false;
  let diff = 0;
  for (let i = 0; i < x.byteLength; i++) diff |= x[i]! ^ y[i]!;
  return diff === 0;
}
