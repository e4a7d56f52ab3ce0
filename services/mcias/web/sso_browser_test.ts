/**
 * SSO end to end in headless Chromium: a client service built with mcdsl
 * `mountLoginRoutes` sends the browser to MCIAS, the user signs in on the
 * MCIAS form, and comes back signed in to the client. The real core
 * (createMcIas on a SQLite file), real TLS on both sides, two sites
 * (`localhost` and `127.0.0.1`), so SameSite rules apply as in production.
 *
 * Driven over the DevTools protocol (../_browser.ts): playwright-core reads
 * /proc/sys at start-up, which Deno allows only with --allow-all.
 */

import assert from "node:assert/strict";
import { Hono } from "hono";
import { html } from "hono/html";
import { serveHttps } from "@mc/mcdsl/httpserver";
import { createLogger } from "@mc/mcdsl/log";
import { createDevPki, writeDevPki } from "@mc/mcdsl/tls";
import {
  csrf,
  type CsrfVariables,
  mountLoginRoutes,
  renderPage,
  requireSession,
  securityHeaders,
  type SessionVariables,
} from "@mc/mcdsl/web";
import { launchChromium } from "../_browser.ts";
import { makeTestCore } from "../_testing.ts";
import { initMcIas } from "../core/mcias.ts";
import { createSso } from "../core/sso.ts";
import { createRestApp } from "../rest/app.ts";
import { routeRestAndWeb } from "./same_origin.ts";
import { createSsoTokenRoutes, SSO_REST_ACCESS } from "./sso_token_routes.ts";
import { createWebApp } from "./web_app.ts";

type Fetch = (request: Request, env: unknown) => Response | Promise<Response>;

/** Polls `check` every 100 ms until it returns a value, for at most `ms`. */
async function until<T>(ms: number, what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (let i = 0; i < Math.ceil(ms / 100) + 1 && Date.now() < deadline; i++) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error; // a page mid-navigation has no execution context yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Timed out after ${ms} ms waiting for ${what}`, { cause: last });
}

/** The requests that matter: no scripts, styles or favicon. */
function pages(seen: string[]): string[] {
  return seen.filter((r) => !r.startsWith("GET /static/") && !r.startsWith("GET /favicon"));
}

Deno.test({
  name: "SSO in headless Chromium: client → MCIAS sign-in form → back to the client, signed in",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mcias_sso_e2e_" });
    await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
    const pki = await createDevPki({ hosts: ["localhost", "127.0.0.1"] });
    const paths = await writeDevPki(dir, pki);
    const lines: string[] = [];
    const logger = createLogger({ write: (line) => lines.push(line) });

    await using core = await makeTestCore();
    const { mcias } = core;
    await initMcIas(mcias, { username: "root", password: "root-password-123" });
    await mcias.createAccount({
      username: "ada",
      type: "human",
      password: "ada-password-123",
      roles: ["user"],
    });

    // Both servers first, so each knows the other's port; the apps come after.
    const late: { mcias?: Fetch; client?: Fetch } = {};
    const serve = (name: "mcias" | "client") =>
      serveHttps(
        (request, env) => late[name]?.(request, env) ?? new Response("starting", { status: 503 }),
        { listenAddr: "127.0.0.1:0", tlsCert: paths.cert, tlsKey: paths.key, logger },
      );
    const mciasServer = await serve("mcias");
    await using _m = { [Symbol.asyncDispose]: () => mciasServer.shutdown(1000) };
    const clientServer = await serve("client");
    await using _c = { [Symbol.asyncDispose]: () => clientServer.shutdown(1000) };
    const mciasUrl = `https://127.0.0.1:${mciasServer.addr.port}`;
    const clientUrl = `https://localhost:${clientServer.addr.port}`;
    const redirectUri = `${clientUrl}/sso/callback`;

    // MCIAS as the server runs it: REST (with /v1/sso/token) and the web UI on one origin.
    const sso = createSso({
      clients: [{ clientId: "demo", redirectUri, serviceName: "demo", tags: ["e2e"] }],
      mcias,
    });
    const handler = routeRestAndWeb({
      rest: createRestApp({
        mcias,
        logger,
        extraRoutes: [{ app: createSsoTokenRoutes({ sso, logger }), access: SSO_REST_ACCESS }],
      }),
      web: createWebApp({ mcias, sso, logger }),
    });
    const seen: string[] = [];
    late.mcias = (request, env) => {
      const { pathname } = new URL(request.url);
      const session = request.headers.get("cookie")?.includes("__Host-mcias_session=") ?? false;
      seen.push(`${request.method} ${pathname} ${session ? "session" : "no-session"}`);
      return handler(request, env as never);
    };

    // The client service, exactly as a Metacircular service builds it.
    const client = new Hono<{ Variables: CsrfVariables & SessionVariables }>();
    client.use(securityHeaders());
    client.use(csrf());
    mountLoginRoutes(client, {
      sso: { mciasUrl, clientId: "demo", redirectUri, caCert: pki.ca.cert },
      serviceName: "Demo",
      logger,
    });
    client.use("/", requireSession({ validator: mcias, logger }));
    client.get("/", (c) =>
      c.html(renderPage({
        title: "Demo",
        body: html`<p id="who">Signed in as ${c.var.session.username}</p>`,
      })));
    late.client = (request, env) => client.fetch(request, env);

    await using browser = await launchChromium({ args: ["--ignore-certificate-errors"] });
    const tab = await browser.openPage(`${clientUrl}/`);
    const evaluate = (expression: string) => browser.evaluate(tab, expression);

    // The client sends an anonymous visitor to its sign-in page.
    await until(
      10_000,
      "the client's sign-in page",
      async () =>
        (await evaluate(`location.pathname === "/login" && !!document.querySelector("a.button")`))
          ? true
          : undefined,
    );
    assert.equal(
      await evaluate(`document.querySelector("a.button").textContent`),
      "Sign in with MCIAS",
    );
    await evaluate(`document.querySelector("a.button").click()`);

    // MCIAS shows its own form, with the way back in `next`.
    await until(10_000, "the MCIAS sign-in form", async () =>
      (await evaluate(
          `location.origin === ${
            JSON.stringify(mciasUrl)
          } && location.pathname === "/login" && !!document.querySelector("input[name=password]")`,
        ))
        ? true
        : undefined);
    const next = String(await evaluate(`document.querySelector("input[name=next]").value`));
    assert.match(next, /^\/sso\/authorize\?client_id=demo&/);

    await evaluate(`(() => {
      document.querySelector("input[name=username]").value = "ada";
      document.querySelector("input[name=password]").value = "ada-password-123";
      document.querySelector("form[action='/login'] button[type=submit]").click();
    })()`);

    // Back at the client, signed in.
    const who = await until(15_000, "the client's signed-in page", async () => {
      const text = await evaluate(
        `location.origin === ${
          JSON.stringify(clientUrl)
        } && location.pathname === "/" ? document.querySelector("#who")?.textContent : undefined`,
      );
      return typeof text === "string" ? text : undefined;
    });
    assert.equal(who, "Signed in as ada");

    // The client's token was issued for the client's service, not for MCIAS.
    const exchanged = lines.map((l) => JSON.parse(l)).find((r) => r.msg === "sso code exchanged");
    assert.equal(exchanged?.clientId, "demo");
    assert.ok(!lines.some((l) => l.includes("ada-password-123")), "a password reached the log");

    // The cross-site arrival came without the SameSite=Strict cookie and
    // was reloaded from MCIAS's own page before the sign-in form.
    assert.deepEqual(pages(seen), [
      "GET /sso/authorize no-session",
      "GET /sso/authorize no-session",
      "GET /login no-session",
      "POST /login no-session",
      "GET /sso/authorize session",
      "POST /v1/sso/token no-session",
    ]);
    seen.length = 0;

    // Signed in to MCIAS too: a second SSO round trip needs no form.
    // The old page is marked, so the wait below cannot mistake it for the new one.
    await evaluate(
      `window.oldPage = true; location.href = ${JSON.stringify(`${clientUrl}/sso/redirect`)}`,
    );
    await until(15_000, "the second SSO round trip", async () =>
      (await evaluate(
          `!window.oldPage && location.origin === ${
            JSON.stringify(clientUrl)
          } && location.pathname === "/" && !!document.querySelector("#who")`,
        ))
        ? true
        : undefined);
    assert.deepEqual(pages(seen), [
      "GET /sso/authorize no-session",
      "GET /sso/authorize session",
      "POST /v1/sso/token no-session",
    ]);
    const codes = lines.map((l) => JSON.parse(l)).filter((r) => r.msg === "sso code exchanged");
    assert.equal(codes.length, 2);
  },
});
