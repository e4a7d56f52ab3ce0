import assert from "node:assert/strict";
import { Hono } from "hono";
import {
  CONTENT_SECURITY_POLICY,
  securityHeaders,
  type SecurityHeadersOptions,
} from "./security_headers.ts";

function makeApp(options?: SecurityHeadersOptions) {
  const app = new Hono();
  app.use(securityHeaders(options));
  app.get("/", (c) => c.html("<p>hi</p>"));
  app.get("/raw", () => Response.redirect("https://svc.test/", 302));
  app.get("/own", (c) => {
    c.header("Content-Security-Policy", "default-src 'none'");
    return c.text("own");
  });
  return app;
}

Deno.test("securityHeaders() sets CSP, nosniff, Referrer-Policy, frame denial and HSTS", async () => {
  const res = await makeApp().request("https://svc.test/");
  const h = res.headers;
  assert.equal(h.get("content-security-policy"), CONTENT_SECURITY_POLICY);
  assert.match(CONTENT_SECURITY_POLICY, /(^|; )script-src 'self'(;|$)/);
  assert.match(CONTENT_SECURITY_POLICY, /(^|; )frame-ancestors 'none'(;|$)/);
  assert.equal(h.get("x-content-type-options"), "nosniff");
  assert.equal(h.get("referrer-policy"), "same-origin");
  assert.equal(h.get("x-frame-options"), "DENY");
  assert.equal(h.get("strict-transport-security"), "max-age=63072000; includeSubDomains");
  assert.equal(h.get("cross-origin-opener-policy"), "same-origin");
  await res.body?.cancel();
});

Deno.test("securityHeaders() also covers a Response with immutable headers", async () => {
  const res = await makeApp().request("https://svc.test/raw");
  assert.equal(res.status, 302);
  assert.equal(res.headers.get("content-security-policy"), CONTENT_SECURITY_POLICY);
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
});

Deno.test("securityHeaders() keeps a handler's own CSP and can leave out HSTS", async () => {
  const res = await makeApp({ hsts: false }).request("https://svc.test/own");
  assert.equal(res.headers.get("content-security-policy"), "default-src 'none'");
  assert.equal(res.headers.get("strict-transport-security"), null);
  await res.body?.cancel();
});
