import assert from "node:assert/strict";
import { createLogger } from "@mc/mcdsl/log";
import { makeTestCore } from "../_testing.ts";
import { createSso } from "../core/sso.ts";
import { createRestApp } from "../rest/app.ts";
import { routeRestAndWeb } from "./same_origin.ts";
import { createSsoTokenRoutes, SSO_REST_ACCESS } from "./sso_token_routes.ts";
import { createWebApp } from "./web_app.ts";

Deno.test("routeRestAndWeb() serves the REST app (with /v1/sso/token) and the web UI on one origin", async () => {
  await using core = await makeTestCore();
  const logger = createLogger({ write: () => {} });
  const redirectUri = "https://a.test/sso/callback";
  const sso = createSso({
    clients: [{ clientId: "a", redirectUri, serviceName: "a", tags: [] }],
    mcias: core.mcias,
  });
  const handler = routeRestAndWeb({
    rest: createRestApp({
      mcias: core.mcias,
      logger,
      extraRoutes: [{ app: createSsoTokenRoutes({ sso, logger }), access: SSO_REST_ACCESS }],
    }),
    web: createWebApp({ mcias: core.mcias, sso, logger }),
  });
  const get = (path: string, init?: RequestInit) =>
    handler(new Request(`https://mcias.test${path}`, init), undefined as never);

  const token = await get("/v1/sso/token", {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      grant_type: "authorization_code",
      code: "never-issued",
      client_id: "a",
      redirect_uri: redirectUri,
    }),
  });
  assert.equal(token.status, 400);
  assert.match((await token.json()).error, /authorization code is invalid/);

  const health = await get("/v1/health");
  assert.equal(health.status, 200);
  await health.body?.cancel();

  const login = await get("/login");
  assert.equal(login.status, 200);
  assert.match(login.headers.get("content-type")!, /^text\/html/);
  await login.body?.cancel();

  const restMissing = await get("/v1/nothing");
  assert.equal(restMissing.status, 404);
  assert.deepEqual(await restMissing.json(), { error: "not found" });
  const webMissing = await get("/nothing");
  assert.equal(webMissing.status, 404);
  assert.match(await webMissing.text(), /<h1>Not found<\/h1>/);
});

Deno.test("routeRestAndWeb() picks the app by the URL path alone, as new URL() reads it", async () => {
  const seen: string[] = [];
  const app = (name: string) => ({
    fetch(request: Request) {
      seen.push(`${name} ${new URL(request.url).pathname}`);
      return new Response(null, { status: 204 });
    },
  });
  const handler = routeRestAndWeb({ rest: app("rest"), web: app("web") });
  const urls = [
    "https://mcias.test/v1/health",
    "https://mcias.test:8443/v1/token/validate?x=1",
    "https://mcias.test/.well-known/jwks.json#k",
    "https://mcias.test/v1/../login",
    "https://mcias.test/login?next=/v1/accounts",
    "https://mcias.test/sso/authorize#/v1/",
    "https://mcias.test",
    "https://mcias.test/V1/health",
    "https://mcias.test/%2e%2e/v1/health",
    "https://[::1]:8443/v1/accounts/a%2Fb",
  ];
  for (const url of urls) await handler(new Request(url), undefined as never);
  const expected = urls.map((url) => {
    const { pathname } = new URL(url);
    const rest = pathname.startsWith("/v1/") || pathname.startsWith("/.well-known/");
    return `${rest ? "rest" : "web"} ${pathname}`;
  });
  assert.deepEqual(seen, expected);
  assert.deepEqual(seen.filter((s) => s.startsWith("rest")).length, 5);
});
