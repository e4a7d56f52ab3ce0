// Runs serveHttps under narrow permissions, as a service would:
//   deno run --no-prompt --allow-net=127.0.0.1:PORT --allow-read=CERT,KEY \
//     sandbox_server.ts PORT CERT KEY
// Prints "listening PORT" once serving; shuts down gracefully on SIGTERM.
import { Hono } from "hono";
import { createLogger } from "../../log/mod.ts";
import { jsonErrorHandler } from "../http_error.ts";
import { readJson } from "../read_json.ts";
import { requestLog } from "../request_log.ts";
import { secureApp } from "../secure_app.ts";
import { serveHttps } from "../serve_https.ts";

const [port, cert, key] = Deno.args;
const logger = createLogger({ level: "debug" });
const validator = {
  validate: (token: string) =>
    Promise.resolve({
      valid: token === "good",
      username: "alice",
      accountType: "human" as const,
      roles: ["admin"],
      expiresAt: new Date(Date.now() + 60_000),
    }),
};
const api = new Hono()
  .use(requestLog({ logger }))
  .onError(jsonErrorHandler({ logger }))
  .get("/v1/health", (c) => c.json({ ok: true }))
  .post("/v1/echo", async (c) => c.json(await readJson(c)));
const app = secureApp(api, { "GET /v1/health": "public", "POST /v1/echo": "admin" }, {
  validator,
  logger,
});
const controller = new AbortController();
Deno.addSignalListener("SIGTERM", () => controller.abort());
const server = await serveHttps(app, {
  listenAddr: `127.0.0.1:${port}`,
  tlsCert: cert,
  tlsKey: key,
  logger,
  signal: controller.signal,
  onListen: (addr) => console.log(`listening ${addr.port}`),
});
await server.finished;
console.log("stopped");
Deno.exit(0);
