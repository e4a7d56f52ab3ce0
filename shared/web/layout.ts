/**
 * The page shell for server-rendered htmx pages.
 *
 * @module
 */

import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { csrfHxHeaders, csrfMeta } from "./csrf.ts";
import { HTMX_SRC } from "./htmx.ts";
import { CONTENT_SECURITY_POLICY } from "./security_headers.ts";

/** What can go in a page: escaped HTML from Hono's `html`, or plain text (escaped). */
export type PageContent = HtmlEscapedString | Promise<HtmlEscapedString> | string;

/**
 * The CSP as a `<meta>` tag, a fallback for a service that forgot
 * {@linkcode securityHeaders}. frame-ancestors is left out: browsers ignore
 * it in meta tags (and warn).
 */
const META_CSP = CONTENT_SECURITY_POLICY.replace(/ ?frame-ancestors [^;]*;/, "");

/**
 * htmx settings that keep it working under a CSP without 'unsafe-inline' or
 * 'unsafe-eval': no injected indicator <style>, no eval, no running <script>
 * tags from swapped content.
 */
const HTMX_CONFIG = JSON.stringify({
  includeIndicatorStyles: false,
  allowEval: false,
  allowScriptTags: false,
});

/** Options for {@linkcode renderPage}. */
export interface PageOptions {
  /** Page title (escaped). */
  title: string;
  /** Page body. */
  body: PageContent;
  /**
   * The CSRF token from `c.var.csrfToken`; adds the `csrf-token` meta tag
   * and makes htmx send `X-CSRF-Token` on every request.
   */
  csrfToken?: string;
  /** Extra `<head>` content such as stylesheet links (inline styles are blocked by the CSP). */
  head?: PageContent;
  /**
   * Document language.
   *
   * @default {"en"}
   */
  lang?: string;
}

/**
 * Renders a complete HTML page around `body`, with the local htmx script,
 * the CSRF meta tag and `hx-headers`, and the strict CSP as a meta tag.
 * Every interpolated value is escaped.
 *
 * @param options Title, body, CSRF token and extra head content.
 * @returns The page, ready for `c.html()`.
 *
 * @example
 * ```ts
 * import { html } from "hono/html";
 * import { renderPage } from "@mc/mcdsl/web";
 * import assert from "node:assert/strict";
 *
 * const page = String(await renderPage({ title: "Repos", body: html`<h1>Repos</h1>`, csrfToken: "t" }));
 * assert.match(page, /<script src="\/static\/htmx.min.js\?v=[\d.]+" defer><\/script>/);
 * assert.match(page, /<meta name="csrf-token" content="t">/);
 * ```
 */
export function renderPage(options: PageOptions): Promise<HtmlEscapedString> {
  const { title, body, csrfToken, head = "", lang = "en" } = options;
  // Kept out of the formatter's reach: the doctype must come first and the
  // markup is asserted byte for byte by the tests.
  // deno-fmt-ignore
  const hxHeaders = csrfToken === undefined ? "" : html` hx-headers="${csrfHxHeaders(csrfToken)}"`;
  // deno-fmt-ignore
  return Promise.resolve(html`<!doctype html>
<html lang="${lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${META_CSP}">
<meta name="htmx-config" content="${HTMX_CONFIG}">
${csrfToken === undefined ? "" : csrfMeta(csrfToken)}
<title>${title}</title>
<script src="${HTMX_SRC}" defer></script>
${head}
</head>
<body${hxHeaders}>
${body}
</body>
</html>
`);
}
