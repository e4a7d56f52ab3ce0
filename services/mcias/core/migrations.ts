/**
 * MCIAS schema history. Append only: a released migration never changes.
 *
 * @module
 */

import type { Migration } from "@mc/mcdsl/db";

/** Every migration, in order. */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "accounts, tokens, policy, second factors, signing keys",
    up: `
      CREATE TABLE accounts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        username TEXT NOT NULL UNIQUE COLLATE NOCASE,
        type TEXT NOT NULL CHECK (type IN ('human', 'system')),
        password_hash TEXT,
        disabled INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        CHECK (type = 'human' OR password_hash IS NULL)
      );
      CREATE TABLE account_roles (
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('admin', 'user', 'guest')),
        PRIMARY KEY (account_id, role)
      );
      CREATE TABLE tokens (
        jti TEXT PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        token_hash TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL CHECK (kind IN ('session', 'system')),
        service_name TEXT NOT NULL DEFAULT '',
        issued_at TEXT NOT NULL,
        expires_at TEXT NOT NULL,
        revoked_at TEXT
      );
      CREATE INDEX tokens_account ON tokens(account_id);
      CREATE INDEX tokens_expires ON tokens(expires_at);
      CREATE TABLE policy_rules (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        priority INTEGER NOT NULL,
        effect TEXT NOT NULL CHECK (effect IN ('allow', 'deny')),
        roles TEXT NOT NULL DEFAULT '[]',
        account_types TEXT NOT NULL DEFAULT '[]',
        service_names TEXT NOT NULL DEFAULT '[]',
        tags TEXT NOT NULL DEFAULT '[]',
        description TEXT NOT NULL DEFAULT ''
      );
      CREATE INDEX policy_rules_order ON policy_rules(priority, id);
      CREATE TABLE totp (
        account_id INTEGER PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
        secret BLOB NOT NULL,
        enabled INTEGER NOT NULL DEFAULT 0 CHECK (enabled IN (0, 1)),
        last_step INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
      );
      CREATE TABLE recovery_codes (
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        code_hash TEXT NOT NULL,
        used_at TEXT,
        PRIMARY KEY (account_id, code_hash)
      );
      CREATE TABLE webauthn_credentials (
        id TEXT PRIMARY KEY,
        account_id INTEGER NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
        public_key BLOB NOT NULL,
        counter INTEGER NOT NULL DEFAULT 0,
        transports TEXT NOT NULL DEFAULT '[]',
        name TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        last_used_at TEXT
      );
      CREATE INDEX webauthn_account ON webauthn_credentials(account_id);
      CREATE TABLE signing_keys (
        kid TEXT PRIMARY KEY,
        private_key BLOB NOT NULL,
        public_jwk TEXT NOT NULL,
        created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
        retired_at TEXT
      );
    `,
  },
  {
    version: 2,
    name: "tokens: policy tags and session start, for renewal",
    up: `
      ALTER TABLE tokens ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';
      ALTER TABLE tokens ADD COLUMN session_start TEXT;
    `,
  },
];
