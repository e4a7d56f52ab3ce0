/**
 * Record types MCNS serves and the validation of names, TTLs and values:
 * every value is checked and normalised before it reaches the database, so
 * what is stored always encodes.
 *
 * @module
 */

/** Record types stored in zones (SOA comes from the zone itself). */
export const RECORD_TYPES = ["A", "AAAA", "CNAME", "TXT", "SRV", "NS", "MX", "CAA"] as const;

/** One storable record type. */
export type RecordType = typeof RECORD_TYPES[number];

/** Lowest TTL accepted, in seconds. */
export const MIN_TTL = 0;
/** Highest TTL accepted, in seconds (one week). */
export const MAX_TTL = 604_800;

/** A record value, name or TTL that cannot be stored. */
export class RecordValidationError extends RangeError {
  /** @param message What is wrong, with the value given and what is wanted. */
  constructor(message: string) {
    super(message);
    this.name = "RecordValidationError";
  }
}

const LABEL = /^(?:\*|_?[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?|_[a-z0-9_-]{1,62})$/;

// Only ASCII is checked: case folding must not turn "ſ" into "S" or the
// Kelvin sign into "k" before the label check sees it.
const NON_ASCII = /[\u0080-\uffff]/;

/** Whether `text` has a character outside ASCII. */
export function hasNonAscii(text: string): boolean {
  return NON_ASCII.test(text);
}

/**
 * Whether `text` is one lower-case DNS label as names here are stored
 * (letters, digits, `-`, `_`; or `*`): no dot, 1 to 63 characters.
 */
export function isLabel(text: string): boolean {
  return LABEL.test(text);
}

/**
 * Refuses a name with characters outside ASCII, before anything folds its case.
 *
 * @param name The name as given.
 * @param what What the name is, for messages.
 * @throws {RecordValidationError} When `name` has a non-ASCII character.
 */
export function checkAsciiName(name: string, what = "name"): void {
  if (NON_ASCII.test(name)) {
    throw new RecordValidationError(
      `Cannot use ${what} "${name}": names are ASCII letters, digits, "-", "_" and "."`,
    );
  }
}

/**
 * Normalises a domain name: lower case, no trailing dot.
 *
 * @param name The name, absolute (a trailing dot is allowed).
 * @param what What the name is, for messages.
 * @returns The normalised name.
 * @throws {RecordValidationError} When a label is empty, too long or has characters other than
 *   ASCII letters, digits, `-` and `_`, or the name is longer than 253 characters.
 */
export function normalizeName(name: string, what = "name"): string {
  checkAsciiName(name, what);
  const n = name.toLowerCase().replace(/\.$/, "");
  if (n.length === 0 || n.length > 253) {
    throw new RecordValidationError(
      `Cannot use ${what} "${name}": a name must have 1 to 253 characters`,
    );
  }
  for (const label of n.split(".")) {
    if (!LABEL.test(label)) {
      throw new RecordValidationError(
        `Cannot use ${what} "${name}": label "${label}" must be 1 to 63 letters, digits, "-" or "_", not starting or ending with "-"`,
      );
    }
  }
  return n;
}

/**
 * Checks a TTL.
 *
 * @param ttl Seconds.
 * @returns The TTL.
 * @throws {RecordValidationError} Unless an integer in `MIN_TTL..MAX_TTL`.
 */
export function checkTtl(ttl: number): number {
  if (!Number.isInteger(ttl) || ttl < MIN_TTL || ttl > MAX_TTL) {
    throw new RecordValidationError(
      `Cannot use TTL ${ttl}: expected an integer from ${MIN_TTL} to ${MAX_TTL} seconds`,
    );
  }
  return ttl;
}

/**
 * Checks and normalises an IPv4 address in dotted-quad form.
 *
 * @throws {RecordValidationError} Unless four decimal octets 0..255 without leading zeros.
 */
export function normalizeIpv4(value: string): string {
  const parts = value.split(".");
  if (
    parts.length !== 4 ||
    parts.some((p) => !/^(?:0|[1-9][0-9]{0,2})$/.test(p) || Number(p) > 255)
  ) {
    throw new RecordValidationError(
      `Cannot use A value "${value}": expected an IPv4 address like "192.0.2.10"`,
    );
  }
  return value;
}

/**
 * Checks and normalises an IPv6 address (to its compressed lower-case form).
 *
 * @throws {RecordValidationError} Unless a valid IPv6 address without zone or brackets.
 */
export function normalizeIpv6(value: string): string {
  const bad = () =>
    new RecordValidationError(
      `Cannot use AAAA value "${value}": expected an IPv6 address like "2001:db8::10"`,
    );
  if (!/^[0-9a-fA-F:.]+$/.test(value) || !value.includes(":")) throw bad();
  try {
    return new URL(`http://[${value}]/`).hostname.slice(1, -1);
  } catch {
    throw bad();
  }
}

function uint16(text: string, what: string, type: string, value: string): number {
  if (!/^[0-9]{1,5}$/.test(text) || Number(text) > 65535) {
    throw new RecordValidationError(
      `Cannot use ${type} value "${value}": ${what} must be an integer from 0 to 65535`,
    );
  }
  return Number(text);
}

/**
 * Checks and normalises a record value in presentation form:
 * A `192.0.2.1`; AAAA `2001:db8::1`; CNAME/NS a name; TXT any text up to
 * 4000 characters; SRV `priority weight port target`; MX `preference exchange`;
 * CAA `flags tag "value"`.
 *
 * @param type The record type.
 * @param value The value.
 * @returns The normalised value.
 * @throws {RecordValidationError} Naming the type, the value and the form expected.
 */
export function normalizeValue(type: RecordType, value: string): string {
  const v = value.trim();
  switch (type) {
    case "A":
      return normalizeIpv4(v);
    case "AAAA":
      return normalizeIpv6(v);
    case "CNAME":
    case "NS":
      return normalizeName(v, `${type} target`);
    case "TXT":
      if (value.length === 0 || value.length > 4000) {
        throw new RecordValidationError(
          `Cannot use TXT value of ${value.length} characters: expected 1 to 4000`,
        );
      }
      return value;
    case "SRV": {
      const p = v.split(/\s+/);
      if (p.length !== 4) {
        throw new RecordValidationError(
          `Cannot use SRV value "${value}": expected "priority weight port target" like "10 5 8443 api.svc.mcp.example.com"`,
        );
      }
      const [prio, weight, port] = p.slice(0, 3).map((x, i) =>
        uint16(x, ["priority", "weight", "port"][i], type, value)
      );
      return `${prio} ${weight} ${port} ${normalizeName(p[3], "SRV target")}`;
    }
    case "MX": {
      const p = v.split(/\s+/);
      if (p.length !== 2) {
        throw new RecordValidationError(
          `Cannot use MX value "${value}": expected "preference exchange" like "10 mail.example.com"`,
        );
      }
      return `${uint16(p[0], "preference", type, value)} ${normalizeName(p[1], "MX exchange")}`;
    }
    case "CAA": {
      const m = /^([0-9]{1,3})\s+([a-zA-Z0-9]{1,15})\s+"([^"]{0,255})"$/.exec(v);
      if (m === null || Number(m[1]) > 255) {
        throw new RecordValidationError(
          `Cannot use CAA value "${value}": expected 'flags tag "value"' like '0 issue "letsencrypt.org"'`,
        );
      }
      return `${Number(m[1])} ${m[2].toLowerCase()} "${m[3]}"`;
    }
  }
  throw new RecordValidationError(
    `Cannot use record type "${type}": expected one of ${RECORD_TYPES.join(", ")}`,
  );
}

/**
 * Checks a record type given as text.
 *
 * @throws {RecordValidationError} Unless one of {@linkcode RECORD_TYPES}.
 */
export function checkType(type: string): RecordType {
  // ASCII letters only, before upper-casing ("ſrv" must not become "SRV").
  const t = /^[A-Za-z]{1,10}$/.test(type) ? type.toUpperCase() : "";
  if (!(RECORD_TYPES as readonly string[]).includes(t)) {
    throw new RecordValidationError(
      `Cannot use record type "${type}": expected one of ${RECORD_TYPES.join(", ")}`,
    );
  }
  return t as RecordType;
}
