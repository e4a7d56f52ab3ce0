import assert from "node:assert/strict";
import { Hono } from "hono";
import type { TokenInfo, TokenValidator } from "../auth/types.ts";
import { createLogger } from "../log/mod.ts";
import {
  requireSession,
  type RequireSessionOptions,
  type SessionVariables,
} from "./require_session.ts";

const GOOD = "good.token.sig";
const ORIGIN = "https://svc.test";

function info(valid: boolean): TokenInfo {
  return {
    valid,
    username: valid ? "ada" : "",
    accountType: "human",
    roles: valid ? ["user"] : [],
    expiresAt: new Date("2030-01-01T00:00:00Z"),
  };
}

/** A validator that knows one token and records what it was asked. */
class StandInValidator implements TokenValidator {
  seen: string[] = [];
  validate(token: string): Promise<TokenInfo> {
    this.seen.push(token);
    return Promise.resolve(info(token === GOOD));
  }
}

function makeApp(options: Partial<RequireSessionOptions> = {}) {
  const validator = new StandInValidator();
  const app = new Hono<{ Variables: SessionVariables }>();
  app.use("/app/*", requireSession({ validator, ...options }));
  app.all("/app/*", (c) => c.json({ user: c.var.session.username, token: c.var.sessionToken }));
  return { app, validator };
}

Deno.test("requireSession() puts TokenInfo and the token in the context for a valid session", async () => {
  const { app, validator } = makeApp();
  const res = await app.request(`${ORIGIN}/app/x`, {
    headers: { Cookie: `__Host-mc_session=${GOOD}` },
  });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { user: "ada", token: GOOD });
  assert.deepEqual(validator.seen, [GOOD]);
});

Deno.test("requireSession() redirects a browser without a session to /login with next", async () => {
  const { app, validator } = makeApp();
  const res = await app.request(`${ORIGIN}/app/dash?tab=2`, { headers: { Accept: "text/html" } });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/login?next=%2Fapp%2Fdash%3Ftab%3D2");
  assert.equal(res.headers.get("cache-control"), "no-store");
  assert.deepEqual(res.headers.getSetCookie(), []);
  assert.deepEqual(validator.seen, []);
});

Deno.test("requireSession() redirects an invalid session to the login page and clears the cookie", async () => {
  const { app } = makeApp({ cookieName: "mcr_session", loginPath: "/signin" });
  const res = await app.request(`${ORIGIN}/app/`, {
    headers: { Accept: "text/html,application/xhtml+xml", Cookie: "mcr_session=revoked.token.sig" },
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/signin?next=%2Fapp%2F");
  assert.deepEqual(res.headers.getSetCookie(), [
    "mcr_session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict",
  ]);
});

Deno.test("requireSession() redirects a form POST without next, since it cannot be replayed", async () => {
  const { app } = makeApp();
  const res = await app.request(`${ORIGIN}/app/delete`, {
    method: "POST",
    headers: { Accept: "text/html" },
  });
  assert.equal(res.status, 303);
  assert.equal(res.headers.get("location"), "/login");
});

Deno.test("requireSession() answers htmx requests with HX-Redirect to the login page", async () => {
  const { app } = makeApp();
  const res = await app.request(`${ORIGIN}/app/fragment`, {
    headers: {
      "HX-Request": "true",
      "HX-Current-URL": `${ORIGIN}/app/repos?page=3`,
      Cookie: "__Host-mc_session=expired.token.sig",
    },
  });
  assert.equal(res.status, 401);
  assert.equal(res.headers.get("hx-redirect"), "/login?next=%2Fapp%2Frepos%3Fpage%3D3");
  assert.equal(res.headers.get("location"), null);
  assert.equal(await res.text(), "Unauthorized: sign in first");
  assert.match(res.headers.getSetCookie()[0]!, /^__Host-mc_session=; Max-Age=0/);
});

Deno.test("requireSession() drops an HX-Current-URL whose path would redirect off-site", async () => {
  const { app } = makeApp();
  const res = await app.request(`${ORIGIN}/app/fragment`, {
    headers: { "HX-Request": "true", "HX-Current-URL": "https://svc.test//evil.com/" },
  });
  assert.equal(res.headers.get("hx-redirect"), "/login");
  await res.body?.cancel();
});

Deno.test("requireSession() answers 401 in plain text to non-HTML clients", async () => {
  const { app } = makeApp();
  const res = await app.request(`${ORIGIN}/app/api`, { headers: { Accept: "application/json" } });
  assert.equal(res.status, 401);
  assert.equal(await res.text(), "Unauthorized: sign in first");
});

Deno.test("requireSession() answers 503 and keeps the cookie when MCIAS cannot be asked", async () => {
  const lines: string[] = [];
  const validator: TokenValidator = {
    validate: () => Promise.reject(new Error("connection refused")),
  };
  const app = new Hono<{ Variables: SessionVariables }>();
  app.use(
    requireSession({ validator, logger: createLogger({ write: (line) => lines.push(line) }) }),
  );
  app.get("/", (c) => c.text("never"));
  const res = await app.request(`${ORIGIN}/`, {
    headers: { Accept: "text/html", Cookie: `__Host-mc_session=${GOOD}` },
  });
  assert.equal(res.status, 503);
  assert.equal(
    await res.text(),
    "Service unavailable: cannot check your session with MCIAS right now; try again shortly",
  );
  assert.deepEqual(res.headers.getSetCookie(), []);
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /session validation failed/);
  assert.ok(!lines[0]!.includes(GOOD));
});

Deno.test("requireSession() throws TypeError for a login path that is not local", () => {
  assert.throws(
    () =>
      requireSession({ validator: new StandInValidator(), loginPath: "https://evil.com/login" }),
    {
      name: "TypeError",
      message:
        'Cannot use login path "https://evil.com/login": expected a local path starting with a single "/"',
    },
  );
});
