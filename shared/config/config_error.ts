/**
 * The one error a config load throws.
 *
 * @module
 */

/** One thing wrong with a config: a bad key, a bad value or a missing one. */
export interface ConfigProblem {
  /** Dotted key, for example `server.listen_addr` or `sso_clients[1].client_id`. */
  key: string;
  /** The environment variable the bad value came from, when it came from one. */
  env?: string;
  /** The line as printed in the error message, key first. */
  message: string;
}

/** Options for {@linkcode ConfigError}. */
export interface ConfigErrorOptions {
  /** The problems found; each becomes one line of the message. */
  problems?: readonly ConfigProblem[];
  /** Line of a TOML syntax error, 1-based. */
  line?: number;
  /** Column of a TOML syntax error, 1-based. */
  column?: number;
  /** The underlying error (file system, TOML parser). */
  cause?: unknown;
}

/**
 * Thrown when a config cannot be loaded: the file is missing or unreadable,
 * it is not valid TOML, or keys are unknown, missing or of the wrong type.
 * Every problem in the file is collected into this one error, one per line,
 * so the operator can fix them all in one pass.
 *
 * @example Catch and print
 * ```ts
 * import { ConfigError, parseConfig, STANDARD_SCHEMA } from "@mc/mcdsl/config";
 * import assert from "node:assert/strict";
 *
 * try {
 *   parseConfig("[server]\nlisten_addr = 8443\n", STANDARD_SCHEMA, {
 *     service: "demo",
 *     source: "/srv/demo/demo.toml",
 *     env: () => undefined,
 *   });
 *   assert.fail("expected a ConfigError");
 * } catch (error) {
 *   assert.ok(error instanceof ConfigError);
 *   assert.match(error.message, /server\.listen_addr: expected a listen address/);
 * }
 * ```
 */
export class ConfigError extends Error {
  /** The config file path, or the label given as `source`. */
  readonly source: string;
  /** Every problem found, in file order. Empty for file and syntax errors. */
  readonly problems: readonly ConfigProblem[];
  /** Line of a TOML syntax error, 1-based. */
  readonly line?: number;
  /** Column of a TOML syntax error, 1-based. */
  readonly column?: number;

  /**
   * Builds the error. With problems, `message` is the header and each problem
   * is appended on its own line.
   *
   * @param source The config file path or label.
   * @param message What went wrong.
   * @param options Problems, syntax position and cause.
   */
  constructor(source: string, message: string, options: ConfigErrorOptions = {}) {
    const { problems = [], line, column, cause } = options;
    const lines = problems.map((p) => `  - ${p.message}`);
    super([message, ...lines].join("\n"), { cause });
    this.name = "ConfigError";
    this.source = source;
    this.problems = problems;
    this.line = line;
    this.column = column;
  }
}
