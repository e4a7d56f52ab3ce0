/**
 * Structured JSON logs with levels, and redaction of secret fields.
 *
 * ```ts
 * import { createLogger } from "@mc/mcdsl/log";
 * const log = createLogger({ level: "info", fields: { service: "mcias" } });
 * log.info("listening", { addr: "127.0.0.1:8443" });
 * ```
 *
 * @module
 */
export * from "./logger.ts";
export * from "./redact.ts";
