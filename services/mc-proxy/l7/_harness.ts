/**
 * Test support for the L7 tests: a stand-in for the listener core, backends
 * (h2c echo, h2 over TLS, gRPC, WebSocket) and an observer that counts.
 * Test-only.
 *
 * @module
 */

import http2 from "node:http2";
import net from "node:net";
import type { AddressInfo, Socket } from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { BlockReason, ClientInfo, L7Terminator, ProxyObserver, Route } from "../types.ts";

/** Waits for `check()` to hold, polling; fails after `ms`. */
export async function waitFor(check: () => boolean, ms = 5000, what = "condition"): Promise<void> {
  const until = Date.now() + ms;
  while (!check()) {
    if (Date.now() > until) throw new Error(`Timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A listener-core stand-in: accepts, peeks the first bytes, unshifts, hands over. */
export interface Harness {
  port: number;
  /** Connections accepted and not yet closed. */
  open(): number;
  close(): Promise<void>;
}

/** The client the harness claims every connection comes from. */
export const FAKE_CLIENT: ClientInfo = {
  address: "192.0.2.10",
  port: 40000,
  localAddress: "127.0.0.1",
  localPort: 443,
  viaProxyProtocol: true,
};

/**
 * Starts a loopback listener that hands every connection to `l7.handle`
 * with `route` (as the core does after reading the ClientHello).
 */
export async function startHarness(l7: L7Terminator, route: Route): Promise<Harness> {
  const sockets = new Set<Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
    socket.on("error", () => {});
    socket.once("readable", () => {
      const first = socket.read();
      if (first === null) return socket.destroy();
      socket.unshift(first);
      l7.handle(socket, route, FAKE_CLIENT);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    open: () => sockets.size,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** An observer that records what it was told. */
export class CountingObserver implements ProxyObserver {
  routedCount = 0;
  blocks: BlockReason[] = [];
  statuses: number[] = [];
  latencies: number[] = [];
  bytesIn = 0;
  bytesOut = 0;
  connectionOpened() {}
  connectionClosed() {}
  blocked(reason: BlockReason) {
    this.blocks.push(reason);
  }
  routed() {
    this.routedCount++;
  }
  bytes(_route: Route, direction: "in" | "out", n: number) {
    if (direction === "in") this.bytesIn += n;
    else this.bytesOut += n;
  }
  latency(_route: Route, seconds: number) {
    this.latencies.push(seconds);
  }
  request(_route: Route, status: number) {
    this.statuses.push(status);
  }
}

/** The h2c (or TLS) test backend and what it saw. */
export interface EchoBackend {
  port: number;
  hits: number;
  openStreams: number;
  /** Sessions accepted so far. */
  sessionsSeen: number;
  /** Sends GOAWAY on every open session and closes them. */
  dropSessions(): void;
  close(): Promise<void>;
}

/**
 * An HTTP/2 backend: `/headers` answers the request headers as JSON,
 * `/echo` streams the body back with an `x-echo-trailer` trailer,
 * `/slow` writes a chunk every 20 ms until the stream closes, `/sink`
 * answers the byte count once the upload ends, `/delay`
 * answers after 300 ms.
 */
export async function startEchoBackend(
  tls?: { cert: string; key: string },
): Promise<EchoBackend> {
  const server = tls === undefined
    ? http2.createServer()
    : http2.createSecureServer({ cert: tls.cert, key: tls.key, minVersion: "TLSv1.3" });
  const sessions = new Set<http2.ServerHttp2Session>();
  const state: EchoBackend = {
    port: 0,
    hits: 0,
    openStreams: 0,
    sessionsSeen: 0,
    dropSessions: () => {
      for (const s of sessions) s.close();
    },
    close: () => {
      for (const s of sessions) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  server.on("session", (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    state.sessionsSeen++;
    s.on("error", () => {});
    s.once("close", () => sessions.delete(s));
  });
  server.on("stream", (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    state.hits++;
    state.openStreams++;
    stream.once("close", () => state.openStreams--);
    stream.on("error", () => {});
    const path = headers[":path"];
    if (path === "/headers") {
      const seen: Record<string, unknown> = {};
      for (const [k, v] of Object.entries(headers)) seen[k] = v;
      stream.resume();
      stream.respond({ ":status": 200, "content-type": "application/json" });
      stream.end(JSON.stringify(seen));
    } else if (path === "/echo") {
      stream.respond({ ":status": 200, "content-type": "application/octet-stream" }, {
        waitForTrailers: true,
      });
      stream.on("wantTrailers", () => stream.sendTrailers({ "x-echo-trailer": "done" }));
      stream.pipe(stream);
    } else if (path === "/slow") {
      stream.resume();
      stream.respond({ ":status": 200 });
      const timer = setInterval(() => stream.write("tick\n"), 20);
      stream.once("close", () => clearInterval(timer));
    } else if (path === "/sink") {
      let n = 0;
      stream.on("data", (c: Uint8Array) => n += c.length);
      stream.on("end", () => {
        stream.respond({ ":status": 200 });
        stream.end(String(n));
      });
    } else if (path === "/delay") {
      stream.resume();
      const timer = setTimeout(() => {
        stream.respond({ ":status": 200 });
        stream.end("done");
      }, 300);
      stream.once("close", () => clearTimeout(timer));
    } else {
      stream.resume();
      stream.respond({ ":status": 404 });
      stream.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.port = (server.address() as AddressInfo).port;
  return state;
}

/** A message of the JSON-coded test service. */
export interface Msg {
  text: string;
  count?: number;
}

const json = {
  requestSerialize: (v: Msg) => Buffer.from(JSON.stringify(v)),
  requestDeserialize: (b: Buffer) => JSON.parse(b.toString()) as Msg,
  responseSerialize: (v: Msg) => Buffer.from(JSON.stringify(v)),
  responseDeserialize: (b: Buffer) => JSON.parse(b.toString()) as Msg,
};

/** `t.Echo`: Unary, ServerStream, Bidi, with JSON messages. */
export const ECHO_SERVICE: grpc.ServiceDefinition = {
  Unary: { path: "/t.Echo/Unary", requestStream: false, responseStream: false, ...json },
  ServerStream: {
    path: "/t.Echo/ServerStream",
    requestStream: false,
    responseStream: true,
    ...json,
  },
  Bidi: { path: "/t.Echo/Bidi", requestStream: true, responseStream: true, ...json },
};

function trailer(value: string): grpc.Metadata {
  const md = new grpc.Metadata();
  md.set("x-trailer", value);
  return md;
}

/** A grpc-js server for `t.Echo` on h2c; `Unary` with text "missing" fails NOT_FOUND. */
export async function startGrpcBackend(): Promise<{ port: number; close(): void }> {
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, {
    Unary(
      call: grpc.ServerUnaryCall<Msg, Msg>,
      callback: grpc.sendUnaryData<Msg>,
    ) {
      if (call.request.text === "missing") {
        callback({ code: grpc.status.NOT_FOUND, details: "no such thing: missing" });
        return;
      }
      const ip = call.metadata.get("x-real-ip")[0];
      callback(null, { text: `${call.request.text}|${ip}` }, trailer("unary"));
    },
    ServerStream(call: grpc.ServerWritableStream<Msg, Msg>) {
      const n = call.request.count ?? 3;
      for (let i = 0; i < n; i++) call.write({ text: `${call.request.text}-${i}` });
      call.end(trailer("server-stream"));
    },
    Bidi(call: grpc.ServerDuplexStream<Msg, Msg>) {
      call.on("data", (m: Msg) => call.write({ text: m.text.toUpperCase() }));
      call.on("end", () => call.end(trailer("bidi")));
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (err, p) => err ? reject(err) : resolve(p),
    )
  );
  return { port, close: () => server.forceShutdown() };
}

/** A WebSocket echo backend (HTTP/1.1) that records the upgrade request's headers. */
export function startWsBackend(): {
  port: number;
  seen: Record<string, string>[];
  close(): Promise<void>;
} {
  const seen: Record<string, string>[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    seen.push(Object.fromEntries(req.headers));
    if (req.headers.get("upgrade") !== "websocket") return new Response("no", { status: 400 });
    const { socket, response } = Deno.upgradeWebSocket(req);
    socket.onmessage = (e) => socket.send(`echo:${e.data}`);
    return response;
  });
  return { port: server.addr.port, seen, close: () => server.shutdown() };
}

/** Encodes one masked WebSocket text frame (client → server), payload < 126 bytes. */
export function wsTextFrame(text: string): Uint8Array {
  const payload = new TextEncoder().encode(text);
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const frame = new Uint8Array(6 + payload.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | payload.length;
  frame.set(mask, 2);
  for (let i = 0; i < payload.length; i++) frame[6 + i] = payload[i] ^ mask[i % 4];
  return frame;
}

/** Decodes one unmasked server text frame with a short payload, or undefined if incomplete. */
export function wsReadText(bytes: Uint8Array): string | undefined {
  if (bytes.length < 2) return undefined;
  const len = bytes[1] & 0x7f;
  if (len >= 126 || bytes.length < 2 + len) return undefined;
  return new TextDecoder().decode(bytes.subarray(2, 2 + len));
}
