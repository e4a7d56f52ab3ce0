/**
 * Types of the config schema: what a field is and what config type a
 * schema gives.
 *
 * @module
 */

declare const OUTPUT: unique symbol;

/** The kinds of field {@linkcode field} builds. */
export type FieldKind =
  | "string"
  | "int"
  | "number"
  | "bool"
  | "duration"
  | "enum"
  | "string_array"
  | "path"
  | "url"
  | "listen_addr"
  | "host_port"
  | "table"
  | "tables"
  | "map";

/** @internal What decoding needs besides the value. */
export interface DecodeContext {
  /** Directory relative paths are resolved against; none leaves them as written. */
  baseDir?: string;
}

/** @internal A decoded value, or why the raw value is not acceptable. */
export type Decoded = { ok: true; value: unknown } | { ok: false; reason?: string };

/**
 * One key of a config schema, built with the {@linkcode field} functions.
 * `T` is the type the key has in the loaded config.
 *
 * The members are read by the loader; services only build fields and read
 * the loaded config.
 */
export interface Field<T> {
  /** What kind of value the key holds. */
  readonly kind: FieldKind;
  /** What is expected, in words, for messages: `an integer from 1 to 65535`. */
  readonly expected: string;
  /** A TOML value for hints in messages, for example `":8443"`. */
  readonly example: string;
  /** Must the key be present (`required`), may it be absent (`optional`), or has it a default. */
  readonly presence: "required" | "optional" | "default";
  /** Never show the value in messages. */
  readonly secret: boolean;
  /** An empty string counts as unset (TOML has no null; `ca_cert = ""` means none). */
  readonly emptyIsUnset: boolean;
  /** Keys of a table, or of each table in an array of tables. */
  readonly fields?: Schema;
  /** Value field of a map. */
  readonly item?: Field<unknown>;
  /** Fewest tables an array of tables may hold. */
  readonly min?: number;
  /** @internal Decodes a value parsed from TOML. */
  readonly fromToml?: (raw: unknown, ctx: DecodeContext) => Decoded;
  /** @internal Decodes an environment variable; absent when the key has no env override. */
  readonly fromEnv?: (text: string, ctx: DecodeContext) => Decoded;
  /** @internal The default value, fresh each call. */
  readonly defaultValue?: (ctx: DecodeContext) => unknown;
  /** Carries `T` for type inference only; never set. */
  readonly [OUTPUT]?: T;
}

/** A config schema: TOML keys (top-level keys and sections) to fields. */
export type Schema = { readonly [key: string]: Field<unknown> };

/** The type a field gives in the loaded config. */
export type FieldOutput<F> = F extends Field<infer T> ? T : never;

/**
 * The config type a schema gives.
 *
 * @example Infer a config type
 * ```ts
 * import { field, type InferConfig } from "@mc/mcdsl/config";
 *
 * const schema = { storage: field.table({ root: field.path() }) };
 * type Config = InferConfig<typeof schema>; // { storage: { root: string } }
 * const config: Config = { storage: { root: "/srv/mcr/blobs" } };
 * ```
 */
export type InferConfig<S extends Schema> = { -readonly [K in keyof S]: FieldOutput<S[K]> };

/**
 * `T`, or `T | undefined` when the key is optional (`P` is the type of the
 * builder's `optional` option).
 */
export type WithPresence<T, P extends boolean> = [P] extends [false] ? T : T | undefined;
