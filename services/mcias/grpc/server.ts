/**
 * The MCIAS gRPC server: `AuthService`, `AccountService` and `PolicyService`
 * of `proto/mcias/v1/mcias.proto` on an {@linkcode McIas}, with the access map
 * of `access.ts` enforced before any handler runs.
 *
 * @module
 */

import type * as grpc from "@grpc/grpc-js";
import type { AccountType } from "@mc/mcdsl/auth/types";
import {
  type AccessMap,
  bearerToken,
  createGrpcServer,
  type GrpcServer,
  loadProto,
} from "@mc/mcdsl/grpcserver";
import type { Logger } from "@mc/mcdsl/log";
import { PROTO_JSON } from "../../../proto/mcias/v1/gen/descriptor.ts";
import type { ProtoGrpcType } from "../../../proto/mcias/v1/gen/mcias.ts";
import type { AccountServiceHandlers } from "../../../proto/mcias/v1/gen/mcias/v1/AccountService.ts";
import type { Account as AccountMessage } from "../../../proto/mcias/v1/gen/mcias/v1/Account.ts";
import type { AuthServiceHandlers } from "../../../proto/mcias/v1/gen/mcias/v1/AuthService.ts";
import type { PolicyRule as PolicyRuleMessage } from "../../../proto/mcias/v1/gen/mcias/v1/PolicyRule.ts";
import type { PolicyServiceHandlers } from "../../../proto/mcias/v1/gen/mcias/v1/PolicyService.ts";
import {
  type Account,
  type McIas,
  type NewPolicyRule,
  type PolicyRule,
  type Role,
  ROLES,
} from "../core/types.ts";
import { GRPC_ACCESS } from "./access.ts";
import { grpcError, RequestError } from "./grpc_error.ts";
import { peerAddress } from "./peer_address.ts";

/** The loaded `mcias.v1` package: service definitions and client classes. */
export const PROTO: ProtoGrpcType["mcias"]["v1"] = loadProto<ProtoGrpcType>(PROTO_JSON).grpc.mcias
  .v1;

/** Options for {@linkcode createMcIasGrpcServer}. */
export interface McIasGrpcServerOptions {
  /** The domain; also validates bearer tokens, in process. */
  mcias: McIas;
  /** Call log and unexpected errors. */
  logger: Logger;
  /**
   * The access map; only tests pass another.
   * @default {GRPC_ACCESS}
   */
  access?: AccessMap;
}

/**
 * Builds the MCIAS gRPC server. Bearer tokens are validated by `mcias`
 * itself (no round trip). Handlers map domain errors to gRPC codes (see
 * {@linkcode grpcError}) and never send internals to the client.
 *
 * @param options The domain, logger and (for tests) access map.
 * @returns The server; call `listen()` on it.
 * @throws {AccessMapError} When a method is undeclared in the access map or an entry is stale.
 */
export function createMcIasGrpcServer(options: McIasGrpcServerOptions): GrpcServer {
  const { mcias, logger, access = GRPC_ACCESS } = options;

  /** Runs `fn` and answers with its result or the mapped error. */
  function unary<Req, Res>(
    fn: (call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      Promise.resolve().then(() => fn(call)).then(
        (response) => callback(null, response),
        (error: unknown) => callback(grpcError(error, logger, call.getPath())),
      );
    };
  }

  /** The caller's bearer token; the access interceptor has validated it. */
  function callerToken(call: grpc.ServerUnaryCall<unknown, unknown>): string {
    const token = bearerToken(call.metadata);
    if (token === undefined) throw new RequestError("missing bearer token");
    return token;
  }

  const auth: AuthServiceHandlers = {
    Login: unary(async (call) => {
      const { username, password, totpCode, serviceName, tags } = call.request;
      const grant = await mcias.login({
        username,
        password,
        totpCode: totpCode === "" ? undefined : totpCode,
        serviceName: serviceName === "" ? undefined : serviceName,
        tags,
        remoteAddr: peerAddress(call.getPeer()),
      });
      return { token: grant.token, expiresAt: grant.expiresAt.toISOString() };
    }),
    Renew: unary(async (call) => {
      const grant = await mcias.renew(callerToken(call));
      return { token: grant.token, expiresAt: grant.expiresAt.toISOString() };
    }),
    Logout: unary(async (call) => {
      await mcias.logout(callerToken(call));
      return {};
    }),
    ValidateToken: unary(async (call) => {
      const { token, serviceName } = call.request;
      const info = await mcias.validate(token, serviceName === "" ? undefined : serviceName);
      if (!info.valid) return { valid: false };
      return {
        valid: true,
        username: info.username,
        accountType: info.accountType,
        roles: info.roles,
        expiresAt: info.expiresAt.toISOString(),
      };
    }),
    GetJwks: unary(() => {
      const jwks = mcias.jwks();
      return {
        keys: jwks.keys.map((key) => {
          const k = key as Record<string, unknown>;
          const text = (name: string) => typeof k[name] === "string" ? k[name] as string : "";
          return {
            kty: text("kty"),
            crv: text("crv"),
            x: text("x"),
            kid: text("kid"),
            alg: text("alg"),
            use: text("use"),
          };
        }),
        jwksJson: JSON.stringify(jwks),
      };
    }),
  };

  const accounts: AccountServiceHandlers = {
    ListAccounts: unary(() => ({ accounts: mcias.listAccounts().map(accountMessage) })),
    GetAccount: unary((call) => ({
      account: accountMessage(mcias.getAccount(call.request.username)),
    })),
    CreateAccount: unary(async (call) => {
      const { username, type, password, roles } = call.request;
      const account = await mcias.createAccount({
        username,
        type: accountType(type, "type"),
        password: password === "" ? undefined : password,
        roles: roles.length === 0 ? undefined : roleList(roles, "roles"),
      });
      return { account: accountMessage(account) };
    }),
    UpdateAccount: unary(async (call) => {
      const { username, roles, disabled, password } = call.request;
      const account = await mcias.updateAccount(username, {
        roles: roles === null ? undefined : roleList(roles.roles, "roles.roles"),
        disabled,
        password,
      });
      return { account: accountMessage(account) };
    }),
    DeleteAccount: unary((call) => {
      mcias.deleteAccount(call.request.username);
      return {};
    }),
    IssueSystemToken: unary(async (call) => {
      const { username, ttlSeconds } = call.request;
      const grant = await mcias.issueSystemToken(
        username,
        ttlSeconds === 0 ? undefined : ttlSeconds * 1000,
      );
      return { token: grant.token, expiresAt: grant.expiresAt.toISOString() };
    }),
    RevokeToken: unary((call) => {
      const { target } = call.request;
      const value = target === undefined ? "" : call.request[target] ?? "";
      if (value === "") {
        throw new RequestError("set jti or token to the token to revoke");
      }
      mcias.revokeToken(value);
      return {};
    }),
  };

  const policy: PolicyServiceHandlers = {
    ListRules: unary(() => ({ rules: mcias.listRules().map(ruleMessage) })),
    CreateRule: unary((call) => ({ rule: ruleMessage(mcias.createRule(newRule(call.request))) })),
    UpdateRule: unary((call) => ({
      rule: ruleMessage(mcias.updateRule(call.request.id, newRule(call.request))),
    })),
    DeleteRule: unary((call) => {
      mcias.deleteRule(call.request.id);
      return {};
    }),
    TestPolicy: unary((call) => {
      const { username, serviceName, tags } = call.request;
      const result = mcias.testPolicy(username, serviceName, tags);
      return {
        username: result.username,
        allowed: result.allowed,
        reason: result.reason,
        rule: result.rule === undefined ? null : ruleMessage(result.rule),
      };
    }),
  };

  return createGrpcServer({
    services: [
      { definition: PROTO.AuthService.service, implementation: auth },
      { definition: PROTO.AccountService.service, implementation: accounts },
      { definition: PROTO.PolicyService.service, implementation: policy },
    ],
    access,
    validator: mcias,
    logger,
  });
}

function accountMessage(account: Account): AccountMessage {
  return {
    username: account.username,
    type: account.type,
    roles: account.roles,
    disabled: account.disabled,
    totpEnabled: account.totpEnabled,
    passkeys: account.passkeys,
    createdAt: account.createdAt.toISOString(),
  };
}

function ruleMessage(rule: PolicyRule): PolicyRuleMessage {
  return {
    id: rule.id,
    priority: rule.priority,
    effect: rule.effect,
    roles: rule.roles,
    accountTypes: rule.accountTypes,
    serviceNames: rule.serviceNames,
    tags: rule.tags,
    description: rule.description,
  };
}

/** The fields `CreateRuleRequest` and `UpdateRuleRequest` share. */
interface RuleFields {
  priority: number;
  effect: string;
  roles: string[];
  accountTypes: string[];
  serviceNames: string[];
  tags: string[];
  description: string;
}

function newRule(request: RuleFields): NewPolicyRule {
  const { priority, effect, roles, accountTypes, serviceNames, tags, description } = request;
  if (effect !== "allow" && effect !== "deny") {
    throw new RequestError(`effect: expected "allow" or "deny", got ${JSON.stringify(effect)}`);
  }
  return {
    priority,
    effect,
    roles: roleList(roles, "roles"),
    accountTypes: accountTypes.map((t, i) => accountType(t, `account_types[${i}]`)),
    serviceNames,
    tags,
    description,
  };
}

function roleList(roles: string[], field: string): Role[] {
  return roles.map((role, i) => {
    if (!(ROLES as readonly string[]).includes(role)) {
      throw new RequestError(
        `${field}[${i}]: expected one of ${ROLES.map((r) => `"${r}"`).join(", ")}, got ${
          JSON.stringify(role)
        }`,
      );
    }
    return role as Role;
  });
}

function accountType(type: string, field: string): AccountType {
  if (type !== "human" && type !== "system") {
    throw new RequestError(`${field}: expected "human" or "system", got ${JSON.stringify(type)}`);
  }
  return type;
}
