/**
 * TEST SCAFFOLDING ONLY: an in-memory stand-in for the McIas core, so the
 * SSO provider and the web UI can be tested without the real store. It has
 * no password hashing, no signing and no persistence; never use it in a
 * server. Package-private.
 *
 * @module
 */

import type { TokenInfo } from "@mc/mcdsl/auth/types";
import {
  type Account,
  type AccountUpdate,
  LoginFailedError,
  type LoginRequest,
  type McIas,
  McIasError,
  type NewAccount,
  type NewPolicyRule,
  type PolicyDecision,
  type PolicyRule,
  type PolicyTestResult,
  type TokenGrant,
} from "../core/types.ts";

interface FakeAccount {
  account: Account;
  password?: string;
  totpCode?: string;
}

interface FakeToken {
  username: string;
  serviceName: string;
  expiresAt: Date;
  revoked: boolean;
}

/** Every call a test may want to look at. */
export interface FakeCall {
  /** Method name. */
  method: string;
  /** Its arguments, secrets left out. */
  args: unknown[];
}

/** Options for {@linkcode FakeMcIas}. */
export interface FakeMcIasOptions {
  /** Clock. */
  now?: () => Date;
  /** Token lifetime. */
  tokenTtlMs?: number;
}

/**
 * TEST SCAFFOLDING: an in-memory McIas. Passwords are compared as plain
 * text, tokens are random strings in a map, policy is first match by
 * priority with the admin bypass and default deny as the real core does.
 */
export class FakeMcIas implements McIas {
  readonly calls: FakeCall[] = [];
  #accounts = new Map<string, FakeAccount>();
  #tokens = new Map<string, FakeToken>();
  #rules: PolicyRule[] = [];
  #nextRule = 1;
  #now: () => Date;
  #ttl: number;

  constructor(options: FakeMcIasOptions = {}) {
    this.#now = options.now ?? (() => new Date());
    this.#ttl = options.tokenTtlMs ?? 3_600_000;
  }

  /** Adds a human account with a password (and a TOTP code that is always right). */
  addUser(
    username: string,
    password: string,
    roles: Account["roles"] = ["user"],
    totpCode?: string,
  ): void {
    this.#accounts.set(username.toLowerCase(), {
      account: {
        username,
        type: "human",
        roles,
        disabled: false,
        totpEnabled: totpCode !== undefined,
        passkeys: 0,
        createdAt: this.#now(),
      },
      password,
      ...(totpCode === undefined ? {} : { totpCode }),
    });
  }

  /** A session token for `username`, without a password. */
  tokenFor(username: string, serviceName = "mcias"): string {
    return this.#issue(username, serviceName).token;
  }

  /** The service a token was issued for. */
  serviceOf(token: string): string | undefined {
    return this.#tokens.get(token)?.serviceName;
  }

  async login(request: LoginRequest): Promise<TokenGrant> {
    this.calls.push({ method: "login", args: [request.username, request.serviceName] });
    await Promise.resolve();
    const entry = this.#accounts.get(request.username.toLowerCase());
    if (
      entry === undefined || entry.account.disabled || entry.password === undefined ||
      entry.password !== request.password
    ) {
      throw new LoginFailedError(401, "invalid credentials");
    }
    if (entry.totpCode !== undefined) {
      if (request.totpCode === undefined || request.totpCode === "") {
        throw new LoginFailedError(401, "TOTP code required", { totpRequired: true });
      }
      if (request.totpCode !== entry.totpCode) {
        throw new LoginFailedError(401, "invalid credentials");
      }
    }
    return this.completeLogin(entry.account.username, request);
  }

  completeLogin(
    username: string,
    context: { serviceName?: string; tags?: string[]; remoteAddr: string },
  ): Promise<TokenGrant> {
    this.calls.push({ method: "completeLogin", args: [username, context] });
    const result = this.testPolicy(username, context.serviceName ?? "", context.tags ?? []);
    if (!result.allowed) {
      return Promise.reject(new LoginFailedError(403, "denied by policy", { decision: result }));
    }
    return Promise.resolve(this.#issue(username, context.serviceName ?? ""));
  }

  checkThrottle(): void {}

  recordFailure(): void {}

  renew(token: string): Promise<TokenGrant> {
    const entry = this.#tokens.get(token);
    if (entry === undefined) return Promise.reject(new LoginFailedError(401, "invalid token"));
    return Promise.resolve(this.#issue(entry.username, entry.serviceName));
  }

  logout(token: string): Promise<void> {
    this.calls.push({ method: "logout", args: [] });
    const entry = this.#tokens.get(token);
    if (entry !== undefined) entry.revoked = true;
    return Promise.resolve();
  }

  validate(token: string): Promise<TokenInfo> {
    const entry = this.#tokens.get(token);
    const account = entry && this.#accounts.get(entry.username.toLowerCase())?.account;
    if (
      entry === undefined || account === undefined || entry.revoked || account.disabled ||
      entry.expiresAt <= this.#now()
    ) {
      return Promise.resolve({
        valid: false,
        username: "",
        accountType: "human",
        roles: [],
        expiresAt: new Date(0),
      });
    }
    return Promise.resolve({
      valid: true,
      username: account.username,
      accountType: account.type,
      roles: [...account.roles],
      expiresAt: entry.expiresAt,
    });
  }

  jwks(): { keys: JsonWebKey[] } {
    return { keys: [] };
  }

  issueSystemToken(username: string): Promise<TokenGrant> {
    return Promise.resolve(this.#issue(username, ""));
  }

  revokeToken(jtiOrToken: string): void {
    const entry = this.#tokens.get(jtiOrToken);
    if (entry !== undefined) entry.revoked = true;
  }

  listAccounts(): Account[] {
    return [...this.#accounts.values()].map((e) => ({ ...e.account }))
      .sort((a, b) => a.username.localeCompare(b.username));
  }

  getAccount(username: string): Account {
    const entry = this.#accounts.get(username.toLowerCase());
    if (entry === undefined) throw new McIasError(404, `account "${username}" not found`);
    return { ...entry.account };
  }

  createAccount(input: NewAccount): Promise<Account> {
    this.calls.push({ method: "createAccount", args: [input.username, input.type, input.roles] });
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(input.username)) {
      return Promise.reject(new McIasError(400, `invalid username "${input.username}"`));
    }
    if (this.#accounts.has(input.username.toLowerCase())) {
      return Promise.reject(new McIasError(409, `account "${input.username}" already exists`));
    }
    if (input.type === "human" && !input.password) {
      return Promise.reject(new McIasError(400, "a human account needs a password"));
    }
    if (input.type === "system" && input.password) {
      return Promise.reject(new McIasError(400, "a system account has no password"));
    }
    const account: Account = {
      username: input.username,
      type: input.type,
      roles: input.type === "system" ? [] : input.roles ?? ["user"],
      disabled: false,
      totpEnabled: false,
      passkeys: 0,
      createdAt: this.#now(),
    };
    this.#accounts.set(input.username.toLowerCase(), {
      account,
      ...(input.password === undefined ? {} : { password: input.password }),
    });
    return Promise.resolve({ ...account });
  }

  updateAccount(username: string, update: AccountUpdate): Promise<Account> {
    this.calls.push({ method: "updateAccount", args: [username, { ...update, password: "-" }] });
    const entry = this.#accounts.get(username.toLowerCase());
    if (entry === undefined) {
      return Promise.reject(new McIasError(404, `account "${username}" not found`));
    }
    if (update.roles !== undefined) entry.account.roles = [...update.roles];
    if (update.disabled !== undefined) entry.account.disabled = update.disabled;
    if (update.password !== undefined) entry.password = update.password;
    return Promise.resolve({ ...entry.account });
  }

  deleteAccount(username: string): void {
    this.calls.push({ method: "deleteAccount", args: [username] });
    if (!this.#accounts.delete(username.toLowerCase())) {
      throw new McIasError(404, `account "${username}" not found`);
    }
  }

  listRules(): PolicyRule[] {
    return [...this.#rules].sort((a, b) => a.priority - b.priority || a.id - b.id);
  }

  createRule(rule: NewPolicyRule): PolicyRule {
    this.calls.push({ method: "createRule", args: [rule] });
    const created = { ...rule, id: this.#nextRule++ };
    this.#rules.push(created);
    return created;
  }

  updateRule(id: number, rule: NewPolicyRule): PolicyRule {
    const index = this.#rules.findIndex((r) => r.id === id);
    if (index < 0) throw new McIasError(404, `rule ${id} not found`);
    this.#rules[index] = { ...rule, id };
    return this.#rules[index]!;
  }

  deleteRule(id: number): void {
    this.calls.push({ method: "deleteRule", args: [id] });
    const index = this.#rules.findIndex((r) => r.id === id);
    if (index < 0) throw new McIasError(404, `rule ${id} not found`);
    this.#rules.splice(index, 1);
  }

  testPolicy(username: string, serviceName: string, tags: string[]): PolicyTestResult {
    this.calls.push({ method: "testPolicy", args: [username, serviceName, tags] });
    const account = this.getAccount(username);
    return { username: account.username, ...this.#decide(account, serviceName, tags) };
  }

  close(): void {}

  [Symbol.dispose](): void {}

  #decide(account: Account, serviceName: string, tags: string[]): PolicyDecision {
    if (account.roles.includes("admin")) return { allowed: true, reason: "admin bypasses policy" };
    for (const rule of this.listRules()) {
      const matches = (rule.roles.length === 0 || rule.roles.some((r) =>
        account.roles.includes(r)
      )) &&
        (rule.accountTypes.length === 0 || rule.accountTypes.includes(account.type)) &&
        (rule.serviceNames.length === 0 || rule.serviceNames.includes(serviceName)) &&
        rule.tags.every((t) => tags.includes(t));
      if (matches) {
        return {
          allowed: rule.effect === "allow",
          rule,
          reason: `rule ${rule.id} (${rule.description})`,
        };
      }
    }
    return { allowed: false, reason: "no rule matched: default deny" };
  }

  #issue(username: string, serviceName: string): TokenGrant {
    const token = `fake.${
      crypto.getRandomValues(new Uint8Array(24)).toBase64({
        alphabet: "base64url",
        omitPadding: true,
      })
    }.tok`;
    const expiresAt = new Date(this.#now().getTime() + this.#ttl);
    this.#tokens.set(token, { username, serviceName, expiresAt, revoked: false });
    return { token, expiresAt };
  }
}
