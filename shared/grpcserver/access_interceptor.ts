/**
 * The server interceptor that enforces the access map and logs each call.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { type Access, allows, type TokenInfo, type TokenValidator } from "../auth/types.ts";
import type { Logger } from "../log/mod.ts";

const TOKENS = new WeakMap<grpc.Metadata, TokenInfo>();

/** Anything carrying the request metadata: every grpc-js server call object. */
export interface CallWithMetadata {
  /** Request metadata, as the access interceptor passed it on. */
  readonly metadata: grpc.Metadata;
}

/**
 * What MCIAS said about the caller of an `authenticated` or `admin` RPC.
 *
 * @param call The call object a handler receives.
 * @returns The caller's token info; `undefined` for `public` RPCs, which are
 *   never checked.
 *
 * @example In a handler
 * ```ts ignore
 * Whoami(call, callback) {
 *   callback(null, { caller: tokenInfo(call)?.username ?? "" });
 * }
 * ```
 */
export function tokenInfo(call: CallWithMetadata): TokenInfo | undefined {
  return TOKENS.get(call.metadata);
}

/**
 * The bearer token in `authorization` metadata.
 *
 * @param metadata Request metadata.
 * @returns The token; `undefined` when there is no `authorization` entry.
 * @throws {SyntaxError} When the entry is not `Bearer <token>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as grpc from "@grpc/grpc-js";
 * import { bearerToken } from "./access_interceptor.ts";
 * const md = new grpc.Metadata();
 * md.set("authorization", "Bearer abc");
 * assert.equal(bearerToken(md), "abc");
 * ```
 */
export function bearerToken(metadata: grpc.Metadata): string | undefined {
  const values = metadata.get("authorization");
  if (values.length === 0) return undefined;
  const value = values.length === 1 && typeof values[0] === "string" ? values[0] : "";
  const match = /^Bearer +([^\s]+) *$/i.exec(value);
  if (!match) {
    throw new SyntaxError('authorization metadata must be one "Bearer <token>" entry');
  }
  return match[1];
}

interface Verdict {
  status?: { code: grpc.status; details: string };
  info?: TokenInfo;
}

async function decide(
  level: Access | undefined,
  metadata: grpc.Metadata,
  validator: TokenValidator | undefined,
  logger: Logger,
  path: string,
): Promise<Verdict> {
  if (level === "public") return {};
  if (level === undefined || validator === undefined) {
    // Unreachable after the start-up check; deny rather than trust.
    return { status: { code: grpc.status.PERMISSION_DENIED, details: "method is not declared" } };
  }
  let token: string | undefined;
  try {
    token = bearerToken(metadata);
  } catch (e) {
    return { status: { code: grpc.status.UNAUTHENTICATED, details: (e as Error).message } };
  }
  if (token === undefined) {
    return {
      status: {
        code: grpc.status.UNAUTHENTICATED,
        details: 'missing bearer token: send "authorization: Bearer <token>" metadata',
      },
    };
  }
  let info: TokenInfo;
  try {
    info = await validator.validate(token);
  } catch (e) {
    logger.error("token validation failed", { method: path, error: (e as Error).message });
    return {
      status: { code: grpc.status.UNAVAILABLE, details: "token validation is unavailable" },
    };
  }
  if (!info.valid) {
    return { status: { code: grpc.status.UNAUTHENTICATED, details: "invalid or expired token" } };
  }
  if (!allows(level, info)) {
    return {
      status: {
        code: grpc.status.PERMISSION_DENIED,
        details: `method requires the ${level} role`,
      },
      info,
    };
  }
  return { info };
}

/**
 * Builds the interceptor: rejects calls the map does not allow before their
 * messages are read, records the caller's {@linkcode TokenInfo} for
 * {@linkcode tokenInfo}, and logs one line per call (method, status,
 * duration, peer, user). Metadata values are never logged.
 *
 * @param access Level of every method path (built-ins included).
 * @param validator Checks bearer tokens; needed when any method is not public.
 * @param logger Receives the per-call lines.
 * @returns A grpc-js server interceptor.
 */
export function createAccessInterceptor(
  access: ReadonlyMap<string, Access>,
  validator: TokenValidator | undefined,
  logger: Logger,
): grpc.ServerInterceptor {
  return function accessInterceptor(method, call) {
    const path = method.path;
    const started = performance.now();
    let user: string | undefined;
    let logged = false;
    const log = (code: grpc.status, details?: string) => {
      if (logged) return;
      logged = true;
      const fields: Record<string, unknown> = {
        method: path,
        status: grpc.status[code] ?? code,
        duration_ms: Math.round((performance.now() - started) * 1000) / 1000,
        peer: call.getPeer(),
      };
      if (user !== undefined) fields.user = user;
      if (code !== grpc.status.OK && details) fields.details = details;
      logger.info("grpc call", fields);
    };
    const intercepting: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, nextMetadata) {
            decide(access.get(path), metadata, validator, logger, path).then(
              (verdict) => {
                user = verdict.info?.username;
                if (verdict.status) {
                  intercepting.sendStatus({ ...verdict.status, metadata: new grpc.Metadata() });
                  return;
                }
                if (verdict.info) TOKENS.set(metadata, verdict.info);
                nextMetadata(metadata);
              },
            ).catch((e: Error) => {
              logger.error("access check failed", { method: path, error: e.message });
              intercepting.sendStatus({
                code: grpc.status.INTERNAL,
                details: "access check failed",
                metadata: new grpc.Metadata(),
              });
            });
          },
          onCancel() {
            log(grpc.status.CANCELLED, "cancelled by the client");
          },
        });
      },
      sendStatus(status, next) {
        log(status.code, status.details);
        next(status);
      },
    });
    return intercepting;
  };
}
