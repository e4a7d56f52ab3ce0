/**
 * What the MCIAS web pages share: the Hono environment, cookie names, the
 * page shell with its navigation, and small request helpers.
 * Package-private.
 *
 * @module
 */

import type { Context } from "hono";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { TokenInfo } from "@mc/mcdsl/auth/types";
import type { CsrfVariables, PageContent, SessionVariables } from "@mc/mcdsl/web";
import { renderPage } from "@mc/mcdsl/web";

/** MCIAS's own session cookie; `__Host-` so no sibling host can set it. */
export const SESSION_COOKIE = "__Host-mcias_session";

/** MCIAS's own CSRF id cookie, apart from the services' `__Host-mc_csrf`. */
export const CSRF_COOKIE = "__Host-mcias_csrf";

/** Path of the stylesheet. */
export const STYLESHEET_PATH = "/static/mcias.css";

/** Context variables of the web app: CSRF always, the session on guarded routes. */
export type WebVariables = CsrfVariables & Partial<SessionVariables>;

/** The web app's Hono environment. */
export type WebEnv = { Variables: WebVariables };

/** The web app's request context. */
export type WebContext = Context<WebEnv>;

/** Options for {@linkcode page}. */
export interface PageOptions {
  /** Page title. */
  title: string;
  /** The `<main>` content. */
  body: PageContent;
  /**
   * HTTP status.
   *
   * @default {200}
   */
  status?: 200 | 400 | 401 | 403 | 404 | 409 | 429 | 500 | 503;
  /** Extra `<head>` content. */
  head?: PageContent;
}

/**
 * Answers with a full page: navigation for the signed-in user, the body in
 * `<main>`, `Cache-Control: no-store` (pages show account data).
 *
 * @param c The request context.
 * @param options Title, body, status and extra head content.
 * @returns The response.
 */
export function page(c: WebContext, options: PageOptions): Response | Promise<Response> {
  const { title, body, status = 200, head = "" } = options;
  const session = c.var.session;
  c.header("Cache-Control", "no-store");
  return c.html(
    renderPage({
      title: `${title} · MCIAS`,
      csrfToken: c.var.csrfToken,
      head: html`<link rel="stylesheet" href="${STYLESHEET_PATH}">${head}`,
      body: html`${nav(session, c.var.csrfToken)}
<main id="main">
${body}
</main>`,
    }),
    status,
  );
}

function nav(session: TokenInfo | undefined, csrfToken: string): HtmlEscapedString | string {
  if (session === undefined) {
    return html`
      <header>
        <nav><strong>MCIAS</strong></nav>
      </header>
    ` as HtmlEscapedString;
  }
  const admin = session.roles.includes("admin");
  return html`
    <header>
      <nav>
    <strong>MCIAS</strong>
    <a href="/account">Account</a>
    ${admin
      ? html`<a href="/admin/accounts">Accounts</a>
<a href="/admin/policy">Policy</a>
<a href="/mcat">MCAT</a>`
      : ""}
    <span class="who">${session.username}</span>
    <form method="post" action="/logout" class="inline">
    <input type="hidden" name="_csrf" value="${csrfToken}">
    <button type="submit">Sign out</button>
    </form>
      </nav>
    </header>
  ` as HtmlEscapedString;
}

/**
 * Renders a message box.
 *
 * @param kind `error` (role alert) or `ok` (role status).
 * @param text The message, escaped.
 * @returns The markup, or `""` without text.
 */
export function message(
  kind: "error" | "ok",
  text: string | undefined,
): HtmlEscapedString | string {
  if (text === undefined || text === "") return "";
  return (kind === "error"
    ? html`<p class="message error" role="alert">${text}</p>`
    : html`<p class="message ok" role="status">${text}</p>`) as HtmlEscapedString;
}

/**
 * The signed-in user on a route the access guard let through.
 *
 * @param c The request context.
 * @returns The session's token info.
 * @throws {Error} If the route has no session, which means it is declared `public` by mistake.
 */
export function sessionOf(c: WebContext): TokenInfo {
  const session = c.var.session;
  if (session === undefined) {
    throw new Error(
      `Cannot serve ${c.req.method} ${c.req.path}: no session; declare the route "authenticated" or "admin" in WEB_ACCESS`,
    );
  }
  return session;
}

/**
 * The client's IP address as the HTTPS server saw it, for throttling and logs.
 *
 * @param c The request context.
 * @returns The address, or `"unknown"` when served without a socket (tests).
 */
export function remoteAddrOf(c: Context): string {
  const env = c.env as { incoming?: { socket?: { remoteAddress?: string } } } | undefined;
  return env?.incoming?.socket?.remoteAddress ?? "unknown";
}

/**
 * Whether htmx sent the request (it swaps only 2xx answers by default, so
 * pages for htmx answer 200 and carry the error in the markup).
 *
 * @param c The request context.
 * @returns `true` for htmx requests.
 */
export function isHtmx(c: Context): boolean {
  return c.req.header("HX-Request") === "true";
}

/**
 * The status to answer with: `status` for plain form posts, 200 for htmx.
 *
 * @param c The request context.
 * @param status The real status.
 * @returns The status to send.
 */
export function formStatus<S extends NonNullable<PageOptions["status"]>>(
  c: Context,
  status: S,
): S | 200 {
  return isHtmx(c) ? 200 : status;
}

/**
 * Reads a urlencoded or multipart form into a string lookup.
 *
 * @param c The request context.
 * @returns `field(name)` (trimmed unless `raw`) and `all(name)` for repeated fields.
 */
export async function readForm(c: Context): Promise<{
  field(name: string, raw?: boolean): string;
  all(name: string): string[];
}> {
  let body: Record<string, string | File | (string | File)[]>;
  try {
    body = await c.req.parseBody({ all: true });
  } catch {
    body = {};
  }
  function all(name: string): string[] {
    const value = body[name];
    const list = Array.isArray(value) ? value : value === undefined ? [] : [value];
    return list.filter((v): v is string => typeof v === "string");
  }
  return {
    field(name, raw = false) {
      const value = all(name)[0] ?? "";
      return raw ? value : value.trim();
    },
    all,
  };
}

/**
 * Splits a comma- or space-separated list, dropping empties and duplicates.
 *
 * @param text What the user typed.
 * @returns The items.
 */
export function splitList(text: string): string[] {
  return [...new Set(text.split(/[\s,]+/).filter((item) => item !== ""))];
}

/** The stylesheet: plain, readable, no inline styles (the CSP forbids them). */
export const STYLESHEET = `
body { font-family: system-ui, sans-serif; margin: 0; color: #1b1b1b; background: #fafafa; }
header { background: #20313f; color: #fff; padding: .5rem 1rem; }
header nav { display: flex; gap: 1rem; align-items: center; flex-wrap: wrap; }
header a { color: #d6e6f2; }
header .who { margin-left: auto; }
main { max-width: 60rem; margin: 1.5rem auto; padding: 0 1rem; }
form.inline { display: inline; }
label { display: block; margin: .5rem 0; }
fieldset { border: 1px solid #ccc; margin: 1rem 0; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: left; vertical-align: top; }
.message { padding: .5rem .75rem; border-radius: 4px; }
.message.error { background: #fde8e8; border: 1px solid #e0a0a0; }
.message.ok { background: #e7f6e7; border: 1px solid #9fd09f; }
.allowed { color: #176317; font-weight: bold; }
.denied { color: #a11; font-weight: bold; }
code, .secret { font-family: ui-monospace, monospace; word-break: break-all; }
`;
