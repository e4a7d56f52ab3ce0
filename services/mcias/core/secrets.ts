/**
 * Secrets at rest: the 32-byte master key in `<data_dir>/keys/master.key`
 * (mode 0600) and AES-256-GCM sealing with it. Signing keys and TOTP secrets
 * are stored sealed, so a copy of the database alone reveals none of them.
 *
 * Synchronous on purpose (node:crypto): the core opens at start-up without
 * awaiting, and sealing a few bytes is cheaper than a promise.
 *
 * @module
 */

import { createCipheriv, createDecipheriv, randomBytes, timingSafeEqual } from "node:crypto";
import { join } from "node:path";

/** Length of the master key in bytes. */
export const MASTER_KEY_BYTES = 32;

const VERSION = 1;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const encoder = new TextEncoder();

/** A sealed value could not be opened: wrong key, wrong context or tampered data. */
export class UnsealError extends Error {
  /** @param message What failed. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnsealError";
  }
}

/**
 * The master key. Seals with AES-256-GCM; `context` (e.g. `"totp:42"`) is
 * bound as associated data so a sealed value cannot be moved to another row.
 */
export class MasterKey {
  #key: Uint8Array;

  /**
   * @param key 32 random bytes.
   * @throws {RangeError} When `key` is not 32 bytes long.
   */
  constructor(key: Uint8Array) {
    if (key.byteLength !== MASTER_KEY_BYTES) {
      throw new RangeError(
        `Cannot use master key: expected ${MASTER_KEY_BYTES} bytes, got ${key.byteLength}`,
      );
    }
    this.#key = new Uint8Array(key);
  }

  /**
   * Encrypts `plaintext`: version byte, 12-byte IV, ciphertext, 16-byte tag.
   *
   * @param plaintext Bytes or text to seal.
   * @param context Associated data the same value must be opened with.
   * @returns The sealed bytes.
   */
  seal(plaintext: Uint8Array | string, context: string): Uint8Array {
    const data = typeof plaintext === "string" ? encoder.encode(plaintext) : plaintext;
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(encoder.encode(context));
    const body = Buffer.concat([cipher.update(data), cipher.final()]);
    const out = new Uint8Array(1 + IV_BYTES + body.byteLength + TAG_BYTES);
    out[0] = VERSION;
    out.set(iv, 1);
    out.set(body, 1 + IV_BYTES);
    out.set(cipher.getAuthTag(), 1 + IV_BYTES + body.byteLength);
    return out;
  }

  /**
   * Decrypts what {@linkcode MasterKey.seal} produced with the same context.
   *
   * @throws {UnsealError} When the key, the context or the bytes do not match.
   */
  open(sealed: Uint8Array, context: string): Uint8Array {
    if (sealed.byteLength < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== VERSION) {
      throw new UnsealError(`Cannot open sealed value for "${context}": unknown format`);
    }
    const iv = sealed.subarray(1, 1 + IV_BYTES);
    const body = sealed.subarray(1 + IV_BYTES, sealed.byteLength - TAG_BYTES);
    const tag = sealed.subarray(sealed.byteLength - TAG_BYTES);
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, iv);
      decipher.setAAD(encoder.encode(context));
      decipher.setAuthTag(tag);
      return new Uint8Array(Buffer.concat([decipher.update(body), decipher.final()]));
    } catch (cause) {
      throw new UnsealError(
        `Cannot open sealed value for "${context}": wrong master key or tampered data ` +
          `(is keys/master.key the one this database was created with?)`,
        { cause },
      );
    }
  }

  /** Same as {@linkcode MasterKey.open}, decoded as UTF-8. */
  openText(sealed: Uint8Array, context: string): string {
    return new TextDecoder().decode(this.open(sealed, context));
  }

  /** Whether `other` holds the same key (constant time). */
  equals(other: MasterKey): boolean {
    return timingSafeEqual(this.#key, other.#key);
  }
}

/** Path of the master key inside a data directory. */
export function masterKeyPath(dataDir: string): string {
  return join(dataDir, "keys", "master.key");
}

/**
 * Reads `<dataDir>/keys/master.key`, creating it (32 random bytes, mode
 * 0600, directory 0700) when it does not exist.
 *
 * @param dataDir The service's data directory.
 * @returns The key.
 * @throws {Error} When the file exists but is not 32 bytes, naming the path.
 */
export function loadMasterKey(dataDir: string): MasterKey {
  const path = masterKeyPath(dataDir);
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    Deno.mkdirSync(join(dataDir, "keys"), { recursive: true, mode: 0o700 });
    const fresh = randomBytes(MASTER_KEY_BYTES);
    try {
      Deno.writeFileSync(path, fresh, { createNew: true, mode: 0o600 });
      bytes = fresh;
    } catch (e2) {
      // Another process created it first: use theirs.
      if (!(e2 instanceof Deno.errors.AlreadyExists)) throw e2;
      bytes = Deno.readFileSync(path);
    }
  }
  if (bytes.byteLength !== MASTER_KEY_BYTES) {
    throw new Error(
      `Cannot load master key "${path}": expected ${MASTER_KEY_BYTES} bytes, got ` +
        `${bytes.byteLength}; restore it from the snapshot this data directory came from`,
    );
  }
  return new MasterKey(bytes);
}
