// These tests run the SSO flow against a stand-in MCIAS written here (a Hono
// app speaking /sso/authorize and /v1/sso/token as the packaging guide
// describes them). When the real MCIAS service lands, move them to it.

import assert from "node:assert/strict";
import { Hono } from "hono";
import type { TokenInfo, TokenValidator } from "../auth/types.ts";
import { createLogger } from "../log/mod.ts";
import { createDevPki } from "../tls/mod.ts";
import { CookieJar } from "./_testing.ts";
import { csrf, CSRF_HEADER, type CsrfVariables } from "./csrf.ts";
import {
  type LoginRoutesOptions,
  mountLoginRoutes,
  SSO_STATE_COOKIE,
  type SsoClientOptions,
} from "./login_routes.ts";
import { requireSession, type SessionVariables } from "./require_session.ts";

const SERVICE = "https://mcr.test";
const MCIAS = "https://mcias.test:8443";
const CLIENT_ID = "mcr";
const REDIRECT_URI = `${SERVICE}/sso/callback`;
const TOKEN = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJl";

/** A stand-in MCIAS: issues one-time codes bound to a PKCE challenge and redeems them. */
function standInMcias(options: { expiresAt?: unknown; token?: string } = {}) {
  const codes = new Map<string, { challenge: string; redirectUri: string; used: boolean }>();
  const seen = { tokenRequests: 0, bodies: [] as string[] };
  const app = new Hono();
  app.get("/sso/authorize", (c) => {
    const q = c.req.query();
    if (
      q.client_id !== CLIENT_ID || q.redirect_uri !== REDIRECT_URI || q.response_type !== "code" ||
      q.code_challenge_method !== "S256" || !/^[A-Za-z0-9_-]{43}$/.test(q.code_challenge ?? "") ||
      !q.state
    ) {
      return c.text("bad authorize request", 400);
    }
    const code = crypto.randomUUID();
    codes.set(code, { challenge: q.code_challenge!, redirectUri: q.redirect_uri!, used: false });
    const back = new URL(q.redirect_uri!);
    back.searchParams.set("code", code);
    back.searchParams.set("state", q.state);
    return c.redirect(back.href, 302);
  });
  app.post("/v1/sso/token", async (c) => {
    seen.tokenRequests++;
    if (c.req.header("Content-Type") !== "application/json") return c.text("want JSON", 415);
    const text = await c.req.text();
    seen.bodies.push(text);
    const body = JSON.parse(text);
    const entry = codes.get(body.code);
    if (entry === undefined || entry.used) return c.json({ error: "invalid_grant" }, 400);
    entry.used = true;
    if (body.grant_type !== "authorization_code" || body.client_id !== CLIENT_ID) {
      return c.json({ error: "invalid_client" }, 400);
    }
    if (body.redirect_uri !== entry.redirectUri) return c.json({ error: "invalid_grant" }, 400);
    const digest = await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(String(body.code_verifier)),
    );
    const challenge = new Uint8Array(digest).toBase64({ alphabet: "base64url", omitPadding: true });
    if (challenge !== entry.challenge) return c.json({ error: "invalid_grant" }, 400);
    return c.json({
      token: options.token ?? TOKEN,
      expires_at: options.expiresAt ?? new Date(Date.now() + 3600_000).toISOString(),
    });
  });
  const fetch: typeof globalThis.fetch = (input, init) =>
    Promise.resolve(app.fetch(new Request(input, init)));
  return { app, seen, fetch };
}

/** A validator that accepts TOKEN only. */
const validator: TokenValidator = {
  validate(token: string): Promise<TokenInfo> {
    const valid = token === TOKEN;
    return Promise.resolve({
      valid,
      username: valid ? "ada" : "",
      accountType: "human",
      roles: valid ? ["user"] : [],
      expiresAt: new Date(Date.now() + 3600_000),
    });
  },
};

function makeService(options: LoginRoutesOptions) {
  const app = new Hono<{ Variables: CsrfVariables & SessionVariables }>();
  app.use(csrf());
  mountLoginRoutes(app, options);
  app.use("/repos/*", requireSession({ validator }));
  app.get("/repos/*", (c) => c.text(`repos for ${c.var.session.username}`));
  return app;
}

function ssoOptions(fetch: typeof globalThis.fetch, extra: Partial<SsoClientOptions> = {}) {
  return { mciasUrl: MCIAS, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, fetch, ...extra };
}

/** A browser: carries cookies and sends requests to the service. */
function browser(app: Hono<{ Variables: CsrfVariables & SessionVariables }>) {
  const jar = new CookieJar();
  return {
    jar,
    async get(url: string, headers: Record<string, string> = {}): Promise<Response> {
      const res = await app.request(url, { headers: { Cookie: jar.header(), ...headers } });
      jar.store(res);
      return res;
    },
    async post(
      url: string,
      body: BodyInit,
      headers: Record<string, string> = {},
    ): Promise<Response> {
      const res = await app.request(url, {
        method: "POST",
        body,
        headers: { Cookie: jar.header(), Origin: SERVICE, ...headers },
      });
      jar.store(res);
      return res;
    },
  };
}

/** Starts SSO at the service and lets the stand-in MCIAS answer; returns MCIAS's redirect back. */
async function startSso(
  b: ReturnType<typeof browser>,
  mcias: ReturnType<typeof standInMcias>,
  next?: string,
): Promise<URL> {
  const query = next === undefined ? "" : `?next=${encodeURIComponent(next)}`;
  const res = await b.get(`${SERVICE}/sso/redirect${query}`);
  assert.equal(res.status, 302);
  const authorize = res.headers.get("location")!;
  const answer = await mcias.app.request(authorize);
  assert.equal(answer.status, 302, await answer.clone().text());
  return new URL(answer.headers.get("location")!);
}

function refreshTarget(page: string): string | undefined {
  return page.match(/<meta http-equiv="refresh" content="0;url=([^"]*)">/)?.[1];
}

Deno.test("mountLoginRoutes() shows a Sign in with MCIAS button when SSO is configured", async () => {
  const mcias = standInMcias();
  const b = browser(makeService({ sso: ssoOptions(mcias.fetch), serviceName: "MCR" }));
  const res = await b.get(`${SERVICE}/login?next=${encodeURIComponent("/repos/a?x=1")}`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("cache-control"), "no-store");
  const page = await res.text();
  assert.ok(
    page.includes(
      '<a class="button" href="/sso/redirect?next=%2Frepos%2Fa%3Fx%3D1">Sign in with MCIAS</a>',
    ),
  );
  assert.ok(!page.includes('name="password"'));
  assert.ok(page.includes("<title>Sign in: MCR</title>"));
});

Deno.test("/sso/redirect sends the browser to MCIAS with state and an S256 PKCE challenge", async () => {
  const mcias = standInMcias();
  const b = browser(makeService({ sso: ssoOptions(mcias.fetch) }));
  const res = await b.get(`${SERVICE}/sso/redirect?next=/repos/x`);
  assert.equal(res.status, 302);
  const location = new URL(res.headers.get("location")!);
  assert.equal(`${location.origin}${location.pathname}`, `${MCIAS}/sso/authorize`);
  const q = Object.fromEntries(location.searchParams);
  assert.deepEqual(Object.keys(q).sort(), [
    "client_id",
    "code_challenge",
    "code_challenge_method",
    "redirect_uri",
    "response_type",
    "state",
  ]);
  assert.equal(q.client_id, CLIENT_ID);
  assert.equal(q.redirect_uri, REDIRECT_URI);
  assert.equal(q.code_challenge_method, "S256");
  assert.equal(q.response_type, "code");
  assert.match(q.state!, /^[A-Za-z0-9_-]{43}$/);
  assert.match(q.code_challenge!, /^[A-Za-z0-9_-]{43}$/);
  const [cookie, ...rest] = res.headers.getSetCookie().filter((c) => c.startsWith("__Host-mc_sso"));
  assert.deepEqual(rest, []);
  assert.match(
    cookie!,
    /^__Host-mc_sso=[A-Za-z0-9_-]+; Max-Age=600; Path=\/; HttpOnly; Secure; SameSite=Lax$/,
  );
  // The verifier stays in the cookie: the URL carries only its hash.
  const attempt = JSON.parse(
    new TextDecoder().decode(
      Uint8Array.fromBase64(b.jar.get(SSO_STATE_COOKIE)!, { alphabet: "base64url" }),
    ),
  );
  assert.equal(attempt.state, q.state);
  assert.equal(attempt.next, "/repos/x");
  assert.ok(!location.href.includes(attempt.verifier));
});

Deno.test("SSO flow signs the user in end to end and sends them on to next", async () => {
  const mcias = standInMcias();
  const app = makeService({ sso: ssoOptions(mcias.fetch) });
  const b = browser(app);

  const first = await b.get(`${SERVICE}/repos/a?x=1`, { Accept: "text/html" });
  assert.equal(first.status, 303);
  const login = first.headers.get("location")!;
  assert.equal(login, "/login?next=%2Frepos%2Fa%3Fx%3D1");
  const page = await (await b.get(`${SERVICE}${login}`)).text();
  const button = page.match(/href="(\/sso\/redirect[^"]*)"/)![1]!;

  const back = await startSso(b, mcias, new URLSearchParams(button.split("?")[1]).get("next")!);
  assert.equal(`${back.origin}${back.pathname}`, REDIRECT_URI);

  const done = await b.get(back.href);
  assert.equal(done.status, 200);
  assert.equal(done.headers.get("cache-control"), "no-store");
  const setCookies = done.headers.getSetCookie();
  assert.ok(
    setCookies.includes("__Host-mc_sso=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Lax"),
  );
  assert.ok(
    setCookies.some((c) =>
      /^__Host-mc_session=[^;]+; Max-Age=3[56]\d\d; Path=\/; HttpOnly; Secure; SameSite=Strict$/
        .test(c)
    ),
    setCookies.join("\n"),
  );
  assert.equal(b.jar.get("__Host-mc_session"), TOKEN);
  assert.equal(b.jar.get(SSO_STATE_COOKIE), undefined);
  const body = await done.text();
  assert.equal(refreshTarget(body), "/repos/a?x=1");
  assert.ok(body.includes('<meta name="referrer" content="no-referrer">'));
  assert.ok(!body.includes(TOKEN));
  assert.ok(!body.includes(back.searchParams.get("code")!));

  const exchanged = JSON.parse(mcias.seen.bodies[0]!);
  assert.deepEqual(Object.keys(exchanged).sort(), [
    "client_id",
    "code",
    "code_verifier",
    "grant_type",
    "redirect_uri",
  ]);

  const repos = await b.get(`${SERVICE}/repos/a?x=1`, { Accept: "text/html" });
  assert.equal(repos.status, 200);
  assert.equal(await repos.text(), "repos for ada");
});

Deno.test("/sso/callback accepts expires_at as Unix seconds", async () => {
  const mcias = standInMcias({ expiresAt: Math.floor(Date.now() / 1000) + 120 });
  const b = browser(makeService({ sso: ssoOptions(mcias.fetch) }));
  const done = await b.get((await startSso(b, mcias)).href);
  assert.equal(done.status, 200);
  assert.equal(refreshTarget(await done.text()), "/");
  assert.equal(b.jar.get("__Host-mc_session"), TOKEN);
});

Deno.test("/sso/callback refuses a state that does not match the cookie, without asking MCIAS", async () => {
  const mcias = standInMcias();
  const b = browser(makeService({ sso: ssoOptions(mcias.fetch) }));
  const back = await startSso(b, mcias);
  back.searchParams.set("state", "A".repeat(43));
  const res = await b.get(back.href);
  assert.equal(res.status, 400);
  const page = await res.text();
  assert.ok(
    page.includes(
      "The answer from MCIAS does not belong to this browser&#39;s sign-in attempt (state mismatch): start again from the sign-in page.",
    ),
  );
  assert.ok(!page.includes(back.searchParams.get("code")!));
  assert.equal(mcias.seen.tokenRequests, 0);
  assert.equal(b.jar.get(SSO_STATE_COOKIE), undefined);
  assert.equal(b.jar.get("__Host-mc_session"), undefined);
});

Deno.test("/sso/callback refuses a callback from another browser (no state cookie)", async () => {
  const mcias = standInMcias();
  const app = makeService({ sso: ssoOptions(mcias.fetch) });
  const attacker = browser(app);
  const back = await startSso(attacker, mcias);
  const victim = browser(app);
  const res = await victim.get(back.href);
  assert.equal(res.status, 400);
  assert.match(await res.text(), /This sign-in attempt has expired or this browser blocks cookies/);
  assert.equal(mcias.seen.tokenRequests, 0);
  assert.equal(victim.jar.get("__Host-mc_session"), undefined);
});

Deno.test("/sso/callback refuses a missing code and reports MCIAS errors", async () => {
  const mcias = standInMcias();
  const b = browser(makeService({ sso: ssoOptions(mcias.fetch) }));
  const back = await startSso(b, mcias);
  back.searchParams.delete("code");
  const missing = await b.get(back.href);
  assert.equal(missing.status, 400);
  assert.match(await missing.text(), /MCIAS sent no authorization code/);

  const again = await startSso(b, mcias);
  const denied = await b.get(
    `${SERVICE}/sso/callback?error=access_denied&state=${again.searchParams.get("state")}`,
  );
  assert.equal(denied.status, 400);
  assert.match(await denied.text(), /MCIAS did not sign you in \(access_denied\)\./);
  const odd = await b.get(`${SERVICE}/sso/callback?error=%3Cscript%3E`);
  const oddPage = await odd.text();
  assert.match(oddPage, /MCIAS did not sign you in\./);
  assert.ok(!oddPage.includes("<script>"));
  assert.equal(mcias.seen.tokenRequests, 0);
});

Deno.test("/sso/callback answers 502 without leaking the code when MCIAS refuses the exchange", async () => {
  const mcias = standInMcias();
  const lines: string[] = [];
  const b = browser(
    makeService({
      sso: ssoOptions(mcias.fetch),
      logger: createLogger({ write: (line) => lines.push(line) }),
    }),
  );
  const back = await startSso(b, mcias);
  // Swap the PKCE verifier: the stand-in refuses, as MCIAS would for a stolen code.
  const attempt = JSON.parse(
    new TextDecoder().decode(
      Uint8Array.fromBase64(b.jar.get(SSO_STATE_COOKIE)!, { alphabet: "base64url" }),
    ),
  );
  attempt.verifier = "x".repeat(43);
  b.jar.set(
    SSO_STATE_COOKIE,
    new TextEncoder().encode(JSON.stringify(attempt)).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    }),
  );
  const res = await b.get(back.href);
  assert.equal(res.status, 502);
  const page = await res.text();
  assert.ok(
    page.includes(
      "Signing in with MCIAS failed: MCIAS refused the authorization code (HTTP 400). Try again shortly.",
    ),
  );
  const code = back.searchParams.get("code")!;
  assert.ok(!page.includes(code));
  assert.ok(!lines.join("\n").includes(code));
  assert.ok(!lines.join("\n").includes(attempt.verifier));
  assert.equal(mcias.seen.tokenRequests, 1);
  assert.equal(b.jar.get("__Host-mc_session"), undefined);
});

Deno.test("/sso/callback answers 502 when MCIAS cannot be reached or answers nonsense", async () => {
  const cases: [typeof fetch, string][] = [
    [() => Promise.reject(new TypeError("connection refused")), `cannot reach MCIAS at ${MCIAS}`],
    [
      () => Promise.resolve(new Response("<html>", { status: 200 })),
      "MCIAS answered the code exchange with something other than JSON",
    ],
    [
      () => Promise.resolve(Response.json({ token: TOKEN })),
      "MCIAS answered the code exchange without a token and expiry",
    ],
  ];
  for (const [fetch, message] of cases) {
    const mcias = standInMcias();
    const b = browser(makeService({ sso: ssoOptions(fetch) }));
    const back = await startSso(b, mcias);
    const res = await b.get(back.href);
    assert.equal(res.status, 502, message);
    assert.ok(
      (await res.text()).includes(`Signing in with MCIAS failed: ${message}. Try again shortly.`),
    );
  }
});

Deno.test("/sso/callback answers 502 for a token that is already expired", async () => {
  const mcias = standInMcias({ expiresAt: "2001-01-01T00:00:00Z" });
  const b = browser(makeService({ sso: ssoOptions(mcias.fetch) }));
  const res = await b.get((await startSso(b, mcias)).href);
  assert.equal(res.status, 502);
  const page = await res.text();
  assert.ok(page.includes("MCIAS returned a token this service cannot use"));
  assert.ok(!page.includes(TOKEN));
});

Deno.test("SSO refuses open redirects in next", async () => {
  const attempts = [
    "//evil.com",
    "/\\evil.com",
    "https://evil.com",
    "/\t/evil.com",
    "javascript:alert(1)",
  ];
  for (const next of attempts) {
    const mcias = standInMcias();
    const b = browser(makeService({ sso: ssoOptions(mcias.fetch) }));
    const login = await (await b.get(`${SERVICE}/login?next=${encodeURIComponent(next)}`)).text();
    assert.ok(login.includes('href="/sso/redirect"'), next);
    const done = await b.get((await startSso(b, mcias, next)).href);
    assert.equal(refreshTarget(await done.text()), "/", next);
  }
});

Deno.test("SSO refuses an open redirect planted in the state cookie", async () => {
  const mcias = standInMcias();
  const b = browser(makeService({ sso: ssoOptions(mcias.fetch) }));
  const back = await startSso(b, mcias);
  const attempt = JSON.parse(
    new TextDecoder().decode(
      Uint8Array.fromBase64(b.jar.get(SSO_STATE_COOKIE)!, { alphabet: "base64url" }),
    ),
  );
  attempt.next = "//evil.com";
  b.jar.set(
    SSO_STATE_COOKIE,
    new TextEncoder().encode(JSON.stringify(attempt)).toBase64({
      alphabet: "base64url",
      omitPadding: true,
    }),
  );
  const done = await b.get(back.href);
  assert.equal(refreshTarget(await done.text()), "/");
});

Deno.test("SSO exchanges the code over real TLS trusting only the configured CA", async () => {
  const pki = await createDevPki({ hosts: ["127.0.0.1"] });
  const mcias = standInMcias();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: pki.server.cert,
    key: pki.server.key,
    onListen() {},
    onError() {
      return new Response("error", { status: 500 });
    },
  }, mcias.app.fetch);
  try {
    const mciasUrl = `https://127.0.0.1:${server.addr.port}`;
    // Authorize goes through the test's browser stand-in; only the code
    // exchange uses the network.
    const browserToMcias = (input: RequestInfo | URL, init?: RequestInit) =>
      mcias.app.request(String(input).replace(mciasUrl, "http://mcias"), init);
    const run = async (caCert: string | undefined) => {
      const app = makeService({
        sso: { mciasUrl, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, caCert },
      });
      const b = browser(app);
      const res = await b.get(`${SERVICE}/sso/redirect`);
      const answer = await browserToMcias(res.headers.get("location")!);
      return { b, done: await b.get(answer.headers.get("location")!) };
    };

    const trusted = await run(pki.ca.cert);
    assert.equal(trusted.done.status, 200);
    await trusted.done.body?.cancel();
    assert.equal(trusted.b.jar.get("__Host-mc_session"), TOKEN);

    const untrusted = await run(undefined);
    assert.equal(untrusted.done.status, 502);
    assert.match(await untrusted.done.text(), /cannot reach MCIAS at https:\/\/127\.0\.0\.1:/);
    assert.equal(mcias.seen.tokenRequests, 1);
  } finally {
    await server.shutdown();
  }
});

Deno.test("mountLoginRoutes() shows the direct sign-in form with a CSRF field when SSO is off", async () => {
  const b = browser(makeService({}));
  const res = await b.get(`${SERVICE}/login?next=/repos/x`);
  const page = await res.text();
  const token = page.match(/<meta name="csrf-token" content="([^"]+)">/)![1]!;
  assert.ok(page.includes('<form method="post" action="/login">'));
  assert.ok(page.includes(`<input type="hidden" name="_csrf" value="${token}">`));
  assert.ok(page.includes('<input type="hidden" name="next" value="/repos/x">'));
  assert.ok(page.includes('<input type="password" name="password"'));
  assert.ok(page.includes('name="totp_code"'));
  assert.ok(!page.includes("/sso/redirect"));
  const sso = await b.get(`${SERVICE}/sso/redirect`);
  assert.equal(sso.status, 404);
  await sso.body?.cancel();
});

Deno.test("POST /login signs in with directLogin and redirects to next", async () => {
  const calls: unknown[] = [];
  const b = browser(makeService({
    directLogin(credentials) {
      calls.push(credentials);
      return Promise.resolve(
        credentials.password === "right"
          ? { token: TOKEN, expiresAt: new Date(Date.now() + 600_000) }
          : null,
      );
    },
  }));
  const page = await (await b.get(`${SERVICE}/login`)).text();
  const token = page.match(/name="_csrf" value="([^"]+)"/)![1]!;

  const wrong = await b.post(
    `${SERVICE}/login`,
    new URLSearchParams({
      _csrf: token,
      username: "<ada>",
      password: "wrong-pw",
      next: "/repos/a",
    }),
  );
  assert.equal(wrong.status, 401);
  const wrongPage = await wrong.text();
  assert.ok(wrongPage.includes("MCIAS did not accept these credentials"));
  assert.ok(wrongPage.includes('value="&lt;ada&gt;"'));
  assert.ok(!wrongPage.includes("wrong-pw"));
  assert.equal(b.jar.get("__Host-mc_session"), undefined);

  const right = await b.post(
    `${SERVICE}/login`,
    new URLSearchParams({
      _csrf: token,
      username: "ada",
      password: "right",
      totp_code: " 123456 ",
      next: "//evil.com",
    }),
  );
  assert.equal(right.status, 303);
  assert.equal(right.headers.get("location"), "/");
  assert.equal(b.jar.get("__Host-mc_session"), TOKEN);
  assert.deepEqual(calls, [
    { username: "<ada>", password: "wrong-pw" },
    { username: "ada", password: "right", totpCode: "123456" },
  ]);
});

Deno.test("POST /login answers 400 for empty fields, 502 when MCIAS is down, 403 without CSRF", async () => {
  const b = browser(makeService({
    directLogin: () => Promise.reject(new Error("connect ECONNREFUSED")),
  }));
  const token = (await (await b.get(`${SERVICE}/login`)).text()).match(
    /name="_csrf" value="([^"]+)"/,
  )![1]!;
  const empty = await b.post(
    `${SERVICE}/login`,
    new URLSearchParams({ _csrf: token, username: "ada" }),
  );
  assert.equal(empty.status, 400);
  assert.match(await empty.text(), /Enter your username and password\./);
  const down = await b.post(
    `${SERVICE}/login`,
    new URLSearchParams({ _csrf: token, username: "ada", password: "pw" }),
  );
  assert.equal(down.status, 502);
  assert.match(await down.text(), /Cannot reach MCIAS to check your credentials/);
  const forged = await b.post(
    `${SERVICE}/login`,
    new URLSearchParams({ username: "ada", password: "pw" }),
    { Origin: "https://evil.test" },
  );
  assert.equal(forged.status, 403);
  await forged.body?.cancel();
});

Deno.test("POST /logout clears the session cookie and needs the CSRF token", async () => {
  const b = browser(makeService({}));
  const token = (await (await b.get(`${SERVICE}/login`)).text()).match(
    /name="_csrf" value="([^"]+)"/,
  )![1]!;
  b.jar.set("__Host-mc_session", TOKEN);
  const refused = await b.post(`${SERVICE}/logout`, "");
  assert.equal(refused.status, 403);
  await refused.body?.cancel();
  assert.equal(b.jar.get("__Host-mc_session"), TOKEN);
  const res = await b.post(`${SERVICE}/logout`, "", { [CSRF_HEADER]: token });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/login");
  assert.ok(
    res.headers.getSetCookie().includes(
      "__Host-mc_session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict",
    ),
  );
  assert.equal(b.jar.get("__Host-mc_session"), undefined);
});

Deno.test("POST /logout revokes the token at MCIAS, and still logs out when that fails", async () => {
  const revoked: string[] = [];
  const b = browser(makeService({
    revoke: (token) => {
      revoked.push(token);
      return revoked.length === 1 ? Promise.resolve() : Promise.reject(new Error("MCIAS down"));
    },
  }));
  const csrf = (await (await b.get(`${SERVICE}/login`)).text()).match(
    /name="_csrf" value="([^"]+)"/,
  )![1]!;
  for (let i = 0; i < 2; i++) {
    b.jar.set("__Host-mc_session", TOKEN);
    const res = await b.post(`${SERVICE}/logout`, "", { [CSRF_HEADER]: csrf });
    assert.equal(res.status, 303);
    await res.body?.cancel();
    assert.equal(b.jar.get("__Host-mc_session"), undefined);
  }
  assert.deepEqual(revoked, [TOKEN, TOKEN]);
});

Deno.test("mountLoginRoutes() throws TypeError for malformed SSO settings", () => {
  const mount = (sso: Partial<SsoClientOptions>) => () =>
    mountLoginRoutes(new Hono(), {
      sso: { mciasUrl: MCIAS, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, ...sso },
    });
  assert.throws(mount({ mciasUrl: "http://mcias.test" }), {
    name: "TypeError",
    message:
      'Cannot use MCIAS URL "http://mcias.test": expected an https URL without query, such as "https://mcias.metacircular.net:8443"; check [mcias] server_url',
  });
  assert.throws(mount({ redirectUri: "https://mcr.test/callback" }), {
    name: "TypeError",
    message:
      'Cannot use SSO redirect URI "https://mcr.test/callback": expected "https://<service host>/sso/callback", exactly as registered in MCIAS; check [sso] redirect_uri',
  });
  assert.throws(mount({ clientId: "" }), {
    name: "TypeError",
    message:
      'Cannot use SSO client id "": expected the client_id registered in MCIAS [[sso_clients]]; set it to the service name',
  });
  assert.throws(mount({ caCert: "/srv/mcr/ca.pem" }), {
    name: "TypeError",
    message:
      'Cannot use the MCIAS CA certificate: expected PEM text with "-----BEGIN CERTIFICATE-----"; pass the file\'s contents, not its path',
  });
});

Deno.test("SSO code exchange refuses a redirect instead of resending the code_verifier", async () => {
  const pki = await createDevPki({ hosts: ["127.0.0.1"] });
  const stolen: string[] = [];
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: pki.server.cert,
    key: pki.server.key,
    onListen() {},
  }, async (request) => {
    const body = await request.text();
    if (new URL(request.url).pathname === "/stolen") {
      stolen.push(body);
      return Response.json({ token: TOKEN, expires_at: new Date(Date.now() + 60_000) });
    }
    return new Response(null, { status: 307, headers: { location: "/stolen" } });
  });
  try {
    const mciasUrl = `https://127.0.0.1:${server.addr.port}`;
    const app = makeService({
      sso: { mciasUrl, clientId: CLIENT_ID, redirectUri: REDIRECT_URI, caCert: pki.ca.cert },
    });
    const b = browser(app);
    const res = await b.get(`${SERVICE}/sso/redirect`);
    const state = new URL(res.headers.get("location")!).searchParams.get("state")!;
    const done = await b.get(`${REDIRECT_URI}?code=abc&state=${encodeURIComponent(state)}`);
    assert.equal(done.status, 502);
    await done.body?.cancel();
    assert.deepEqual(stolen, []);
    assert.equal(b.jar.get("__Host-mc_session"), undefined);
  } finally {
    await server.shutdown();
  }
});
