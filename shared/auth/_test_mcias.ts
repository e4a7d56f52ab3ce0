/**
 * A stand-in MCIAS for tests: an HTTPS server implementing only the four
 * endpoints the auth client uses, with MCIAS's wire format.
 *
 * MCIAS itself is not built yet. When it lands, these tests switch to
 * starting the real MCIAS and this file goes away.
 *
 * @module
 */

import type { DevPki } from "../tls/mod.ts";

/** An account known to the stand-in. */
export interface TestAccount {
  password: string;
  /** TOTP code the account must send, when it has TOTP. */
  totpCode?: string;
  roles?: string[];
  accountType?: "human" | "system";
  /** Services whose login policy denies this account (answered 403). */
  deniedServices?: string[];
}

/** A running stand-in MCIAS. */
export interface TestMcias extends AsyncDisposable {
  /** Base URL, `https://127.0.0.1:<port>`. */
  url: string;
  /** Requests received, by path, in order. */
  requests: { path: string; body: Record<string, unknown>; authorization: string | null }[];
  /** How many requests reached `path`. */
  count(path: string): number;
  /** Revokes `token` as another service's logout would. */
  revoke(token: string): void;
  /** Makes `POST /v1/token/validate` answer this status with an error body, or stop (undefined). */
  failValidate(status: number | undefined): void;
  /** Stops the server. */
  close(): Promise<void>;
}

/** Options for {@linkcode startTestMcias}. */
export interface TestMciasOptions {
  pki: DevPki;
  accounts: Record<string, TestAccount>;
  /**
   * Lifetime of issued tokens in milliseconds.
   * @default {3_600_000}
   */
  tokenTtlMs?: number;
}

interface Issued {
  username: string;
  expiresAt: Date;
  revoked: boolean;
}

/**
 * Starts the stand-in on 127.0.0.1, on a free port, with `pki.server` as its
 * certificate.
 */
export function startTestMcias(options: TestMciasOptions): Promise<TestMcias> {
  const { pki, accounts, tokenTtlMs = 3_600_000 } = options;
  const tokens = new Map<string, Issued>();
  const requests: TestMcias["requests"] = [];
  let validateFailure: number | undefined;

  function issue(username: string): Response {
    const bytes = crypto.getRandomValues(new Uint8Array(32));
    const token = `eyJhbGciOiJFZERTQSJ9.${btoa(String.fromCharCode(...bytes))}`
      .replaceAll("=", "").replaceAll("+", "-").replaceAll("/", "_");
    const expiresAt = new Date(Date.now() + tokenTtlMs);
    tokens.set(token, { username, expiresAt, revoked: false });
    return Response.json({ token, expires_at: expiresAt.toISOString() });
  }

  function live(token: string | undefined): Issued | undefined {
    const issued = token === undefined ? undefined : tokens.get(token);
    if (issued === undefined || issued.revoked || issued.expiresAt.getTime() <= Date.now()) {
      return undefined;
    }
    return issued;
  }

  function bearer(request: Request): string | undefined {
    return /^Bearer (\S+)$/.exec(request.headers.get("authorization") ?? "")?.[1];
  }

  async function handle(request: Request): Promise<Response> {
    const path = new URL(request.url).pathname;
    const text = await request.text();
    let body: Record<string, unknown> = {};
    try {
      body = text === "" ? {} : JSON.parse(text);
    } catch {
      return Response.json({ error: "malformed JSON" }, { status: 400 });
    }
    requests.push({ path, body, authorization: request.headers.get("authorization") });
    if (request.method !== "POST") return Response.json({ error: "not found" }, { status: 404 });
    switch (path) {
      case "/v1/auth/login": {
        const account = accounts[String(body.username)];
        if (
          account === undefined || account.password !== body.password ||
          (account.totpCode !== undefined && account.totpCode !== body.totp_code)
        ) {
          return Response.json({ error: "invalid credentials" }, { status: 401 });
        }
        if (account.deniedServices?.includes(String(body.service_name))) {
          return Response.json({ error: "login denied by policy" }, { status: 403 });
        }
        return issue(String(body.username));
      }
      case "/v1/auth/renew": {
        const token = bearer(request);
        const issued = live(token);
        if (issued === undefined) return Response.json({ error: "invalid token" }, { status: 401 });
        issued.revoked = true;
        return issue(issued.username);
      }
      case "/v1/auth/logout": {
        const issued = live(bearer(request));
        if (issued === undefined) return Response.json({ error: "invalid token" }, { status: 401 });
        issued.revoked = true;
        return new Response(null, { status: 204 });
      }
      case "/v1/token/validate": {
        if (validateFailure !== undefined) {
          return Response.json({ error: "database is locked" }, { status: validateFailure });
        }
        const issued = live(typeof body.token === "string" ? body.token : undefined);
        if (issued === undefined) return Response.json({ valid: false });
        const account = accounts[issued.username];
        return Response.json({
          valid: true,
          username: issued.username,
          account_type: account?.accountType ?? "human",
          roles: account?.roles ?? [],
          expires_at: issued.expiresAt.toISOString(),
        });
      }
      default:
        return Response.json({ error: "not found" }, { status: 404 });
    }
  }

  const { promise: listening, resolve } = Promise.withResolvers<Deno.NetAddr>();
  const server = Deno.serve({
    hostname: "127.0.0.1",
    port: 0,
    cert: pki.server.cert,
    key: pki.server.key,
    onListen: resolve,
  }, handle);

  return listening.then((addr) => {
    const close = () => server.shutdown();
    return {
      url: `https://127.0.0.1:${addr.port}`,
      requests,
      count: (path: string) => requests.filter((r) => r.path === path).length,
      revoke(token: string) {
        const issued = tokens.get(token);
        if (issued !== undefined) issued.revoked = true;
      },
      failValidate(status: number | undefined) {
        validateFailure = status;
      },
      close,
      [Symbol.asyncDispose]: close,
    };
  });
}
