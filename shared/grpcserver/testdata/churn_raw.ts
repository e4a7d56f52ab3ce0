// Churn driver with raw sockets (Deno APIs only, so nothing in this process
// runs nghttp2): HTTP/2 connections that open calls and then vanish, reset
// streams, or send GOAWAY, with and without open streams.
//
// deno run --allow-read --allow-write --allow-net --allow-env --allow-run --allow-sys churn_raw.ts --transport tls|unix --addr HOST:PORT|PATH --seconds S
//   [--concurrency C] [--ca CA.pem] [--token T] [--goaway-only]
// Prints one JSON line: {"connections":N,"failed":N}.
import { parseArgs } from "node:util";
import { concat, echoData, END_STREAM, goaway, grpcHeaders, HEADERS, PREFACE, readUntil, rstStream, SETTINGS, frame } from "./h2_frames.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    transport: { type: "string" },
    addr: { type: "string" },
    seconds: { type: "string", default: "5" },
    concurrency: { type: "string", default: "16" },
    ca: { type: "string" },
    token: { type: "string" },
    "goaway-only": { type: "boolean", default: false },
  },
});
const transport = values.transport!;
const addr = values.addr!;
const deadline = Date.now() + Number(values.seconds) * 1000;
const ca = values.ca ? Deno.readTextFileSync(values.ca) : undefined;
const scheme = transport === "tls" ? "https" : "http";
const auth: [string, string][] = values.token ? [["authorization", `Bearer ${values.token}`]] : [];
const PATHS = ["/mcdsl.test.v1.Echo/Watch", "/mcdsl.test.v1.Echo/Chat", "/mcdsl.test.v1.Echo/Ping"];
const stats = { connections: 0, failed: 0 };

async function connect(): Promise<Deno.Conn> {
  if (transport === "unix") return await Deno.connect({ transport: "unix", path: addr });
  const i = addr.lastIndexOf(":");
  const [hostname, port] = [addr.slice(0, i), Number(addr.slice(i + 1))];
  return await Deno.connectTls({ hostname, port, caCerts: ca ? [ca] : undefined, alpnProtocols: ["h2"] });
}

function openStreams(n: number, withToken: boolean): Uint8Array[] {
  const parts: Uint8Array[] = [];
  for (let s = 0; s < n; s++) {
    const id = 1 + 2 * s;
    const path = PATHS[s % 3];
    parts.push(grpcHeaders(id, path, scheme, withToken ? auth : []));
    // Chat stays open for writing; Watch asks for a long stream.
    parts.push(echoData(id, "m", 10_000, 1, path !== PATHS[1]));
  }
  return parts;
}

function closeQuietly(conn: Deno.Conn): void {
  try {
    conn.close();
  } catch {
    // Closed by the peer or the read timeout.
  }
}

async function one(i: number): Promise<void> {
  let conn: Deno.Conn;
  try {
    conn = await connect();
  } catch {
    stats.failed++;
    return;
  }
  stats.connections++;
  const variant = values["goaway-only"] ? 6 + (i % 4) : i % 10;
  const n = 1 + (i % 7);
  const withToken = i % 2 === 0;
  try {
    if (variant >= 6) {
      // Idle-session GOAWAYs: what a client closing its channel sends.
      const parts = [PREFACE, frame(SETTINGS, 0, 0)];
      if (variant === 6 || variant === 9) {
        parts.push(grpcHeaders(1, PATHS[2], scheme), echoData(1, "p"));
      }
      if (variant === 9) parts.push(goaway(1, 0));
      await conn.write(concat(...parts));
      if (variant === 6) await readUntil(conn, (t, f, s) => t === HEADERS && s === 1 && (f & END_STREAM) !== 0, 2000);
      else if (variant !== 9) await readUntil(conn, (t) => t === SETTINGS, 2000);
      if (variant !== 9) await conn.write(goaway(variant === 6 ? 1 : 0, variant === 7 ? 2 : 0));
      if (variant !== 8) await readUntil(conn, () => false, 300);
      return;
    }
    const parts = [PREFACE, frame(SETTINGS, 0, 0), ...openStreams(n, withToken)];
    if (variant === 1) parts.push(goaway(0, 0));
    if (variant === 2) parts.push(rstStream(1, 8));
    await conn.write(concat(...parts));
    if (variant === 3 || variant === 1) return;
    let frames = 0;
    await readUntil(conn, () => ++frames > 3 + (i % 5), 300);
    if (variant === 4) await conn.write(goaway(1, 0));
    if (variant === 5) await conn.write(concat(rstStream(1, 8), rstStream(3, 8), goaway(3, 1)));
    if (variant === 4 || variant === 5) await readUntil(conn, () => false, 100);
  } catch {
    // The server closing first is part of the game.
  } finally {
    closeQuietly(conn);
  }
}

let next = 0;
await Promise.all(
  Array.from({ length: Number(values.concurrency) }, async () => {
    while (Date.now() < deadline) await one(next++);
  }),
);
console.log(JSON.stringify(stats));
