/**
 * TOML text plus environment overrides to a typed, validated config.
 *
 * @module
 */

import { dirname, isAbsolute } from "node:path";
import { parse, TomlError } from "smol-toml";
import { ConfigError, type ConfigProblem } from "./config_error.ts";
import { type EnvPlan, envPlan } from "./env_names.ts";
import type { DecodeContext, Field, InferConfig, Schema } from "./schema.ts";

/** Options for {@linkcode parseConfig}. */
export interface ParseConfigOptions {
  /**
   * The service name: prefix of its variables (`mcr` reads `MCR_SERVER_LISTEN_ADDR`;
   * `mc-proxy` reads `MC_PROXY_...`).
   */
  service: string;
  /**
   * The config file path, or a label, named in every error.
   * @default {"<inline config>"}
   */
  source?: string;
  /**
   * Directory relative paths are resolved against.
   * @default {the directory of `source` when it is an absolute path; otherwise paths stay as written}
   */
  baseDir?: string;
  /**
   * Looks up one environment variable. Only names derived from the schema
   * are asked for (see {@linkcode configEnvNames}); a name the sandbox does
   * not grant reads as unset.
   * @default {Deno.env.get}
   */
  env?: (name: string) => string | undefined;
  /**
   * Port variables and the dotted keys they override with `0.0.0.0:<port>`.
   * @default {DEFAULT_PORT_ENV}
   */
  ports?: Readonly<Record<string, string>>;
}

/** @internal Reads a variable; a name the sandbox does not grant reads as unset. */
export function denoEnv(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch (error) {
    // Granting only the names a service uses is the point; a variable
    // nobody granted cannot have been meant for this process.
    if (error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied) {
      return undefined;
    }
    throw error;
  }
}

type Table = Record<string, unknown>;

interface Run {
  ctx: DecodeContext;
  env: (name: string) => string | undefined;
  plan: EnvPlan;
  problems: ConfigProblem[];
}

interface Where {
  /** Dotted key of the table, "" at the top level. */
  key: string;
  /** Dotted key for variable lookup; undefined inside arrays and maps. */
  envKey: string | undefined;
  /** How to name the table in a hint: "under [server]". */
  label: string;
}

function ordinal(n: number): string {
  const teen = n % 100 >= 11 && n % 100 <= 13;
  const suffix = teen ? "th" : ["th", "st", "nd", "rd"][n % 10] ?? "th";
  return `${n}${suffix}`;
}

function isTable(value: unknown): value is Table {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const proto = Object.getPrototypeOf(value);
  return proto === null || proto === Object.prototype;
}

function keyPart(name: string): string {
  return /^[A-Za-z0-9_-]+$/.test(name) ? name : JSON.stringify(name);
}

function join(prefix: string, name: string): string {
  return prefix === "" ? keyPart(name) : `${prefix}.${keyPart(name)}`;
}

function truncate(text: string): string {
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

/** Names a TOML value for a message: `integer 8443`, `string "x"`. */
function describe(value: unknown, secret: boolean): string {
  switch (typeof value) {
    case "string":
      return secret ? "a string (value hidden)" : `string ${JSON.stringify(truncate(value))}`;
    case "bigint":
      return `integer ${value}`;
    case "number":
      return `float ${Number.isInteger(value) ? value.toFixed(1) : value}`;
    case "boolean":
      return `boolean ${value}`;
  }
  if (Array.isArray(value)) {
    return `an array of ${value.length} item${value.length === 1 ? "" : "s"}`;
  }
  if (isTable(value)) return "a table";
  // TomlDate prints itself back in TOML form with toISOString.
  const date = value as { toISOString?: () => string };
  return `date-time ${typeof date.toISOString === "function" ? date.toISOString() : String(value)}`;
}

function describeEnv(text: string, secret: boolean): string {
  return secret ? "a value (hidden)" : JSON.stringify(truncate(text));
}

function distance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost);
    }
    previous = row;
  }
  return previous[b.length];
}

function closest(name: string, known: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const d = candidate.toLowerCase() === name.toLowerCase() ? 0 : distance(name, candidate);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

function report(run: Run, problem: ConfigProblem): void {
  run.problems.push(problem);
}

function decodeTable(run: Run, fields: Schema, raw: Table | undefined, at: Where): Table {
  const out: Table = {};
  const known = Object.keys(fields);
  for (const name of Object.keys(raw ?? {})) {
    if (Object.hasOwn(fields, name)) continue;
    const key = join(at.key, name);
    const value = raw![name];
    const what = isTable(value) ? `unknown section [${key}]` : "unknown key";
    const guess = closest(name, known);
    const allowed = known.length === 0 ? "none" : known.join(", ");
    report(run, {
      key,
      message: `${key}: ${what}; ${guess ? `did you mean ${guess}? ` : ""}` +
        `remove it or fix its name (keys allowed ${at.label}: ${allowed})`,
    });
  }
  for (const [name, field] of Object.entries(fields)) {
    const present = raw !== undefined && Object.hasOwn(raw, name);
    const value = decodeValue(run, field, name, present, present ? raw[name] : undefined, at);
    out[name] = value;
  }
  return out;
}

function anyEnvSet(run: Run, fields: Schema, envKey: string): boolean {
  for (const [name, field] of Object.entries(fields)) {
    const key = `${envKey}.${name}`;
    if (field.kind === "table") {
      if (anyEnvSet(run, field.fields ?? {}, key)) return true;
      continue;
    }
    const names = [run.plan.byKey.get(key), ...run.plan.ports.get(key) ?? []];
    if (names.some((n) => n !== undefined && (run.env(n) ?? "") !== "")) return true;
  }
  return false;
}

function decodeValue(
  run: Run,
  field: Field<unknown>,
  name: string,
  present: boolean,
  raw: unknown,
  at: Where,
): unknown {
  const key = join(at.key, name);
  const envKey = at.envKey === undefined ? undefined : join(at.envKey, name);
  switch (field.kind) {
    case "table": {
      const fields = field.fields ?? {};
      if (present && !isTable(raw)) {
        report(run, {
          key,
          message: `${key}: expected a table [${key}], found ${describe(raw, false)}; ` +
            `write it as a [${key}] section with its keys below it`,
        });
        return undefined;
      }
      if (!present && field.presence === "optional") {
        if (envKey === undefined || !anyEnvSet(run, fields, envKey)) return undefined;
      }
      return decodeTable(run, fields, present ? raw as Table : undefined, {
        key,
        envKey,
        label: `in [${key}]`,
      });
    }
    case "tables":
      return decodeTables(run, field, key, present, raw);
    case "map": {
      if (!present) return {};
      if (!isTable(raw)) {
        report(run, {
          key,
          message: `${key}: expected ${field.expected}, found ${describe(raw, false)}; ` +
            `write it as a [${key}] section of name = value lines`,
        });
        return undefined;
      }
      const out: Table = {};
      const where = { key, envKey: undefined, label: `in [${key}]` };
      for (const [entry, value] of Object.entries(raw)) {
        const decoded = decodeValue(run, field.item!, entry, true, value, where);
        if (decoded !== undefined) out[entry] = decoded;
      }
      return out;
    }
    default:
      return decodeScalar(run, field, name, key, envKey, present, raw, at);
  }
}

function decodeTables(
  run: Run,
  field: Field<unknown>,
  key: string,
  present: boolean,
  raw: unknown,
): unknown {
  const min = field.min ?? 0;
  // The TOML header: [[listeners.routes]], whichever listener it is in.
  const header = key.replace(/\[\d+\]/g, "");
  const example = `add a [[${header}]] table`;
  if (!present) {
    if (min > 0) {
      report(run, {
        key,
        message: `${key}: required key is missing, expected ${field.expected}; ${example}`,
      });
    }
    return [];
  }
  if (!Array.isArray(raw) || !raw.every(isTable)) {
    report(run, {
      key,
      message:
        `${key}: expected ${field.expected} ([[${header}]]), found ${describe(raw, false)}; ` +
        `write each entry as a [[${header}]] table`,
    });
    return [];
  }
  if (raw.length < min) {
    report(run, {
      key,
      message: `${key}: expected ${field.expected}, found ${raw.length}; ${example}`,
    });
  }
  return raw.map((entry, i) =>
    decodeTable(run, field.fields ?? {}, entry, {
      key: `${key}[${i}]`,
      envKey: undefined,
      label: `in the ${ordinal(i + 1)} [[${header}]] table`,
    })
  );
}

function decodeScalar(
  run: Run,
  field: Field<unknown>,
  name: string,
  key: string,
  envKey: string | undefined,
  present: boolean,
  raw: unknown,
  at: Where,
): unknown {
  const { ctx } = run;
  const because = (reason?: string) => reason ? ` (${reason})` : "";
  let value: unknown;
  let set = false;
  let failed = false;
  const empty = present && field.emptyIsUnset && raw === "";
  if (present && !empty) {
    const result = field.fromToml!(raw, ctx);
    if (result.ok) [value, set] = [result.value, true];
    else {
      failed = true;
      report(run, {
        key,
        message: `${key}: expected ${field.expected}, found ${describe(raw, field.secret)}` +
          `${because(result.reason)}; fix it ${at.label}, e.g. ${keyPart(name)} = ${field.example}`,
      });
    }
  }
  // Precedence, lowest first: TOML, <SERVICE>_<SECTION>_<KEY>, port variables.
  const envName = envKey === undefined ? undefined : run.plan.byKey.get(envKey);
  if (envName !== undefined) {
    const text = run.env(envName);
    if (text !== undefined && text !== "") {
      const result = field.fromEnv!(text, ctx);
      if (result.ok) [value, set] = [result.value, true];
      else {
        failed = true;
        report(run, {
          key,
          env: envName,
          message: `${envName} (overrides ${key}): expected ${field.expected}, ` +
            `found ${describeEnv(text, field.secret)}${because(result.reason)}; ` +
            `fix or unset ${envName}`,
        });
      }
    }
  }
  for (const portName of envKey === undefined ? [] : run.plan.ports.get(envKey) ?? []) {
    const text = run.env(portName);
    if (text === undefined || text === "") continue;
    const port = /^\d{1,5}$/.test(text) ? Number(text) : NaN;
    const result = port >= 1 && port <= 65535
      ? field.fromEnv!(`0.0.0.0:${port}`, ctx)
      : { ok: false as const, reason: undefined };
    if (result.ok) [value, set] = [result.value, true];
    else {
      failed = true;
      report(run, {
        key,
        env: portName,
        message: `${portName} (overrides ${key}): expected a port number from 1 to 65535, ` +
          `found ${describeEnv(text, false)}${because(result.reason)}; fix or unset ${portName}`,
      });
    }
    break;
  }
  if (set) return value;
  if (field.presence === "default") return field.defaultValue!(ctx);
  if (field.presence === "required" && !failed) {
    const state = empty ? "required key is empty" : "required key is missing";
    const where = at.key === "" ? "at the top of the file, before any [section]" : at.label;
    report(run, {
      key,
      message: `${key}: ${state}, expected ${field.expected}; ` +
        `add ${keyPart(name)} = ${field.example} ${where}` +
        (envName ? ` or set ${envName}` : ""),
    });
  }
  return undefined;
}

// smol-toml's fixed reasons. Anything else (a reason built from the input)
// is replaced: the text around a syntax error may be a secret's value.
const TOML_REASONS = new Set([
  "invalid value",
  "illegal character in numeric literal",
  "unfinished numeric value",
  "trying to redefine an already defined value",
  "trying to redefine an already defined table or value",
  "illegal underscore",
  "expected comma or end of structure",
  "unrecognised escape sequence",
  "unfinished table",
  "unfinished string",
  "unfinished array",
  "unexpected end of key",
  "invalid unicode escape",
  "invalid non-hex character in unicode escape",
  "invalid escape: only line-ending whitespace may be escaped",
  "invalid date-time: time part is malformed",
  "invalid date-time: date part is malformed",
  "invalid date",
  "integer value cannot be represented losslessly",
  "incomplete key-value: cannot find end of key",
  "illegal quoted key: multiline strings are not allowed",
  "illegal leading zero",
  "illegal empty bare key",
  "illegal character in key",
  "expected end of table array declaration",
  "each key-value declaration must be followed by an end-of-line",
  "document contains an unsafe property",
  "control characters are not allowed in strings",
  "control characters are not allowed in comments",
]);

/**
 * A syntax error naming only file, line, column and a fixed reason: the
 * parser's message quotes the offending lines, which may hold a password,
 * so neither it nor the parser's error (as `cause`) is kept.
 */
function syntaxError(source: string, error: TomlError): ConfigError {
  const first = error.message.replace(/^Invalid TOML document: /, "").split("\n")[0];
  const reason = TOML_REASONS.has(first) ? first : "invalid syntax";
  return new ConfigError(
    source,
    `Cannot load config "${source}": TOML syntax error at line ${error.line}, ` +
      `column ${error.column}: ${reason}; fix the syntax there`,
    { line: error.line, column: error.column },
  );
}

/**
 * Parses TOML text against a schema, applies environment overrides and
 * returns the typed config. Every problem (unknown key, wrong type, bad
 * value, missing required key, bad environment value) is collected and
 * thrown together as one {@linkcode ConfigError}.
 *
 * Precedence, highest first: port variables (`$PORT`, `$PORT_REST` and
 * `$PORT_GRPC` by default, giving `0.0.0.0:<port>`), then
 * `$<SERVICE>_<SECTION>_<KEY>`, then the TOML value, then the default.
 * Variables are parsed by the key's type: integers, `true`/`false`,
 * durations, comma-separated string arrays. An empty variable counts as
 * unset, and so does one the sandbox does not grant. The file's own value is
 * checked even where a variable overrides it, so a broken file never hides.
 *
 * @param text The TOML document.
 * @param schema The config schema (for example `{ ...standardSchema, storage: field.table({...}) }`).
 * @param options Service name, source label, base directory, env lookup.
 * @returns The config, typed from the schema.
 * @throws {ConfigError} If the text is not TOML or does not fit the schema.
 * @throws {TypeError} If the service name or the schema cannot give variable names.
 *
 * @example Parse a config with an override
 * ```ts
 * import { field, parseConfig } from "@mc/mcdsl/config";
 * import assert from "node:assert/strict";
 *
 * const schema = {
 *   server: field.table({ listen_addr: field.listenAddr() }),
 *   dns: field.table({ upstreams: field.stringArray({ default: [] }) }),
 * };
 * const env: Record<string, string> = { PORT: "20443", MCNS_DNS_UPSTREAMS: "1.1.1.1:53, 8.8.8.8:53" };
 * const config = parseConfig('[server]\nlisten_addr = ":8444"\n', schema, {
 *   service: "mcns",
 *   env: (name) => env[name],
 * });
 * assert.equal(config.server.listen_addr, "0.0.0.0:20443");
 * assert.deepEqual(config.dns.upstreams, ["1.1.1.1:53", "8.8.8.8:53"]);
 * ```
 */
export function parseConfig<S extends Schema>(
  text: string,
  schema: S,
  options: ParseConfigOptions,
): InferConfig<S> {
  const { service, source = "<inline config>", env = denoEnv, ports } = options;
  const baseDir = options.baseDir ?? (isAbsolute(source) ? dirname(source) : undefined);
  const plan = envPlan(service, schema, ports);
  let document: Table;
  try {
    // Integers as bigint so that `port = 1.0` is told apart from `port = 1`.
    document = parse(text, { integersAsBigInt: true });
  } catch (error) {
    if (error instanceof TomlError) throw syntaxError(source, error);
    // Same as above: a parser message may quote the file.
    throw new ConfigError(
      source,
      `Cannot load config "${source}": the TOML parser failed (${
        error instanceof Error ? error.name : typeof error
      })`,
    );
  }
  const run: Run = { ctx: { baseDir }, env, plan, problems: [] };
  const config = decodeTable(run, schema, document, {
    key: "",
    envKey: "",
    label: "at the top level",
  });
  const count = run.problems.length;
  if (count > 0) {
    throw new ConfigError(
      source,
      `Cannot load config "${source}": found ${count} problem${count === 1 ? "" : "s"}; ` +
        `fix ${count === 1 ? "it" : "them"} and start again`,
      { problems: run.problems },
    );
  }
  return config as InferConfig<S>;
}
