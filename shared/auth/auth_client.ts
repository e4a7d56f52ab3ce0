/**
 * Client of MCIAS, the identity service: login, renew, logout and cached
 * token validation.
 *
 * @module
 */

import { createCaHttpClient } from "./_ca_http_client.ts";
import { LoginError, MciasError, MciasUnreachableError } from "./errors.ts";
import { TokenCache } from "./token_cache.ts";
import type { AccountType, TokenInfo, TokenValidator } from "./types.ts";

/** Options for {@linkcode createAuthClient}; mirror the `[mcias]` config section. */
export interface AuthClientOptions {
  /** MCIAS base URL, `https://` only (`[mcias] server_url`). */
  serverUrl: string;
  /**
   * PEM text of the CA that signed MCIAS's certificate (the contents of the
   * file named by `[mcias] ca_cert`). Trusted in addition to the default roots.
   */
  caCert?: string;
  /** This service's name, sent with every login for MCIAS login policy (`[mcias] service_name`). */
  serviceName: string;
  /**
   * Tags sent with every login for MCIAS login policy (`[mcias] tags`).
   *
   * @default {[]}
   */
  tags?: readonly string[];
  /**
   * How long a `valid: true` validation answer is reused, in milliseconds;
   * also the longest a token revoked elsewhere keeps working here.
   *
   * @default {30_000}
   */
  cacheTtlMs?: number;
  /**
   * How long a `valid: false` answer is reused, in milliseconds.
   *
   * @default {5_000}
   */
  negativeCacheTtlMs?: number;
  /**
   * Most validation answers kept (least recently used evicted first).
   *
   * @default {10_000}
   */
  cacheMaxEntries?: number;
  /**
   * Time allowed for each MCIAS request, answer body included, in milliseconds.
   *
   * @default {10_000}
   */
  timeoutMs?: number;
  /**
   * Current time in epoch milliseconds, for the cache; tests inject a fake clock.
   *
   * @default {Date.now}
   */
  now?: () => number;
  /**
   * The fetch function. It receives the Deno `client` carrying `caCert` in
   * its init, so a wrapper must pass the init on.
   *
   * @default {globalThis.fetch}
   */
  fetch?: typeof fetch;
}

/** Credentials for {@linkcode AuthClient.login}. */
export interface LoginCredentials {
  /** MCIAS account name. */
  username: string;
  /** Account password. */
  password: string;
  /** Current TOTP code, for accounts with TOTP enrolled. */
  totpCode?: string;
}

/** A bearer token issued by MCIAS. */
export interface TokenGrant {
  /** The bearer token (a JWT); never log it. */
  token: string;
  /** When the token stops being valid. */
  expiresAt: Date;
}

/** Longest token accepted for validation; anything longer is not an MCIAS JWT. */
const MAX_TOKEN_LENGTH = 16 * 1024;

/**
 * Client of MCIAS. Implements {@linkcode TokenValidator} with a cache (see
 * {@linkcode TokenCache}); close it to release its HTTP connections.
 *
 * Build it with {@linkcode createAuthClient}.
 */
export class AuthClient implements TokenValidator, Disposable {
  #base: URL;
  #serviceName: string;
  #tags: string[];
  #timeoutMs: number;
  #fetch: typeof fetch;
  #httpClient: Deno.HttpClient | undefined;
  #cache: TokenCache;
  #closed = false;

  /**
   * Creates the client; same as {@linkcode createAuthClient}.
   *
   * @param options Where MCIAS is and how to trust and cache it.
   * @throws {TypeError} When an option has the wrong shape (bad URL, no service name, bad PEM).
   * @throws {RangeError} When a duration or size is out of range.
   */
  constructor(options: AuthClientOptions) {
    const {
      serverUrl,
      caCert,
      serviceName,
      tags = [],
      cacheTtlMs = 30_000,
      negativeCacheTtlMs = 5_000,
      cacheMaxEntries = 10_000,
      timeoutMs = 10_000,
      now = Date.now,
      fetch: fetchFn = globalThis.fetch,
    } = options;
    this.#base = parseServerUrl(serverUrl);
    if (typeof serviceName !== "string" || serviceName.trim() === "") {
      throw new TypeError(
        `Cannot create MCIAS client: "serviceName" must be a non-empty string, got ` +
          `${JSON.stringify(serviceName)}; set [mcias] service_name`,
      );
    }
    if (!Array.isArray(tags) || !tags.every((tag) => typeof tag === "string")) {
      throw new TypeError(
        `Cannot create MCIAS client: "tags" must be an array of strings, got ` +
          `${JSON.stringify(tags)}; check [mcias] tags`,
      );
    }
    if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) {
      throw new RangeError(
        `Cannot create MCIAS client: "timeoutMs" must be a positive number, got ${timeoutMs}`,
      );
    }
    this.#cache = new TokenCache({
      ttlMs: cacheTtlMs,
      negativeTtlMs: negativeCacheTtlMs,
      maxEntries: cacheMaxEntries,
      now,
    });
    this.#serviceName = serviceName;
    this.#tags = [...tags];
    this.#timeoutMs = timeoutMs;
    this.#fetch = fetchFn;
    // Built last: it is a resource, and nothing after it may throw.
    this.#httpClient = caCert === undefined
      ? undefined
      : createCaHttpClient(caCert, "[mcias] ca_cert");
  }

  /** The validation cache, for inspection and for `clear()` after a key rotation. */
  get cache(): TokenCache {
    return this.#cache;
  }

  /**
   * Logs in to MCIAS (`POST /v1/auth/login`), sending this service's name
   * and tags for login policy.
   *
   * @param credentials Username, password and optional TOTP code.
   * @returns The issued token and its expiry.
   * @throws {LoginError} When MCIAS refuses: `status` 401 for bad credentials, 403 for policy.
   * @throws {MciasUnreachableError} When MCIAS cannot be reached (network, TLS, timeout).
   * @throws {MciasError} When MCIAS answers anything else.
   */
  async login(credentials: LoginCredentials): Promise<TokenGrant> {
    const { username, password, totpCode } = credentials;
    const body: Record<string, unknown> = {
      username,
      password,
      service_name: this.#serviceName,
      tags: this.#tags,
    };
    if (totpCode !== undefined && totpCode !== "") body.totp_code = totpCode;
    const { url, status, json } = await this.#post("v1/auth/login", body);
    if (status === 401 || status === 403) {
      throw new LoginError(username, status, errorText(json), { url });
    }
    if (status !== 200) throw unexpectedStatus("log in", url, status, json);
    return parseGrant(json, url);
  }

  /**
   * Exchanges a still-valid token for a fresh one (`POST /v1/auth/renew`)
   * and drops the old one from this client's cache.
   *
   * @param token The current bearer token.
   * @returns The new token and its expiry.
   * @throws {MciasError} With `status` 401 when the token is no longer valid: log in again.
   * @throws {MciasUnreachableError} When MCIAS cannot be reached.
   */
  async renew(token: string): Promise<TokenGrant> {
    const { url, status, json } = await this.#post("v1/auth/renew", {}, token);
    if (status !== 200) throw unexpectedStatus("renew the token", url, status, json);
    const grant = parseGrant(json, url);
    // MCIAS may retire the old token on renewal; don't vouch for it from cache.
    this.#cache.delete(token);
    return grant;
  }

  /**
   * Revokes `token` at MCIAS (`POST /v1/auth/logout`) and drops it from this
   * client's cache. Other services may accept it until their cache entry
   * ages out (`cacheTtlMs`). A token MCIAS already rejects (401) counts as
   * logged out.
   *
   * @param token The bearer token to revoke.
   * @throws {MciasUnreachableError} When MCIAS cannot be reached.
   * @throws {MciasError} When MCIAS answers anything but success or 401.
   */
  async logout(token: string): Promise<void> {
    this.#cache.delete(token);
    const { url, status, json } = await this.#post("v1/auth/logout", {}, token);
    // Dropped again: a validation that was in flight during the request
    // could have stored an answer from before the revocation.
    this.#cache.delete(token);
    if (status === 401 || (status >= 200 && status < 300)) return;
    throw unexpectedStatus("log out", url, status, json);
  }

  /**
   * Validates `token` with MCIAS (`POST /v1/token/validate`), answering from
   * the cache when it can. An empty or oversized token is invalid without
   * asking MCIAS.
   *
   * @param token The bearer token.
   * @returns What MCIAS says; `valid: false` for bad, expired or revoked tokens.
   * @throws {MciasUnreachableError} When MCIAS cannot be reached: fail closed.
   * @throws {MciasError} When MCIAS answers with an error or a malformed body.
   */
  validate(token: string): Promise<TokenInfo> {
    if (typeof token !== "string" || token === "" || token.length > MAX_TOKEN_LENGTH) {
      return Promise.resolve(invalidToken());
    }
    return this.#cache.validate(token, (t) => this.#validateRemote(t));
  }

  /** Closes the HTTP client that carries the custom CA; later calls throw. */
  close(): void {
    this.#closed = true;
    this.#httpClient?.close();
    this.#httpClient = undefined;
  }

  /** Same as {@linkcode AuthClient.close}. */
  [Symbol.dispose](): void {
    this.close();
  }

  async #validateRemote(token: string): Promise<TokenInfo> {
    // The service name binds the check to this service: MCIAS answers
    // valid:false for a session token issued for another one.
    const { url, status, json } = await this.#post("v1/token/validate", {
      token,
      service_name: this.#serviceName,
    });
    if (status !== 200) throw unexpectedStatus("validate a token", url, status, json);
    return parseTokenInfo(json, url);
  }

  async #post(
    path: string,
    body: unknown,
    bearer?: string,
  ): Promise<{ url: string; status: number; json: unknown }> {
    const url = new URL(path, this.#base).href;
    if (this.#closed) {
      // Without this, fetch would go on without the custom CA and fail on TLS.
      throw new MciasError(
        `Cannot call MCIAS at "${url}": the client is closed; create a new one`,
        { url },
      );
    }
    const headers = new Headers({ "content-type": "application/json", accept: "application/json" });
    if (bearer !== undefined) headers.set("authorization", `Bearer ${bearer}`);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.#timeoutMs);
    let response: Response;
    let text: string;
    try {
      response = await this.#fetch(url, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal: controller.signal,
        client: this.#httpClient,
        // Following would resend the body (a password, a token) to
        // wherever Location points; a redirect is answered below instead.
        redirect: "manual",
      });
      text = await response.text();
    } catch (cause) {
      throw new MciasUnreachableError(url, {
        // The abort error itself says nothing useful; name the timeout.
        cause: controller.signal.aborted
          ? new Error(`no answer within ${this.#timeoutMs} ms`)
          : cause,
      });
    } finally {
      clearTimeout(timer);
    }
    if (response.status >= 300 && response.status < 400) {
      throw new MciasError(
        `MCIAS answered "${url}" with a redirect (HTTP ${response.status}), which is not ` +
          "followed; set [mcias] server_url to MCIAS's own address",
        { url, status: response.status },
      );
    }
    let json: unknown = undefined;
    try {
      json = JSON.parse(text);
    } catch {
      // Left undefined: the callers report a malformed body with the status.
    }
    return { url, status: response.status, json };
  }
}

/**
 * Creates an MCIAS client.
 *
 * @param options Where MCIAS is and how to trust and cache it.
 * @returns The client; call `close()` when done.
 * @throws {TypeError} When an option has the wrong shape (bad URL, no service name, bad PEM).
 * @throws {RangeError} When a duration or size is out of range.
 *
 * @example Refusing a plain-HTTP server URL
 * ```ts
 * import assert from "node:assert/strict";
 * import { createAuthClient } from "./auth_client.ts";
 *
 * assert.throws(
 *   () => createAuthClient({ serverUrl: "http://mcias.example", serviceName: "mcr" }),
 *   TypeError,
 * );
 * using client = createAuthClient({
 *   serverUrl: "https://mcias.example:8443",
 *   serviceName: "mcr",
 *   tags: ["env:prod"],
 * });
 * assert.equal(client.cache.size, 0);
 * ```
 */
export function createAuthClient(options: AuthClientOptions): AuthClient {
  return new AuthClient(options);
}

function parseServerUrl(serverUrl: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(serverUrl);
  } catch {
    url = undefined;
  }
  if (url === undefined || url.protocol !== "https:" || url.search !== "" || url.hash !== "") {
    throw new TypeError(
      `Cannot create MCIAS client: "serverUrl" must be an https:// URL such as ` +
        `"https://mcias.example:8443", got ${JSON.stringify(serverUrl)}; set [mcias] server_url`,
    );
  }
  if (!url.pathname.endsWith("/")) url.pathname += "/";
  return url;
}

function errorText(json: unknown): string {
  if (isRecord(json) && typeof json.error === "string" && json.error !== "") return json.error;
  return "no reason given";
}

function unexpectedStatus(action: string, url: string, status: number, json: unknown): MciasError {
  const hint = status === 401 ? "; log in again" : "";
  return new MciasError(
    `MCIAS refused to ${action} (HTTP ${status}): ${errorText(json)}${hint}`,
    { url, status },
  );
}

function malformed(url: string, expected: string): MciasError {
  return new MciasError(
    `MCIAS answered "${url}" with a malformed body: expected ${expected}; ` +
      "check that [mcias] server_url points at MCIAS",
    { url, status: 200 },
  );
}

function parseGrant(json: unknown, url: string): TokenGrant {
  const expected = '{"token": string, "expires_at": RFC 3339 time}';
  if (!isRecord(json) || typeof json.token !== "string" || json.token === "") {
    throw malformed(url, expected);
  }
  const expiresAt = parseTime(json.expires_at);
  if (expiresAt === undefined) throw malformed(url, expected);
  return { token: json.token, expiresAt };
}

function parseTokenInfo(json: unknown, url: string): TokenInfo {
  const expected =
    '{"valid": boolean, "username": string, "account_type": string, "roles": string[], ' +
    '"expires_at": RFC 3339 time}';
  if (!isRecord(json) || typeof json.valid !== "boolean") throw malformed(url, expected);
  // Whatever else an invalid answer carries is ignored: it grants nothing.
  if (!json.valid) return invalidToken();
  const roles = json.roles ?? [];
  const expiresAt = parseTime(json.expires_at);
  if (
    typeof json.username !== "string" || json.username === "" || expiresAt === undefined ||
    !Array.isArray(roles) || !roles.every((role) => typeof role === "string")
  ) {
    throw malformed(url, expected);
  }
  const accountType: AccountType = json.account_type === "system" ? "system" : "human";
  return { valid: true, username: json.username, accountType, roles: [...roles], expiresAt };
}

function invalidToken(): TokenInfo {
  return { valid: false, username: "", accountType: "human", roles: [], expiresAt: new Date(0) };
}

function parseTime(value: unknown): Date | undefined {
  if (typeof value !== "string") return undefined;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? undefined : date;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
