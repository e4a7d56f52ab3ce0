/**
 * Password hashing: Argon2id (hash-wasm) stored as PHC strings, verified in
 * constant time, and a dummy verification with the same cost for logins
 * that have no hash to check (unknown, disabled or system accounts).
 *
 * @module
 */

import { argon2id } from "hash-wasm";
import { timingSafeEqual } from "node:crypto";

/** Argon2id cost parameters. */
export interface Argon2Params {
  /** Memory in KiB. */
  memoryKib: number;
  /** Iterations. */
  iterations: number;
  /** Lanes. */
  parallelism: number;
}

/** The defaults: OWASP's minimum (m=19 MiB, t=2, p=1). */
export const DEFAULT_ARGON2: Readonly<Argon2Params> = {
  memoryKib: 19456,
  iterations: 2,
  parallelism: 1,
};

/** Shortest password accepted. */
export const MIN_PASSWORD_LENGTH = 12;
/** Longest password accepted (bounds the work an attacker can ask for). */
export const MAX_PASSWORD_LENGTH = 1024;

const SALT_BYTES = 16;
const HASH_BYTES = 32;
const PHC = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

/**
 * Checks a new password: a string of 12 to 1024 characters.
 *
 * @throws {RangeError} Naming the rule broken.
 */
export function checkPasswordPolicy(password: unknown): asserts password is string {
  if (typeof password !== "string") throw new TypeError("password must be a string");
  const length = [...password].length;
  if (length < MIN_PASSWORD_LENGTH) {
    throw new RangeError(
      `password is too short: ${length} characters, at least ${MIN_PASSWORD_LENGTH} required`,
    );
  }
  if (password.length > MAX_PASSWORD_LENGTH) {
    throw new RangeError(`password is too long: at most ${MAX_PASSWORD_LENGTH} characters`);
  }
}

/**
 * Hashes `password` with a fresh random salt.
 *
 * @param password The password.
 * @param params Cost parameters.
 * @returns A PHC string `$argon2id$v=19$m=…,t=…,p=…$salt$hash`.
 */
export async function hashPassword(
  password: string,
  params: Argon2Params = DEFAULT_ARGON2,
): Promise<string> {
  return await argon2id({
    password,
    salt: crypto.getRandomValues(new Uint8Array(SALT_BYTES)),
    memorySize: params.memoryKib,
    iterations: params.iterations,
    parallelism: params.parallelism,
    hashLength: HASH_BYTES,
    outputType: "encoded",
  });
}

function fromB64(text: string): Uint8Array {
  return Uint8Array.from(
    atob(text + "=".repeat((4 - text.length % 4) % 4)),
    (c) => c.charCodeAt(0),
  );
}

/**
 * Checks `password` against a PHC string made by {@linkcode hashPassword}
 * (its own parameters are used, so old hashes keep working after the
 * defaults change). The comparison is constant time.
 *
 * @returns Whether the password matches; `false` for a malformed hash.
 */
export async function verifyPassword(password: string, phc: string): Promise<boolean> {
  const m = PHC.exec(phc);
  if (m === null || password.length > MAX_PASSWORD_LENGTH) return false;
  let expected: Uint8Array;
  let salt: Uint8Array;
  try {
    expected = fromB64(m[5]);
    salt = fromB64(m[4]);
  } catch {
    return false;
  }
  const actual = await argon2id({
    // hash-wasm refuses an empty password; spend the same work on a
    // placeholder no real password can equal (the policy wants 12+ chars).
    password: password === "" ? "\u0000" : password,
    salt,
    memorySize: Number(m[1]),
    iterations: Number(m[2]),
    parallelism: Number(m[3]),
    hashLength: expected.byteLength,
    outputType: "binary",
  });
  return password !== "" && actual.byteLength === expected.byteLength &&
    timingSafeEqual(actual, expected);
}

/** Whether a PHC string uses parameters other than `params` (rehash on next login). */
export function needsRehash(phc: string, params: Argon2Params): boolean {
  const m = PHC.exec(phc);
  return m === null || Number(m[1]) !== params.memoryKib || Number(m[2]) !== params.iterations ||
    Number(m[3]) !== params.parallelism;
}

/**
 * A verifier for logins with nothing to verify: it checks the password
 * against a hash of a random password made with the same parameters, so
 * the answer ("no") costs the same time as a real check.
 */
export class DummyVerifier {
  #params: Argon2Params;
  #hash: Promise<string> | undefined;

  /** @param params The parameters real hashes use. */
  constructor(params: Argon2Params = DEFAULT_ARGON2) {
    this.#params = params;
  }

  /**
   * Makes the dummy hash (once). Call it before every login, real account
   * or not, so that only the very first login of the process pays for it.
   */
  async ready(): Promise<void> {
    if (this.#hash === undefined) {
      const random = Array.from(crypto.getRandomValues(new Uint8Array(24)), (b) => b.toString(16))
        .join("");
      this.#hash = hashPassword(random, this.#params);
    }
    await this.#hash;
  }

  /** Spends one verification and answers `false`. */
  async verify(password: string): Promise<false> {
    await this.ready();
    await verifyPassword(password.slice(0, MAX_PASSWORD_LENGTH), await this.#hash!);
    return false;
  }
}
