/**
 * {@linkcode createMcIas}: the MCIAS domain on a SQLite database. Every
 * front end (REST, gRPC, web, CLI) calls the {@linkcode McIas} it returns.
 *
 * @module
 */

import { dirname } from "node:path";
import type { DatabaseSync, StatementSync } from "node:sqlite";
import type { AccountType, TokenInfo } from "@mc/mcdsl/auth/types";
import { migrate, openDatabase, transaction } from "@mc/mcdsl/db";
import { createLogger, type Logger } from "@mc/mcdsl/log";
import type { McIasConfig } from "../config.ts";
import { MIGRATIONS } from "./migrations.ts";
import {
  type Argon2Params,
  checkPasswordPolicy,
  DEFAULT_ARGON2,
  DummyVerifier,
  hashPassword,
  MAX_PASSWORD_LENGTH,
  needsRehash,
  verifyPassword,
} from "./passwords.ts";
import { checkRule, evaluatePolicy } from "./policy.ts";
import { loadMasterKey, type MasterKey } from "./secrets.ts";
import { SigningKeys } from "./signing.ts";
import { addressKey, Throttle } from "./throttle.ts";
import { tokenHash, type TokenKind, TokenSigner } from "./tokens.ts";
import {
  type Account,
  type AccountUpdate,
  LoginFailedError,
  type LoginRequest,
  type McIas,
  McIasError,
  type NewAccount,
  type NewPolicyRule,
  type PolicyRule,
  type PolicyTestResult,
  type Role,
  ROLES,
  type SecondFactorCheck,
  type TokenGrant,
} from "./types.ts";

/** Account names: 1–64 of `[A-Za-z0-9._-]`, starting with a letter or digit. */
export const USERNAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * MCIAS's own service name: the policy `service_name` and the token `aud`
 * of a login that names no service (the web UI, a REST or gRPC login
 * without `service_name`).
 */
export const MCIAS_SERVICE_NAME = "mcias";

/** The rule `init` seeds: users may log in everywhere. */
export const DEFAULT_RULE: NewPolicyRule = {
  priority: 1000,
  effect: "allow",
  roles: ["user"],
  accountTypes: [],
  serviceNames: [],
  tags: [],
  description: "users may log in everywhere (seeded by init)",
};

/** Options for {@linkcode createMcIas}. */
export interface CreateMcIasOptions {
  /** The database, opened and migrated ({@linkcode openMcIasDatabase}). */
  db: DatabaseSync;
  /** The data directory (holds `keys/master.key`). */
  dataDir: string;
  /** The loaded config. */
  config: McIasConfig;
  /** TOTP checks during password login (core/mfa.ts); without it, TOTP accounts cannot log in. */
  secondFactor?: SecondFactorCheck;
  /** The master key; loaded (or created) from `dataDir` when absent. */
  masterKey?: MasterKey;
  /** Clock. @default {() => new Date()} */
  now?: () => Date;
  /** Where login events go (never secrets). @default {no logging} */
  logger?: Logger;
}

/**
 * Opens `<path>` with the platform settings and applies the MCIAS migrations.
 *
 * @param path The SQLite file (`[database] path`).
 * @returns The open database.
 */
export function openMcIasDatabase(path: string): DatabaseSync {
  const db = openDatabase(path);
  try {
    migrate(db, MIGRATIONS);
  } catch (e) {
    db.close();
    throw e;
  }
  return db;
}

/** The data directory of a config: the directory holding `[database] path`. */
export function dataDirOf(config: McIasConfig): string {
  return dirname(config.database.path);
}

interface AccountRow {
  id: number;
  username: string;
  type: AccountType;
  password_hash: string | null;
  disabled: number;
  created_at: string;
  roles: string | null;
  totp_enabled: number | null;
  passkeys: number;
}

interface RuleRow {
  id: number;
  priority: number;
  effect: "allow" | "deny";
  roles: string;
  account_types: string;
  service_names: string;
  tags: string;
  description: string;
}

const ACCOUNT_COLUMNS = `a.id, a.username, a.type, a.password_hash, a.disabled, a.created_at,
  (SELECT group_concat(role) FROM account_roles r WHERE r.account_id = a.id) AS roles,
  (SELECT enabled FROM totp t WHERE t.account_id = a.id) AS totp_enabled,
  (SELECT count(*) FROM webauthn_credentials w WHERE w.account_id = a.id) AS passkeys`;

const INVALID: TokenInfo = Object.freeze({
  valid: false,
  username: "",
  accountType: "human",
  roles: [] as string[],
  expiresAt: new Date(0),
}) as TokenInfo;

const MAX_SERVICE_NAME = 128;
const MAX_TAGS = 64;
const MAX_TTL_MS = 10 * 366 * 24 * 3600 * 1000;
const PRUNE_INTERVAL_MS = 3600_000;

/**
 * A statement returning one number, read as cheaply as node:sqlite allows
 * (rows as arrays: no object per call; `setReturnArrays` is missing from
 * Deno's node:sqlite types, not from the runtime).
 */
function counterStatement(db: DatabaseSync, sql: string): () => number {
  const statement = db.prepare(sql) as StatementSync & {
    setReturnArrays?: (enabled: boolean) => void;
  };
  if (typeof statement.setReturnArrays !== "function") {
    return () => Number(Object.values(statement.get() ?? {})[0]);
  }
  statement.setReturnArrays(true);
  return () => Number((statement.get() as unknown as unknown[])[0]);
}

/** Token ids whose database answer {@linkcode createMcIas} remembers. */
const TOKEN_ROW_CACHE_SIZE = 10_000;

function sortRoles(roles: Iterable<string>): Role[] {
  return [...new Set(roles)].filter((r): r is Role => ROLES.includes(r as Role))
    .sort((a, b) => ROLES.indexOf(a) - ROLES.indexOf(b));
}

function toAccount(row: AccountRow): Account {
  return {
    username: row.username,
    type: row.type,
    roles: row.type === "system" ? [] : sortRoles((row.roles ?? "").split(",").filter(Boolean)),
    disabled: row.disabled === 1,
    totpEnabled: row.totp_enabled === 1,
    passkeys: Number(row.passkeys),
    createdAt: new Date(row.created_at),
  };
}

function toRule(row: RuleRow): PolicyRule {
  return {
    id: Number(row.id),
    priority: Number(row.priority),
    effect: row.effect,
    roles: JSON.parse(row.roles),
    accountTypes: JSON.parse(row.account_types),
    serviceNames: JSON.parse(row.service_names),
    tags: JSON.parse(row.tags),
    description: row.description,
  };
}

function checkUsername(username: unknown): string {
  if (typeof username !== "string" || !USERNAME_PATTERN.test(username)) {
    throw new McIasError(
      400,
      `username ${
        JSON.stringify(typeof username === "string" ? username.slice(0, 80) : username)
      } is invalid: use 1-64 characters of A-Z a-z 0-9 . _ -, starting with a letter or digit`,
    );
  }
  return username;
}

function checkRoles(roles: unknown): Role[] {
  if (!Array.isArray(roles) || roles.some((r) => !ROLES.includes(r))) {
    throw new McIasError(
      400,
      `roles must be an array of ${ROLES.map((r) => JSON.stringify(r)).join(", ")}`,
    );
  }
  return sortRoles(roles);
}

function checkPassword(password: unknown): string {
  try {
    checkPasswordPolicy(password);
  } catch (e) {
    throw new McIasError(400, (e as Error).message);
  }
  return password;
}

function checkContext(
  serviceName: unknown,
  tags: unknown,
): { serviceName: string; tags: string[] } {
  const name = serviceName === undefined || serviceName === "" ? MCIAS_SERVICE_NAME : serviceName;
  if (typeof name !== "string" || name.length > MAX_SERVICE_NAME) {
    throw new McIasError(
      400,
      `service_name must be a string of at most ${MAX_SERVICE_NAME} characters`,
    );
  }
  const list = tags ?? [];
  if (
    !Array.isArray(list) || list.length > MAX_TAGS ||
    list.some((t) => typeof t !== "string" || t.length > MAX_SERVICE_NAME)
  ) {
    throw new McIasError(400, `tags must be an array of at most ${MAX_TAGS} strings`);
  }
  return { serviceName: name, tags: list as string[] };
}

function argon2Params(config: McIasConfig): Argon2Params {
  return config.argon2 === undefined ? DEFAULT_ARGON2 : {
    memoryKib: config.argon2.memory_kib,
    iterations: config.argon2.iterations,
    parallelism: config.argon2.parallelism,
  };
}

/**
 * Builds the MCIAS domain on `options.db`. Loads (or creates) the master key
 * and the signing key synchronously.
 *
 * @param options Database, data directory, config, second factor, clock, logger.
 * @returns The domain; `close()` closes the database.
 */
export function createMcIas(options: CreateMcIasOptions): McIas {
  const { db, dataDir, config, secondFactor } = options;
  const now = options.now ?? (() => new Date());
  const nowMs = () => now().getTime();
  const logger = options.logger ?? createLogger({ write: () => {} });
  const masterKey = options.masterKey ?? loadMasterKey(dataDir);
  const params = argon2Params(config);
  const tokenTtlMs = config.auth.token_ttl;
  const systemTokenTtlMs = config.auth.system_token_ttl;
  const maxSessionMs = config.auth.max_session;
  const keys = new SigningKeys(db, masterKey, nowMs);
  const signer = new TokenSigner(keys, { issuer: config.auth.issuer, now: nowMs });
  const dummy = new DummyVerifier(params);
  const windowMs = config.throttle?.window ?? 15 * 60_000;
  const accountThrottle = new Throttle({
    limit: config.throttle?.account_failures ?? 10,
    windowMs,
    now: nowMs,
  });
  const ipThrottle = new Throttle({
    limit: config.throttle?.ip_failures ?? 50,
    windowMs,
    now: nowMs,
  });
  let lastPrune = 0;
  let closed = false;

  const q = {
    accountByName: db.prepare(`SELECT ${ACCOUNT_COLUMNS} FROM accounts a WHERE a.username = ?`),
    accounts: db.prepare(
      `SELECT ${ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.username COLLATE NOCASE`,
    ),
    insertAccount: db.prepare(
      "INSERT INTO accounts (username, type, password_hash, created_at, updated_at) " +
        "VALUES (?, ?, ?, ?, ?) RETURNING id",
    ),
    insertRole: db.prepare("INSERT INTO account_roles (account_id, role) VALUES (?, ?)"),
    deleteRoles: db.prepare("DELETE FROM account_roles WHERE account_id = ?"),
    setDisabled: db.prepare("UPDATE accounts SET disabled = ?, updated_at = ? WHERE id = ?"),
    setPassword: db.prepare("UPDATE accounts SET password_hash = ?, updated_at = ? WHERE id = ?"),
    touch: db.prepare("UPDATE accounts SET updated_at = ? WHERE id = ?"),
    deleteAccount: db.prepare("DELETE FROM accounts WHERE id = ?"),
    enabledAdmins: db.prepare(
      "SELECT a.id FROM accounts a JOIN account_roles r ON r.account_id = a.id " +
        "WHERE r.role = 'admin' AND a.disabled = 0",
    ),
    insertToken: db.prepare(
      "INSERT INTO tokens (jti, account_id, token_hash, kind, service_name, tags, session_start, " +
        "issued_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ),
    tokenForValidation: db.prepare(
      `SELECT t.revoked_at, t.kind, t.service_name, t.tags, t.session_start, t.issued_at,
         a.username, a.type, a.disabled,
         (SELECT group_concat(role) FROM account_roles r WHERE r.account_id = a.id) AS roles
       FROM tokens t JOIN accounts a ON a.id = t.account_id WHERE t.jti = ?`,
    ),
    tokenByHash: db.prepare("SELECT jti FROM tokens WHERE token_hash = ?"),
    tokenByJti: db.prepare("SELECT jti FROM tokens WHERE jti = ?"),
    revokeJti: db.prepare("UPDATE tokens SET revoked_at = ? WHERE jti = ? AND revoked_at IS NULL"),
    revokeHash: db.prepare(
      "UPDATE tokens SET revoked_at = ? WHERE token_hash = ? AND revoked_at IS NULL",
    ),
    revokeAll: db.prepare(
      "UPDATE tokens SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
    ),
    revokeSessions: db.prepare(
      "UPDATE tokens SET revoked_at = ? WHERE account_id = ? AND kind = 'session' " +
        "AND revoked_at IS NULL",
    ),
    pruneTokens: db.prepare("DELETE FROM tokens WHERE expires_at < ?"),
    rules: db.prepare("SELECT * FROM policy_rules ORDER BY priority, id"),
    ruleById: db.prepare("SELECT * FROM policy_rules WHERE id = ?"),
    insertRule: db.prepare(
      "INSERT INTO policy_rules (priority, effect, roles, account_types, service_names, tags, " +
        "description) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
    ),
    updateRule: db.prepare(
      "UPDATE policy_rules SET priority = ?, effect = ?, roles = ?, account_types = ?, " +
        "service_names = ?, tags = ?, description = ? WHERE id = ? RETURNING *",
    ),
    deleteRule: db.prepare("DELETE FROM policy_rules WHERE id = ?"),
  } satisfies Record<string, StatementSync>;

  function findAccount(username: string): AccountRow | undefined {
    if (typeof username !== "string" || !USERNAME_PATTERN.test(username)) return undefined;
    return q.accountByName.get(username) as AccountRow | undefined;
  }

  function requireAccount(username: string): AccountRow {
    checkUsername(username);
    const row = findAccount(username);
    if (row === undefined) {
      throw new McIasError(404, `account ${JSON.stringify(username)} does not exist`);
    }
    return row;
  }

  function rules(): PolicyRule[] {
    return (q.rules.all() as unknown as RuleRow[]).map(toRule);
  }

  function throttleKey(username: string): string {
    return `account:${String(username).toLowerCase()}`;
  }

  function checkThrottle(username: string, remoteAddr: string): void {
    const retry = Math.max(
      accountThrottle.retryAfterSeconds(throttleKey(username)),
      ipThrottle.retryAfterSeconds(ipKey(remoteAddr)),
    );
    if (retry > 0) {
      throw new LoginFailedError(
        429,
        `too many failed logins: retry in ${retry} seconds`,
        { retryAfterSeconds: retry },
      );
    }
  }

  function recordFailure(username: string, remoteAddr: string): void {
    accountThrottle.fail(throttleKey(username));
    ipThrottle.fail(ipKey(remoteAddr));
  }

  function ipKey(remoteAddr: string): string {
    return `ip:${addressKey(remoteAddr)}`;
  }

  // Counts an attempt as in flight before the slow password check, so
  // concurrent attempts cannot all pass the throttle: 429 when failures
  // plus attempts in flight reach a budget. Release after recording any failure.
  function reserveAttempt(username: string, remoteAddr: string): () => void {
    const account = accountThrottle.reserve(throttleKey(username));
    const ip = account === undefined ? undefined : ipThrottle.reserve(ipKey(remoteAddr));
    if (account === undefined || ip === undefined) {
      account?.();
      throw new LoginFailedError(429, "too many login attempts in progress: retry in 1 second", {
        retryAfterSeconds: 1,
      });
    }
    return () => {
      account();
      ip();
    };
  }

  function lastAdminGuard(row: AccountRow, action: string): void {
    const admins = (q.enabledAdmins.all() as { id: number }[]).map((r) => Number(r.id));
    if (admins.length === 1 && admins[0] === Number(row.id)) {
      throw new McIasError(
        409,
        `cannot ${action} ${JSON.stringify(row.username)}: it is the last enabled admin; ` +
          "give another account the admin role first",
        { reason: "failed_precondition" },
      );
    }
  }

  async function issueStored(
    row: AccountRow,
    roles: string[],
    kind: TokenKind,
    ttlMs: number,
    serviceName: string,
    session: { tags?: string[]; sessionStart?: string; parentJti?: string } = {},
  ): Promise<TokenGrant> {
    const issued = await signer.issue({
      username: row.username,
      roles,
      accountType: row.type,
      kind,
      ttlMs,
      audience: serviceName,
    });
    const { claims } = issued;
    const current = nowMs();
    if (current - lastPrune > PRUNE_INTERVAL_MS) {
      lastPrune = current;
      // Expired tokens can never validate again; a day's grace keeps them
      // visible to whoever is investigating a recent incident.
      q.pruneTokens.run(new Date(current - 24 * 3600_000).toISOString());
    }
    const expiresAt = new Date(claims.exp * 1000);
    const issuedAt = new Date(claims.iat * 1000).toISOString();
    transaction(db, () => {
      if (session.parentJti !== undefined) {
        // Renewal replaces the parent: revoked in the same transaction, and
        // only once (a second renewal of the same token loses).
        const revoked = q.revokeJti.run(now().toISOString(), session.parentJti);
        if (Number(revoked.changes) !== 1) {
          throw new LoginFailedError(401, "invalid or expired token: log in again");
        }
      }
      q.insertToken.run(
        claims.jti,
        row.id,
        tokenHash(issued.token),
        kind,
        serviceName,
        JSON.stringify(session.tags ?? []),
        kind === "session" ? (session.sessionStart ?? issuedAt) : null,
        issuedAt,
        expiresAt.toISOString(),
      );
    });
    return { token: issued.token, expiresAt };
  }

  async function completeLogin(
    username: string,
    context: { serviceName?: string; tags?: string[]; remoteAddr: string },
  ): Promise<TokenGrant> {
    const { serviceName, tags } = checkContext(context.serviceName, context.tags);
    checkThrottle(username, context.remoteAddr);
    const row = findAccount(username);
    if (row === undefined || row.disabled === 1 || row.type !== "human") {
      throw new LoginFailedError(401, "invalid credentials");
    }
    const account = toAccount(row);
    const decision = evaluatePolicy(rules(), {
      roles: account.roles,
      accountType: account.type,
      serviceName,
      tags,
    });
    if (!decision.allowed) {
      logger.info("login denied by policy", {
        username: row.username,
        serviceName,
        reason: decision.reason,
        remoteAddr: context.remoteAddr,
      });
      throw new LoginFailedError(403, `login denied by policy: ${decision.reason}`, { decision });
    }
    accountThrottle.reset(throttleKey(username));
    const grant = await issueStored(row, account.roles, "session", tokenTtlMs, serviceName, {
      tags,
    });
    logger.info("login", { username: row.username, serviceName, remoteAddr: context.remoteAddr });
    return grant;
  }

  // What the database said about each token id (valid, or why not), kept
  // only while the database is unchanged: any row this connection changes
  // moves total_changes(), any commit by another connection (mciasctl
  // revoking or disabling beside the server) moves data_version. So a
  // revocation, logout, renewal, disable, role change or deletion is seen
  // by the very next validation, from whichever process it came; the two
  // counters cost about half of the token query they replace.
  const dbChanges = counterStatement(db, "SELECT total_changes()");
  const dbVersion = counterStatement(db, "PRAGMA data_version");
  const tokenRows = new Map<string, Omit<TokenInfo, "expiresAt"> | null>();
  let seenChanges = -1;
  let seenVersion = -1;

  function tokenRow(jti: string): Omit<TokenInfo, "expiresAt"> | null {
    const changes = dbChanges();
    const version = dbVersion();
    if (changes !== seenChanges || version !== seenVersion) {
      tokenRows.clear();
      seenChanges = changes;
      seenVersion = version;
    } else {
      const known = tokenRows.get(jti);
      if (known !== undefined) return known;
    }
    const row = q.tokenForValidation.get(jti) as
      | {
        revoked_at: string | null;
        username: string;
        type: AccountType;
        disabled: number;
        roles: string | null;
      }
      | undefined;
    const found = row === undefined || row.revoked_at !== null || row.disabled === 1 ? null : {
      valid: true,
      username: row.username,
      accountType: row.type,
      roles: row.type === "system" ? [] : sortRoles((row.roles ?? "").split(",").filter(Boolean)),
    };
    if (tokenRows.size >= TOKEN_ROW_CACHE_SIZE) tokenRows.delete(tokenRows.keys().next().value!);
    tokenRows.set(jti, found);
    return found;
  }

  async function validate(token: string, serviceName?: string): Promise<TokenInfo> {
    const claims = await signer.verify(token);
    if (claims === undefined) return INVALID;
    // A token is for one service (its aud); system tokens have none and are
    // authorised per service by that service's own policy.
    if (
      serviceName !== undefined && serviceName !== "" && claims.aud !== undefined &&
      claims.aud !== "" && claims.aud !== serviceName
    ) {
      return INVALID;
    }
    const found = tokenRow(claims.jti);
    if (found === null) return INVALID;
    return { ...found, roles: [...found.roles], expiresAt: new Date(claims.exp * 1000) };
  }

  async function passwordLogin(request: LoginRequest): Promise<TokenGrant> {
    const { username, password, totpCode, remoteAddr } = request;
    await dummy.ready();
    if (password.length > MAX_PASSWORD_LENGTH) {
      // Before the account lookup, the same for every account: the dummy
      // check's cost, a counted failure and the usual answer.
      await dummy.verify(password);
      recordFailure(username, remoteAddr);
      logger.info("login failed", { username: String(username).slice(0, 64), remoteAddr });
      throw new LoginFailedError(401, "invalid credentials");
    }
    const row = findAccount(username);
    let ok = false;
    if (
      row !== undefined && row.type === "human" && row.disabled === 0 &&
      row.password_hash !== null
    ) {
      ok = await verifyPassword(password, row.password_hash);
    } else {
      // Same cost and same answer as a wrong password.
      await dummy.verify(password);
    }
    if (!ok || row === undefined) {
      recordFailure(username, remoteAddr);
      logger.info("login failed", { username: String(username).slice(0, 64), remoteAddr });
      throw new LoginFailedError(401, "invalid credentials");
    }
    const totpOn = row.totp_enabled === 1 || (secondFactor?.totpEnabled(row.username) ?? false);
    if (totpOn) {
      if (typeof totpCode !== "string" || totpCode === "") {
        throw new LoginFailedError(401, "TOTP code required", { totpRequired: true });
      }
      const good = secondFactor === undefined
        ? false
        : await secondFactor.verifyTotp(row.username, totpCode);
      if (!good) {
        if (secondFactor === undefined) {
          logger.warn("TOTP login impossible: no second-factor verifier configured", {
            username: row.username,
          });
        }
        recordFailure(username, remoteAddr);
        throw new LoginFailedError(401, "invalid TOTP code", { totpRequired: true });
      }
    }
    if (needsRehash(row.password_hash!, params)) {
      q.setPassword.run(await hashPassword(password, params), now().toISOString(), row.id);
    }
    return await completeLogin(row.username, request);
  }

  const mcias: McIas = {
    async login(request: LoginRequest): Promise<TokenGrant> {
      const { username, password, remoteAddr } = request;
      if (typeof username !== "string" || typeof password !== "string") {
        throw new McIasError(400, "username and password must be strings");
      }
      checkContext(request.serviceName, request.tags);
      checkThrottle(username, remoteAddr);
      const release = reserveAttempt(username, remoteAddr);
      try {
        return await passwordLogin(request);
      } finally {
        release();
      }
    },

    async renew(token: string): Promise<TokenGrant> {
      const claims = await signer.verify(token);
      const info = await validate(token);
      if (claims === undefined || !info.valid) {
        throw new LoginFailedError(401, "invalid or expired token: log in again");
      }
      const tokenRow = q.tokenForValidation.get(claims.jti) as {
        kind: TokenKind;
        service_name: string;
        tags: string;
        session_start: string | null;
        issued_at: string;
      };
      if (tokenRow.kind === "system") {
        throw new LoginFailedError(
          403,
          "system tokens cannot be renewed: system tokens are reissued by an admin",
        );
      }
      const row = findAccount(info.username)!;
      const account = toAccount(row);
      const serviceName = tokenRow.service_name || MCIAS_SERVICE_NAME;
      const tags = JSON.parse(tokenRow.tags) as string[];
      const decision = evaluatePolicy(rules(), {
        roles: account.roles,
        accountType: account.type,
        serviceName,
        tags,
      });
      if (!decision.allowed) {
        logger.info("renewal denied by policy", {
          username: row.username,
          serviceName,
          reason: decision.reason,
        });
        throw new LoginFailedError(403, `renewal denied by policy: ${decision.reason}`, {
          decision,
        });
      }
      const sessionStart = tokenRow.session_start ?? tokenRow.issued_at;
      const ttl = Math.min(
        tokenTtlMs,
        new Date(sessionStart).getTime() + maxSessionMs - nowMs(),
      );
      if (!(ttl >= 1000)) {
        throw new LoginFailedError(
          401,
          "session has reached its maximum lifetime ([auth] max_session): log in again",
        );
      }
      const grant = await issueStored(row, account.roles, "session", ttl, serviceName, {
        tags,
        sessionStart,
        parentJti: claims.jti,
      });
      signer.forget(token);
      return grant;
    },

    logout(token: string): Promise<void> {
      if (typeof token === "string" && token !== "") {
        q.revokeHash.run(now().toISOString(), tokenHash(token));
        signer.forget(token);
      }
      return Promise.resolve();
    },

    validate,

    jwks() {
      return keys.jwks();
    },

    async issueSystemToken(username: string, ttlMs?: number): Promise<TokenGrant> {
      const row = requireAccount(username);
      if (row.type !== "system") {
        throw new McIasError(
          400,
          `account ${JSON.stringify(row.username)} is a human account: system tokens are only ` +
            "for system accounts (create one with type system)",
        );
      }
      if (row.disabled === 1) {
        throw new McIasError(
          409,
          `account ${JSON.stringify(row.username)} is disabled: enable it first`,
          { reason: "failed_precondition" },
        );
      }
      const ttl = ttlMs ?? systemTokenTtlMs;
      if (!Number.isSafeInteger(ttl) || ttl < 1000 || ttl > MAX_TTL_MS) {
        throw new McIasError(400, "ttl must be between 1 second and 10 years");
      }
      const grant = await issueStored(row, [], "system", ttl, "");
      logger.info("system token issued", { username: row.username, expiresAt: grant.expiresAt });
      return grant;
    },

    revokeToken(jtiOrToken: string): void {
      if (typeof jtiOrToken !== "string" || jtiOrToken === "") {
        throw new McIasError(400, "give a token id (jti), a token hash or a token");
      }
      const hash = /^[0-9a-f]{64}$/.test(jtiOrToken)
        ? jtiOrToken
        : jtiOrToken.includes(".")
        ? tokenHash(jtiOrToken)
        : undefined;
      const found = (hash === undefined ? q.tokenByJti.get(jtiOrToken) : q.tokenByHash.get(hash)) as
        | { jti: string }
        | undefined;
      if (found === undefined) {
        throw new McIasError(
          404,
          "no such token: check the jti (tokens expired over a day ago are gone)",
        );
      }
      q.revokeJti.run(now().toISOString(), found.jti);
      if (jtiOrToken.includes(".")) signer.forget(jtiOrToken);
      logger.info("token revoked", { jti: found.jti });
    },

    listAccounts(): Account[] {
      return (q.accounts.all() as unknown as AccountRow[]).map(toAccount);
    },

    getAccount(username: string): Account {
      return toAccount(requireAccount(username));
    },

    async createAccount(input: NewAccount): Promise<Account> {
      const username = checkUsername(input?.username);
      const type = input.type ?? "human";
      if (type !== "human" && type !== "system") {
        throw new McIasError(400, `type must be "human" or "system"`);
      }
      let hash: string | null = null;
      let roles: Role[] = [];
      if (type === "system") {
        if (input.password !== undefined) {
          throw new McIasError(400, "system accounts have no password: they use system tokens");
        }
        if (input.roles !== undefined && input.roles.length > 0) {
          throw new McIasError(400, "system accounts have no roles");
        }
      } else {
        if (input.password === undefined) {
          throw new McIasError(400, "human accounts need a password");
        }
        checkPassword(input.password);
        roles = checkRoles(input.roles ?? ["user"]);
        hash = await hashPassword(input.password, params);
      }
      const stamp = now().toISOString();
      try {
        transaction(db, () => {
          const { id } = q.insertAccount.get(username, type, hash, stamp, stamp) as { id: number };
          for (const role of roles) q.insertRole.run(id, role);
        });
      } catch (e) {
        if (String((e as Error).message).includes("UNIQUE")) {
          throw new McIasError(409, `account ${JSON.stringify(username)} already exists`);
        }
        throw e;
      }
      logger.info("account created", { username, type, roles });
      return toAccount(findAccount(username)!);
    },

    async updateAccount(username: string, update: AccountUpdate): Promise<Account> {
      const row = requireAccount(username);
      const { roles, disabled, password } = update ?? {};
      if (disabled !== undefined && typeof disabled !== "boolean") {
        throw new McIasError(400, "disabled must be true or false");
      }
      const newRoles = roles === undefined ? undefined : checkRoles(roles);
      if (row.type === "system" && newRoles !== undefined && newRoles.length > 0) {
        throw new McIasError(400, "system accounts have no roles");
      }
      if (row.type === "system" && password !== undefined) {
        throw new McIasError(400, "system accounts have no password");
      }
      const hash = password === undefined
        ? undefined
        : await hashPassword(checkPassword(password), params);
      const current = toAccount(row);
      transaction(db, () => {
        const stamp = now().toISOString();
        const losesAdmin = current.roles.includes("admin") && !current.disabled &&
          ((newRoles !== undefined && !newRoles.includes("admin")) || disabled === true);
        if (losesAdmin) lastAdminGuard(row, "remove admin from or disable");
        if (newRoles !== undefined && row.type === "human") {
          q.deleteRoles.run(row.id);
          for (const role of newRoles) q.insertRole.run(row.id, role);
        }
        if (disabled !== undefined) q.setDisabled.run(disabled ? 1 : 0, stamp, row.id);
        // Disabling ends every token (session and system): enabling again
        // must not bring back a token that may have been stolen.
        if (disabled === true) q.revokeAll.run(stamp, row.id);
        if (hash !== undefined) {
          q.setPassword.run(hash, stamp, row.id);
          q.revokeSessions.run(stamp, row.id);
        }
        q.touch.run(stamp, row.id);
      });
      logger.info("account updated", {
        username: row.username,
        roles: newRoles,
        disabled,
        passwordChanged: hash !== undefined,
      });
      return toAccount(findAccount(row.username)!);
    },

    deleteAccount(username: string): void {
      const row = requireAccount(username);
      transaction(db, () => {
        if (row.disabled === 0) lastAdminGuard(row, "delete");
        q.deleteAccount.run(row.id);
      });
      logger.info("account deleted", { username: row.username });
    },

    listRules: rules,

    createRule(rule: NewPolicyRule): PolicyRule {
      const r = checkRule(rule ?? {});
      const row = q.insertRule.get(
        r.priority,
        r.effect,
        JSON.stringify(r.roles),
        JSON.stringify(r.accountTypes),
        JSON.stringify(r.serviceNames),
        JSON.stringify(r.tags),
        r.description,
      ) as unknown as RuleRow;
      logger.info("policy rule created", { id: row.id });
      return toRule(row);
    },

    updateRule(id: number, rule: NewPolicyRule): PolicyRule {
      const r = checkRule(rule ?? {});
      const row = q.updateRule.get(
        r.priority,
        r.effect,
        JSON.stringify(r.roles),
        JSON.stringify(r.accountTypes),
        JSON.stringify(r.serviceNames),
        JSON.stringify(r.tags),
        r.description,
        id,
      ) as unknown as RuleRow | undefined;
      if (row === undefined) throw new McIasError(404, `policy rule ${id} does not exist`);
      logger.info("policy rule updated", { id });
      return toRule(row);
    },

    deleteRule(id: number): void {
      const result = q.deleteRule.run(id);
      if (Number(result.changes) === 0) {
        throw new McIasError(404, `policy rule ${id} does not exist`);
      }
      logger.info("policy rule deleted", { id });
    },

    testPolicy(username: string, serviceName: string, tags: string[]): PolicyTestResult {
      const account = toAccount(requireAccount(username));
      const ctx = checkContext(serviceName, tags);
      if (account.disabled) {
        return { username: account.username, allowed: false, reason: "account is disabled" };
      }
      const decision = evaluatePolicy(rules(), {
        roles: account.roles,
        accountType: account.type,
        serviceName: ctx.serviceName,
        tags: ctx.tags,
      });
      return { username: account.username, ...decision };
    },

    completeLogin,
    checkThrottle,
    recordFailure,

    async verifyPassword(username: string, password: string): Promise<boolean> {
      await dummy.ready();
      const row = findAccount(username);
      if (
        typeof password !== "string" || password.length > MAX_PASSWORD_LENGTH ||
        row === undefined || row.type !== "human" || row.disabled === 1 ||
        row.password_hash === null
      ) {
        await dummy.verify(String(password));
        return false;
      }
      return await verifyPassword(password, row.password_hash);
    },

    close(): void {
      if (closed) return;
      closed = true;
      db.close();
    },
    [Symbol.dispose](): void {
      mcias.close();
    },
  };
  return mcias;
}

/** What {@linkcode initMcIas} created. */
export interface InitResult {
  /** The first admin. */
  admin: Account;
  /** The seeded rule, when the policy was empty. */
  rule?: PolicyRule;
}

/**
 * `mciasctl init`: creates the first admin and seeds the default rule
 * (allow role `user` everywhere, priority 1000) when there are no rules.
 *
 * @throws {McIasError} 409 when an admin already exists; 400 for a bad name or password.
 */
export async function initMcIas(
  mcias: McIas,
  admin: { username: string; password: string },
): Promise<InitResult> {
  const existing = mcias.listAccounts().find((a) => a.roles.includes("admin"));
  if (existing !== undefined) {
    throw new McIasError(
      409,
      `MCIAS is already initialised: admin account ${JSON.stringify(existing.username)} ` +
        "exists; manage accounts with the account commands",
    );
  }
  const account = await mcias.createAccount({
    username: admin.username,
    type: "human",
    password: admin.password,
    roles: ["admin"],
  });
  const rule = mcias.listRules().length === 0 ? mcias.createRule(DEFAULT_RULE) : undefined;
  return { admin: account, rule };
}
