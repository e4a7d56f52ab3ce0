/**
 * The MCIAS domain contract. REST, gRPC, the web UI and the CLI all call an
 * {@linkcode McIas}; none of them touches the database or keys directly.
 *
 * @module
 */

import type { AccountType, TokenInfo } from "@mc/mcdsl/auth/types";
import type {
  AuthenticationResponseJSON,
  PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON,
  RegistrationResponseJSON,
} from "@simplewebauthn/server";

/** MCIAS roles. */
export type Role = "admin" | "user" | "guest";

/** Every role. */
export const ROLES: readonly Role[] = ["admin", "user", "guest"];

/** An account as callers see it (never a secret). */
export interface Account {
  /** Unique, case-insensitive. */
  username: string;
  /** Human or system. */
  type: AccountType;
  /** Roles; always empty for system accounts. */
  roles: Role[];
  /** Disabled accounts cannot log in and their tokens stop validating. */
  disabled: boolean;
  /** Whether TOTP is enabled. */
  totpEnabled: boolean;
  /** Number of registered passkeys. */
  passkeys: number;
  /** Creation time. */
  createdAt: Date;
}

/** Input for a new account. */
export interface NewAccount {
  /** 1–64 chars of `[A-Za-z0-9._-]`, starting with a letter or digit. */
  username: string;
  /** Human (needs a password) or system (must not have one). */
  type: AccountType;
  /** Human accounts only. */
  password?: string;
  /** Human accounts only; default `["user"]`. */
  roles?: Role[];
}

/** Changes to an account. */
export interface AccountUpdate {
  /** Replaces the roles (human accounts only). */
  roles?: Role[];
  /** Enables or disables. */
  disabled?: boolean;
  /** Resets the password (human accounts only); revokes its session tokens. */
  password?: string;
}

/** Who is logging in, where from, and to what. */
export interface LoginRequest {
  /** Account name. */
  username: string;
  /** Password. */
  password: string;
  /** Six-digit TOTP code or a recovery code, when TOTP is enabled. */
  totpCode?: string;
  /** The service the user is logging in to (policy input). */
  serviceName?: string;
  /** That service's tags (policy input). */
  tags?: string[];
  /** Client address, for throttling and logs. */
  remoteAddr: string;
}

/** A token handed out. */
export interface TokenGrant {
  /** The JWT. */
  token: string;
  /** When it expires. */
  expiresAt: Date;
}

/** A login policy rule. */
export interface PolicyRule {
  /** Assigned by the store. */
  id: number;
  /** Lower first. */
  priority: number;
  /** What a match decides. */
  effect: "allow" | "deny";
  /** Matches when the account has any of these roles; empty = any. */
  roles: Role[];
  /** Matches these account types; empty = any. */
  accountTypes: AccountType[];
  /** Matches these service names; empty = any. */
  serviceNames: string[];
  /** Matches when every one of these tags is present; empty = any. */
  tags: string[];
  /** Free text for operators. */
  description: string;
}

/** A rule before it has an id. */
export type NewPolicyRule = Omit<PolicyRule, "id">;

/** The context a policy is evaluated on. */
export interface PolicyInput {
  /** Account roles. */
  roles: Role[];
  /** Account type. */
  accountType: AccountType;
  /** Target service; `"mcias"` (MCIAS_SERVICE_NAME) for MCIAS itself. */
  serviceName: string;
  /** Target service's tags. */
  tags: string[];
}

/** What policy decided, and why. */
export interface PolicyDecision {
  /** Allowed or not. */
  allowed: boolean;
  /** The rule that decided; `undefined` for the admin bypass and the default deny. */
  rule?: PolicyRule;
  /** One line for humans: "admin bypasses policy", "rule 3 (deny guests …)", "no rule matched: default deny". */
  reason: string;
}

/** MCAT: a login dry run. */
export interface PolicyTestResult extends PolicyDecision {
  /** The account tested. */
  username: string;
}

/** Why a login failed; REST maps 401/403/429. */
export class LoginFailedError extends Error {
  /**
   * @param status 401 bad credentials (or TOTP needed: `totpRequired`), 403 policy, 429 throttled.
   * @param message Safe to show the client.
   * @param options `totpRequired` when the password was right but a TOTP code is missing;
   *   `retryAfterSeconds` for 429; `decision` for 403.
   */
  constructor(
    readonly status: 401 | 403 | 429,
    message: string,
    readonly options: {
      totpRequired?: boolean;
      retryAfterSeconds?: number;
      decision?: PolicyDecision;
    } = {},
  ) {
    super(message);
    this.name = "LoginFailedError";
  }
}

/** A caller error on admin operations (bad name, duplicate, unknown account): REST 400/404/409. */
export class McIasError extends Error {
  /**
   * Why a 409 conflict happened, when it is not a duplicate:
   * `"failed_precondition"` for a state that forbids the operation (the
   * last enabled admin, a disabled account). gRPC maps it to
   * FAILED_PRECONDITION instead of ALREADY_EXISTS.
   */
  readonly reason?: "failed_precondition";

  /**
   * @param status HTTP-style status the front ends map to their own codes.
   * @param message Safe to show the client.
   * @param options `reason` refines a 409 (see {@linkcode McIasError.reason}).
   */
  constructor(
    readonly status: 400 | 404 | 409,
    message: string,
    options: { reason?: "failed_precondition" } = {},
  ) {
    super(message);
    this.name = "McIasError";
    if (options.reason !== undefined) this.reason = options.reason;
  }
}

/** The MCIAS domain. Every method validates its input and throws {@linkcode McIasError} on bad input. */
export interface McIas extends Disposable, LoginCompleter {
  // Authentication and tokens
  /** Throttle, credentials, second factor, policy, then a session token. */
  login(request: LoginRequest): Promise<TokenGrant>;
  /**
   * A new session token for a valid one: policy is re-run on the token's
   * service and tags, the old token is revoked, and the new expiry never
   * passes the original login time + `auth.max_session`.
   * @throws {LoginFailedError} 401 invalid/expired/at max session, 403 policy
   *   now denies or a system token (system tokens are reissued by an admin).
   */
  renew(token: string): Promise<TokenGrant>;
  /** Revokes the token; idempotent. */
  logout(token: string): Promise<void>;
  /**
   * Full validation: signature, expiry, revocation, account enabled and,
   * when `serviceName` is given, that the token was issued for that
   * service (its `aud`; system tokens have no audience and pass).
   */
  validate(token: string, serviceName?: string): Promise<TokenInfo>;
  /** The public keys, as a JWKS document. */
  jwks(): { keys: JsonWebKey[] };
  /** Issues a long-lived token for a system account (admin). */
  issueSystemToken(username: string, ttlMs?: number): Promise<TokenGrant>;
  /** Revokes by token hash or jti (admin). */
  revokeToken(jtiOrToken: string): void;

  // Accounts (admin)
  /** All accounts, by name. */
  listAccounts(): Account[];
  /** One account. @throws {McIasError} 404 */
  getAccount(username: string): Account;
  /** Creates an account. @throws {McIasError} 400 bad input, 409 exists */
  createAccount(input: NewAccount): Promise<Account>;
  /** Updates an account. */
  updateAccount(username: string, update: AccountUpdate): Promise<Account>;
  /** Deletes an account and its tokens, factors and keys. */
  deleteAccount(username: string): void;

  // Policy (admin)
  /** Rules in evaluation order. */
  listRules(): PolicyRule[];
  /** Adds a rule. */
  createRule(rule: NewPolicyRule): PolicyRule;
  /** Replaces a rule. */
  updateRule(id: number, rule: NewPolicyRule): PolicyRule;
  /** Deletes a rule. */
  deleteRule(id: number): void;
  /** MCAT: what would a login of `username` to (serviceName, tags) decide? No token issued. */
  testPolicy(username: string, serviceName: string, tags: string[]): PolicyTestResult;

  /** Closes the database. */
  close(): void;
}

/**
 * What the second-factor and SSO parts need from the core: finishing a login
 * for an account whose credentials another part has verified (throttle,
 * policy, token), and the throttle itself.
 */
export interface LoginCompleter {
  /** Applies policy for the context and issues a session token. @throws {LoginFailedError} 403 */
  completeLogin(
    username: string,
    context: { serviceName?: string; tags?: string[]; remoteAddr: string },
  ): Promise<TokenGrant>;
  /** Throws {@linkcode LoginFailedError} 429 when the account or address is over budget. */
  checkThrottle(username: string, remoteAddr: string): void;
  /** Counts a failed attempt. */
  recordFailure(username: string, remoteAddr: string): void;
  /**
   * Checks an account's password (Argon2id; the dummy check for an unknown,
   * disabled or system account), with no throttle and no token. Without it,
   * re-authentication by password always fails.
   */
  verifyPassword?(username: string, password: string): Promise<boolean>;
}

/** What a sensitive self-service step asks for: the password, or a TOTP code. */
export interface ReauthProof {
  /** The account password. */
  password?: string;
  /** A current TOTP code or a recovery code (TOTP-enabled accounts). */
  code?: string;
  /** Client address, for the throttle. */
  remoteAddr: string;
}

/** The core's view of second factors during password login. */
export interface SecondFactorCheck {
  /** Whether the account must give a TOTP code. */
  totpEnabled(username: string): boolean;
  /** Checks a TOTP code (refusing a replayed step) or a recovery code (consuming it). */
  verifyTotp(username: string, code: string): Promise<boolean>;
  /** Passkeys registered (for `Account.passkeys`). */
  passkeyCount(username: string): number;
}

/** Second factors: TOTP and passkeys (core/mfa.ts). */
export interface McIasMfa extends SecondFactorCheck {
  /** Starts TOTP enrolment: a new secret (base32) and its `otpauth://` URI; not active until confirmed. */
  beginTotpEnrolment(username: string): Promise<{ secret: string; uri: string }>;
  /** Activates TOTP when `code` matches; returns ten single-use recovery codes (shown once). */
  confirmTotpEnrolment(username: string, code: string): Promise<{ recoveryCodes: string[] }>;
  /**
   * Re-authentication for sensitive self-service (disabling TOTP, adding a
   * passkey): a TOTP code (when TOTP is on) or the password. Throttled like
   * a login; a failure counts.
   * @throws {LoginFailedError} 401 wrong or missing proof, 429 throttled.
   */
  reauthenticate(username: string, proof: ReauthProof): Promise<void>;
  /** Turns TOTP off and deletes its recovery codes (callers re-authenticate first). */
  disableTotp(username: string): void;
  /**
   * WebAuthn registration options for the caller (challenge kept server-side,
   * 5 min). Callers re-authenticate first ({@linkcode McIasMfa.reauthenticate}).
   */
  beginPasskeyRegistration(username: string): Promise<PublicKeyCredentialCreationOptionsJSON>;
  /** Verifies and stores a new passkey. */
  finishPasskeyRegistration(
    username: string,
    response: RegistrationResponseJSON,
    name?: string,
  ): Promise<void>;
  /**
   * WebAuthn authentication options: always a discoverable-credential
   * (passwordless) login; `username` is accepted and ignored, so the answer
   * never tells who has an account or which passkeys it has.
   */
  beginPasskeyLogin(username?: string): Promise<PublicKeyCredentialRequestOptionsJSON>;
  /** Verifies a passkey assertion, applies throttle and policy, and issues a session token. */
  finishPasskeyLogin(
    response: AuthenticationResponseJSON,
    context: { serviceName?: string; tags?: string[]; remoteAddr: string },
  ): Promise<TokenGrant>;
}

/** SSO provider (core/sso.ts). */
export interface McIasSso {
  /** Registered client by id, or `undefined`. */
  ssoClient(clientId: string): SsoClient | undefined;
  /**
   * For a user already logged in to MCIAS (their session `token`): checks the
   * client and exact `redirectUri`, applies policy for the client's
   * `service_name`, and returns a single-use code valid 60 s.
   */
  authorizeSso(request: SsoAuthorizeRequest): Promise<string>;
  /** Exchanges a code (exact redirect_uri, PKCE verifier when a challenge was given) for a token. */
  exchangeSsoCode(request: SsoTokenRequest): Promise<TokenGrant>;
}

/** An SSO client from `[[sso_clients]]`. */
export interface SsoClient {
  /** Client id. */
  clientId: string;
  /** The one redirect URI allowed, matched exactly. */
  redirectUri: string;
  /** Service name used for policy. */
  serviceName: string;
  /** Tags used for policy. */
  tags: string[];
}

/** `GET /sso/authorize` after MCIAS login. */
export interface SsoAuthorizeRequest {
  /** The user's MCIAS session token. */
  token: string;
  /** Client id. */
  clientId: string;
  /** Must equal the client's registered URI. */
  redirectUri: string;
  /** PKCE S256 challenge, when the client uses PKCE. */
  codeChallenge?: string;
  /** Only `S256` is accepted. */
  codeChallengeMethod?: string;
  /** The browser's address, kept with the code for the exchange's throttle and logs. */
  remoteAddr?: string;
}

/** `POST /v1/sso/token`. */
export interface SsoTokenRequest {
  /** The code. */
  code: string;
  /** Client id. */
  clientId: string;
  /** Must equal the URI the code was issued for. */
  redirectUri: string;
  /** PKCE verifier, required when the code has a challenge. */
  codeVerifier?: string;
}
