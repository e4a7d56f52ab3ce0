/**
 * Field builders for config schemas, re-exported as the `field` namespace:
 * `field.string()`, `field.duration({ default: "30s" })`,
 * `field.tables({ client_id: field.string() })`.
 *
 * Every key is required unless given `optional: true` (absent gives
 * `undefined`) or a `default`. `validate` adds a check after the type check:
 * it returns why the value is wrong, or `undefined`.
 *
 * @module
 */

import { isAbsolute, resolve } from "node:path";
import { checkDuration, DURATION_EXPECTED } from "./duration.ts";
import { checkHostPort } from "./listen_addr.ts";
import type {
  DecodeContext,
  Decoded,
  Field,
  FieldKind,
  InferConfig,
  Schema,
  WithPresence,
} from "./schema.ts";

/** Options every scalar field takes. */
export interface FieldOptions<T> {
  /**
   * The key may be absent; the config then holds `undefined`.
   * @default {false}
   */
  optional?: boolean;
  /** Value used when the key is absent (the key is then not required). */
  default?: T;
  /** Extra check after the type check: returns why the value is wrong, or `undefined`. */
  validate?: (value: T) => string | undefined;
  /** A TOML value shown in hints, for example `"/srv/mcr/mcr.db"` (with quotes). */
  example?: string;
}

/** Options for {@linkcode string}. */
export interface StringOptions extends FieldOptions<string> {
  /**
   * Never show the value in error messages (passwords, keys).
   * @default {false}
   */
  secret?: boolean;
}

/** Options for {@linkcode int} and {@linkcode number}. */
export interface NumberOptions extends FieldOptions<number> {
  /** Smallest value allowed. */
  min?: number;
  /** Largest value allowed. */
  max?: number;
}

/** Options for {@linkcode duration}; the config holds milliseconds. */
export interface DurationOptions extends Omit<FieldOptions<number>, "default"> {
  /** Default as a duration string (`"30s"`) or milliseconds. */
  default?: string | number;
  /** Shortest duration allowed, in milliseconds. */
  min?: number;
  /** Longest duration allowed, in milliseconds. */
  max?: number;
}

/** Options for {@linkcode stringArray}. */
export interface StringArrayOptions extends FieldOptions<string[]> {
  /** Check for each item: returns why it is wrong, or `undefined`. */
  item?: (value: string) => string | undefined;
}

/** Options for {@linkcode url}. */
export interface UrlOptions extends FieldOptions<string> {
  /**
   * Schemes allowed, with the colon.
   * @default {["https:", "http:"]}
   */
  protocols?: readonly string[];
}

/** Options for {@linkcode table}. */
export interface TableOptions {
  /**
   * The section may be absent; the config then holds `undefined`. A
   * non-optional section that is absent is read as empty, so its own
   * defaults apply and its required keys are reported missing.
   * @default {false}
   */
  optional?: boolean;
}

/** Options for {@linkcode tables}. */
export interface TablesOptions {
  /**
   * Fewest tables required.
   * @default {0}
   */
  min?: number;
}

type Presence = Field<unknown>["presence"];

// Options of any builder, as the shared helpers see them.
interface AnyOptions {
  optional?: boolean;
  default?: unknown;
  validate?: (value: never) => string | undefined;
  example?: string;
  secret?: boolean;
}

interface Scalar {
  kind: FieldKind;
  expected: string;
  example: string;
  emptyIsUnset: boolean;
  secret?: boolean;
  toml: (raw: unknown, ctx: DecodeContext) => Decoded;
  env: (text: string, ctx: DecodeContext) => Decoded;
  fromDefault?: (value: unknown, ctx: DecodeContext) => Decoded;
}

const NO: Decoded = { ok: false };

function ok(value: unknown): Decoded {
  return { ok: true, value };
}

function presenceOf(kind: FieldKind, options: { optional?: boolean; default?: unknown }): Presence {
  if (options.optional && options.default !== undefined) {
    throw new TypeError(
      `Cannot build ${kind} field: both "optional" and "default" are set; keep one`,
    );
  }
  if (options.default !== undefined) return "default";
  return options.optional ? "optional" : "required";
}

function scalar<T>(spec: Scalar, options: AnyOptions): Field<T> {
  const presence = presenceOf(spec.kind, options);
  const check = options.validate as ((value: unknown) => string | undefined) | undefined;
  function validated(result: Decoded): Decoded {
    if (!result.ok || check === undefined) return result;
    const reason = check(result.value);
    return reason === undefined ? result : { ok: false, reason };
  }
  const fromDefault = spec.fromDefault ?? ((value: unknown) => ok(value));
  let defaultValue: ((ctx: DecodeContext) => unknown) | undefined;
  if (presence === "default") {
    const initial = validated(fromDefault(options.default, {}));
    if (!initial.ok) {
      throw new TypeError(
        `Cannot build ${spec.kind} field: default ${JSON.stringify(options.default)} is not ` +
          `${spec.expected}${initial.reason ? ` (${initial.reason})` : ""}`,
      );
    }
    defaultValue = (ctx) => {
      const value = (fromDefault(options.default, ctx) as { value: unknown }).value;
      return Array.isArray(value) ? [...value] : value;
    };
  }
  return {
    kind: spec.kind,
    expected: spec.expected,
    example: options.example ?? spec.example,
    presence,
    secret: spec.secret ?? false,
    emptyIsUnset: spec.emptyIsUnset,
    fromToml: (raw, ctx) => validated(spec.toml(raw, ctx)),
    fromEnv: (text, ctx) => validated(spec.env(text, ctx)),
    defaultValue,
  };
}

function textField<T>(
  kind: FieldKind,
  expected: string,
  example: string,
  options: AnyOptions,
  check: (text: string, ctx: DecodeContext) => Decoded,
): Field<T> {
  return scalar<T>({
    kind,
    expected,
    example,
    emptyIsUnset: true,
    secret: options.secret,
    toml: (raw, ctx) => typeof raw === "string" ? check(raw, ctx) : NO,
    env: check,
    fromDefault: (value, ctx) => check(value as string, ctx),
  }, options);
}

function rangeWords(noun: string, min?: number, max?: number, unit = ""): string {
  if (min !== undefined && max !== undefined) return `${noun} from ${min}${unit} to ${max}${unit}`;
  if (min !== undefined) return `${noun} of at least ${min}${unit}`;
  if (max !== undefined) return `${noun} of at most ${max}${unit}`;
  return noun;
}

function inRange(value: number, min?: number, max?: number, unit = ""): Decoded {
  if (min !== undefined && value < min) return { ok: false, reason: `below ${min}${unit}` };
  if (max !== undefined && value > max) return { ok: false, reason: `above ${max}${unit}` };
  return ok(value);
}

/**
 * A string. An empty string counts as unset.
 *
 * @param options Presence, default, `secret` (hide the value in messages), validation.
 * @returns The field.
 *
 * @example A required string and an optional secret
 * ```ts
 * import { field, parseConfig } from "@mc/mcdsl/config";
 * import assert from "node:assert/strict";
 *
 * const schema = { name: field.string(), password: field.string({ optional: true, secret: true }) };
 * const config = parseConfig('name = "rift"', schema, { service: "demo", env: () => undefined });
 * assert.deepEqual(config, { name: "rift", password: undefined });
 * ```
 */
export function string<const P extends boolean = false>(
  options?: StringOptions & { optional?: P },
): Field<WithPresence<string, P>> {
  return textField("string", "a string", `"..."`, options ?? {}, ok);
}

/**
 * A file path. Relative paths are resolved against the config file's
 * directory (whether they come from the file, the environment or the
 * default), so a config and its certificates can move together; every
 * absolute result is normalised (`/srv/../x` becomes `/x`). An empty
 * string counts as unset.
 *
 * @param options Presence, default, validation, example.
 * @returns The field; the config holds the resolved path.
 */
export function path<const P extends boolean = false>(
  options?: FieldOptions<string> & { optional?: P },
): Field<WithPresence<string, P>> {
  return textField(
    "path",
    "a file path",
    `"/srv/<service>/..."`,
    options ?? {},
    // resolve() also normalises: `/srv/../x.db` must reach permission
    // grants as `/x.db`, the path Deno would enforce.
    (text, ctx) =>
      ok(
        ctx.baseDir ? resolve(ctx.baseDir, text) : isAbsolute(text) ? resolve(text) : text,
      ),
  );
}

/**
 * An absolute URL, kept as written. An empty string counts as unset.
 *
 * @param options Allowed `protocols`, presence, default, validation.
 * @returns The field.
 */
export function url<const P extends boolean = false>(
  options?: UrlOptions & { optional?: P },
): Field<WithPresence<string, P>> {
  const protocols = options?.protocols ?? ["https:", "http:"];
  const schemes = protocols.map((p) => `${p}//`);
  const expected = schemes.length === 1
    ? `an ${schemes[0]} URL`
    : `a URL starting with ${schemes.slice(0, -1).join(", ")} or ${schemes.at(-1)}`;
  return textField("url", expected, `"${schemes[0]}host.example"`, options ?? {}, (text) => {
    if (!URL.canParse(text)) return { ok: false, reason: "not an absolute URL" };
    const protocol = new URL(text).protocol;
    return protocols.includes(protocol) ? ok(text) : { ok: false, reason: `scheme ${protocol}` };
  });
}

/**
 * An address to listen on: `host:port`, `:port` (all IPv4 interfaces) or
 * `[ipv6]:port`; port 0 lets the system choose. Split it with
 * {@linkcode parseListenAddr} when binding. An empty string counts as unset.
 *
 * @param options Presence, default, validation, example.
 * @returns The field; the config holds the address as written.
 */
export function listenAddr<const P extends boolean = false>(
  options?: FieldOptions<string> & { optional?: P },
): Field<WithPresence<string, P>> {
  return textField(
    "listen_addr",
    `a listen address such as ":8443", "127.0.0.1:8443" or "[::1]:8443"`,
    `":8443"`,
    options ?? {},
    (text) => {
      const result = checkHostPort(text);
      return "reason" in result ? { ok: false, reason: result.reason } : ok(text);
    },
  );
}

/**
 * An address to connect to: `host:port` with a host and a port from 1 to
 * 65535 (IPv6 in brackets). An empty string counts as unset.
 *
 * @param options Presence, default, validation, example.
 * @returns The field; the config holds the address as written.
 */
export function hostPort<const P extends boolean = false>(
  options?: FieldOptions<string> & { optional?: P },
): Field<WithPresence<string, P>> {
  return textField(
    "host_port",
    `a host:port address such as "127.0.0.1:9443" or "[::1]:53"`,
    `"127.0.0.1:9443"`,
    options ?? {},
    (text) => {
      const result = checkHostPort(text);
      if ("reason" in result) return { ok: false, reason: result.reason };
      if (result.host === "") return { ok: false, reason: "the host is missing" };
      if (result.port === 0) return { ok: false, reason: "port 0 cannot be connected to" };
      return ok(text);
    },
  );
}

/**
 * One of a fixed set of strings; the config type is their union.
 *
 * @param values The strings allowed.
 * @param options Presence, default, validation.
 * @returns The field.
 *
 * @example A log level
 * ```ts
 * import { field } from "@mc/mcdsl/config";
 *
 * const level = field.oneOf(["debug", "info", "warn", "error"], { default: "info" });
 * ```
 */
export function oneOf<
  const V extends readonly [string, ...string[]],
  const P extends boolean = false,
>(
  values: V,
  options?: FieldOptions<V[number]> & { optional?: P },
): Field<WithPresence<V[number], P>> {
  const quoted = values.map((v) => JSON.stringify(v));
  const expected = quoted.length === 1
    ? quoted[0]
    : `one of ${quoted.slice(0, -1).join(", ")} or ${quoted.at(-1)}`;
  function check(text: string): Decoded {
    return (values as readonly string[]).includes(text) ? ok(text) : NO;
  }
  return scalar({
    kind: "enum",
    expected,
    example: quoted[0],
    emptyIsUnset: false,
    toml: (raw) => typeof raw === "string" ? check(raw) : NO,
    env: check,
    fromDefault: (value) => check(value as string),
  }, options ?? {});
}

/**
 * An integer (a TOML integer, not a float).
 *
 * @param options `min`, `max`, presence, default, validation.
 * @returns The field.
 */
export function int<const P extends boolean = false>(
  options?: NumberOptions & { optional?: P },
): Field<WithPresence<number, P>> {
  const { min, max } = options ?? {};
  function check(value: number): Decoded {
    if (!Number.isSafeInteger(value)) return { ok: false, reason: "too large" };
    return inRange(value, min, max);
  }
  return scalar({
    kind: "int",
    expected: rangeWords("an integer", min, max),
    example: String(min ?? max ?? 1),
    emptyIsUnset: false,
    toml: (raw) => typeof raw === "bigint" ? check(Number(raw)) : NO,
    env: (text) => /^[+-]?\d+$/.test(text) ? check(Number(text)) : NO,
    fromDefault: (value) => check(value as number),
  }, options ?? {});
}

/**
 * A number; TOML integers and floats are both accepted.
 *
 * @param options `min`, `max`, presence, default, validation.
 * @returns The field.
 */
export function number<const P extends boolean = false>(
  options?: NumberOptions & { optional?: P },
): Field<WithPresence<number, P>> {
  const { min, max } = options ?? {};
  function check(value: number): Decoded {
    return Number.isFinite(value) ? inRange(value, min, max) : NO;
  }
  return scalar({
    kind: "number",
    expected: rangeWords("a number", min, max),
    example: String(min ?? max ?? 1.5),
    emptyIsUnset: false,
    toml: (raw) => typeof raw === "bigint" || typeof raw === "number" ? check(Number(raw)) : NO,
    env: (text) => /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text) ? check(Number(text)) : NO,
    fromDefault: (value) => check(value as number),
  }, options ?? {});
}

/**
 * A boolean. From the environment: `true`/`false` (any case), `1`/`0`.
 *
 * @param options Presence, default, validation.
 * @returns The field.
 */
export function bool<const P extends boolean = false>(
  options?: FieldOptions<boolean> & { optional?: P },
): Field<WithPresence<boolean, P>> {
  return scalar({
    kind: "bool",
    expected: "true or false",
    example: "true",
    emptyIsUnset: false,
    toml: (raw) => typeof raw === "boolean" ? ok(raw) : NO,
    env: (text) => {
      const lower = text.toLowerCase();
      if (lower === "true" || lower === "1") return ok(true);
      if (lower === "false" || lower === "0") return ok(false);
      return NO;
    },
  }, options ?? {});
}

/**
 * A duration written `"500ms"`, `"10s"`, `"5m"` or `"1h30m"` (see
 * {@linkcode parseDuration}); the config holds milliseconds.
 *
 * @param options `min`, `max` (ms), default (a duration string or ms), presence.
 * @returns The field.
 *
 * @example A timeout
 * ```ts
 * import { field, parseConfig } from "@mc/mcdsl/config";
 * import assert from "node:assert/strict";
 *
 * const schema = { timeout: field.duration({ default: "30s" }) };
 * const config = parseConfig('timeout = "1m30s"', schema, { service: "demo", env: () => undefined });
 * assert.equal(config.timeout, 90_000);
 * ```
 */
export function duration<const P extends boolean = false>(
  options?: DurationOptions & { optional?: P },
): Field<WithPresence<number, P>> {
  const { min, max } = options ?? {};
  function check(text: string): Decoded {
    const result = checkDuration(text);
    return "ms" in result
      ? inRange(result.ms, min, max, " ms")
      : { ok: false, reason: result.reason };
  }
  return scalar({
    kind: "duration",
    expected: rangeWords(DURATION_EXPECTED, min, max, " ms"),
    example: `"30s"`,
    emptyIsUnset: true,
    toml: (raw) => typeof raw === "string" ? check(raw) : NO,
    env: check,
    fromDefault: (value) =>
      typeof value === "number" ? inRange(value, min, max, " ms") : check(value as string),
  }, options ?? {});
}

/**
 * An array of strings. From the environment: comma-separated, items
 * trimmed, empty items dropped.
 *
 * @param options `item` check, presence, default, validation.
 * @returns The field.
 */
export function stringArray<const P extends boolean = false>(
  options?: StringArrayOptions & { optional?: P },
): Field<WithPresence<string[], P>> {
  const each = options?.item;
  function check(items: unknown[]): Decoded {
    for (const [i, item] of items.entries()) {
      if (typeof item !== "string") return { ok: false, reason: `item ${i} is not a string` };
      const reason = each?.(item);
      if (reason !== undefined) return { ok: false, reason: `item ${i} "${item}": ${reason}` };
    }
    return ok([...items]);
  }
  return scalar({
    kind: "string_array",
    expected: "an array of strings",
    example: `["a", "b"]`,
    emptyIsUnset: false,
    toml: (raw) => Array.isArray(raw) ? check(raw) : NO,
    env: (text) => check(text.split(",").map((s) => s.trim()).filter((s) => s !== "")),
    fromDefault: (value) => check(value as unknown[]),
  }, options ?? {});
}

/**
 * A TOML table (`[section]`, or a nested `[section.sub]`) with the given
 * keys. Keys not in `fields` are reported as unknown.
 *
 * @param fields The table's keys.
 * @param options `optional`: an absent section gives `undefined`.
 * @returns The field.
 */
export function table<const F extends Schema, const P extends boolean = false>(
  fields: F,
  options?: TableOptions & { optional?: P },
): Field<WithPresence<InferConfig<F>, P>> {
  return {
    kind: "table",
    expected: "a table",
    example: "{}",
    presence: options?.optional ? "optional" : "default",
    secret: false,
    emptyIsUnset: false,
    fields,
  };
}

/**
 * An array of tables (`[[sso_clients]]`), each with the given keys. Absent
 * means an empty array. Keys inside have no environment overrides.
 *
 * @param fields The keys of each table.
 * @param options `min`: fewest tables required.
 * @returns The field.
 *
 * @example SSO clients
 * ```ts
 * import { field, parseConfig } from "@mc/mcdsl/config";
 * import assert from "node:assert/strict";
 *
 * const schema = {
 *   sso_clients: field.tables({ client_id: field.string(), redirect_uri: field.url() }),
 * };
 * const text = `
 * [[sso_clients]]
 * client_id = "mcr"
 * redirect_uri = "https://mcr.example/sso/callback"
 * `;
 * const config = parseConfig(text, schema, { service: "mcias", env: () => undefined });
 * assert.equal(config.sso_clients[0].client_id, "mcr");
 * ```
 */
export function tables<const F extends Schema>(
  fields: F,
  options?: TablesOptions,
): Field<InferConfig<F>[]> {
  const min = options?.min ?? 0;
  return {
    kind: "tables",
    expected: min > 0 ? `an array of at least ${min} tables` : "an array of tables",
    example: "[]",
    presence: min > 0 ? "required" : "default",
    secret: false,
    emptyIsUnset: false,
    fields,
    min,
  };
}

/**
 * A table whose keys are free-form names (for example `[build.images]`
 * mapping image names to Dockerfiles), each value read by `item`. Absent
 * means an empty object. No environment overrides.
 *
 * @param item The field for every value.
 * @returns The field.
 */
export function map<T>(item: Field<T>): Field<Record<string, Exclude<T, undefined>>> {
  return {
    kind: "map",
    expected: `a table whose values are each ${item.expected}`,
    example: "{}",
    presence: "default",
    secret: false,
    emptyIsUnset: false,
    item: item as Field<unknown>,
  };
}
