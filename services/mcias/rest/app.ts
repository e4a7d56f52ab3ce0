/**
 * The MCIAS REST API: login, token validation and renewal, the JWKS, and the
 * admin routes for accounts, system tokens and policy. Every route is in
 * {@linkcode REST_ACCESS}; other parts (second factors, SSO) add theirs
 * through {@linkcode RestAppOptions.extraRoutes}.
 *
 * @module
 */

import { type Context, type ErrorHandler, Hono } from "hono";
import { parseDuration } from "@mc/mcdsl/config";
import { bearerToken } from "@mc/mcdsl/auth";
import {
  type AccessMap,
  type AccessVariables,
  errorResponse,
  HttpError,
  type HttpsBindings,
  jsonErrorHandler,
  jsonNotFound,
  readJson,
  requestLog,
  secureApp,
} from "@mc/mcdsl/httpserver";
import type { Logger } from "@mc/mcdsl/log";
import {
  type Account,
  type AccountUpdate,
  LoginFailedError,
  type McIas,
  McIasError,
  type NewPolicyRule,
  type PolicyDecision,
  type PolicyRule,
  type Role,
} from "../core/types.ts";

/** Who may call each route. */
export const REST_ACCESS: AccessMap = {
  "GET /v1/health": "public",
  "GET /.well-known/jwks.json": "public",
  "POST /v1/auth/login": "public",
  "POST /v1/token/validate": "public",
  "POST /v1/auth/renew": "authenticated",
  "POST /v1/auth/logout": "authenticated",
  "GET /v1/accounts": "admin",
  "POST /v1/accounts": "admin",
  "GET /v1/accounts/:name": "admin",
  "PATCH /v1/accounts/:name": "admin",
  "DELETE /v1/accounts/:name": "admin",
  "POST /v1/accounts/:name/tokens": "admin",
  "GET /v1/policy/rules": "admin",
  "POST /v1/policy/rules": "admin",
  "GET /v1/policy/rules/:id": "admin",
  "PUT /v1/policy/rules/:id": "admin",
  "DELETE /v1/policy/rules/:id": "admin",
  "POST /v1/policy/test": "admin",
};

/** Routes another part adds (TOTP/WebAuthn self-service, SSO token exchange). */
export interface RestExtension {
  /** A Hono app whose routes use full paths (`/v1/account/totp`). */
  // deno-lint-ignore no-explicit-any
  app: Hono<any, any, any>;
  /** Access level of each of its routes. */
  access: AccessMap;
}

/** Options for {@linkcode createRestApp}. */
export interface RestAppOptions {
  /** The domain; it also validates bearer tokens, in process. */
  mcias: McIas;
  /** Request and error log. */
  logger: Logger;
  /** Sub-apps mounted beside the core routes, with their access entries. */
  extraRoutes?: RestExtension[];
  /** The core access map; only tests pass another. */
  access?: AccessMap;
}

type RestEnv = { Variables: AccessVariables; Bindings: HttpsBindings };

/** The client address, from the socket (never from headers). */
export function remoteAddr(c: Context): string {
  const env = c.env as Partial<HttpsBindings> | undefined;
  return env?.incoming?.socket?.remoteAddress ?? "unknown";
}

/** The wire form of an account. */
export function accountJson(a: Account): Record<string, unknown> {
  return {
    username: a.username,
    type: a.type,
    roles: a.roles,
    disabled: a.disabled,
    totp_enabled: a.totpEnabled,
    passkeys: a.passkeys,
    created_at: a.createdAt.toISOString(),
  };
}

/** The wire form of a policy rule. */
export function ruleJson(r: PolicyRule): Record<string, unknown> {
  return {
    id: r.id,
    priority: r.priority,
    effect: r.effect,
    roles: r.roles,
    account_types: r.accountTypes,
    service_names: r.serviceNames,
    tags: r.tags,
    description: r.description,
  };
}

function decisionJson(d: PolicyDecision): Record<string, unknown> {
  return { allowed: d.allowed, reason: d.reason, rule: d.rule ? ruleJson(d.rule) : null };
}

/**
 * Answers domain errors: {@linkcode LoginFailedError} as 401/403/429 (with
 * `Retry-After` and `totp_required`), {@linkcode McIasError} with its
 * status; everything else as `jsonErrorHandler` does.
 */
export function mcIasErrorHandler(logger: Logger): ErrorHandler {
  const fallback = jsonErrorHandler({ logger });
  return function mcIasError(error, c) {
    if (error instanceof LoginFailedError) {
      const body: Record<string, unknown> = { error: error.message };
      const headers: Record<string, string> = { "content-type": "application/json" };
      if (error.options.totpRequired) body.totp_required = true;
      if (error.status === 429 && error.options.retryAfterSeconds !== undefined) {
        headers["retry-after"] = String(error.options.retryAfterSeconds);
        body.retry_after_seconds = error.options.retryAfterSeconds;
      }
      return new Response(JSON.stringify(body), { status: error.status, headers });
    }
    if (error instanceof McIasError) return errorResponse(error.status, error.message);
    return fallback(error, c);
  };
}

function str(body: Record<string, unknown>, key: string, required: true): string;
function str(body: Record<string, unknown>, key: string, required?: false): string | undefined;
function str(body: Record<string, unknown>, key: string, required = false): string | undefined {
  const value = body[key];
  if (value === undefined && !required) return undefined;
  if (typeof value !== "string") throw new HttpError(400, `field "${key}" must be a string`);
  return value;
}

function strings(body: Record<string, unknown>, key: string): string[] | undefined {
  const value = body[key];
  if (value === undefined) return undefined;
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    throw new HttpError(400, `field "${key}" must be an array of strings`);
  }
  return value;
}

/** Reads a body that may be empty or `{}`; any field is refused. */
async function readEmpty(c: Context): Promise<void> {
  const raw = c.req.raw;
  if (raw.body === null || raw.headers.get("content-length") === "0") return;
  const text = await raw.text();
  if (text.trim() === "" || /^\{\s*\}$/.test(text.trim())) return;
  throw new HttpError(400, "Request body must be empty or {}: this route takes no fields");
}

function ruleBody(body: Record<string, unknown>): NewPolicyRule {
  return {
    priority: body.priority as number,
    effect: body.effect as "allow" | "deny",
    roles: (strings(body, "roles") ?? []) as Role[],
    accountTypes: (strings(body, "account_types") ?? []) as NewPolicyRule["accountTypes"],
    serviceNames: strings(body, "service_names") ?? [],
    tags: strings(body, "tags") ?? [],
    description: str(body, "description") ?? "",
  };
}

const RULE_KEYS = [
  "priority",
  "effect",
  "roles",
  "account_types",
  "service_names",
  "tags",
  "description",
];

function ruleId(c: Context): number {
  const id = Number(c.req.param("id"));
  if (!Number.isSafeInteger(id) || id < 1) {
    throw new HttpError(400, "rule id must be a positive integer");
  }
  return id;
}

/**
 * Builds the REST app: request log, JSON errors, and every route behind
 * the access map (`secureApp`, with the {@linkcode McIas} as validator).
 *
 * @throws {AccessMapError} When a route and the access maps disagree.
 */
export function createRestApp(options: RestAppOptions): Hono<RestEnv> {
  const { mcias, logger, extraRoutes = [], access = REST_ACCESS } = options;
  const api = new Hono<RestEnv>();
  api.use(requestLog({ logger }));
  api.onError(mcIasErrorHandler(logger));

  api.get("/v1/health", (c) => c.json({ status: "ok" }));
  api.get("/.well-known/jwks.json", (c) => {
    c.header("cache-control", "public, max-age=300");
    return c.json(mcias.jwks());
  });

  api.post("/v1/auth/login", async (c) => {
    const body = await readJson(c, {
      maxBytes: 8192,
      allowedKeys: ["username", "password", "totp_code", "service_name", "tags"],
    });
    const grant = await mcias.login({
      username: str(body, "username", true),
      password: str(body, "password", true),
      totpCode: str(body, "totp_code"),
      serviceName: str(body, "service_name"),
      tags: strings(body, "tags"),
      remoteAddr: remoteAddr(c),
    });
    return c.json({ token: grant.token, expires_at: grant.expiresAt.toISOString() });
  });

  api.post("/v1/token/validate", async (c) => {
    const body = await readJson(c, { maxBytes: 20_000, allowedKeys: ["token", "service_name"] });
    const info = await mcias.validate(str(body, "token", true), str(body, "service_name"));
    return c.json({
      valid: info.valid,
      username: info.username,
      account_type: info.accountType,
      roles: info.roles,
      expires_at: info.expiresAt.toISOString(),
    });
  });

  api.post("/v1/auth/renew", async (c) => {
    await readEmpty(c);
    const grant = await mcias.renew(bearerToken(c.req.raw) ?? "");
    return c.json({ token: grant.token, expires_at: grant.expiresAt.toISOString() });
  });

  api.post("/v1/auth/logout", async (c) => {
    await readEmpty(c);
    await mcias.logout(bearerToken(c.req.raw) ?? "");
    return c.body(null, 204);
  });

  api.get("/v1/accounts", (c) => c.json({ accounts: mcias.listAccounts().map(accountJson) }));
  api.post("/v1/accounts", async (c) => {
    const body = await readJson(c, { allowedKeys: ["username", "type", "password", "roles"] });
    const type = str(body, "type") ?? "human";
    if (type !== "human" && type !== "system") {
      throw new HttpError(400, `field "type" must be "human" or "system"`);
    }
    const account = await mcias.createAccount({
      username: str(body, "username", true),
      type,
      password: str(body, "password"),
      roles: strings(body, "roles") as Role[] | undefined,
    });
    return c.json(accountJson(account), 201);
  });
  api.get("/v1/accounts/:name", (c) => c.json(accountJson(mcias.getAccount(c.req.param("name")))));
  api.patch("/v1/accounts/:name", async (c) => {
    const body = await readJson(c, { allowedKeys: ["roles", "disabled", "password"] });
    if (body.disabled !== undefined && typeof body.disabled !== "boolean") {
      throw new HttpError(400, `field "disabled" must be true or false`);
    }
    const update: AccountUpdate = {
      roles: strings(body, "roles") as Role[] | undefined,
      disabled: body.disabled as boolean | undefined,
      password: str(body, "password"),
    };
    return c.json(accountJson(await mcias.updateAccount(c.req.param("name"), update)));
  });
  api.delete("/v1/accounts/:name", (c) => {
    mcias.deleteAccount(c.req.param("name"));
    return c.body(null, 204);
  });
  api.post("/v1/accounts/:name/tokens", async (c) => {
    let ttlMs: number | undefined;
    if (c.req.raw.body !== null && c.req.header("content-length") !== "0") {
      const body = await readJson(c, { allowedKeys: ["ttl"] });
      const ttl = str(body, "ttl");
      if (ttl !== undefined) {
        try {
          ttlMs = parseDuration(ttl);
        } catch {
          throw new HttpError(400, `field "ttl" must be a duration such as "720h"`);
        }
      }
    }
    const grant = await mcias.issueSystemToken(c.req.param("name"), ttlMs);
    return c.json({ token: grant.token, expires_at: grant.expiresAt.toISOString() }, 201);
  });

  api.get("/v1/policy/rules", (c) => c.json({ rules: mcias.listRules().map(ruleJson) }));
  api.post("/v1/policy/rules", async (c) => {
    const body = await readJson(c, { allowedKeys: RULE_KEYS });
    return c.json(ruleJson(mcias.createRule(ruleBody(body))), 201);
  });
  api.get("/v1/policy/rules/:id", (c) => {
    const id = ruleId(c);
    const rule = mcias.listRules().find((r) => r.id === id);
    if (rule === undefined) throw new HttpError(404, `policy rule ${id} does not exist`);
    return c.json(ruleJson(rule));
  });
  api.put("/v1/policy/rules/:id", async (c) => {
    const id = ruleId(c);
    const body = await readJson(c, { allowedKeys: RULE_KEYS });
    return c.json(ruleJson(mcias.updateRule(id, ruleBody(body))));
  });
  api.delete("/v1/policy/rules/:id", (c) => {
    mcias.deleteRule(ruleId(c));
    return c.body(null, 204);
  });
  api.post("/v1/policy/test", async (c) => {
    const body = await readJson(c, { allowedKeys: ["username", "service_name", "tags"] });
    const result = mcias.testPolicy(
      str(body, "username", true),
      str(body, "service_name") ?? "",
      strings(body, "tags") ?? [],
    );
    return c.json({ username: result.username, ...decisionJson(result) });
  });

  const map: Record<string, AccessMap[string]> = { ...access };
  for (const extra of extraRoutes) {
    api.route("/", extra.app);
    for (const [key, level] of Object.entries(extra.access)) {
      if (key in map) throw new TypeError(`Cannot build REST app: route "${key}" declared twice`);
      map[key] = level;
    }
  }
  const app = secureApp(api, map, { validator: mcias, logger, realm: "mcias" });
  app.notFound(jsonNotFound);
  return app as unknown as Hono<RestEnv>;
}
