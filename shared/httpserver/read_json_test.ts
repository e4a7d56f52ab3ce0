import assert from "node:assert/strict";
import { Hono } from "hono";
import { captureLogger, tempPki } from "./_testing.ts";
import { HttpError, jsonErrorHandler } from "./http_error.ts";
import { readJson, type ReadJsonOptions } from "./read_json.ts";
import { serveHttps } from "./serve_https.ts";

function appReading<T>(options?: ReadJsonOptions<T>): Hono {
  const app = new Hono().onError(jsonErrorHandler({ logger: captureLogger().logger }));
  app.post("/", async (c) => c.json({ got: await readJson(c, options) }));
  return app;
}

function post(
  app: Hono,
  body: BodyInit | null,
  headers: Record<string, string> = { "content-type": "application/json" },
): Promise<Response> {
  return Promise.resolve(app.request("/", { method: "POST", body, headers }));
}

async function expectError(response: Response, status: number, error: string): Promise<void> {
  assert.deepEqual({ status: response.status, body: await response.json() }, {
    status,
    body: { error },
  });
}

Deno.test("readJson() returns the parsed object", async () => {
  const response = await post(appReading(), '{"name":"example.net","ttl":300}');
  assert.deepEqual(await response.json(), { got: { name: "example.net", ttl: 300 } });
});

Deno.test("readJson() accepts a charset parameter on the content type", async () => {
  const response = await post(appReading(), '{"a":1}', {
    "content-type": "application/json; charset=utf-8",
  });
  assert.deepEqual(await response.json(), { got: { a: 1 } });
});

Deno.test("readJson() answers 415 when the content type is not JSON", async () => {
  await expectError(
    await post(appReading(), '{"a":1}', { "content-type": "text/plain" }),
    415,
    'Request body must be JSON: send "Content-Type: application/json"',
  );
  await expectError(
    await post(appReading(), "a=1", {}),
    415,
    'Request body must be JSON: send "Content-Type: application/json"',
  );
});

Deno.test("readJson() answers 413 when Content-Length exceeds maxBytes", async () => {
  const response = await post(appReading({ maxBytes: 10 }), '{"name":"example.net"}', {
    "content-type": "application/json",
    "content-length": "22",
  });
  await expectError(response, 413, "Request body is larger than the limit of 10 bytes");
});

Deno.test("readJson() answers 413 when streamed bytes exceed maxBytes without Content-Length", async () => {
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      // An endless body: the reader must stop at the limit.
      pulled++;
      controller.enqueue(new TextEncoder().encode('{"pad":"' + "x".repeat(1000)));
    },
  });
  const response = await appReading().request("/", {
    method: "POST",
    body,
    headers: { "content-type": "application/json" },
  });
  await expectError(response, 413, "Request body is larger than the limit of 65536 bytes");
  assert.ok(pulled < 100, `read ${pulled} chunks`);
});

Deno.test("readJson() still answers 413 when a body is longer than its declared Content-Length", async () => {
  // Only an in-process caller can do this (the HTTP stacks cut the body at
  // the declared length); the one-piece read must still enforce the limit.
  const response = await appReading({ maxBytes: 10 }).request("/", {
    method: "POST",
    body: JSON.stringify({ pad: "x".repeat(100) }),
    headers: { "content-type": "application/json", "content-length": "5" },
  });
  await expectError(response, 413, "Request body is larger than the limit of 10 bytes");
});

Deno.test("readJson() answers 400, not 500, when the body cannot be read", async () => {
  const { logger, records } = captureLogger();
  const app = new Hono().onError(jsonErrorHandler({ logger }));
  app.post("/", async (c) => c.json({ got: await readJson(c) }));
  const variants: Record<string, string>[] = [{}, { "content-length": "50" }];
  for (const headers of variants) {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode('{"a":'));
        controller.error(new Error("connection reset"));
      },
    });
    const response = await app.request("/", {
      method: "POST",
      body,
      headers: { "content-type": "application/json", ...headers },
    });
    await expectError(
      response,
      400,
      "Request body could not be read: the connection ended early",
    );
  }
  assert.deepEqual(records().filter((r) => r.level === "error"), []);
});

Deno.test("readJson() over serveHttps reads Content-Length bodies and shrugs off clients that hang up", async () => {
  await using pki = await tempPki();
  const { logger, records } = captureLogger();
  const app = new Hono().onError(jsonErrorHandler({ logger }));
  app.post("/", async (c) => c.json({ got: await readJson(c, { maxBytes: 64 }) }));
  await using server = await serveHttps(app, {
    listenAddr: "127.0.0.1:0",
    tlsCert: pki.cert,
    tlsKey: pki.key,
    logger,
  });
  using client = Deno.createHttpClient({ caCerts: [pki.caPem] });
  const base = `https://127.0.0.1:${server.addr.port}/`;
  const json = { "content-type": "application/json" };
  const ok = await fetch(base, { client, method: "POST", headers: json, body: '{"a":1}' });
  assert.deepEqual(await ok.json(), { got: { a: 1 } });
  const big = await fetch(base, {
    client,
    method: "POST",
    headers: json,
    body: JSON.stringify({ pad: "x".repeat(100) }),
  });
  await expectError(big, 413, "Request body is larger than the limit of 64 bytes");

  // Headers promising 40 bytes, 5 sent, then the client goes away.
  const conn = await Deno.connectTls({
    hostname: "127.0.0.1",
    port: server.addr.port,
    caCerts: [pki.caPem],
  });
  await conn.write(
    new TextEncoder().encode(
      "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n" +
        'content-length: 40\r\n\r\n{"a":',
    ),
  );
  await new Promise((resolve) => setTimeout(resolve, 100));
  conn.close();
  // The server notices the hang-up; give it a bounded moment to log.
  for (let i = 0; i < 20 && !records().some((r) => r.msg === "request failed"); i++) {
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  assert.deepEqual(records().filter((r) => r.level === "error"), []);
});

Deno.test("readJson() defaults to a 64 KiB limit", async () => {
  const fits = JSON.stringify({ pad: "x".repeat(65536 - 10) });
  assert.equal((await post(appReading(), fits)).status, 200);
  const over = JSON.stringify({ pad: "x".repeat(65536) });
  await expectError(
    await post(appReading(), over),
    413,
    "Request body is larger than the limit of 65536 bytes",
  );
});

Deno.test("readJson() answers 400 without echoing the body when JSON is malformed", async () => {
  const response = await post(appReading(), '{"password": hunter2}');
  const text = await response.text();
  assert.equal(response.status, 400);
  assert.deepEqual(JSON.parse(text), {
    error: "Request body is not valid JSON: send a JSON object",
  });
  assert.equal(text.includes("hunter2"), false);
});

Deno.test("readJson() answers 400 when the body is not UTF-8", async () => {
  await expectError(
    await post(appReading(), new Uint8Array([0x7b, 0xff, 0x7d])),
    400,
    "Request body is not valid JSON: send a JSON object",
  );
});

Deno.test("readJson() answers 400 when the body is empty", async () => {
  await expectError(await post(appReading(), ""), 400, "Request body is empty: send a JSON object");
  await expectError(
    await post(appReading(), null),
    400,
    "Request body is empty: send a JSON object",
  );
});

Deno.test("readJson() answers 400 when the body is not an object", async () => {
  const cases: [string, string][] = [
    ["[1,2]", "an array"],
    ["null", "null"],
    ['"text"', "string"],
    ["42", "number"],
  ];
  for (const [body, kind] of cases) {
    await expectError(
      await post(appReading(), body),
      400,
      `Request body must be a JSON object, got ${kind}`,
    );
  }
});

Deno.test("readJson() answers 400 listing unknown fields and the allowed ones", async () => {
  const app = appReading({ allowedKeys: ["name", "ttl"] });
  assert.equal((await post(app, '{"name":"a"}')).status, 200);
  await expectError(
    await post(app, '{"name":"a","admin":true,"roles":[]}'),
    400,
    'Request body has unknown fields "admin", "roles"; allowed: "name", "ttl"',
  );
  await expectError(
    await post(appReading({ allowedKeys: [] }), '{"a":1}'),
    400,
    'Request body has unknown field "a"; allowed: none',
  );
});

Deno.test("readJson() returns what validate returns", async () => {
  const app = appReading({
    validate(body) {
      if (typeof body.name !== "string") throw new TypeError('"name" must be a string');
      return { name: body.name.toUpperCase() };
    },
  });
  assert.deepEqual(await (await post(app, '{"name":"a"}')).json(), { got: { name: "A" } });
  await expectError(await post(app, '{"name":1}'), 400, '"name" must be a string');
});

Deno.test("readJson() passes HttpError from validate and lets other errors become 500", async () => {
  const conflict = appReading({
    validate(): never {
      throw new HttpError(409, "already exists");
    },
  });
  await expectError(await post(conflict, "{}"), 409, "already exists");
  const buggy = appReading({
    validate(): never {
      throw new Error("bug");
    },
  });
  await expectError(await post(buggy, "{}"), 500, "internal error");
});

Deno.test("readJson() throws RangeError when maxBytes is not a positive integer", async () => {
  const { logger, records } = captureLogger();
  const app = new Hono().onError(jsonErrorHandler({ logger }));
  app.post("/", async (c) => c.json(await readJson(c, { maxBytes: 0 })));
  await expectError(await post(app, "{}"), 500, "internal error");
  assert.deepEqual(records()[0].error, {
    name: "RangeError",
    message: 'Cannot read JSON body: "maxBytes" must be a positive integer, got 0',
  });
});
