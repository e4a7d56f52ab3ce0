import assert from "node:assert/strict";
import { Hono } from "hono";
import type { TokenInfo } from "../auth/types.ts";
import { createLogger } from "../log/mod.ts";
import { captureLogger, run, tempPki } from "./_testing.ts";
import { HttpError, jsonErrorHandler } from "./http_error.ts";
import { readJson } from "./read_json.ts";
import { requestLog, type RequestLogVariables } from "./request_log.ts";
import { type AccessVariables, secureApp } from "./secure_app.ts";
import { serveHttps } from "./serve_https.ts";

type Vars = { Variables: RequestLogVariables & AccessVariables };

Deno.test("requestLog() writes one line with method, path, status, duration and request id", async () => {
  const { logger, records } = captureLogger();
  let clock = 1000;
  const app = new Hono<Vars>()
    .use(requestLog({ logger, now: () => clock, generateId: () => "id-1" }))
    .get("/v1/zones/:zone", (c) => {
      clock += 12.345;
      return c.json({ id: c.var.requestId }, 201);
    });
  const response = await app.request("/v1/zones/a.net?verbose=1");
  assert.equal(response.headers.get("x-request-id"), "id-1");
  assert.deepEqual(await response.json(), { id: "id-1" });
  const [record] = records();
  assert.deepEqual({ ...record, time: undefined }, {
    time: undefined,
    level: "info",
    msg: "request",
    method: "GET",
    path: "/v1/zones/a.net",
    status: 201,
    durationMs: 12.3,
    requestId: "id-1",
  });
});

Deno.test("requestLog() under a logger above info writes nothing but still sets the request id", async () => {
  const lines: string[] = [];
  const logger = createLogger({ level: "warn", write: (line) => lines.push(line) });
  let clockReads = 0;
  const app = new Hono<Vars>()
    .use(requestLog({ logger, now: () => ++clockReads, generateId: () => "id-2" }))
    .get("/v1/health", (c) => c.json({ id: c.var.requestId }));
  const response = await app.request("/v1/health");
  assert.equal(response.headers.get("x-request-id"), "id-2");
  assert.deepEqual(await response.json(), { id: "id-2" });
  assert.deepEqual(lines, []);
  assert.equal(clockReads, 0);
});

Deno.test("requestLog() echoes X-Request-Id on every kind of response", async () => {
  const { logger } = captureLogger();
  let n = 0;
  const app = new Hono<Vars>()
    .use(requestLog({ logger, generateId: () => `id-${++n}` }))
    .onError(jsonErrorHandler({ logger }))
    .get("/json", (c) => c.json({ ok: true }))
    .get("/raw", () => new Response("raw", { headers: { "content-type": "text/plain" } }))
    .get("/frozen", async () => {
      // Headers of a fetched response are immutable.
      const fetched = await fetch("data:text/plain,hi");
      return fetched;
    })
    .get("/throws", () => {
      throw new HttpError(409, "conflict");
    });
  const ids: string[] = [];
  for (const path of ["/json", "/raw", "/frozen", "/throws", "/missing"]) {
    const response = await app.request(path);
    ids.push(`${path} ${response.status} ${response.headers.get("x-request-id")}`);
    await response.body?.cancel();
  }
  assert.deepEqual(ids, [
    "/json 200 id-1",
    "/raw 200 id-2",
    "/frozen 200 id-3",
    "/throws 409 id-4",
    "/missing 404 id-5",
  ]);
});

Deno.test("requestLog() keeps a well-formed X-Request-Id and replaces a malformed one", async () => {
  const { logger, records } = captureLogger();
  const app = new Hono().use(requestLog({ logger, generateId: () => "fresh" })).get(
    "/",
    (c) => c.text("ok"),
  );
  const kept = await app.request("/", { headers: { "x-request-id": "proxy-42.a:b" } });
  assert.equal(kept.headers.get("x-request-id"), "proxy-42.a:b");
  const replaced = await app.request("/", {
    headers: { "x-request-id": 'evil" "level":"error' },
  });
  assert.equal(replaced.headers.get("x-request-id"), "fresh");
  const long = await app.request("/", { headers: { "x-request-id": "a".repeat(129) } });
  assert.equal(long.headers.get("x-request-id"), "fresh");
  assert.deepEqual(records().map((r) => r.requestId), ["proxy-42.a:b", "fresh", "fresh"]);
});

Deno.test("requestLog() logs the status the error handler chose, and 500 for escaped errors", async () => {
  const { logger, records } = captureLogger();
  const handled = new Hono().use(requestLog({ logger })).onError(jsonErrorHandler({ logger }))
    .get("/", () => {
      throw new HttpError(409, "conflict");
    });
  assert.equal((await handled.request("/")).status, 409);
  const escaped = new Hono().use(requestLog({ logger })).onError((error) => {
    throw error;
  }).get("/", () => {
    throw new Error("boom");
  });
  await assert.rejects(Promise.resolve(escaped.request("/")), { message: "boom" });
  assert.deepEqual(
    records().filter((r) => r.msg === "request").map((r) => r.status),
    [409, 500],
  );
});

const SECRETS = {
  bearer: "BearerS3cretValue0001",
  cookie: "CookieS3cretValue0002",
  password: "PasswordS3cretValue0003",
  queryToken: "QueryS3cretValue0004",
  setCookie: "SetCookieS3cretValue0005",
  badBearer: "BadBearerS3cretValue0006",
  malformedPassword: "MalformedS3cretValue0007",
  queryPassword: "QueryPasswordS3cret0008",
};

Deno.test("requestLog() over HTTPS never logs tokens, cookies, passwords or query strings", async () => {
  await using pki = await tempPki();
  const { logger, lines, records } = captureLogger();
  const validator = {
    validate: (token: string): Promise<TokenInfo> =>
      Promise.resolve({
        valid: token === SECRETS.bearer,
        username: token === SECRETS.bearer ? "alice" : "",
        accountType: "human",
        roles: [],
        expiresAt: new Date(Date.now() + 60_000),
      }),
  };
  const api = new Hono<Vars>()
    .use(requestLog({ logger }))
    .onError(jsonErrorHandler({ logger }))
    .get("/v1/me", (c) => c.json({ user: c.var.tokenInfo?.username }))
    .post("/v1/login", async (c) => {
      const body = await readJson(c, { allowedKeys: ["username", "password"] });
      if (body.password !== SECRETS.password) throw new HttpError(401, "bad credentials");
      c.header("set-cookie", `session=${SECRETS.setCookie}; Secure; HttpOnly`);
      return c.json({ ok: true });
    });
  const app = secureApp(api, { "GET /v1/me": "authenticated", "POST /v1/login": "public" }, {
    validator,
    logger,
  });
  await using server = await serveHttps(app, {
    listenAddr: "127.0.0.1:0",
    tlsCert: pki.cert,
    tlsKey: pki.key,
    logger,
  });
  const base = `https://127.0.0.1:${server.addr.port}`;
  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  async function send(path: string, init: RequestInit = {}): Promise<number> {
    const response = await fetch(base + path, { client, ...init });
    await response.body?.cancel();
    return response.status;
  }
  const json = { "content-type": "application/json" };

  const statuses = [
    await send(`/v1/me?token=${SECRETS.queryToken}&password=${SECRETS.queryPassword}`, {
      headers: { authorization: `Bearer ${SECRETS.bearer}`, cookie: `session=${SECRETS.cookie}` },
    }),
    await send("/v1/me", { headers: { authorization: `Bearer ${SECRETS.badBearer}` } }),
    await send(`/v1/login?token=${SECRETS.queryToken}`, {
      method: "POST",
      headers: { ...json, cookie: `session=${SECRETS.cookie}` },
      body: JSON.stringify({ username: "alice", password: SECRETS.password }),
    }),
    await send("/v1/login", {
      method: "POST",
      headers: json,
      body: JSON.stringify({ username: "alice", password: SECRETS.badBearer }),
    }),
    await send("/v1/login", {
      method: "POST",
      headers: json,
      body: `{"username":"alice","password":${SECRETS.malformedPassword}}`,
    }),
  ];
  assert.deepEqual(statuses, [200, 401, 200, 401, 400]);

  // curl too, so the raw request line carries the query string over the wire.
  const curl = await run("curl", [
    "-sS",
    "--cacert",
    pki.caCert,
    "-o",
    "/dev/null",
    "-w",
    "%{http_code}",
    "-H",
    `Authorization: Bearer ${SECRETS.bearer}`,
    "-b",
    `session=${SECRETS.cookie}`,
    `${base}/v1/me?access_token=${SECRETS.queryToken}`,
  ]);
  assert.equal(curl.stdout, "200");

  const requests = records().filter((r) => r.msg === "request");
  assert.deepEqual(
    requests.map((r) => [r.method, r.path, r.status, r.user, r.remoteAddr]),
    [
      ["GET", "/v1/me", 200, "alice", "127.0.0.1"],
      ["GET", "/v1/me", 401, undefined, "127.0.0.1"],
      ["POST", "/v1/login", 200, undefined, "127.0.0.1"],
      ["POST", "/v1/login", 401, undefined, "127.0.0.1"],
      ["POST", "/v1/login", 400, undefined, "127.0.0.1"],
      ["GET", "/v1/me", 200, "alice", "127.0.0.1"],
    ],
  );
  for (const r of requests) {
    assert.equal(typeof r.durationMs, "number");
    assert.match(String(r.requestId), /^[0-9a-f-]{36}$/);
  }
  const everything = lines.join("\n");
  for (const [name, secret] of Object.entries(SECRETS)) {
    assert.equal(everything.includes(secret), false, `log holds the ${name} secret`);
  }
  assert.equal(everything.includes("?"), false, "log holds a query string");
});
