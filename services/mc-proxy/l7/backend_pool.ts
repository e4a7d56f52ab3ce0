/**
 * One pooled HTTP/2 session per backend (h2c or h2 over TLS), shared by
 * every request of every client on that route, reconnected after GOAWAY or
 * an error.
 *
 * @module
 */

import http2 from "node:http2";
import type { ClientHttp2Session, SecureClientSessionOptions } from "node:http2";
import { isIP } from "node:net";

/** The backend did not complete its connection (and TLS handshake) in time. */
export class BackendTimeoutError extends Error {
  /**
   * @param backend `host:port`.
   * @param ms The connect timeout.
   */
  constructor(backend: string, ms: number) {
    super(`Cannot connect to backend "${backend}": no connection after ${ms} ms`);
    this.name = "BackendTimeoutError";
  }
}

/** What a backend connection needs to know. */
export interface BackendTarget {
  /** `host:port`. */
  backend: string;
  /** h2 over TLS instead of h2c. */
  backendTls: boolean;
  /** SNI (and, when verifying, the name checked) for TLS backends. */
  hostname: string;
}

/** Options for {@linkcode BackendPool}. */
export interface BackendPoolOptions {
  /** Time allowed to connect (TCP + TLS + SETTINGS), ms. */
  connectTimeoutMs: number;
  /** An unused backend session is closed after this long, ms. */
  idleTimeoutMs: number;
  /**
   * PEM CA certificates that TLS backends must chain to; when absent the
   * backend certificate is not verified (seed 004: trusted internal backends
   * whose certificates need not match the public name).
   */
  backendCa?: string;
}

/** Splits `host:port` (IPv6 hosts in brackets) for URL use. */
function backendUrl(target: BackendTarget): string {
  return `${target.backendTls ? "https" : "http"}://${target.backend}`;
}

/**
 * Pooled backend sessions, keyed by scheme, address and SNI name.
 *
 * @example Usage
 * ```ts
 * import { BackendPool } from "./backend_pool.ts";
 * const pool = new BackendPool({ connectTimeoutMs: 100, idleTimeoutMs: 1000 });
 * pool.close();
 * ```
 */
export class BackendPool {
  #options: BackendPoolOptions;
  #sessions = new Map<string, Promise<ClientHttp2Session>>();
  #live = new Set<ClientHttp2Session>();

  /** @param options Timeouts and the optional backend CA. */
  constructor(options: BackendPoolOptions) {
    this.#options = options;
  }

  /**
   * The backend's session, connecting when there is none (or the last one
   * went away).
   *
   * @param target Backend address, transport and name.
   * @returns A connected session.
   * @throws {BackendTimeoutError} When the connection takes too long.
   * @throws {Error} When the backend refuses or the session fails.
   */
  get(target: BackendTarget): Promise<ClientHttp2Session> {
    const key = `${backendUrl(target)}#${target.hostname}`;
    const existing = this.#sessions.get(key);
    if (existing !== undefined) return existing;
    const { promise, resolve, reject } = Promise.withResolvers<ClientHttp2Session>();
    this.#sessions.set(key, promise);
    promise.catch(() => {});
    const forget = () => {
      if (this.#sessions.get(key) === promise) this.#sessions.delete(key);
    };
    const options: SecureClientSessionOptions = {
      settings: { enablePush: false },
    };
    if (target.backendTls) {
      options.minVersion = "TLSv1.3";
      options.ALPNProtocols = ["h2"];
      if (isIP(target.hostname) === 0) options.servername = target.hostname;
      if (this.#options.backendCa !== undefined) {
        options.ca = this.#options.backendCa;
        options.rejectUnauthorized = true;
      } else {
        options.rejectUnauthorized = false;
      }
    }
    let session: ClientHttp2Session;
    try {
      session = http2.connect(backendUrl(target), options);
    } catch (error) {
      forget();
      reject(error);
      return promise;
    }
    this.#live.add(session);
    const timer = setTimeout(() => {
      forget();
      reject(new BackendTimeoutError(target.backend, this.#options.connectTimeoutMs));
      session.destroy();
    }, this.#options.connectTimeoutMs);
    session.once("connect", () => {
      clearTimeout(timer);
      resolve(session);
    });
    session.on("error", (error) => {
      clearTimeout(timer);
      forget();
      reject(error);
    });
    session.on("goaway", forget);
    session.once("close", () => {
      clearTimeout(timer);
      forget();
      this.#live.delete(session);
      reject(new Error(`Cannot use backend "${target.backend}": session closed`));
    });
    session.setTimeout(this.#options.idleTimeoutMs, () => {
      forget();
      session.close();
    });
    return promise;
  }

  /** Destroys every backend session (in-flight streams are reset). */
  close(): void {
    this.#sessions.clear();
    for (const session of this.#live) session.destroy();
    this.#live.clear();
  }
}
