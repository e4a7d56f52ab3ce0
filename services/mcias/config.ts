/**
 * MCIAS config: the standard `[server]`, `[database]`, `[log]` sections and
 * its own `[auth]`, `[argon2]`, `[throttle]`, `[webauthn]` and
 * `[[sso_clients]]`.
 *
 * @module
 */

import { DATABASE_SECTION, field, LOG_SECTION, SERVER_SECTION } from "@mc/mcdsl/config";
import type { InferConfig } from "@mc/mcdsl/config";

/** Name for env overrides: `MCIAS_<SECTION>_<KEY>`. */
export const SERVICE = "mcias";

/** The full schema. */
export const CONFIG_SCHEMA = {
  server: SERVER_SECTION,
  database: DATABASE_SECTION,
  log: LOG_SECTION,
  auth: field.table({
    /** `iss` of every token: MCIAS's public URL. */
    issuer: field.string({ example: `"https://mcias.example:8443"` }),
    /** Session token lifetime. */
    token_ttl: field.duration({ default: "1h" }),
    /** Longest a session may be renewed for, counted from the password (or passkey) login. */
    max_session: field.duration({ default: "24h" }),
    /** System-account token lifetime. */
    system_token_ttl: field.duration({ default: "8760h" }),
  }),
  argon2: field.table({
    /** Memory in KiB (OWASP minimum 19456). */
    memory_kib: field.int({ default: 19456, min: 19456 }),
    /** Iterations. */
    iterations: field.int({ default: 2, min: 2 }),
    /** Lanes. */
    parallelism: field.int({ default: 1, min: 1, max: 16 }),
  }, { optional: true }),
  throttle: field.table({
    /** Failures per account within `window` before it is locked. */
    account_failures: field.int({ default: 10, min: 1 }),
    /** Failures per client IP within `window` before it gets 429. */
    ip_failures: field.int({ default: 50, min: 1 }),
    /** Counting window, and lockout length. */
    window: field.duration({ default: "15m" }),
  }, { optional: true }),
  webauthn: field.table({
    /** Relying party id: the MCIAS host name. */
    rp_id: field.string({ example: `"mcias.example"` }),
    /** Shown by authenticators. */
    rp_name: field.string({ default: "Metacircular" }),
    /** Origins allowed in client data (`https://mcias.example:8443`). */
    origins: field.stringArray({}),
  }, { optional: true }),
  sso_clients: field.tables({
    client_id: field.string({}),
    redirect_uri: field.url({ protocols: ["https:"] }),
    service_name: field.string({}),
    tags: field.stringArray({ default: [] }),
  }),
};

/** The loaded config. */
export type McIasConfig = InferConfig<typeof CONFIG_SCHEMA>;
