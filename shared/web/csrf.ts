/**
 * CSRF protection for server-rendered forms and htmx requests.
 *
 * Every browser gets a random CSRF id in a `__Host-` cookie that lives as
 * long as the browser session. The token a page embeds is
 * HMAC-SHA-256(server key, id): a forged request needs both the cookie (which
 * the browser only sends to this host) and the token (which only this host's
 * pages contain), and the token cannot be minted without the key. The id
 * lives in its own cookie rather than being derived from the session cookie
 * so that the sign-in form, shown before any session exists, is protected
 * too. The `__Host-` prefix stops a sibling subdomain from planting an id of
 * its choosing (cookie tossing), and an Origin/Referer same-origin check
 * guards the same door a second way.
 *
 * @module
 */

import type { Context, MiddlewareHandler } from "hono";
import { getCookie, setCookie } from "hono/cookie";
import { createMiddleware } from "hono/factory";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { decodeBase64Url, encodeBase64Url, randomToken, timingSafeEqual } from "./_crypto.ts";

/** Name of the hidden form field that carries the CSRF token. */
export const CSRF_FIELD = "_csrf";

/** Name of the request header that carries the CSRF token (htmx sends it). */
export const CSRF_HEADER = "X-CSRF-Token";

/** Default name of the cookie holding the browser's CSRF id. */
export const DEFAULT_CSRF_COOKIE = "__Host-mc_csrf";

/** Methods that must not change state, so they pass without a token. */
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** Domain separation, so the key can never be tricked into signing another kind of value. */
const TOKEN_CONTEXT = "mc-csrf/v1\n";

/** Context variables set by {@linkcode csrf}. */
export interface CsrfVariables {
  /** The token to embed in this response's forms and htmx headers. */
  csrfToken: string;
}

/** Options for {@linkcode csrf}. */
export interface CsrfOptions {
  /**
   * HMAC-SHA-256 key with the `sign` usage (see {@linkcode createCsrfKey}).
   * Pass a key derived from a secret the service keeps to let open pages
   * survive a restart.
   *
   * @default {a random key generated on first use, so tokens die with the process}
   */
  key?: CryptoKey;
  /**
   * The origins a mutating request may come from, e.g.
   * `["https://mcr.svc.mcp.metacircular.net"]`. Set it when the service sits
   * behind a proxy, where the URL it sees differs from what the browser shows.
   *
   * @default {the origin of the request URL}
   */
  origins?: string[];
  /**
   * Name of the cookie holding the CSRF id. Keep the `__Host-` prefix.
   *
   * @default {"__Host-mc_csrf"}
   */
  cookieName?: string;
}

/**
 * Creates the HMAC key for {@linkcode csrf}.
 *
 * @param secret At least 32 secret bytes to derive a stable key from; omit for a random key.
 * @returns A non-extractable HMAC-SHA-256 signing key.
 * @throws {RangeError} If `secret` is shorter than 32 bytes.
 *
 * @example Random per-process key
 * ```ts
 * import { createCsrfKey } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * const key = await createCsrfKey();
 * assert.equal(key.algorithm.name, "HMAC");
 * ```
 */
export async function createCsrfKey(secret?: Uint8Array<ArrayBuffer>): Promise<CryptoKey> {
  const algorithm = { name: "HMAC", hash: "SHA-256" };
  if (secret === undefined) {
    return await crypto.subtle.generateKey(algorithm, false, ["sign"]) as CryptoKey;
  }
  if (secret.byteLength < 32) {
    throw new RangeError(
      `Cannot create the CSRF key: the secret has ${secret.byteLength} bytes, expected at least 32; generate one with crypto.getRandomValues(new Uint8Array(32))`,
    );
  }
  return await crypto.subtle.importKey("raw", secret, algorithm, false, ["sign"]);
}

/**
 * CSRF middleware: gives every browser a CSRF id cookie, puts the matching
 * token in `c.var.csrfToken`, and answers 403 to any request whose method is
 * not GET, HEAD or OPTIONS unless it comes from an allowed origin and carries
 * the token in the `_csrf` form field or the `X-CSRF-Token` header.
 *
 * The form field is read with `c.req.parseBody()`, whose result Hono caches:
 * handlers must read the body through `c.req` too (`parseBody`, `formData`,
 * `json`, ...), not through `c.req.raw`, which is already consumed.
 *
 * A request with neither Origin nor Referer passes the origin check, because
 * browsers always send Origin on these methods; such a request still needs
 * the token.
 *
 * @param options Key, allowed origins and cookie name.
 * @returns The middleware.
 * @throws {TypeError} If the key is not an HMAC signing key or an origin is not a bare origin.
 *
 * @example Protecting a form
 * ```ts
 * import { Hono } from "hono";
 * import { csrf, csrfInput, type CsrfVariables } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * const app = new Hono<{ Variables: CsrfVariables }>();
 * app.use(csrf());
 * app.get("/", (c) => c.html(`<form method="post">${csrfInput(c.var.csrfToken)}</form>`));
 * app.post("/", (c) => c.text("changed"));
 *
 * const res = await app.request("https://svc.test/", { method: "POST" });
 * assert.equal(res.status, 403);
 * ```
 */
export function csrf(options: CsrfOptions = {}): MiddlewareHandler<{ Variables: CsrfVariables }> {
  const { cookieName = DEFAULT_CSRF_COOKIE } = options;
  if (options.key !== undefined) checkKey(options.key);
  const origins = options.origins?.map(checkOrigin);
  let keyPromise: Promise<CryptoKey> | undefined = options.key && Promise.resolve(options.key);

  return createMiddleware<{ Variables: CsrfVariables }>(async function csrf(c, next) {
    keyPromise ??= createCsrfKey();
    const key = await keyPromise;
    const cookieId = validId(getCookie(c, cookieName));
    const id = cookieId ?? randomToken();
    const expected = await sign(key, id);
    c.set("csrfToken", encodeBase64Url(expected));

    if (!SAFE_METHODS.has(c.req.method)) {
      const refusal = await check(c, cookieId, expected, origins);
      if (refusal !== undefined) {
        if (cookieId === undefined) issueCookie(c, cookieName, id);
        return c.text(`Forbidden: ${refusal}`, 403);
      }
    }
    await next();
    // Set after next(): a handler that returns its own Response would drop
    // headers set before, and c.header() copes with a finalized response.
    if (cookieId === undefined) issueCookie(c, cookieName, id);
  });
}

/**
 * Renders the hidden form field that carries the CSRF token.
 *
 * @param token The token from `c.var.csrfToken`.
 * @returns `<input type="hidden" name="_csrf" value="...">`, escaped.
 *
 * @example
 * ```ts
 * import { csrfInput } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * assert.equal(String(csrfInput("abc")), '<input type="hidden" name="_csrf" value="abc">');
 * ```
 */
export function csrfInput(token: string): HtmlEscapedString {
  return html`<input type="hidden" name="${CSRF_FIELD}" value="${token}">` as HtmlEscapedString;
}

/**
 * Renders the `<meta name="csrf-token">` tag, for scripts that need the token.
 *
 * @param token The token from `c.var.csrfToken`.
 * @returns The meta tag, escaped.
 *
 * @example
 * ```ts
 * import { csrfMeta } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * assert.equal(String(csrfMeta("abc")), '<meta name="csrf-token" content="abc">');
 * ```
 */
export function csrfMeta(token: string): HtmlEscapedString {
  return html`<meta name="csrf-token" content="${token}">` as HtmlEscapedString;
}

/**
 * Returns the JSON for an `hx-headers` attribute that makes every htmx
 * request below it send the CSRF token, e.g.
 * `<body hx-headers='{"X-CSRF-Token":"..."}'>`. Escape it as an attribute
 * value (Hono's `html` template does).
 *
 * @param token The token from `c.var.csrfToken`.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import { csrfHxHeaders } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * assert.equal(csrfHxHeaders("abc"), '{"X-CSRF-Token":"abc"}');
 * ```
 */
export function csrfHxHeaders(token: string): string {
  return JSON.stringify({ [CSRF_HEADER]: token });
}

function checkKey(key: CryptoKey): void {
  const algorithm = key.algorithm as Partial<HmacKeyAlgorithm>;
  if (
    algorithm.name !== "HMAC" || algorithm.hash?.name !== "SHA-256" || !key.usages.includes("sign")
  ) {
    throw new TypeError(
      `Cannot use the CSRF key: it is ${JSON.stringify(algorithm.name)} with usages ${
        JSON.stringify(key.usages)
      }, expected an HMAC SHA-256 key with the "sign" usage; create one with createCsrfKey()`,
    );
  }
}

function checkOrigin(origin: string): string {
  let parsed: URL | undefined;
  try {
    parsed = new URL(origin);
  } catch {
    // reported below
  }
  if (parsed === undefined || parsed.origin !== origin) {
    throw new TypeError(
      `Cannot use CSRF origin ${
        JSON.stringify(origin)
      }: expected a bare origin such as "https://svc.example.net" (scheme, host, optional port; no path or trailing slash)`,
    );
  }
  return origin;
}

/** Accepts only ids this middleware could have issued, so odd cookies are replaced. */
function validId(value: string | undefined): string | undefined {
  if (value === undefined || !/^[A-Za-z0-9_-]{43}$/.test(value)) return undefined;
  return value;
}

function issueCookie(c: Context, name: string, id: string): void {
  // No Max-Age: the id lives as long as the browser session.
  setCookie(c, name, id, { httpOnly: true, secure: true, sameSite: "Strict", path: "/" });
}

async function sign(key: CryptoKey, id: string): Promise<Uint8Array> {
  const data = new TextEncoder().encode(TOKEN_CONTEXT + id);
  return new Uint8Array(await crypto.subtle.sign("HMAC", key, data));
}

/** Returns why the request is refused, or undefined when it may proceed. */
async function check(
  c: Context,
  cookieId: string | undefined,
  expected: Uint8Array,
  origins: string[] | undefined,
): Promise<string | undefined> {
  const allowed = origins ?? [new URL(c.req.url).origin];
  const source = requestOrigin(c);
  if (source !== undefined && !allowed.includes(source)) {
    return `cross-origin request refused: it came from ${JSON.stringify(source)}, expected ${
      allowed.map((o) => JSON.stringify(o)).join(" or ")
    }; submit forms from this service's own pages`;
  }
  if (cookieId === undefined) {
    return "the CSRF cookie is missing: allow cookies for this site, reload the page and try again";
  }
  const token = c.req.header(CSRF_HEADER) ?? await formToken(c);
  if (token === undefined || token === "") {
    return `the CSRF token is missing: send it in the "${CSRF_FIELD}" form field or the "${CSRF_HEADER}" header`;
  }
  const given = decodeBase64Url(token);
  if (given === undefined || !timingSafeEqual(given, expected)) {
    return "the CSRF token does not match this browser session: reload the page and try again";
  }
  return undefined;
}

/** The origin the request claims to come from: Origin, else Referer's origin, else undefined. */
function requestOrigin(c: Context): string | undefined {
  const origin = c.req.header("Origin");
  // "null" (opaque origins: sandboxed frames, file:, some redirects) is
  // kept as is and never matches an allowed origin.
  if (origin !== undefined) return origin;
  const referer = c.req.header("Referer");
  if (referer === undefined) return undefined;
  try {
    return new URL(referer).origin;
  } catch {
    return "null";
  }
}

async function formToken(c: Context): Promise<string | undefined> {
  const type = c.req.header("Content-Type")?.split(";")[0]?.trim().toLowerCase();
  if (type !== "application/x-www-form-urlencoded" && type !== "multipart/form-data") {
    return undefined;
  }
  let body: Record<string, unknown>;
  try {
    body = await c.req.parseBody();
  } catch {
    return undefined;
  }
  const value = body[CSRF_FIELD];
  return typeof value === "string" ? value : undefined;
}
