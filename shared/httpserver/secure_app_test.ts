import assert from "node:assert/strict";
import { Hono } from "hono";
import { captureLogger, FakeValidator } from "./_testing.ts";
import { HttpError } from "./http_error.ts";
import { requestLog } from "./request_log.ts";
import { type AccessMap, AccessMapError, type AccessVariables, secureApp } from "./secure_app.ts";

type Vars = { Variables: AccessVariables };

const ACCESS: AccessMap = {
  "GET /v1/health": "public",
  "GET /v1/zones/:zone/records": "authenticated",
  "POST /v1/accounts": "admin",
};

function api(reached: string[] = []): Hono<Vars> {
  return new Hono<Vars>()
    .get("/v1/health", (c) => {
      reached.push("health");
      return c.json({ ok: true, user: c.var.tokenInfo?.username ?? null });
    })
    .get("/v1/zones/:zone/records", (c) => {
      reached.push("records");
      return c.json({ zone: c.req.param("zone"), user: c.var.tokenInfo?.username });
    })
    .post("/v1/accounts", (c) => {
      reached.push("accounts");
      return c.json({ by: c.var.tokenInfo?.username }, 201);
    });
}

function bearer(token: string): RequestInit {
  return { headers: { authorization: `Bearer ${token}` } };
}

async function expectJson(response: Response, status: number, body: unknown): Promise<void> {
  assert.deepEqual({ status: response.status, body: await response.json() }, { status, body });
}

Deno.test("secureApp() throws AccessMapError listing every route missing from the map", () => {
  const app = api().delete("/v1/accounts/:id", (c) => c.body(null, 204)).put(
    "/v1/zones/:zone",
    (c) => c.body(null, 204),
  );
  assert.throws(
    () =>
      secureApp(app, ACCESS, { validator: new FakeValidator(), logger: captureLogger().logger }),
    (e: unknown) => {
      assert.ok(e instanceof AccessMapError);
      assert.equal(e.name, "AccessMapError");
      assert.deepEqual(e.missing, ["DELETE /v1/accounts/:id", "PUT /v1/zones/:zone"]);
      assert.deepEqual(e.stale, []);
      assert.equal(
        e.message,
        'Cannot secure app: 2 routes are not in the access map: "DELETE /v1/accounts/:id", ' +
          '"PUT /v1/zones/:zone" (declare each as "public", "authenticated", "admin")',
      );
      return true;
    },
  );
});

Deno.test("secureApp() throws AccessMapError naming stale entries", () => {
  const map = { ...ACCESS, "GET /v1/old": "public", "POST /v1/zones/:name": "admin" } as const;
  assert.throws(
    () => secureApp(api(), map, { validator: new FakeValidator(), logger: captureLogger().logger }),
    (e: unknown) => {
      assert.ok(e instanceof AccessMapError);
      assert.deepEqual(e.missing, []);
      assert.deepEqual(e.stale, ["GET /v1/old", "POST /v1/zones/:name"]);
      assert.equal(
        e.message,
        'Cannot secure app: 2 access map entries match no registered route: "GET /v1/old", ' +
          '"POST /v1/zones/:name" (remove or correct each)',
      );
      return true;
    },
  );
});

Deno.test("secureApp() reports missing routes and stale entries together", () => {
  const app = new Hono().get("/v1/zones/:zone", (c) => c.text("x"));
  assert.throws(
    () =>
      secureApp(app, { "GET /v1/zones/:name": "authenticated" }, {
        validator: new FakeValidator(),
        logger: captureLogger().logger,
      }),
    {
      name: "AccessMapError",
      message: 'Cannot secure app: 1 route is not in the access map: "GET /v1/zones/:zone" ' +
        '(declare each as "public", "authenticated", "admin"); 1 access map entry matches ' +
        'no registered route: "GET /v1/zones/:name" (remove or correct each)',
    },
  );
});

Deno.test("secureApp() throws TypeError for malformed keys and unknown levels", () => {
  const options = { validator: new FakeValidator(), logger: captureLogger().logger };
  assert.throws(
    () =>
      secureApp(api(), {
        ...ACCESS,
        "get /v1/health": "public",
        "GET /v1/x": "root" as "admin",
      }, options),
    new TypeError(
      'Cannot secure app: invalid access map: key "get /v1/health" is not "METHOD /path" with ' +
        'an upper-case method; "GET /v1/x" has level "root", expected one of "public", ' +
        '"authenticated", "admin"',
    ),
  );
});

Deno.test("secureApp() lets public routes through without asking the validator", async () => {
  const validator = new FakeValidator();
  const app = secureApp(api(), ACCESS, { validator, logger: captureLogger().logger });
  await expectJson(await app.request("/v1/health"), 200, { ok: true, user: null });
  await expectJson(await app.request("/v1/health", bearer("admin-token")), 200, {
    ok: true,
    user: null,
  });
  assert.deepEqual(validator.calls, []);
});

Deno.test("secureApp() answers 401 with WWW-Authenticate when the token is missing or malformed", async () => {
  const reached: string[] = [];
  const app = secureApp(api(reached), ACCESS, {
    validator: new FakeValidator(),
    logger: captureLogger().logger,
    realm: "mcns",
  });
  for (
    const init of [{}, { headers: { authorization: "Basic YTpi" } }, bearer(""), {
      headers: { authorization: "Bearer a b" },
    }]
  ) {
    const response = await app.request("/v1/zones/example.net/records", init);
    assert.equal(response.headers.get("www-authenticate"), 'Bearer realm="mcns"');
    await expectJson(response, 401, { error: "authentication required" });
  }
  assert.deepEqual(reached, []);
});

Deno.test("secureApp() answers 401 invalid_token when the validator rejects the token", async () => {
  const app = secureApp(api(), ACCESS, {
    validator: new FakeValidator(),
    logger: captureLogger().logger,
  });
  const response = await app.request("/v1/zones/example.net/records", bearer("expired-token"));
  assert.equal(
    response.headers.get("www-authenticate"),
    'Bearer realm="metacircular", error="invalid_token"',
  );
  await expectJson(response, 401, { error: "invalid or expired token" });
});

Deno.test("secureApp() passes authenticated routes with the TokenInfo in the context", async () => {
  const app = secureApp(api(), ACCESS, {
    validator: new FakeValidator(),
    logger: captureLogger().logger,
  });
  await expectJson(
    await app.request("/v1/zones/example.net/records", bearer("user-token")),
    200,
    { zone: "example.net", user: "user" },
  );
});

Deno.test("secureApp() answers 403 on admin routes for non-admins and passes admins", async () => {
  const reached: string[] = [];
  const app = secureApp(api(reached), ACCESS, {
    validator: new FakeValidator(),
    logger: captureLogger().logger,
  });
  const denied = await app.request("/v1/accounts", { method: "POST", ...bearer("user-token") });
  assert.equal(
    denied.headers.get("www-authenticate"),
    'Bearer realm="metacircular", error="insufficient_scope"',
  );
  await expectJson(denied, 403, { error: "admin role required" });
  assert.deepEqual(reached, []);
  await expectJson(
    await app.request("/v1/accounts", { method: "POST", ...bearer("admin-token") }),
    201,
    { by: "admin" },
  );
  assert.deepEqual(reached, ["accounts"]);
});

Deno.test("secureApp() answers 503 and logs when the validator throws", async () => {
  const { logger, records } = captureLogger();
  const app = secureApp(api(), ACCESS, { validator: new FakeValidator(), logger });
  const response = await app.request("/v1/zones/a/records", bearer("broken-token"));
  assert.equal(response.headers.get("retry-after"), "5");
  await expectJson(response, 503, { error: "identity service unavailable, retry later" });
  const [record] = records();
  assert.equal(record.msg, "token validation failed");
  assert.deepEqual(record.error, { name: "Error", message: "connect ECONNREFUSED mcias:8443" });
  assert.equal(JSON.stringify(record).includes("broken-token"), false);
});

Deno.test("secureApp() answers 404 JSON for unmatched routes without reaching any handler", async () => {
  const reached: string[] = [];
  const validator = new FakeValidator();
  const app = secureApp(api(reached), ACCESS, { validator, logger: captureLogger().logger });
  await expectJson(await app.request("/v1/nothing"), 404, { error: "not found" });
  await expectJson(await app.request("/v1/health", { method: "POST" }), 404, {
    error: "not found",
  });
  await expectJson(await app.request("/v1/accounts"), 404, { error: "not found" });
  assert.deepEqual(reached, []);
  assert.deepEqual(validator.calls, []);
});

Deno.test("secureApp() guards HEAD requests with the GET entry", async () => {
  const app = secureApp(api(), ACCESS, {
    validator: new FakeValidator(),
    logger: captureLogger().logger,
  });
  const response = await app.request("/v1/zones/a/records", { method: "HEAD" });
  assert.equal(response.status, 401);
  assert.equal(response.body, null);
});

Deno.test("secureApp() runs use() middleware before the check, so the request log sees 401s", async () => {
  const { logger, records } = captureLogger();
  const inner = new Hono<Vars>().use(requestLog({ logger })).get(
    "/v1/me",
    (c) => c.json({ user: c.var.tokenInfo?.username }),
  );
  const app = secureApp(inner, { "GET /v1/me": "authenticated" }, {
    validator: new FakeValidator(),
    logger,
  });
  assert.equal((await app.request("/v1/me")).status, 401);
  assert.equal((await app.request("/v1/me", bearer("user-token"))).status, 200);
  assert.deepEqual(
    records().map((r) => [r.msg, r.path, r.status, r.user]),
    [["request", "/v1/me", 401, undefined], ["request", "/v1/me", 200, "user"]],
  );
});

Deno.test("secureApp() checks the route that would answer when patterns overlap", async () => {
  const inner = new Hono()
    .get("/v1/zones/public", (c) => c.text("public"))
    .get("/v1/zones/:zone", (c) => c.text(`zone ${c.req.param("zone")}`));
  const app = secureApp(inner, {
    "GET /v1/zones/public": "public",
    "GET /v1/zones/:zone": "admin",
  }, { validator: new FakeValidator(), logger: captureLogger().logger });
  assert.equal(await (await app.request("/v1/zones/public")).text(), "public");
  assert.equal((await app.request("/v1/zones/private")).status, 401);
  assert.equal(
    await (await app.request("/v1/zones/private", bearer("admin-token"))).text(),
    "zone private",
  );
});

Deno.test("secureApp() puts the check before per-route middleware", async () => {
  const ran: string[] = [];
  const inner = new Hono().post("/v1/upload", async (_c, next) => {
    ran.push("middleware");
    await next();
  }, (c) => c.text("stored"));
  const app = secureApp(inner, { "POST /v1/upload": "admin" }, {
    validator: new FakeValidator(),
    logger: captureLogger().logger,
  });
  assert.equal((await app.request("/v1/upload", { method: "POST" })).status, 401);
  assert.deepEqual(ran, []);
  const ok = await app.request("/v1/upload", { method: "POST", ...bearer("admin-token") });
  assert.equal(await ok.text(), "stored");
  assert.deepEqual(ran, ["middleware"]);
});

Deno.test("secureApp() requires ALL entries for all() routes and covers mounted sub-apps", async () => {
  const zones = new Hono().onError((e, c) => c.json({ sub: e.message }, 418));
  zones.get("/:zone", (c) => c.text(c.req.param("zone")));
  zones.get("/:zone/fail", () => {
    throw new Error("sub failure");
  });
  const inner = new Hono().all("/v1/echo", (c) => c.text(c.req.method)).route("/v1/zones", zones);
  const options = { validator: new FakeValidator(), logger: captureLogger().logger };
  assert.throws(() => secureApp(inner, { "GET /v1/zones/:zone": "public" }, options), {
    message: 'Cannot secure app: 2 routes are not in the access map: "ALL /v1/echo", ' +
      '"GET /v1/zones/:zone/fail" (declare each as "public", "authenticated", "admin")',
  });
  const app = secureApp(inner, {
    "ALL /v1/echo": "authenticated",
    "GET /v1/zones/:zone": "public",
    "GET /v1/zones/:zone/fail": "authenticated",
  }, options);
  assert.equal((await app.request("/v1/echo", { method: "DELETE" })).status, 401);
  assert.equal(
    await (await app.request("/v1/echo", { method: "DELETE", ...bearer("user-token") })).text(),
    "DELETE",
  );
  assert.equal(await (await app.request("/v1/zones/a.net")).text(), "a.net");
  assert.equal((await app.request("/v1/zones/a.net/fail")).status, 401);
  await expectJson(await app.request("/v1/zones/a.net/fail", bearer("user-token")), 418, {
    sub: "sub failure",
  });
});

Deno.test("secureApp() keeps the app's error handler, else answers JSON errors", async () => {
  const options = { validator: new FakeValidator(), logger: captureLogger().logger };
  const failing = () =>
    new Hono().get("/v1/x", () => {
      throw new HttpError(409, "conflict here");
    });
  const json = secureApp(failing(), { "GET /v1/x": "public" }, options);
  await expectJson(await json.request("/v1/x"), 409, { error: "conflict here" });
  const custom = secureApp(
    failing().onError((e, c) => c.text(`custom: ${e.message}`, 422)),
    { "GET /v1/x": "public" },
    options,
  );
  const response = await custom.request("/v1/x");
  assert.deepEqual([response.status, await response.text()], [422, "custom: conflict here"]);
});

Deno.test("secureApp() never lets middleware answer paths the map does not declare", async () => {
  const ran: string[] = [];
  const inner = new Hono()
    .use("/files/*", async (c, next) => {
      ran.push(c.req.path);
      if (c.req.path.endsWith(".txt")) return c.text("leaked file");
      await next();
    })
    .mount("/legacy", () => new Response("legacy app"))
    .get("/files/index", (c) => c.text("index"));
  const app = secureApp(inner, { "GET /files/index": "authenticated" }, {
    validator: new FakeValidator(),
    logger: captureLogger().logger,
  });
  await expectJson(await app.request("/files/secret.txt"), 404, { error: "not found" });
  await expectJson(await app.request("/legacy/anything"), 404, { error: "not found" });
  assert.deepEqual(ran, []);
  assert.equal(
    await (await app.request("/files/index", bearer("user-token"))).text(),
    "index",
  );
  assert.deepEqual(ran, ["/files/index"]);
});

Deno.test("secureApp() still lets requestLog log requests that match no route", async () => {
  const { logger, records } = captureLogger();
  const inner = new Hono().use(requestLog({ logger })).get("/v1/health", (c) => c.text("ok"));
  const app = secureApp(inner, { "GET /v1/health": "public" }, {
    validator: new FakeValidator(),
    logger,
  });
  await expectJson(await app.request("/wp-login.php"), 404, { error: "not found" });
  assert.deepEqual(records().map((r) => [r.msg, r.path, r.status]), [
    ["request", "/wp-login.php", 404],
  ]);
});

Deno.test("secureApp() runs use() middleware for routes of a sub-app with its own error handler", async () => {
  const { csrf } = await import("hono/csrf");
  const pages = new Hono().onError((e, c) => c.text(e.message, 500));
  pages.post("/settings", (c) => c.text("saved"));
  const inner = new Hono().use(csrf()).route("/app", pages);
  const crossOrigin = {
    method: "POST",
    headers: {
      origin: "https://evil.example",
      "content-type": "application/x-www-form-urlencoded",
    },
    body: "theme=dark",
  };
  assert.equal((await inner.request("http://localhost/app/settings", crossOrigin)).status, 403);
  const app = secureApp(inner, { "POST /app/settings": "public" }, {
    validator: new FakeValidator(),
    logger: captureLogger().logger,
  });
  const response = await app.request("http://localhost/app/settings", crossOrigin);
  assert.equal(response.status, 403);
  await response.body?.cancel();
});

Deno.test("secureApp() checks the matched route's access before middleware that answers by itself", async () => {
  const ran: string[] = [];
  const other = new Hono().get("/status", (c) => c.text("admin status"));
  const cache = new Map([["/v1/report", "cached report"]]);
  const inner = new Hono()
    .use("/v1/*", async (c, next) => {
      ran.push(`cache ${c.req.path}`);
      const hit = cache.get(c.req.path);
      if (hit !== undefined) return c.text(hit);
      await next();
    })
    .mount("/admin", other.fetch)
    .get("/admin/status", (c) => c.text("unreachable"))
    .get("/v1/report", (c) => c.text("fresh report"));
  const app = secureApp(
    inner,
    { "GET /admin/status": "admin", "GET /v1/report": "authenticated" },
    {
      validator: new FakeValidator(),
      logger: captureLogger().logger,
    },
  );
  await expectJson(await app.request("/admin/status"), 401, { error: "authentication required" });
  await expectJson(await app.request("/admin/status", bearer("user-token")), 403, {
    error: "admin role required",
  });
  await expectJson(await app.request("/v1/report"), 401, { error: "authentication required" });
  assert.deepEqual(ran, []);
  const admin = await app.request("/admin/status", bearer("admin-token"));
  assert.equal(await admin.text(), "admin status");
  const report = await app.request("/v1/report", bearer("user-token"));
  assert.equal(await report.text(), "cached report");
  assert.deepEqual(ran, ["cache /v1/report"]);
});
