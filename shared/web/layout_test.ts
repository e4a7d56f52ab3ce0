import assert from "node:assert/strict";
import { html } from "hono/html";
import { HTMX_SRC } from "./htmx.ts";
import { renderPage } from "./layout.ts";

Deno.test("renderPage() includes the local htmx script, the CSRF meta tag and hx-headers", async () => {
  const page = String(
    await renderPage({ title: "Repos", body: html`<h1>Repos</h1>`, csrfToken: "tok_en-1" }),
  );
  assert.ok(page.startsWith('<!doctype html>\n<html lang="en">'));
  assert.ok(page.includes(`<script src="${HTMX_SRC}" defer></script>`));
  assert.ok(page.includes('<meta name="csrf-token" content="tok_en-1">'));
  assert.ok(page.includes('<body hx-headers="{&quot;X-CSRF-Token&quot;:&quot;tok_en-1&quot;}">'));
  assert.ok(page.includes("<h1>Repos</h1>"));
  assert.ok(page.includes("<title>Repos</title>"));
});

Deno.test("renderPage() sets a strict CSP meta tag and htmx settings that need no inline code", async () => {
  const page = String(await renderPage({ title: "t", body: "b" }));
  assert.ok(
    page.includes(
      `<meta http-equiv="Content-Security-Policy" content="${
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; base-uri 'none'; object-src 'none'"
          .replaceAll("'", "&#39;")
      }">`,
    ),
  );
  assert.ok(
    page.includes(
      '<meta name="htmx-config" content="{&quot;includeIndicatorStyles&quot;:false,&quot;allowEval&quot;:false,&quot;allowScriptTags&quot;:false}">',
    ),
  );
});

Deno.test("renderPage() escapes title and text body and leaves out CSRF markup without a token", async () => {
  const page = String(
    await renderPage({ title: "</title><script>x</script>", body: "<b>bold</b>", lang: "fr" }),
  );
  assert.ok(page.includes("<title>&lt;/title&gt;&lt;script&gt;x&lt;/script&gt;</title>"));
  assert.ok(page.includes("&lt;b&gt;bold&lt;/b&gt;"));
  assert.ok(page.includes('<html lang="fr">'));
  assert.ok(!page.includes("csrf-token"));
  assert.ok(page.includes("<body>"));
});

Deno.test("renderPage() awaits an async body and includes extra head content", async () => {
  const body = Promise.resolve(html`<p>later</p>`);
  const page = String(
    await renderPage({
      title: "t",
      body,
      head: html`<link rel="stylesheet" href="/static/app.css">`,
    }),
  );
  assert.ok(page.includes("<p>later</p>"));
  assert.ok(page.includes('<link rel="stylesheet" href="/static/app.css">'));
});
