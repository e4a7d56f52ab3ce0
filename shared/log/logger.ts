/**
 * Structured JSON logging with levels.
 *
 * @module
 */

import { redact } from "./redact.ts";

/** Log levels, least to most severe. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/** Every level, in order of severity. */
export const LOG_LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];

const SEVERITY: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Fields attached to a log record. */
export type LogFields = Record<string, unknown>;

/** A structured logger; every record is one JSON object on one line. */
export interface Logger {
  /** Records below this level are dropped. */
  readonly level: LogLevel;
  /** Logs at `debug`. */
  debug(msg: string, fields?: LogFields): void;
  /** Logs at `info`. */
  info(msg: string, fields?: LogFields): void;
  /** Logs at `warn`. */
  warn(msg: string, fields?: LogFields): void;
  /** Logs at `error`. */
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds `fields` to every record. */
  child(fields: LogFields): Logger;
}

/** Options for {@linkcode createLogger}. */
export interface LoggerOptions {
  /**
   * Lowest level written.
   * @default {"info"}
   */
  level?: LogLevel;
  /** Fields added to every record (for example `{ service: "mcias" }`). */
  fields?: LogFields;
  /**
   * Where each line goes.
   * @default {writes the line and a newline to stderr}
   */
  write?: (line: string) => void;
  /**
   * Clock for the `time` field.
   * @default {() => new Date()}
   */
  now?: () => Date;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

/**
 * Creates a logger writing JSON lines `{time, level, msg, ...fields}`.
 * Values under secret-looking keys (password, token, authorization, cookie,
 * key, …) are replaced by `"[REDACTED]"` before anything is written, so a
 * careless field cannot leak a secret.
 *
 * @param options Level, base fields and sink.
 * @returns The logger.
 *
 * @example Usage
 * ```ts
 * import { createLogger } from "./logger.ts";
 * import assert from "node:assert/strict";
 * const lines: string[] = [];
 * const log = createLogger({ write: (l) => lines.push(l), fields: { service: "demo" } });
 * log.info("login", { user: "ana", password: "hunter2" });
 * log.debug("dropped");
 * const record = JSON.parse(lines[0]);
 * assert.equal(lines.length, 1);
 * assert.equal(record.msg, "login");
 * assert.equal(record.service, "demo");
 * assert.equal(record.password, "[REDACTED]");
 * ```
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const { level = "info", fields = {}, write = writeStderr, now = () => new Date() } = options;
  if (!(level in SEVERITY)) {
    throw new RangeError(
      `Cannot create logger: level "${level}" is not one of ${LOG_LEVELS.join(", ")}`,
    );
  }
  const min = SEVERITY[level];
  const base = redact(fields) as LogFields;

  function log(at: LogLevel, msg: string, extra?: LogFields): void {
    if (SEVERITY[at] < min) return;
    const record = {
      time: now().toISOString(),
      level: at,
      msg,
      ...base,
      ...(extra === undefined ? {} : redact(extra) as LogFields),
    };
    write(JSON.stringify(record));
  }

  return {
    level,
    debug: (msg, extra) => log("debug", msg, extra),
    info: (msg, extra) => log("info", msg, extra),
    warn: (msg, extra) => log("warn", msg, extra),
    error: (msg, extra) => log("error", msg, extra),
    child: (extra) => createLogger({ level, write, now, fields: { ...fields, ...extra } }),
  };
}
