/**
 * Second factors: TOTP (with recovery codes) and passkeys, on the MCIAS
 * database. Implements {@linkcode McIasMfa}; the core calls it during
 * password login ({@linkcode SecondFactorCheck}) and hands it a
 * {@linkcode LoginCompleter} for passkey logins.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { transaction } from "@mc/mcdsl/db";
import {
  type AuthenticationResponseJSON,
  generateAuthenticationOptions,
  generateRegistrationOptions,
  type PublicKeyCredentialCreationOptionsJSON,
  type PublicKeyCredentialRequestOptionsJSON,
  type RegistrationResponseJSON,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
} from "@simplewebauthn/server";
import {
  type LoginCompleter,
  LoginFailedError,
  McIasError,
  type McIasMfa,
  type ReauthProof,
  type TokenGrant,
} from "./types.ts";
import { generateTotpSecret, matchTotp, totpBase32, totpUri } from "./totp.ts";
import {
  generateRecoveryCodes,
  hashRecoveryCode,
  looksLikeRecoveryCode,
} from "./recovery_codes.ts";
import { ChallengeStore, clientDataChallenge } from "./webauthn.ts";

/** Relying-party settings for passkeys. */
export interface WebAuthnOptions {
  /** The RP ID: the registrable domain the UI is served from, e.g. `"mcias.example.net"`. */
  rpId: string;
  /** Name browsers show, e.g. `"Metacircular"`. */
  rpName: string;
  /** Exact origins the UI is served from, e.g. `["https://mcias.example.net"]`. */
  origins: string[];
}

/** Options for {@linkcode createMfa}. */
export interface MfaOptions {
  /** The MCIAS database (migrated); `accounts` is only read. */
  db: DatabaseSync;
  /** Seals a secret for storage (the core's master key). */
  seal: (plain: Uint8Array) => Promise<Uint8Array>;
  /** Opens what `seal` produced. */
  unseal: (sealed: Uint8Array) => Promise<Uint8Array>;
  /** Issuer shown in authenticator apps, e.g. `"Metacircular"`. */
  issuer: string;
  /** Passkey settings; without them the passkey methods throw. */
  webauthn?: WebAuthnOptions;
  /** Throttle, policy and token issuance for passkey logins. */
  completer: LoginCompleter;
  /**
   * The clock.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

interface AccountRow {
  id: number;
  username: string;
  type: string;
  disabled: number;
}

interface CredentialRow {
  id: string;
  account_id: number;
  public_key: Uint8Array;
  counter: number;
  transports: string;
}

/** A pending passkey login: the challenge, and the account when username-bound. */
interface LoginChallenge {
  accountId?: number;
}

const INVALID_PASSKEY = "invalid credentials";

/**
 * Builds the second-factor service.
 *
 * @param options Database, sealing, issuer, passkey settings, completer, clock.
 * @returns The {@linkcode McIasMfa}.
 * @throws {TypeError} If `issuer` is empty or the passkey settings are incomplete.
 */
export function createMfa(options: MfaOptions): McIasMfa {
  const { db, seal, unseal, issuer, webauthn, completer, now = () => new Date() } = options;
  if (issuer.trim() === "") {
    throw new TypeError(
      'Cannot create MFA: "issuer" must be a non-empty name such as "Metacircular"',
    );
  }
  if (webauthn !== undefined) {
    if (webauthn.rpId === "" || webauthn.rpName === "" || webauthn.origins.length === 0) {
      throw new TypeError(
        'Cannot create MFA: "webauthn" needs rpId, rpName and at least one origin',
      );
    }
  }
  const registrations = new ChallengeStore<string>(now);
  const logins = new ChallengeStore<LoginChallenge>(now);

  function findAccount(username: string): AccountRow | undefined {
    return db.prepare("SELECT id, username, type, disabled FROM accounts WHERE username = ?")
      .get(username) as AccountRow | undefined;
  }

  function humanAccount(username: string): AccountRow {
    const account = findAccount(username);
    if (account === undefined) {
      throw new McIasError(404, `Account "${username}" does not exist`);
    }
    if (account.type !== "human") {
      throw new McIasError(
        400,
        `Account "${username}" is a system account: it has no second factors`,
      );
    }
    return account;
  }

  function rp(): WebAuthnOptions {
    if (webauthn === undefined) {
      throw new McIasError(
        400,
        "Passkeys are not configured on this server: use a password and TOTP",
      );
    }
    return webauthn;
  }

  function iso(): string {
    return now().toISOString();
  }

  return {
    totpEnabled(username) {
      const row = db.prepare(
        "SELECT t.enabled FROM totp t JOIN accounts a ON a.id = t.account_id WHERE a.username = ?",
      ).get(username) as { enabled: number } | undefined;
      return row?.enabled === 1;
    },

    async verifyTotp(username, code) {
      const account = findAccount(username);
      if (account === undefined) return false;
      const row = db.prepare("SELECT secret, enabled, last_step FROM totp WHERE account_id = ?")
        .get(account.id) as { secret: Uint8Array; enabled: number; last_step: number } | undefined;
      if (row === undefined || row.enabled !== 1) return false;
      if (looksLikeRecoveryCode(code)) {
        const hash = await hashRecoveryCode(code);
        const result = db.prepare(
          `UPDATE recovery_codes SET used_at = ?
           WHERE account_id = ? AND code_hash = ? AND used_at IS NULL`,
        ).run(iso(), account.id, hash);
        return result.changes === 1;
      }
      const secret = await unseal(row.secret);
      const step = matchTotp(secret, code, now(), row.last_step);
      secret.fill(0);
      if (step === undefined) return false;
      // Conditional update: of two concurrent logins with the same code, one wins.
      const result = db.prepare(
        "UPDATE totp SET last_step = ? WHERE account_id = ? AND enabled = 1 AND last_step < ?",
      ).run(step, account.id, step);
      return result.changes === 1;
    },

    passkeyCount(username) {
      const row = db.prepare(
        `SELECT count(*) AS n FROM webauthn_credentials w JOIN accounts a ON a.id = w.account_id
         WHERE a.username = ?`,
      ).get(username) as { n: number };
      return Number(row.n);
    },

    async beginTotpEnrolment(username) {
      const account = humanAccount(username);
      const existing = db.prepare("SELECT enabled FROM totp WHERE account_id = ?")
        .get(account.id) as { enabled: number } | undefined;
      if (existing?.enabled === 1) {
        throw new McIasError(
          409,
          `TOTP is already enabled for "${account.username}": disable it first`,
        );
      }
      const secret = generateTotpSecret();
      const sealed = await seal(secret);
      db.prepare(
        `INSERT INTO totp (account_id, secret, enabled, last_step) VALUES (?, ?, 0, 0)
         ON CONFLICT (account_id) DO UPDATE SET secret = excluded.secret, enabled = 0, last_step = 0`,
      ).run(account.id, sealed);
      const result = {
        secret: totpBase32(secret),
        uri: totpUri(secret, { issuer, account: account.username }),
      };
      secret.fill(0);
      return result;
    },

    async confirmTotpEnrolment(username, code) {
      const account = humanAccount(username);
      const row = db.prepare("SELECT secret, enabled FROM totp WHERE account_id = ?")
        .get(account.id) as { secret: Uint8Array; enabled: number } | undefined;
      if (row === undefined) {
        throw new McIasError(400, "No TOTP enrolment in progress: start one with enrol first");
      }
      if (row.enabled === 1) {
        throw new McIasError(409, `TOTP is already enabled for "${account.username}"`);
      }
      const secret = await unseal(row.secret);
      const step = matchTotp(secret, code, now(), 0);
      secret.fill(0);
      if (step === undefined) {
        throw new McIasError(
          400,
          "TOTP code does not match: check the device clock and enter the current 6-digit code",
        );
      }
      const codes = generateRecoveryCodes();
      const hashes = await Promise.all(codes.map(hashRecoveryCode));
      transaction(db, () => {
        const activated = db.prepare(
          "UPDATE totp SET enabled = 1, last_step = ? WHERE account_id = ? AND enabled = 0",
        ).run(step, account.id);
        if (activated.changes !== 1) {
          throw new McIasError(409, `TOTP is already enabled for "${account.username}"`);
        }
        db.prepare("DELETE FROM recovery_codes WHERE account_id = ?").run(account.id);
        const insert = db.prepare(
          "INSERT INTO recovery_codes (account_id, code_hash) VALUES (?, ?)",
        );
        for (const hash of hashes) insert.run(account.id, hash);
      });
      return { recoveryCodes: codes };
    },

    async reauthenticate(username: string, proof: ReauthProof): Promise<void> {
      const { password, code, remoteAddr } = proof ?? {};
      completer.checkThrottle(username, remoteAddr);
      let ok = false;
      if (typeof code === "string" && code !== "") {
        ok = this.totpEnabled(username) && await this.verifyTotp(username, code);
      } else if (typeof password === "string" && password !== "") {
        ok = (await completer.verifyPassword?.(username, password)) ?? false;
      }
      if (!ok) {
        completer.recordFailure(username, remoteAddr);
        throw new LoginFailedError(
          401,
          "re-authentication failed: send your account password, or a current TOTP code " +
            "when TOTP is enabled",
        );
      }
    },

    disableTotp(username) {
      const account = humanAccount(username);
      transaction(db, () => {
        db.prepare("DELETE FROM totp WHERE account_id = ?").run(account.id);
        db.prepare("DELETE FROM recovery_codes WHERE account_id = ?").run(account.id);
      });
    },

    async beginPasskeyRegistration(username): Promise<PublicKeyCredentialCreationOptionsJSON> {
      const { rpId, rpName } = rp();
      const account = humanAccount(username);
      if (account.disabled === 1) {
        throw new McIasError(400, `Account "${account.username}" is disabled`);
      }
      const existing = db.prepare(
        "SELECT id, transports FROM webauthn_credentials WHERE account_id = ?",
      ).all(account.id) as unknown as { id: string; transports: string }[];
      const options = await generateRegistrationOptions({
        rpName,
        rpID: rpId,
        userName: account.username,
        // A stable, opaque user handle: the account id, never the name.
        userID: new TextEncoder().encode(`mcias-account-${account.id}`),
        attestationType: "none",
        excludeCredentials: existing.map((c) => ({
          id: c.id,
          transports: JSON.parse(c.transports) as string[],
        })),
        authenticatorSelection: { residentKey: "required", userVerification: "required" },
      });
      registrations.put(account.username.toLowerCase(), options.challenge);
      return options;
    },

    async finishPasskeyRegistration(username, response: RegistrationResponseJSON, name = "") {
      const { rpId, origins } = rp();
      const account = humanAccount(username);
      const challenge = registrations.take(account.username.toLowerCase());
      if (account.disabled === 1) {
        throw new McIasError(400, `Account "${account.username}" is disabled`);
      }
      if (challenge === undefined) {
        throw new McIasError(
          400,
          "No passkey registration in progress or it expired: request new registration options",
        );
      }
      if (name.length > 64) {
        throw new McIasError(400, "Passkey name is longer than 64 characters: shorten it");
      }
      let verification;
      try {
        verification = await verifyRegistrationResponse({
          response,
          expectedChallenge: challenge,
          expectedOrigin: origins,
          expectedRPID: rpId,
          requireUserVerification: true,
        });
      } catch (error) {
        throw new McIasError(
          400,
          `Passkey registration failed: ${(error as Error).message}; request new options and retry`,
        );
      }
      if (!verification.verified) {
        throw new McIasError(400, "Passkey registration failed: request new options and retry");
      }
      const { credential } = verification.registrationInfo;
      try {
        db.prepare(
          `INSERT INTO webauthn_credentials (id, account_id, public_key, counter, transports, name, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        ).run(
          credential.id,
          account.id,
          credential.publicKey,
          credential.counter,
          JSON.stringify(credential.transports ?? []),
          name,
          iso(),
        );
      } catch (error) {
        if (String((error as Error).message).includes("UNIQUE")) {
          throw new McIasError(409, "This passkey is already registered");
        }
        throw error;
      }
    },

    async beginPasskeyLogin(_username?: string): Promise<PublicKeyCredentialRequestOptionsJSON> {
      const { rpId } = rp();
      // Always discoverable-credential options: listing an account's
      // credential ids (and none for unknown names) told who has an account.
      const options = await generateAuthenticationOptions({
        rpID: rpId,
        userVerification: "required",
      });
      logins.put(options.challenge, {});
      return options;
    },

    async finishPasskeyLogin(
      response: AuthenticationResponseJSON,
      context,
    ): Promise<TokenGrant> {
      const { rpId, origins } = rp();
      const challenge = clientDataChallenge(response?.response?.clientDataJSON);
      const pending = challenge === undefined ? undefined : logins.take(challenge);
      if (challenge === undefined || pending === undefined) {
        throw new LoginFailedError(
          401,
          "Passkey challenge unknown or expired: request new login options and retry",
        );
      }
      const credential = typeof response.id === "string"
        ? db.prepare(
          "SELECT id, account_id, public_key, counter, transports FROM webauthn_credentials WHERE id = ?",
        ).get(response.id) as CredentialRow | undefined
        : undefined;
      const account = credential === undefined ? undefined : db.prepare(
        "SELECT id, username, type, disabled FROM accounts WHERE id = ?",
      ).get(credential.account_id) as AccountRow | undefined;
      // Unknown credentials count against the address only.
      const username = account?.username ?? "";
      completer.checkThrottle(username, context.remoteAddr);
      const fail = (): never => {
        completer.recordFailure(username, context.remoteAddr);
        throw new LoginFailedError(401, INVALID_PASSKEY);
      };
      if (
        credential === undefined || account === undefined || account.disabled === 1 ||
        account.type !== "human" ||
        (pending.accountId !== undefined && pending.accountId !== account.id)
      ) {
        return fail();
      }
      let verification;
      try {
        verification = await verifyAuthenticationResponse({
          response,
          expectedChallenge: challenge,
          expectedOrigin: origins,
          expectedRPID: rpId,
          credential: {
            id: credential.id,
            publicKey: new Uint8Array(credential.public_key),
            counter: credential.counter,
            transports: JSON.parse(credential.transports) as string[],
          },
          requireUserVerification: true,
        });
      } catch {
        return fail();
      }
      if (!verification.verified) return fail();
      // Conditional on the counter read, so a cloned authenticator racing
      // the real one cannot both pass with the same counter.
      const updated = db.prepare(
        `UPDATE webauthn_credentials SET counter = ?, last_used_at = ?
         WHERE id = ? AND counter = ?`,
      ).run(verification.authenticationInfo.newCounter, iso(), credential.id, credential.counter);
      if (updated.changes !== 1) return fail();
      return await completer.completeLogin(account.username, {
        serviceName: context.serviceName,
        tags: context.tags,
        remoteAddr: context.remoteAddr,
      });
    },
  };
}
