import assert from "node:assert/strict";
import { createLogger } from "@mc/mcdsl/log";
import { AccessMapError } from "@mc/mcdsl/httpserver";
import { createSso } from "../core/sso.ts";
import { LoginFailedError, type McIasMfa, type SsoClient } from "../core/types.ts";
import { FakeMcIas } from "./_fake_mcias.ts";
import { TestBrowser } from "./_testing.ts";
import { SESSION_COOKIE } from "./_page.ts";
import { createWebApp, WEB_ACCESS } from "./web_app.ts";
import { createSsoTokenRoutes } from "./sso_token_routes.ts";

const REDIRECT = "https://mcr.test/sso/callback";
const CLIENTS: SsoClient[] = [
  { clientId: "mcr", redirectUri: REDIRECT, serviceName: "mcr", tags: ["prod"] },
];

function quietLogger() {
  const lines: string[] = [];
  return { logger: createLogger({ write: (line) => lines.push(line) }), lines };
}

function setup(options: { mfa?: McIasMfa } = {}) {
  // TEST SCAFFOLDING: in-memory McIas, not the real core.
  const mcias = new FakeMcIas();
  mcias.addUser("root", "root-pw", ["admin"]);
  mcias.addUser("ada", "ada-pw");
  mcias.addUser("gus", "gus-pw", ["guest"]);
  mcias.addUser("tom", "tom-pw", ["user"], "123456");
  mcias.createRule({
    priority: 10,
    effect: "deny",
    roles: ["guest"],
    accountTypes: [],
    serviceNames: ["mcr"],
    tags: [],
    description: "no guests on mcr",
  });
  mcias.createRule({
    priority: 1000,
    effect: "allow",
    roles: ["user"],
    accountTypes: [],
    serviceNames: [],
    tags: [],
    description: "users everywhere",
  });
  const sso = createSso({ clients: CLIENTS, mcias });
  const { logger, lines } = quietLogger();
  const app = createWebApp({ mcias, sso, logger, ...options });
  const tokenRoutes = createSsoTokenRoutes({ sso, logger });
  return { mcias, sso, app, tokenRoutes, lines };
}

async function signIn(browser: TestBrowser, username: string, password: string): Promise<void> {
  await browser.page("/login");
  const { res } = await browser.post("/login", { username, password });
  assert.equal(res.status, 303, `sign-in of ${username} failed`);
}

Deno.test("createWebApp() refuses to start with an undeclared route or a stale entry", () => {
  const mcias = new FakeMcIas();
  const sso = createSso({ clients: [], mcias });
  const { logger } = quietLogger();
  const { "POST /mcat": _dropped, ...missing } = WEB_ACCESS;
  assert.throws(
    () => createWebApp({ mcias, sso, logger, access: missing }),
    (error: unknown) =>
      error instanceof AccessMapError && error.missing.includes("POST /mcat") &&
      error.stale.length === 0,
  );
  assert.throws(
    () => createWebApp({ mcias, sso, logger, access: { ...WEB_ACCESS, "GET /extra": "public" } }),
    (error: unknown) => error instanceof AccessMapError && error.stale.includes("GET /extra"),
  );
  assert.throws(
    () =>
      createWebApp({
        mcias,
        sso,
        logger,
        access: { ...WEB_ACCESS, "GET /mcat": "root" as unknown as "admin" },
      }),
    /unknown access levels: "GET \/mcat": "root"/,
  );
});

Deno.test("web POST /login refuses a request without the CSRF token or from another origin", async () => {
  const { app, mcias } = setup();
  const browser = new TestBrowser(app);
  await browser.page("/login");
  const noToken = await browser.post("/login", { _csrf: "", username: "ada", password: "ada-pw" });
  assert.equal(noToken.res.status, 403);
  const badToken = await browser.post("/login", {
    _csrf: "AAAA",
    username: "ada",
    password: "ada-pw",
  });
  assert.equal(badToken.res.status, 403);
  const crossSite = await browser.post(
    "/login",
    { username: "ada", password: "ada-pw" },
    { Origin: "https://evil.test" },
  );
  assert.equal(crossSite.res.status, 403);
  assert.equal(mcias.calls.filter((c) => c.method === "login").length, 0);
  assert.equal(browser.cookie(SESSION_COOKIE), undefined);
});

Deno.test("web POST /login sets a Secure HttpOnly SameSite=Strict session cookie and follows safe next", async () => {
  const { app, mcias } = setup();
  const browser = new TestBrowser(app);
  const form = await browser.page("/login?next=%2Fmcat");
  assert.equal(form.res.status, 200);
  assert.match(form.text, /<input type="password" name="password"/);
  assert.match(form.text, /<input type="hidden" name="next" value="\/mcat">/);
  assert.match(form.res.headers.get("content-security-policy")!, /form-action 'self'/);

  const { res } = await browser.post("/login", {
    username: "ada",
    password: "ada-pw",
    next: "/mcat",
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/mcat");
  const cookie = res.headers.getSetCookie().find((c) => c.startsWith(`${SESSION_COOKIE}=`));
  assert.match(
    cookie!,
    /^__Host-mcias_session=fake\.[\w-]+\.tok; Max-Age=\d+; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
  );
  const login = mcias.calls.find((c) => c.method === "login");
  assert.deepEqual(login?.args, ["ada", "mcias"]);
  assert.equal((await mcias.validate(browser.cookie(SESSION_COOKIE)!)).username, "ada");

  // An open redirect is refused: next falls back to the account page.
  const other = new TestBrowser(app);
  await other.page("/login");
  const evil = await other.post("/login", {
    username: "ada",
    password: "ada-pw",
    next: "//evil.test/x",
  });
  assert.equal(evil.res.headers.get("location"), "/account");
});

Deno.test("web POST /login answers 401 on bad credentials and asks for a TOTP code when needed", async () => {
  const { app } = setup();
  const browser = new TestBrowser(app);
  await browser.page("/login");
  const bad = await browser.post("/login", { username: "ada", password: "nope" });
  assert.equal(bad.res.status, 401);
  assert.match(bad.text, /Invalid credentials/);
  assert.doesNotMatch(bad.text, /nope/);
  assert.equal(browser.cookie(SESSION_COOKIE), undefined);

  const needTotp = await browser.post("/login", { username: "tom", password: "tom-pw" });
  assert.equal(needTotp.res.status, 401);
  assert.match(needTotp.text, /name="totp_code"/);
  assert.match(needTotp.text, /value="tom"/);
  assert.doesNotMatch(needTotp.text, /tom-pw/);

  const ok = await browser.post("/login", {
    username: "tom",
    password: "tom-pw",
    totp_code: "123456",
  });
  assert.equal(ok.res.status, 303);
  assert.ok(browser.cookie(SESSION_COOKIE));
});

Deno.test("web admin pages: 303 to sign-in when signed out, 403 for users, 200 for admins", async () => {
  const { app } = setup();
  const anonymous = new TestBrowser(app);
  for (const path of ["/admin/accounts", "/admin/policy", "/mcat", "/account"]) {
    const { res } = await anonymous.page(path);
    assert.equal(res.status, 303, path);
    assert.equal(res.headers.get("location"), `/login?next=${encodeURIComponent(path)}`);
  }

  const user = new TestBrowser(app);
  await signIn(user, "ada", "ada-pw");
  for (const path of ["/admin/accounts", "/admin/policy", "/mcat"]) {
    const { res, text } = await user.page(path);
    assert.equal(res.status, 403, path);
    assert.match(text, /administrators only/);
  }
  await user.page("/account");
  const post = await user.post("/admin/accounts", { username: "x", type: "system" });
  assert.equal(post.res.status, 403);
  const mcat = await user.post("/mcat", { username: "root" });
  assert.equal(mcat.res.status, 403);

  const admin = new TestBrowser(app);
  await signIn(admin, "root", "root-pw");
  for (const path of ["/admin/accounts", "/admin/policy", "/mcat", "/account"]) {
    const { res } = await admin.page(path);
    assert.equal(res.status, 200, path);
  }
});

Deno.test("web /admin/accounts creates, disables, enables and deletes accounts", async () => {
  const { app, mcias } = setup();
  const admin = new TestBrowser(app);
  await signIn(admin, "root", "root-pw");
  const list = await admin.page("/admin/accounts");
  assert.match(list.text, /<td>ada<\/td>/);

  const created = await admin.post("/admin/accounts", {
    username: "bob",
    type: "human",
    password: "bob-pw",
    roles: ["user", "guest"],
  });
  assert.equal(created.res.status, 200);
  assert.match(created.text, /Account &quot;bob&quot; created/);
  assert.deepEqual(mcias.getAccount("bob").roles, ["user", "guest"]);

  const dup = await admin.post("/admin/accounts", {
    username: "bob",
    type: "human",
    password: "x",
  });
  assert.equal(dup.res.status, 409);
  assert.match(dup.text, /already exists/);
  // htmx gets 200 so that it swaps the error in.
  const dupHtmx = await admin.post("/admin/accounts", {
    username: "bob",
    type: "human",
    password: "x",
  }, { "HX-Request": "true" });
  assert.equal(dupHtmx.res.status, 200);
  assert.match(dupHtmx.text, /already exists/);

  const disabled = await admin.post("/admin/accounts/bob/disabled", { disabled: "true" });
  assert.equal(disabled.res.status, 200);
  assert.equal(mcias.getAccount("bob").disabled, true);
  await admin.post("/admin/accounts/bob/disabled", { disabled: "false" });
  assert.equal(mcias.getAccount("bob").disabled, false);

  const selfDelete = await admin.post("/admin/accounts/root/delete");
  assert.equal(selfDelete.res.status, 400);
  assert.ok(mcias.getAccount("root"));

  const deleted = await admin.post("/admin/accounts/bob/delete");
  assert.equal(deleted.res.status, 200);
  assert.throws(() => mcias.getAccount("bob"), /not found/);
  const missing = await admin.post("/admin/accounts/bob/delete");
  assert.equal(missing.res.status, 404);
});

Deno.test("web /admin/policy adds and deletes rules", async () => {
  const { app, mcias } = setup();
  const admin = new TestBrowser(app);
  await signIn(admin, "root", "root-pw");
  await admin.page("/admin/policy");
  const added = await admin.post("/admin/policy", {
    priority: "5",
    effect: "deny",
    roles: ["user"],
    account_types: ["human"],
    service_names: "mcr, mcdns",
    tags: "prod",
    description: "freeze",
  });
  assert.equal(added.res.status, 200);
  const rule = mcias.listRules()[0]!;
  assert.deepEqual(
    { ...rule, id: 0 },
    {
      id: 0,
      priority: 5,
      effect: "deny",
      roles: ["user"],
      accountTypes: ["human"],
      serviceNames: ["mcr", "mcdns"],
      tags: ["prod"],
      description: "freeze",
    },
  );
  const bad = await admin.post("/admin/policy", { priority: "x", effect: "allow" });
  assert.equal(bad.res.status, 400);
  assert.match(bad.text, /Priority must be a whole number/);

  const deleted = await admin.post(`/admin/policy/${rule.id}/delete`);
  assert.equal(deleted.res.status, 200);
  assert.ok(!mcias.listRules().some((r) => r.id === rule.id));
});

Deno.test("web /mcat shows the decision and the deciding rule, and issues no token", async () => {
  const { app, mcias } = setup();
  const admin = new TestBrowser(app);
  await signIn(admin, "root", "root-pw");
  await admin.page("/mcat");
  const before = mcias.calls.length;
  const denied = await admin.post("/mcat", { username: "gus", service_name: "mcr", tags: "prod" });
  assert.equal(denied.res.status, 200);
  assert.match(denied.text, /data-decision="denied"/);
  assert.match(denied.text, /<table data-rule="1">/);
  assert.match(denied.text, /no guests on mcr/);

  const allowed = await admin.post("/mcat", { username: "ada", service_name: "mcr", tags: "" });
  assert.match(allowed.text, /data-decision="allowed"/);
  assert.match(allowed.text, /users everywhere/);

  const none = await admin.post("/mcat", { username: "gus", service_name: "mcdns" });
  assert.match(none.text, /data-decision="denied"/);
  assert.match(none.text, /no rule matched: default deny/);
  assert.match(none.text, /Deciding rule: none/);

  const unknown = await admin.post("/mcat", { username: "nobody" });
  assert.equal(unknown.res.status, 404);

  // Dry runs only: no login, no token.
  assert.deepEqual(
    mcias.calls.slice(before).map((c) => `${c.method} ${c.args[0]}`),
    ["testPolicy gus", "testPolicy ada", "testPolicy gus", "testPolicy nobody"],
  );
});

Deno.test("web GET /sso/authorize sends the user to sign in, then back to the client with a code", async () => {
  const { app, tokenRoutes, mcias } = setup();
  const browser = new TestBrowser(app);
  const query = new URLSearchParams({
    client_id: "mcr",
    redirect_uri: REDIRECT,
    state: "st4te",
    response_type: "code",
  });
  const authorize = `/sso/authorize?${query}`;

  // Arriving from another site: the Strict cookie was withheld, reload same-site first.
  const crossSite = await browser.page(authorize, { "Sec-Fetch-Site": "cross-site" });
  assert.equal(crossSite.res.status, 200);
  assert.match(crossSite.text, /<meta http-equiv="refresh" content="0;url=\/sso\/authorize\?/);

  const signedOut = await browser.page(authorize, { "Sec-Fetch-Site": "same-origin" });
  assert.equal(signedOut.res.status, 303);
  const loginUrl = signedOut.res.headers.get("location")!;
  assert.equal(loginUrl, `/login?next=${encodeURIComponent(authorize)}`);

  await browser.page(loginUrl);
  const login = await browser.post("/login", {
    username: "ada",
    password: "ada-pw",
    next: authorize,
  });
  // A page, not a redirect: CSP form-action would block the redirect chain to the client.
  assert.equal(login.res.status, 200);
  assert.match(
    login.text,
    /<meta http-equiv="refresh" content="0;url=\/sso\/authorize\?client_id=mcr&amp;/,
  );

  const back = await browser.request(authorize);
  assert.equal(back.status, 302);
  const location = new URL(back.headers.get("location")!);
  assert.equal(`${location.origin}${location.pathname}`, REDIRECT);
  assert.equal(location.searchParams.get("state"), "st4te");
  const code = location.searchParams.get("code")!;
  assert.match(code, /^[\w-]{43}$/);

  const exchange = await tokenRoutes.request("https://mcias.test/v1/sso/token", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      grant_type: "authorization_code",
      code,
      client_id: "mcr",
      redirect_uri: REDIRECT,
    }),
  });
  assert.equal(exchange.status, 200);
  const body = await exchange.json();
  assert.deepEqual(Object.keys(body).sort(), ["expires_at", "token"]);
  assert.ok(!Number.isNaN(new Date(body.expires_at).getTime()));
  assert.equal((await mcias.validate(body.token)).username, "ada");
  assert.equal(mcias.serviceOf(body.token), "mcr");
});

Deno.test("web GET /sso/authorize never redirects to an unregistered client or redirect_uri", async () => {
  const { app } = setup();
  const browser = new TestBrowser(app);
  await signIn(browser, "ada", "ada-pw");
  for (
    const [clientId, redirectUri] of [
      ["evil", "https://evil.test/sso/callback"],
      ["mcr", "https://evil.test/sso/callback"],
      ["mcr", `${REDIRECT}?x=1`],
    ]
  ) {
    const query = new URLSearchParams({
      client_id: clientId!,
      redirect_uri: redirectUri!,
      state: "s",
      response_type: "code",
    });
    const { res, text } = await browser.page(`/sso/authorize?${query}`);
    assert.equal(res.status, 400);
    assert.equal(res.headers.get("location"), null);
    assert.match(text, /Sign-in request refused/);
  }
});

Deno.test("web GET /sso/authorize returns policy denial and bad PKCE to the client as OAuth errors", async () => {
  const { app } = setup();
  const guest = new TestBrowser(app);
  // No rule lets guests into MCIAS's own UI, so gus gets his session directly below.
  await guest.page("/login");
  const refused = await guest.post("/login", { username: "gus", password: "gus-pw" });
  assert.equal(refused.res.status, 403);
  assert.match(refused.text, /policy does not let this account sign in/);

  const fake = setup();
  const browser = new TestBrowser(fake.app);
  browser.setCookie(SESSION_COOKIE, fake.mcias.tokenFor("gus"));
  const query = new URLSearchParams({
    client_id: "mcr",
    redirect_uri: REDIRECT,
    state: "s1",
    response_type: "code",
  });
  const denied = await browser.request(`/sso/authorize?${query}`);
  assert.equal(denied.status, 302);
  const location = new URL(denied.headers.get("location")!);
  assert.equal(location.searchParams.get("error"), "access_denied");
  assert.equal(location.searchParams.get("state"), "s1");
  assert.equal(location.searchParams.get("code"), null);

  const ada = new TestBrowser(fake.app);
  ada.setCookie(SESSION_COOKIE, fake.mcias.tokenFor("ada"));
  query.set("code_challenge", "x".repeat(43));
  query.set("code_challenge_method", "plain");
  const plain = await ada.request(`/sso/authorize?${query}`);
  assert.equal(
    new URL(plain.headers.get("location")!).searchParams.get("error"),
    "invalid_request",
  );

  query.set("response_type", "token");
  const implicit = await ada.request(`/sso/authorize?${query}`);
  assert.equal(
    new URL(implicit.headers.get("location")!).searchParams.get("error"),
    "unsupported_response_type",
  );
});

Deno.test("createSsoTokenRoutes() validates the request and refuses a reused code", async () => {
  const { tokenRoutes, sso, mcias } = setup();
  const post = (body: unknown) =>
    tokenRoutes.request("https://mcias.test/v1/sso/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body),
    });
  const code = await sso.authorizeSso({
    token: mcias.tokenFor("ada"),
    clientId: "mcr",
    redirectUri: REDIRECT,
  });
  const base = { grant_type: "authorization_code", code, client_id: "mcr", redirect_uri: REDIRECT };

  const wrongGrant = await post({ ...base, grant_type: "password" });
  assert.equal(wrongGrant.status, 400);
  assert.deepEqual(await wrongGrant.json(), {
    error: 'field "grant_type" must be "authorization_code"',
  });
  const extra = await post({ ...base, scope: "x" });
  assert.equal(extra.status, 400);
  await extra.body?.cancel();

  const ok = await post(base);
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get("cache-control"), "no-store");
  await ok.body?.cancel();

  const again = await post(base);
  assert.equal(again.status, 400);
  assert.match((await again.json()).error, /invalid, expired, already used/);
});

Deno.test("web POST /logout revokes the session token and clears the cookie", async () => {
  const { app, mcias } = setup();
  const browser = new TestBrowser(app);
  await signIn(browser, "ada", "ada-pw");
  const token = browser.cookie(SESSION_COOKIE)!;
  await browser.page("/account");
  const { res } = await browser.post("/logout");
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/login");
  assert.equal(browser.cookie(SESSION_COOKIE), undefined);
  assert.equal((await mcias.validate(token)).valid, false);
});

Deno.test("web /account shows second factors as not available without McIasMfa", async () => {
  const { app } = setup();
  const browser = new TestBrowser(app);
  await signIn(browser, "ada", "ada-pw");
  const { res, text } = await browser.page("/account");
  assert.equal(res.status, 200);
  assert.match(text, /<td>ada<\/td>/);
  assert.match(text, /Two-factor authentication is not available/);
  assert.match(text, /Passkeys are not available/);
  const begin = await browser.post("/account/totp/begin");
  assert.equal(begin.res.status, 400);
  assert.match(begin.text, /not available on this server/);
});

Deno.test("web /account enrols and removes TOTP through McIasMfa", async () => {
  // TEST SCAFFOLDING: a fake second-factor service that accepts code 654321
  // for enrolment and 111111 for re-authentication.
  const enabled = new Set<string>();
  const reauths: string[] = [];
  const mfa = {
    totpEnabled: (u: string) => enabled.has(u),
    verifyTotp: () => Promise.resolve(false),
    passkeyCount: () => 0,
    beginTotpEnrolment: () =>
      Promise.resolve({
        secret: "JBSWY3DPEHPK3PXP",
        uri: "otpauth://totp/MCIAS:ada?secret=JBSWY3DPEHPK3PXP&issuer=MCIAS",
      }),
    confirmTotpEnrolment: (u: string, code: string) => {
      if (code !== "654321") return Promise.reject(new Error("unexpected"));
      enabled.add(u);
      return Promise.resolve({ recoveryCodes: ["rc-one", "rc-two"] });
    },
    disableTotp: (u: string) => void enabled.delete(u),
    reauthenticate: (u: string, proof: { code?: string }) => {
      reauths.push(`${u}:${proof.code ?? ""}`);
      return proof.code === "111111"
        ? Promise.resolve()
        : Promise.reject(new LoginFailedError(401, "re-authentication failed"));
    },
    beginPasskeyRegistration: () => Promise.reject(new Error("unused")),
    finishPasskeyRegistration: () => Promise.reject(new Error("unused")),
    beginPasskeyLogin: () => Promise.reject(new Error("unused")),
    finishPasskeyLogin: () => Promise.reject(new Error("unused")),
  } as unknown as McIasMfa;
  const { app } = setup({ mfa });
  const browser = new TestBrowser(app);
  await signIn(browser, "ada", "ada-pw");
  const account = await browser.page("/account");
  assert.match(account.text, /Set up an authenticator app/);

  const begin = await browser.post("/account/totp/begin");
  assert.equal(begin.res.status, 200);
  assert.match(begin.text, /JBSWY3DPEHPK3PXP/);
  const badCode = await browser.post("/account/totp/confirm", { code: "12" });
  assert.equal(badCode.res.status, 400);
  const confirm = await browser.post("/account/totp/confirm", { code: "654321" });
  assert.equal(confirm.res.status, 200);
  assert.match(confirm.text, /rc-one/);
  assert.ok(enabled.has("ada"));

  // A session alone cannot turn TOTP off: a current code is required and checked.
  const noCode = await browser.post("/account/totp/disable");
  assert.equal(noCode.res.status, 400);
  assert.ok(enabled.has("ada"));
  const wrong = await browser.post("/account/totp/disable", { code: "000000" });
  assert.equal(wrong.res.status, 400);
  assert.ok(enabled.has("ada"));
  assert.deepEqual(reauths, ["ada:000000"]);
  const disable = await browser.post("/account/totp/disable", { code: "111111" });
  assert.match(disable.text, /Two-factor authentication is off/);
  assert.ok(!enabled.has("ada"));
});

Deno.test("web pages carry the strict security headers and htmx is served locally", async () => {
  const { app } = setup();
  const browser = new TestBrowser(app);
  const { res, text } = await browser.page("/login");
  assert.match(res.headers.get("content-security-policy")!, /script-src 'self'/);
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.match(text, /<script src="\/static\/htmx\.min\.js\?v=[\d.]+" defer><\/script>/);
  const htmx = await browser.request("/static/htmx.min.js");
  assert.equal(htmx.status, 200);
  await htmx.body?.cancel();
  const css = await browser.request("/static/mcias.css");
  assert.equal(css.headers.get("content-type"), "text/css; charset=utf-8");
  await css.body?.cancel();
  const missing = await browser.page("/nothing");
  assert.equal(missing.res.status, 404);
});

Deno.test("web passkey endpoints: CSRF header, session for registration, cookie on sign-in", async () => {
  const registered: string[] = [];
  const ref: { fake?: FakeMcIas } = {};
  // TEST SCAFFOLDING: a fake second-factor service; "good" assertions sign ada in.
  const mfa = {
    totpEnabled: () => false,
    verifyTotp: () => Promise.resolve(false),
    passkeyCount: () => registered.length,
    beginTotpEnrolment: () => Promise.reject(new Error("unused")),
    confirmTotpEnrolment: () => Promise.reject(new Error("unused")),
    disableTotp: () => {},
    reauthenticate: (_u: string, proof: { password?: string }) =>
      proof.password === "ada-pw"
        ? Promise.resolve()
        : Promise.reject(new LoginFailedError(401, "re-authentication failed")),
    beginPasskeyRegistration: (u: string) =>
      Promise.resolve({ challenge: "c1", user: { name: u }, rp: { name: "MCIAS" } }),
    finishPasskeyRegistration: (u: string, _r: unknown, name?: string) => {
      registered.push(`${u}:${name}`);
      return Promise.resolve();
    },
    beginPasskeyLogin: () => Promise.resolve({ challenge: "c2", allowCredentials: [] }),
    finishPasskeyLogin: (response: { id?: string }, context: { serviceName?: string }) =>
      response.id === "good"
        ? ref.fake!.completeLogin("ada", { serviceName: context.serviceName, remoteAddr: "x" })
        : Promise.reject(new LoginFailedError(401, "invalid credentials")),
  } as unknown as McIasMfa;
  const { app, mcias } = setup({ mfa });
  ref.fake = mcias;
  const browser = new TestBrowser(app);
  const form = await browser.page("/login?next=%2Fmcat");
  assert.match(form.text, /<script src="\/static\/passkey\.js" defer><\/script>/);
  assert.match(form.text, /id="passkey-login" data-next="\/mcat"/);
  const script = await browser.request("/static/passkey.js");
  assert.equal(script.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.match(await script.text(), /parseRequestOptionsFromJSON/);

  const json = (path: string, body: unknown, csrf = browser.csrfToken) =>
    browser.request(path, {
      method: "POST",
      headers: {
        Origin: browser.origin,
        "Content-Type": "application/json",
        ...(csrf === "" ? {} : { "X-CSRF-Token": csrf }),
      },
      body: JSON.stringify(body),
    });

  const noCsrf = await json("/login/passkey/options", {}, "");
  assert.equal(noCsrf.status, 403);
  await noCsrf.body?.cancel();
  const options = await json("/login/passkey/options", {});
  assert.deepEqual(await options.json(), { challenge: "c2", allowCredentials: [] });

  const bad = await json("/login/passkey", { response: { id: "bad" }, next: "/mcat" });
  assert.equal(bad.status, 401);
  assert.match((await bad.json()).error, /passkey was not accepted/);
  assert.equal(browser.cookie(SESSION_COOKIE), undefined);

  const evil = await json("/login/passkey", { response: { id: "good" }, next: "//evil.test" });
  assert.deepEqual(await evil.json(), { next: "/account" });
  const good = await json("/login/passkey", { response: { id: "good" }, next: "/mcat" });
  assert.equal(good.status, 200);
  assert.deepEqual(await good.json(), { next: "/mcat" });
  const token = browser.cookie(SESSION_COOKIE)!;
  assert.equal((await mcias.validate(token)).username, "ada");
  assert.equal(mcias.serviceOf(token), "mcias");

  const account = await browser.page("/account");
  assert.match(account.text, /id="passkey-register"/);
  // A session alone cannot add a passkey: the password (or a TOTP code) is required.
  const noProof = await json("/account/passkeys/options", {});
  assert.equal(noProof.status, 403);
  await noProof.body?.cancel();
  const regOptions = await json("/account/passkeys/options", { password: "ada-pw" });
  assert.deepEqual((await regOptions.json()).user, { name: "ada" });
  const reg = await json("/account/passkeys", { response: { id: "new" }, name: " laptop " });
  assert.deepEqual(await reg.json(), { ok: true });
  assert.deepEqual(registered, ["ada:laptop"]);
  const extra = await json("/account/passkeys", { response: {}, evil: 1 });
  assert.equal(extra.status, 400);
  await extra.body?.cancel();

  const anonymous = new TestBrowser(app);
  await anonymous.page("/login");
  const refused = await anonymous.request("/account/passkeys/options", {
    method: "POST",
    headers: { Origin: anonymous.origin, "X-CSRF-Token": anonymous.csrfToken },
  });
  assert.equal(refused.status, 401);
  await refused.body?.cancel();
});

Deno.test("web passkey endpoints answer 404 without McIasMfa", async () => {
  const { app } = setup();
  const browser = new TestBrowser(app);
  const { text } = await browser.page("/login");
  assert.doesNotMatch(text, /passkey/);
  const res = await browser.request("/login/passkey/options", {
    method: "POST",
    headers: { Origin: browser.origin, "X-CSRF-Token": browser.csrfToken },
  });
  assert.equal(res.status, 404);
  assert.deepEqual(await res.json(), { error: "Passkeys are not available on this server" });
});
