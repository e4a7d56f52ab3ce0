/**
 * A workaround for a use-after-free in Deno's `node:http2` that lets any
 * peer abort the whole process (denoland/deno#36788; see CHURN.md).
 *
 * When a peer's GOAWAY arrives, Deno's `node:http2` runs the session's
 * `goaway` handler from inside `nghttp2_session_mem_recv`. The handler closes
 * the session and, when no stream is open, destroys it at once; the native
 * `destroy()` frees the nghttp2 session while `mem_recv` is still using it.
 * The process later dies on `find_stream_on_goaway_func`'s assertion
 * (exit 134), a segfault (139) or `free(): invalid pointer`. A client that
 * closes its channel after a call sends exactly that GOAWAY.
 *
 * The fix wraps the native session handle's `destroy` so that it runs on the
 * next turn of the event loop, after nghttp2 has returned. The JavaScript
 * session is already marked destroyed by then, so nothing else reaches the
 * handle in between; `ondone` (which ends the socket) runs a turn later than
 * before.
 *
 * @module
 */

import http2 from "node:http2";
import { Duplex } from "node:stream";
import { setImmediate } from "node:timers";

const INSTALLED = Symbol.for("mcdsl.grpcserver.http2DeferredDestroy");

type NativeDestroy = (this: object, ...args: unknown[]) => unknown;

/**
 * Makes every `node:http2` session (client and server) in this process free
 * its native state only after nghttp2 has returned to the event loop. Safe to
 * call many times; {@linkcode createGrpcServer} and
 * {@linkcode createGrpcClient} call it.
 *
 * Needs no permissions: the native class is reached through a session on an
 * in-memory stream, not a socket.
 *
 * @returns `true` when the fix is in place (now or from an earlier call),
 *   `false` when this runtime's `node:http2` has no native handle to patch.
 *
 * @example Install it before any HTTP/2 traffic
 * ```ts
 * import assert from "node:assert/strict";
 * import { installHttp2Fix } from "./http2_fix.ts";
 * assert.equal(installHttp2Fix(), true);
 * assert.equal(installHttp2Fix(), true);
 * ```
 */
export function installHttp2Fix(): boolean {
  const global = globalThis as Record<symbol, unknown>;
  if (global[INSTALLED] !== undefined) return global[INSTALLED] as boolean;
  const proto = nativeSessionPrototype();
  const original = proto?.destroy as NativeDestroy | undefined;
  if (proto === undefined || typeof original !== "function") {
    global[INSTALLED] = false;
    return false;
  }
  const scheduled = new WeakSet<object>();
  proto.destroy = function deferredDestroy(this: object, ...args: unknown[]): void {
    if (scheduled.has(this)) return;
    scheduled.add(this);
    setImmediate(() => original.apply(this, args));
  };
  global[INSTALLED] = true;
  return true;
}

/** The prototype of Deno's native nghttp2 session handle, if reachable. */
function nativeSessionPrototype(): Record<string, unknown> | undefined {
  const socket = new Duplex({
    read() {},
    write(_chunk, _encoding, done) {
      done();
    },
  });
  const session = http2.connect("http://localhost", {
    createConnection: () => socket as unknown as import("node:net").Socket,
  });
  session.on("error", () => {});
  try {
    const key = Object.getOwnPropertySymbols(session).find((s) => s.description === "kHandle");
    const handle = key === undefined
      ? undefined
      : (session as unknown as Record<symbol, unknown>)[key];
    if (handle === null || typeof handle !== "object") return undefined;
    return Object.getPrototypeOf(handle) as Record<string, unknown>;
  } finally {
    session.destroy();
    socket.destroy();
  }
}
