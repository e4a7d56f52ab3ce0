/**
 * A promise client for the admin API on its unix socket, for `mcproxyctl`
 * and tests.
 *
 * @module
 */

import type * as grpc from "@grpc/grpc-js";
import { createGrpcClient } from "@mc/mcdsl/grpcserver";
import type { FirewallRule__Output } from "../../../proto/mcproxy/v1/gen/mcproxy/v1/FirewallRule.ts";
import type { AddRouteResponse__Output } from "../../../proto/mcproxy/v1/gen/mcproxy/v1/AddRouteResponse.ts";
import type { GetStatusResponse__Output } from "../../../proto/mcproxy/v1/gen/mcproxy/v1/GetStatusResponse.ts";
import type { ProxyAdminServiceClient } from "../../../proto/mcproxy/v1/gen/mcproxy/v1/ProxyAdminService.ts";
import type { Route, Route__Output } from "../../../proto/mcproxy/v1/gen/mcproxy/v1/Route.ts";
import type {
  AddFirewallRuleRequest,
} from "../../../proto/mcproxy/v1/gen/mcproxy/v1/AddFirewallRuleRequest.ts";
import type {
  AddFirewallRuleResponse__Output,
} from "../../../proto/mcproxy/v1/gen/mcproxy/v1/AddFirewallRuleResponse.ts";
import type { ListRoutesRequest } from "../../../proto/mcproxy/v1/gen/mcproxy/v1/ListRoutesRequest.ts";
import type {
  ListRoutesResponse__Output,
} from "../../../proto/mcproxy/v1/gen/mcproxy/v1/ListRoutesResponse.ts";
import type {
  ListFirewallRulesRequest,
} from "../../../proto/mcproxy/v1/gen/mcproxy/v1/ListFirewallRulesRequest.ts";
import type {
  ListFirewallRulesResponse__Output,
} from "../../../proto/mcproxy/v1/gen/mcproxy/v1/ListFirewallRulesResponse.ts";
import { PROTO } from "./server.ts";

/** The admin API as promises. */
export interface AdminClient extends Disposable {
  /** Creates or replaces a route. */
  addRoute(route: Route): Promise<AddRouteResponse__Output>;
  /** Removes a route (NOT_FOUND when missing). */
  removeRoute(listener: string, hostname: string): Promise<void>;
  /** Lists routes, of one listener when given. */
  listRoutes(listener?: string): Promise<Route__Output[]>;
  /** Adds a firewall rule; returns it normalised. */
  addFirewallRule(kind: string, value: string): Promise<FirewallRule__Output>;
  /** Removes a firewall rule (NOT_FOUND when missing). */
  removeFirewallRule(kind: string, value: string): Promise<void>;
  /** Lists firewall rules. */
  listFirewallRules(): Promise<FirewallRule__Output[]>;
  /** Server status. */
  getStatus(): Promise<GetStatusResponse__Output>;
  /** Closes the channel. */
  close(): void;
}

/** Options for {@linkcode connectAdmin}. */
export interface ConnectAdminOptions {
  /**
   * Per-call deadline, ms.
   * @default {10_000}
   */
  timeoutMs?: number;
}

/**
 * Connects to the admin socket. Calls fail with the server's gRPC status
 * (a `grpc.ServiceError` with `code` and `details`).
 *
 * @param socket Absolute path of the socket file.
 * @param options Per-call deadline.
 * @returns The client; close it (or `using`).
 */
export function connectAdmin(socket: string, options: ConnectAdminOptions = {}): AdminClient {
  const { timeoutMs = 10_000 } = options;
  const client = createGrpcClient<ProxyAdminServiceClient>(
    PROTO.ProxyAdminService as unknown as new (
      address: string,
      credentials: grpc.ChannelCredentials,
      options?: grpc.ClientOptions,
    ) => ProxyAdminServiceClient,
    { target: `unix://${socket}` },
  );

  function call<Req, Res>(
    method: (
      req: Req,
      opts: grpc.CallOptions,
      cb: (err: grpc.ServiceError | null, res?: Res) => void,
    ) => unknown,
    req: Req,
  ): Promise<Res> {
    return new Promise((resolve, reject) => {
      method.call(client, req, { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(err);
        else resolve(res as Res);
      });
    });
  }

  return {
    addRoute: (route) => call(client.AddRoute, { route }),
    removeRoute: async (listener, hostname) => {
      await call(client.RemoveRoute, { listener, hostname });
    },
    listRoutes: async (listener = "") =>
      (await call<ListRoutesRequest, ListRoutesResponse__Output>(client.ListRoutes, { listener }))
        .routes,
    addFirewallRule: async (kind, value) =>
      (await call<AddFirewallRuleRequest, AddFirewallRuleResponse__Output>(
        client.AddFirewallRule,
        { rule: { kind, value } },
      )).rule!,
    removeFirewallRule: async (kind, value) => {
      await call(client.RemoveFirewallRule, { rule: { kind, value } });
    },
    listFirewallRules: async () =>
      (await call<ListFirewallRulesRequest, ListFirewallRulesResponse__Output>(
        client.ListFirewallRules,
        {},
      )).rules,
    getStatus: () => call(client.GetStatus, {}),
    close: () => client.close(),
    [Symbol.dispose]: () => client.close(),
  };
}
