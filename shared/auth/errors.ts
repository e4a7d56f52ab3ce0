/**
 * Errors raised by the MCIAS client. None of their messages holds a token or
 * a password: only URLs, HTTP statuses, usernames and MCIAS's own message.
 *
 * @module
 */

/** Options for {@linkcode MciasError}. */
export interface MciasErrorOptions extends ErrorOptions {
  /** MCIAS URL of the request that failed. */
  url: string;
  /** HTTP status MCIAS answered with; absent when no answer arrived. */
  status?: number;
}

/**
 * MCIAS answered a request with something other than the documented success
 * response (an unexpected status or a malformed body).
 *
 * @example Branching on the status
 * ```ts
 * import assert from "node:assert/strict";
 * import { MciasError } from "./errors.ts";
 *
 * const error = new MciasError("MCIAS answered HTTP 500", {
 *   url: "https://mcias.example:8443/v1/token/validate",
 *   status: 500,
 * });
 * assert.equal(error.status, 500);
 * assert.equal(error.name, "MciasError");
 * ```
 */
export class MciasError extends Error {
  /** MCIAS URL of the request that failed. */
  readonly url: string;
  /** HTTP status MCIAS answered with; absent when no answer arrived. */
  readonly status: number | undefined;

  /**
   * Creates the error.
   *
   * @param message What failed and what to do about it.
   * @param options The URL, the status and the `cause`.
   */
  constructor(message: string, options: MciasErrorOptions) {
    super(message, options);
    this.name = "MciasError";
    this.url = options.url;
    this.status = options.status;
  }
}

/**
 * MCIAS refused a login: 401 for wrong credentials or TOTP code, 403 when a
 * login policy denies the account access to this service.
 *
 * @example Telling a bad password from a policy denial
 * ```ts
 * import assert from "node:assert/strict";
 * import { LoginError } from "./errors.ts";
 *
 * const error = new LoginError("alice", 403, "login denied by policy", {
 *   url: "https://mcias.example:8443/v1/auth/login",
 * });
 * assert.equal(error.status, 403);
 * assert.equal(error.reason, "login denied by policy");
 * assert.equal(
 *   error.message,
 *   'MCIAS denied login for "alice" (HTTP 403): login denied by policy',
 * );
 * ```
 */
export class LoginError extends MciasError {
  /** 401 (bad credentials) or 403 (denied by login policy). */
  declare readonly status: 401 | 403;
  /** MCIAS's explanation, from the `error` field of its answer. */
  readonly reason: string;
  /** Account the login was attempted for. */
  readonly username: string;

  /**
   * Creates the error; the message quotes the username, status and reason.
   *
   * @param username Account the login was attempted for.
   * @param status 401 or 403, as MCIAS answered.
   * @param reason MCIAS's `error` message.
   * @param options The URL and the `cause`.
   */
  constructor(
    username: string,
    status: 401 | 403,
    reason: string,
    options: Omit<MciasErrorOptions, "status">,
  ) {
    const verb = status === 401 ? "rejected" : "denied";
    super(`MCIAS ${verb} login for ${JSON.stringify(username)} (HTTP ${status}): ${reason}`, {
      ...options,
      status,
    });
    this.name = "LoginError";
    this.reason = reason;
    this.username = username;
  }
}

/**
 * No answer came from MCIAS: DNS, connection, TLS (often an untrusted CA) or
 * timeout failure. The message names the URL and the config keys to check.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MciasUnreachableError } from "./errors.ts";
 *
 * const error = new MciasUnreachableError("https://mcias.example:8443/v1/auth/login", {
 *   cause: new TypeError("connection refused"),
 * });
 * assert.match(error.message, /check \[mcias\] server_url and ca_cert/);
 * assert.equal(error.status, undefined);
 * ```
 */
export class MciasUnreachableError extends MciasError {
  /**
   * Creates the error.
   *
   * @param url MCIAS URL that could not be reached.
   * @param options The `cause` (the fetch failure); the message quotes the
   *   innermost cause, which names the real problem (fetch wraps it in a
   *   bare "fetch failed").
   */
  constructor(url: string, options: ErrorOptions = {}) {
    const detail = innermostMessage(options.cause);
    super(
      `Cannot reach MCIAS at "${url}"${detail === "" ? "" : `: ${detail}`}; ` +
        "check [mcias] server_url and ca_cert " +
        `(the CA certificate that signed MCIAS's TLS certificate)`,
      { ...options, url },
    );
    this.name = "MciasUnreachableError";
  }
}

function innermostMessage(cause: unknown): string {
  let message = "";
  // Bounded: a cause chain could in principle be cyclic.
  for (let depth = 0; depth < 8 && cause instanceof Error; depth++) {
    message = cause.message;
    cause = cause.cause;
  }
  // The URL is already in our message.
  return message.replace(/^error sending request for url \([^)]*\): /, "");
}
