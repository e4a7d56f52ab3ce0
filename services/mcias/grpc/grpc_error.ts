/**
 * Turns what an MCIAS call threw into a gRPC status a client may see.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { Logger } from "@mc/mcdsl/log";
import { LoginFailedError, McIasError } from "../core/types.ts";

/** A status for grpc-js's unary callback. */
export interface GrpcErrorStatus {
  /** The gRPC code. */
  code: grpc.status;
  /** Safe to show the client. */
  details: string;
  /** Trailing metadata (`retry-after`, `mcias-totp-required`). */
  metadata: grpc.Metadata;
}

const LOGIN_CODES: Record<LoginFailedError["status"], grpc.status> = {
  401: grpc.status.UNAUTHENTICATED,
  403: grpc.status.PERMISSION_DENIED,
  429: grpc.status.RESOURCE_EXHAUSTED,
};

const CALLER_CODES: Record<McIasError["status"], grpc.status> = {
  400: grpc.status.INVALID_ARGUMENT,
  404: grpc.status.NOT_FOUND,
  409: grpc.status.ALREADY_EXISTS,
};

/**
 * Maps {@linkcode LoginFailedError} to UNAUTHENTICATED (401),
 * PERMISSION_DENIED (403) or RESOURCE_EXHAUSTED (429) and
 * {@linkcode McIasError} to INVALID_ARGUMENT (400), NOT_FOUND (404) or
 * ALREADY_EXISTS (409; FAILED_PRECONDITION when its `reason` says so), keeping their messages, which are written for
 * clients. Anything else is a bug or an outage: it is logged and the client
 * gets INTERNAL with no detail of it.
 *
 * @param error What the call threw.
 * @param logger Receives unexpected errors.
 * @param method The method path, for the log.
 * @returns The status to send.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as grpc from "@grpc/grpc-js";
 * import { createLogger } from "@mc/mcdsl/log";
 * import { McIasError } from "../core/types.ts";
 * import { grpcError } from "./grpc_error.ts";
 * const status = grpcError(new McIasError(404, 'account "x" not found'), createLogger(), "/m");
 * assert.equal(status.code, grpc.status.NOT_FOUND);
 * ```
 */
export function grpcError(error: unknown, logger: Logger, method: string): GrpcErrorStatus {
  const metadata = new grpc.Metadata();
  if (error instanceof LoginFailedError) {
    const { retryAfterSeconds, totpRequired } = error.options;
    if (error.status === 429 && retryAfterSeconds !== undefined) {
      metadata.set("retry-after", String(Math.max(1, Math.ceil(retryAfterSeconds))));
    }
    if (error.status === 401 && totpRequired) metadata.set("mcias-totp-required", "true");
    return {
      code: LOGIN_CODES[error.status] ?? grpc.status.UNAUTHENTICATED,
      details: error.message,
      metadata,
    };
  }
  if (error instanceof McIasError) {
    return {
      code: error.status === 409 && error.reason === "failed_precondition"
        ? grpc.status.FAILED_PRECONDITION
        : CALLER_CODES[error.status] ?? grpc.status.INVALID_ARGUMENT,
      details: error.message,
      metadata,
    };
  }
  if (error instanceof RequestError) {
    return { code: grpc.status.INVALID_ARGUMENT, details: error.message, metadata };
  }
  // Only the class and message: never a request field, which may be a secret.
  logger.error("grpc handler failed", {
    method,
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
  });
  return { code: grpc.status.INTERNAL, details: "internal error; see the MCIAS log", metadata };
}

/** A malformed request found by the gRPC layer itself (INVALID_ARGUMENT). */
export class RequestError extends Error {
  /** @param message Safe to show the client; names the field and what is expected. */
  constructor(message: string) {
    super(message);
    this.name = "RequestError";
  }
}
