import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { captureLogger } from "./_testing.ts";
import { errorResponse, HttpError, jsonErrorHandler, jsonNotFound } from "./http_error.ts";

Deno.test("HttpError carries status, message, name and headers", () => {
  const error = new HttpError(429, "slow down", { headers: { "retry-after": "3" } });
  assert.equal(error.status, 429);
  assert.equal(error.message, "slow down");
  assert.equal(error.name, "HttpError");
  assert.deepEqual(error.headers, { "retry-after": "3" });
  assert.ok(error instanceof Error);
});

Deno.test("HttpError throws RangeError when status is not an error status", () => {
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => new HttpError(200 as any, "fine"),
    new RangeError("Cannot create HttpError: status must be an integer in 400..599, got 200"),
  );
});

Deno.test("errorResponse() answers {error} as JSON with extra headers", async () => {
  const response = errorResponse(401, "no", { "www-authenticate": "Bearer" });
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.equal(response.headers.get("www-authenticate"), "Bearer");
  assert.deepEqual(await response.json(), { error: "no" });
});

function appWith(logger = captureLogger().logger): Hono {
  const app = new Hono().onError(jsonErrorHandler({ logger })).notFound(jsonNotFound);
  app.get("/teapot", () => {
    throw new HttpError(418, "short and stout", { headers: { "x-kind": "tea" } });
  });
  app.get("/unavailable", () => {
    throw new HttpError(503, "database is busy");
  });
  app.get("/hono", () => {
    throw new HTTPException(401, {
      message: "bad credentials",
      res: new Response("x", { headers: { "www-authenticate": "Basic" } }),
    });
  });
  app.get("/hono-bare", () => {
    throw new HTTPException(413);
  });
  app.get("/bug", () => {
    throw new Error("open /srv/mcias/db failed: secret-path-detail", {
      cause: new Error("EACCES"),
    });
  });
  return app;
}

Deno.test("jsonErrorHandler() answers HttpError with its status, message and headers", async () => {
  const response = await appWith().request("/teapot");
  assert.equal(response.status, 418);
  assert.equal(response.headers.get("x-kind"), "tea");
  assert.deepEqual(await response.json(), { error: "short and stout" });
});

Deno.test("jsonErrorHandler() logs 5xx HttpErrors at warn", async () => {
  const { logger, records } = captureLogger();
  const response = await appWith(logger).request("/unavailable");
  assert.deepEqual([response.status, await response.json()], [503, { error: "database is busy" }]);
  assert.equal(records()[0].level, "warn");
  assert.equal(records()[0].path, "/unavailable");
});

Deno.test("jsonErrorHandler() turns Hono's HTTPException into JSON, keeping its headers", async () => {
  const response = await appWith().request("/hono");
  assert.equal(response.status, 401);
  assert.equal(response.headers.get("www-authenticate"), "Basic");
  assert.equal(response.headers.get("content-type"), "application/json");
  assert.deepEqual(await response.json(), { error: "bad credentials" });
  const bare = await appWith().request("/hono-bare");
  assert.deepEqual([bare.status, await bare.json()], [413, { error: "request body too large" }]);
});

Deno.test("jsonErrorHandler() hides unexpected errors behind 500 and logs them with the stack", async () => {
  const { logger, records } = captureLogger();
  const response = await appWith(logger).request("/bug");
  const text = await response.text();
  assert.equal(response.status, 500);
  assert.deepEqual(JSON.parse(text), { error: "internal error" });
  assert.equal(text.includes("secret-path-detail"), false);
  const [record] = records();
  assert.equal(record.level, "error");
  assert.equal(record.msg, "unhandled error");
  assert.deepEqual(record.error, {
    name: "Error",
    message: "open /srv/mcias/db failed: secret-path-detail",
  });
  assert.deepEqual(record.cause, { name: "Error", message: "EACCES" });
  assert.match(String(record.stack), /http_error_test\.ts/);
});

Deno.test("jsonNotFound() answers 404 {error: not found}", async () => {
  const response = await appWith().request("/nowhere");
  assert.equal(response.status, 404);
  assert.deepEqual(await response.json(), { error: "not found" });
});
