import assert from "node:assert/strict";
import { type Context, Hono } from "hono";
import {
  clearSessionCookie,
  getSessionCookie,
  type SessionCookieOptions,
  setSessionCookie,
} from "./session_cookie.ts";

const NOW = new Date("2030-01-01T00:00:00Z");
const now = () => NOW;

/** Runs `fn` inside a handler and returns the response. */
async function within(fn: (c: Context) => void, init?: RequestInit): Promise<Response> {
  const app = new Hono();
  app.get("/", (c) => {
    fn(c);
    return c.text("ok");
  });
  return await app.request("https://svc.test/", init);
}

function at(seconds: number): Date {
  return new Date(NOW.getTime() + seconds * 1000);
}

Deno.test("setSessionCookie() sets HttpOnly, Secure, SameSite=Strict, Path=/ and Max-Age from the expiry", async () => {
  const res = await within((c) => setSessionCookie(c, "aaa.bbb.ccc", at(3600.9), { now }));
  assert.deepEqual(res.headers.getSetCookie(), [
    "__Host-mc_session=aaa.bbb.ccc; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Strict",
  ]);
});

Deno.test("setSessionCookie() bounds Max-Age by options.maxAge", async () => {
  const thirtyDays = at(30 * 86400);
  const byDefault = await within((c) => setSessionCookie(c, "a.b.c", thirtyDays, { now }));
  assert.match(byDefault.headers.get("set-cookie")!, /; Max-Age=604800;/);
  const options: SessionCookieOptions = { now, maxAge: 3600, name: "mcr_session" };
  const custom = await within((c) => setSessionCookie(c, "a.b.c", thirtyDays, options));
  assert.equal(
    custom.headers.get("set-cookie"),
    "mcr_session=a.b.c; Max-Age=3600; Path=/; HttpOnly; Secure; SameSite=Strict",
  );
});

Deno.test("setSessionCookie() throws RangeError for an expired token", async () => {
  let error: unknown;
  await within((c) => {
    try {
      setSessionCookie(c, "a.b.c", at(0), { now });
    } catch (e) {
      error = e;
    }
  });
  assert.ok(error instanceof RangeError);
  assert.equal(
    error.message,
    "Cannot set the session cookie: the token expired at 2030-01-01T00:00:00.000Z (now 2030-01-01T00:00:00.000Z); sign in again",
  );
});

Deno.test("setSessionCookie() throws TypeError for a value that is not a token, without echoing it", async () => {
  let error: unknown;
  await within((c) => {
    try {
      setSessionCookie(c, "secret; Domain=evil", at(60), { now });
    } catch (e) {
      error = e;
    }
  });
  assert.ok(error instanceof TypeError);
  assert.equal(
    error.message,
    "Cannot set the session cookie: the token (19 characters) is not a bearer token of at most 4000 base64url/JWT characters",
  );
});

Deno.test("setSessionCookie() throws RangeError for a maxAge that is not a positive integer", async () => {
  let error: unknown;
  await within((c) => {
    try {
      setSessionCookie(c, "a.b.c", at(60), { now, maxAge: 0 });
    } catch (e) {
      error = e;
    }
  });
  assert.ok(error instanceof RangeError);
  assert.equal(
    error.message,
    "Cannot set the session cookie: maxAge is 0, expected a positive whole number of seconds",
  );
});

Deno.test("getSessionCookie() returns the token, or undefined for an absent or malformed cookie", async () => {
  const read = async (cookie?: string, name?: string) => {
    let value: string | undefined = "unset";
    const res = await within((c) => {
      value = getSessionCookie(c, name ? { name } : {});
    }, cookie ? { headers: { Cookie: cookie } } : {});
    await res.body?.cancel();
    return value;
  };
  assert.equal(await read("other=1; __Host-mc_session=eyJ.eyJ.sig"), "eyJ.eyJ.sig");
  assert.equal(await read("mcr_session=x.y.z", "mcr_session"), "x.y.z");
  assert.equal(await read(), undefined);
  assert.equal(await read("__Host-mc_session="), undefined);
  assert.equal(await read("__Host-mc_session=%3Cscript%3E"), undefined);
});

Deno.test("clearSessionCookie() expires the cookie with the same attributes", async () => {
  const res = await within((c) => clearSessionCookie(c, { name: "mcr_session" }));
  assert.deepEqual(res.headers.getSetCookie(), [
    "mcr_session=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict",
  ]);
});
