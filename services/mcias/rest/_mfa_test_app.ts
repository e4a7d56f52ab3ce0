/**
 * Test scaffolding for the second-factor routes: a migrated database in a
 * temp dir, AES-GCM sealing with a throwaway key, a FAKE LoginCompleter and
 * a FAKE token validator standing in for the core (which wires the real ones
 * later), and a Hono app mounting the MFA routes behind `secureApp`.
 *
 * @module
 */

import { join } from "node:path";
import { Hono } from "hono";
import { migrate, openDatabase } from "@mc/mcdsl/db";
import {
  type AccessMap,
  type AccessVariables,
  jsonErrorHandler,
  jsonNotFound,
  secureApp,
} from "@mc/mcdsl/httpserver";
import { createLogger } from "@mc/mcdsl/log";
import type { TokenInfo, TokenValidator } from "@mc/mcdsl/auth/types";
import { createMfa, type WebAuthnOptions } from "../core/mfa.ts";
import { MIGRATIONS } from "../core/migrations.ts";
import type { LoginCompleter, McIasMfa, TokenGrant } from "../core/types.ts";
import { createMfaRoutes, MFA_ACCESS } from "./mfa_routes.ts";

/** FAKE stand-in for the core's LoginCompleter: issues `fake-session-<user>-<n>` tokens. */
export class FakeLoginCompleter implements LoginCompleter {
  /** Every call, in order. */
  calls: string[] = [];
  #issued = 0;
  /** Issues a fake token and records the context. */
  completeLogin(
    username: string,
    context: { serviceName?: string; tags?: string[]; remoteAddr: string },
  ): Promise<TokenGrant> {
    this.calls.push(
      `complete ${username} ${context.serviceName ?? ""} ${(context.tags ?? []).join(",")}`,
    );
    this.#issued++;
    return Promise.resolve({
      token: `fake-session-${username}-${this.#issued}`,
      expiresAt: new Date("2030-01-01T00:00:00Z"),
    });
  }
  /** Records the check; never throttles. */
  checkThrottle(username: string, remoteAddr: string): void {
    this.calls.push(`throttle ${username} ${remoteAddr}`);
  }
  /** Records the failure. */
  recordFailure(username: string, remoteAddr: string): void {
    this.calls.push(`failure ${username} ${remoteAddr}`);
  }
  /** Accepts {@linkcode FAKE_PASSWORD} of the account. */
  verifyPassword(username: string, password: string): Promise<boolean> {
    return Promise.resolve(password === FAKE_PASSWORD(username));
  }
}

/** FAKE password the fake completer accepts for `username`. */
export const FAKE_PASSWORD = (username: string): string => `fake-password-${username}`;

/** FAKE validator: bearer `fake-bearer-<username>` is a valid user token. */
export const FAKE_VALIDATOR: TokenValidator = {
  validate(token: string): Promise<TokenInfo> {
    const match = token.match(/^fake-bearer-([a-z0-9]+)$/);
    return Promise.resolve({
      valid: match !== null,
      username: match?.[1] ?? "",
      accountType: "human",
      roles: ["user"],
      expiresAt: new Date(Date.now() + 3_600_000),
    });
  },
};

/** A test MFA environment. */
export interface MfaTestEnv extends AsyncDisposable {
  /** The MFA service under test. */
  mfa: McIasMfa;
  /** Its database (accounts alice, bob: human; svc: system). */
  db: ReturnType<typeof openDatabase>;
  /** The fake completer, with its call log. */
  completer: FakeLoginCompleter;
  /** The clock the MFA service reads; tests move it. */
  clock: { now: Date };
  /** The REST app: MFA routes plus `extra` ones, behind secureApp with the fake validator. */
  app: Hono<{ Variables: AccessVariables }>;
}

/**
 * Builds a test environment.
 *
 * @param options WebAuthn RP settings, extra public routes (e.g. a test page) and their access entries.
 */
export async function makeMfaTestEnv(options: {
  webauthn?: WebAuthnOptions;
  extra?: (api: Hono<{ Variables: AccessVariables }>) => void;
  extraAccess?: AccessMap;
} = {}): Promise<MfaTestEnv> {
  const dir = await Deno.makeTempDir({ prefix: "mcias_mfa_rest_" });
  const db = openDatabase(join(dir, "mcias.db"));
  migrate(db, MIGRATIONS);
  db.exec(`INSERT INTO accounts (username, type, password_hash) VALUES
    ('alice', 'human', 'x'), ('bob', 'human', 'x');
    INSERT INTO accounts (username, type) VALUES ('svc', 'system');`);
  const key = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false, [
    "encrypt",
    "decrypt",
  ]);
  const clock = { now: new Date() };
  const completer = new FakeLoginCompleter();
  const mfa = createMfa({
    db,
    issuer: "Metacircular",
    completer,
    now: () => clock.now,
    webauthn: options.webauthn ??
      { rpId: "localhost", rpName: "Metacircular", origins: ["https://localhost"] },
    async seal(plain) {
      const iv = crypto.getRandomValues(new Uint8Array(12));
      const ct = new Uint8Array(
        await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, plain.slice()),
      );
      const out = new Uint8Array(12 + ct.length);
      out.set(iv);
      out.set(ct, 12);
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
  const logger = createLogger({ write: () => {} });
  const api = new Hono<{ Variables: AccessVariables }>();
  api.route("/", createMfaRoutes({ mfa }));
  options.extra?.(api);
  const app = new Hono<{ Variables: AccessVariables }>();
  app.onError(jsonErrorHandler({ logger }));
  app.notFound(jsonNotFound);
  app.route(
    "/",
    secureApp(api, { ...MFA_ACCESS, ...options.extraAccess }, {
      validator: FAKE_VALIDATOR,
      logger,
      realm: "mcias",
    }),
  );
  return {
    mfa,
    db,
    completer,
    clock,
    app,
    async [Symbol.asyncDispose]() {
      db.close();
      await Deno.remove(dir, { recursive: true });
    },
  };
}
