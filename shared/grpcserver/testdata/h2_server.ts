// A bare node:http2 (h2c) server on a unix socket, for the http2_fix test.
// deno run h2_server.ts --path SOCKET [--fix]
// Answers every stream with 200 and an empty body; prints READY; SIGTERM exits 0.
import http2 from "node:http2";
import { parseArgs } from "node:util";
import { installHttp2Fix } from "../http2_fix.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { path: { type: "string" }, fix: { type: "boolean", default: false } },
});
if (values.fix) installHttp2Fix();
const server = http2.createServer();
server.on("session", (s) => s.on("error", () => {}));
server.on("stream", (stream: http2.ServerHttp2Stream) => {
  stream.on("error", () => {});
  // A stream can arrive already reset by a client that sent GOAWAY with it.
  if (stream.destroyed || stream.closed) return;
  stream.respond({ ":status": 200 });
  stream.end();
});
server.listen(values.path!, () => console.log("READY"));
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
