/**
 * Test helpers for the web UI: a tiny browser over a fetch handler (cookie
 * jar, Origin header, CSRF token from the last page), and the real core
 * with its second factors on a temporary database. Package-private.
 *
 * @module
 */

import { join } from "node:path";
import { testConfig } from "../_testing.ts";
import { createMcIas, initMcIas, openMcIasDatabase } from "../core/mcias.ts";
import { createMfa } from "../core/mfa.ts";
import type { McIas, McIasMfa } from "../core/types.ts";

/** Anything with a fetch handler. */
export interface FetchApp {
  /** Answers one request. */
  fetch(request: Request): Response | Promise<Response>;
}

/** A browser-like client for app.fetch tests. */
export class TestBrowser {
  readonly origin: string;
  #app: FetchApp;
  #cookies = new Map<string, string>();
  /** The CSRF token from the last HTML page read with {@linkcode TestBrowser.page}. */
  csrfToken = "";

  constructor(app: FetchApp, origin = "https://mcias.test") {
    this.#app = app;
    this.origin = origin;
  }

  /** The value of a held cookie. */
  cookie(name: string): string | undefined {
    return this.#cookies.get(name);
  }

  /** Sets a cookie by hand. */
  setCookie(name: string, value: string): void {
    this.#cookies.set(name, value);
  }

  /** Sends a request with the held cookies and stores what the response sets. */
  async request(path: string, init: RequestInit = {}): Promise<Response> {
    const headers = new Headers(init.headers);
    if (this.#cookies.size > 0 && !headers.has("Cookie")) {
      headers.set("Cookie", [...this.#cookies].map(([n, v]) => `${n}=${v}`).join("; "));
    }
    const response = await this.#app.fetch(
      new Request(new URL(path, this.origin), { ...init, headers }),
    );
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";").map((part) => part.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      if (attributes.some((a) => a.toLowerCase() === "max-age=0")) this.#cookies.delete(name);
      else this.#cookies.set(name, pair.slice(eq + 1));
    }
    return response;
  }

  /** GETs a page as a browser would, remembers its CSRF token, returns status and text. */
  async page(path: string, headers: HeadersInit = {}): Promise<{ res: Response; text: string }> {
    const res = await this.request(path, { headers: { Accept: "text/html", ...headers } });
    const text = await res.text();
    this.#rememberToken(text);
    return { res, text };
  }

  /** POSTs a form from this origin with the current CSRF token (unless `_csrf` is given). */
  async post(
    path: string,
    fields: Record<string, string | string[]> = {},
    headers: HeadersInit = {},
  ): Promise<{ res: Response; text: string }> {
    const body = new URLSearchParams();
    if (!("_csrf" in fields)) body.set("_csrf", this.csrfToken);
    for (const [name, value] of Object.entries(fields)) {
      for (const v of Array.isArray(value) ? value : [value]) body.append(name, v);
    }
    const res = await this.request(path, {
      method: "POST",
      headers: { Accept: "text/html", Origin: this.origin, ...headers },
      body,
    });
    const text = await res.text();
    this.#rememberToken(text);
    return { res, text };
  }

  #rememberToken(text: string): void {
    const match = /<meta name="csrf-token" content="([^"]+)">/.exec(text);
    if (match) this.csrfToken = match[1]!;
  }
}

/** The real core and second factors on a temporary SQLite file. */
export interface RealMcIas extends AsyncDisposable {
  /** The core (createMcIas). */
  mcias: McIas;
  /** The second factors (createMfa), wired to the core as in the server. */
  mfa: McIasMfa;
  /** The temporary data directory. */
  dir: string;
}

/**
 * Builds the real core and second-factor service on a fresh database, with
 * `root` (admin) and `ada` (user) and the seeded default rule. Sealing uses
 * a throwaway AES-GCM key (TEST SCAFFOLDING: the server uses the master key).
 *
 * @param options Passkey origin (`https://localhost:<port>`) and clock.
 * @returns The parts; dispose to close the database and remove the directory.
 */
export async function makeRealMcIas(
  options: { origin?: string; now?: () => Date } = {},
): Promise<RealMcIas> {
  const { origin = "https://localhost", now = () => new Date() } = options;
  const dir = await Deno.makeTempDir({ prefix: "mcias_web_" });
  const db = openMcIasDatabase(join(dir, "mcias.db"));
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);
  // The core needs the second factors and they need the core: tie the knot late.
  const ref: { core?: McIas } = {};
  const mfa = createMfa({
    db,
    issuer: "Metacircular",
    webauthn: { rpId: new URL(origin).hostname, rpName: "Metacircular", origins: [origin] },
    completer: {
      completeLogin: (username, context) => ref.core!.completeLogin(username, context),
      checkThrottle: (username, remoteAddr) => ref.core!.checkThrottle(username, remoteAddr),
      recordFailure: (username, remoteAddr) => ref.core!.recordFailure(username, remoteAddr),
      verifyPassword: (username, password) => ref.core!.verifyPassword!(username, password),
    },
    now,
    async seal(plain) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const body = new Uint8Array(
        await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, new Uint8Array(plain)),
      );
      const out = new Uint8Array(12 + body.byteLength);
      out.set(iv);
      out.set(body, 12);
      return out;
    },
    async unseal(sealed) {
      return new Uint8Array(
        await crypto.subtle.decrypt(
          { name: "AES-GCM", iv: sealed.slice(0, 12) },
          key,
          sealed.slice(12),
        ),
      );
    },
  });
  const mcias = createMcIas({ db, dataDir: dir, config: testConfig(), secondFactor: mfa, now });
  ref.core = mcias;
  try {
    await initMcIas(mcias, { username: "root", password: "root-password-123" });
    await mcias.createAccount({
      username: "ada",
      type: "human",
      password: "ada-password-123",
      roles: ["user"],
    });
  } catch (error) {
    mcias.close();
    await Deno.remove(dir, { recursive: true });
    throw error;
  }
  return {
    mcias,
    mfa,
    dir,
    async [Symbol.asyncDispose]() {
      mcias.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
