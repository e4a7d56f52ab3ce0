import assert from "node:assert/strict";
import { Hono } from "hono";
import { CookieJar } from "./_testing.ts";
import {
  createCsrfKey,
  csrf,
  CSRF_HEADER,
  csrfHxHeaders,
  csrfInput,
  csrfMeta,
  type CsrfOptions,
  type CsrfVariables,
} from "./csrf.ts";

const ORIGIN = "https://svc.test";

function makeApp(options: CsrfOptions = {}) {
  const app = new Hono<{ Variables: CsrfVariables }>();
  app.use(csrf(options));
  app.get("/", (c) => c.text(c.var.csrfToken));
  app.get("/raw", () => new Response("raw"));
  app.on(["POST", "PUT", "PATCH", "DELETE"], "/", async (c) => {
    const type = c.req.header("Content-Type") ?? "";
    if (type.startsWith("application/json")) return c.json(await c.req.json());
    const body = await c.req.parseBody();
    return c.text(`changed:${body.name ?? ""}`);
  });
  return app;
}

/** Loads a page like a browser: returns the jar holding the CSRF cookie and the page's token. */
async function visit(app: Hono<{ Variables: CsrfVariables }>, url = `${ORIGIN}/`) {
  const jar = new CookieJar();
  const res = await app.request(url);
  jar.store(res);
  return { jar, token: await res.text() };
}

function form(fields: Record<string, string>): URLSearchParams {
  return new URLSearchParams(fields);
}

Deno.test("csrf() issues a __Host- id cookie with strict attributes and a token on GET", async () => {
  const app = makeApp();
  const res = await app.request(`${ORIGIN}/`);
  assert.equal(res.status, 200);
  const [cookie, ...others] = res.headers.getSetCookie();
  assert.deepEqual(others, []);
  assert.match(
    cookie!,
    /^__Host-mc_csrf=[A-Za-z0-9_-]{43}; Path=\/; HttpOnly; Secure; SameSite=Strict$/,
  );
  assert.match(await res.text(), /^[A-Za-z0-9_-]{43}$/);
});

Deno.test("csrf() keeps the cookie and token stable across requests of one browser", async () => {
  const app = makeApp();
  const { jar, token } = await visit(app);
  const again = await app.request(`${ORIGIN}/`, { headers: { Cookie: jar.header() } });
  assert.deepEqual(again.headers.getSetCookie(), []);
  assert.equal(await again.text(), token);
});

Deno.test("csrf() sets the cookie even when the handler returns its own Response", async () => {
  const app = makeApp();
  const res = await app.request(`${ORIGIN}/raw`);
  assert.equal(await res.text(), "raw");
  assert.match(res.headers.getSetCookie()[0]!, /^__Host-mc_csrf=/);
});

Deno.test("csrf() lets GET, HEAD and OPTIONS through without a token", async () => {
  const app = makeApp();
  for (const method of ["GET", "HEAD", "OPTIONS"]) {
    const res = await app.request(`${ORIGIN}/`, {
      method,
      headers: { Origin: "https://evil.test" },
    });
    assert.notEqual(res.status, 403, method);
    await res.body?.cancel();
  }
});

Deno.test("csrf() refuses a POST without a token with 403 and a message saying where to send it", async () => {
  const app = makeApp();
  const { jar } = await visit(app);
  const res = await app.request(`${ORIGIN}/`, {
    method: "POST",
    headers: { Cookie: jar.header(), Origin: ORIGIN },
    body: form({ name: "x" }),
  });
  assert.equal(res.status, 403);
  assert.equal(
    await res.text(),
    'Forbidden: the CSRF token is missing: send it in the "_csrf" form field or the "X-CSRF-Token" header',
  );
});

Deno.test("csrf() refuses a token minted for another browser's cookie", async () => {
  const app = makeApp();
  const victim = await visit(app);
  const attacker = await visit(app);
  const res = await app.request(`${ORIGIN}/`, {
    method: "POST",
    headers: { Cookie: victim.jar.header(), Origin: ORIGIN },
    body: form({ _csrf: attacker.token }),
  });
  assert.equal(res.status, 403);
  assert.equal(
    await res.text(),
    "Forbidden: the CSRF token does not match this browser session: reload the page and try again",
  );
});

Deno.test("csrf() refuses a malformed token", async () => {
  const app = makeApp();
  const { jar } = await visit(app);
  for (const bad of ["!!!", "a", "x".repeat(43)]) {
    const res = await app.request(`${ORIGIN}/`, {
      method: "POST",
      headers: { Cookie: jar.header(), [CSRF_HEADER]: bad },
    });
    assert.equal(res.status, 403, bad);
    assert.match(await res.text(), /does not match this browser session/);
  }
});

Deno.test("csrf() accepts the token in the _csrf field and leaves the body readable", async () => {
  const app = makeApp();
  const { jar, token } = await visit(app);
  const res = await app.request(`${ORIGIN}/`, {
    method: "POST",
    headers: { Cookie: jar.header(), Origin: ORIGIN },
    body: form({ _csrf: token, name: "ada" }),
  });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "changed:ada");
});

Deno.test("csrf() accepts the token in a multipart form", async () => {
  const app = makeApp();
  const { jar, token } = await visit(app);
  const body = new FormData();
  body.set("_csrf", token);
  body.set("name", "grace");
  const res = await app.request(`${ORIGIN}/`, {
    method: "POST",
    headers: { Cookie: jar.header(), Origin: ORIGIN },
    body,
  });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), "changed:grace");
});

Deno.test("csrf() accepts the X-CSRF-Token header htmx sends, for every mutating method", async () => {
  const app = makeApp();
  const { jar, token } = await visit(app);
  for (const method of ["POST", "PUT", "PATCH", "DELETE"]) {
    const res = await app.request(`${ORIGIN}/`, {
      method,
      headers: {
        Cookie: jar.header(),
        Origin: ORIGIN,
        "HX-Request": "true",
        [CSRF_HEADER]: token,
        "Content-Type": "application/json",
      },
      body: JSON.stringify({ method }),
    });
    assert.equal(res.status, 200, method);
    assert.deepEqual(await res.json(), { method });
  }
});

Deno.test("csrf() checks PUT, PATCH and DELETE like POST", async () => {
  const app = makeApp();
  const { jar } = await visit(app);
  for (const method of ["PUT", "PATCH", "DELETE"]) {
    const res = await app.request(`${ORIGIN}/`, { method, headers: { Cookie: jar.header() } });
    assert.equal(res.status, 403, method);
    await res.body?.cancel();
  }
});

Deno.test("csrf() refuses a cross-origin request even with a valid token", async () => {
  const app = makeApp();
  const { jar, token } = await visit(app);
  const res = await app.request(`${ORIGIN}/`, {
    method: "POST",
    headers: { Cookie: jar.header(), Origin: "https://evil.test" },
    body: form({ _csrf: token }),
  });
  assert.equal(res.status, 403);
  assert.equal(
    await res.text(),
    'Forbidden: cross-origin request refused: it came from "https://evil.test", expected "https://svc.test"; submit forms from this service\'s own pages',
  );
});

Deno.test("csrf() refuses Origin null and a cross-origin Referer", async () => {
  const app = makeApp();
  const { jar, token } = await visit(app);
  const cases: Record<string, string>[] = [
    { Origin: "null" },
    { Referer: "https://evil.test/page" },
    { Referer: "not a url" },
    { Origin: "https://svc.test.evil.test" },
    { Origin: "http://svc.test" },
  ];
  for (const headers of cases) {
    const res = await app.request(`${ORIGIN}/`, {
      method: "POST",
      headers: { Cookie: jar.header(), [CSRF_HEADER]: token, ...headers },
    });
    assert.equal(res.status, 403, JSON.stringify(headers));
    assert.match(await res.text(), /^Forbidden: cross-origin request refused/);
  }
});

Deno.test("csrf() accepts a same-origin Referer, or neither header, with a valid token", async () => {
  const app = makeApp();
  const { jar, token } = await visit(app);
  for (const headers of [{ Referer: `${ORIGIN}/form?x=1` }, {} as Record<string, string>]) {
    const res = await app.request(`${ORIGIN}/`, {
      method: "POST",
      headers: { Cookie: jar.header(), [CSRF_HEADER]: token, ...headers },
    });
    assert.equal(res.status, 200, JSON.stringify(headers));
    await res.body?.cancel();
  }
});

Deno.test("csrf() checks against configured origins when the service is behind a proxy", async () => {
  const app = makeApp({ origins: ["https://mcr.example.net"] });
  const inner = "http://127.0.0.1:8080/";
  const { jar, token } = await visit(app, inner);
  const ok = await app.request(inner, {
    method: "POST",
    headers: { Cookie: jar.header(), Origin: "https://mcr.example.net", [CSRF_HEADER]: token },
  });
  assert.equal(ok.status, 200);
  await ok.body?.cancel();
  const refused = await app.request(inner, {
    method: "POST",
    headers: { Cookie: jar.header(), Origin: "http://127.0.0.1:8080", [CSRF_HEADER]: token },
  });
  assert.equal(refused.status, 403);
  assert.match(await refused.text(), /expected "https:\/\/mcr\.example\.net"/);
});

Deno.test("csrf() refuses a POST without the cookie and issues one", async () => {
  const app = makeApp();
  const { token } = await visit(app);
  const res = await app.request(`${ORIGIN}/`, {
    method: "POST",
    headers: { Origin: ORIGIN, [CSRF_HEADER]: token },
  });
  assert.equal(res.status, 403);
  assert.equal(
    await res.text(),
    "Forbidden: the CSRF cookie is missing: allow cookies for this site, reload the page and try again",
  );
  assert.match(res.headers.getSetCookie()[0]!, /^__Host-mc_csrf=/);
});

Deno.test("csrf() with a key from the same secret accepts tokens across restarts", async () => {
  const secret = crypto.getRandomValues(new Uint8Array(32));
  const before = makeApp({ key: await createCsrfKey(secret) });
  const after = makeApp({ key: await createCsrfKey(secret) });
  const { jar, token } = await visit(before);
  const res = await after.request(`${ORIGIN}/`, {
    method: "POST",
    headers: { Cookie: jar.header(), Origin: ORIGIN, [CSRF_HEADER]: token },
  });
  assert.equal(res.status, 200);
  await res.body?.cancel();
});

Deno.test("createCsrfKey() throws RangeError for a secret shorter than 32 bytes", async () => {
  await assert.rejects(() => createCsrfKey(new Uint8Array(16)), {
    name: "RangeError",
    message:
      "Cannot create the CSRF key: the secret has 16 bytes, expected at least 32; generate one with crypto.getRandomValues(new Uint8Array(32))",
  });
});

Deno.test("csrf() throws TypeError for a bad origin or a key that is not HMAC-SHA-256", async () => {
  assert.throws(() => csrf({ origins: ["https://svc.test/"] }), {
    name: "TypeError",
    message:
      'Cannot use CSRF origin "https://svc.test/": expected a bare origin such as "https://svc.example.net" (scheme, host, optional port; no path or trailing slash)',
  });
  const aes = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, ["encrypt"]);
  assert.throws(() => csrf({ key: aes }), {
    name: "TypeError",
    message:
      'Cannot use the CSRF key: it is "AES-GCM" with usages ["encrypt"], expected an HMAC SHA-256 key with the "sign" usage; create one with createCsrfKey()',
  });
});

Deno.test("csrfInput(), csrfMeta() and csrfHxHeaders() escape the token", () => {
  assert.equal(
    String(csrfInput('a"><b')),
    '<input type="hidden" name="_csrf" value="a&quot;&gt;&lt;b">',
  );
  assert.equal(String(csrfMeta("t<")), '<meta name="csrf-token" content="t&lt;">');
  assert.equal(csrfHxHeaders('t"'), '{"X-CSRF-Token":"t\\""}');
});
