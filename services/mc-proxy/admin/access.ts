/**
 * The admin API's access map. The server listens on a unix domain socket
 * only (mode 0600, in the data directory, which is 0700): whoever can open
 * the socket file is the service's own user or root, and that is the whole
 * access control. There is no token to check, so every method is `public` at
 * the gRPC layer; {@linkcode startAdminServer} refuses anything but a unix
 * socket path, so "public" never means "on the network".
 *
 * @module
 */

import type { AccessMap } from "@mc/mcdsl/grpcserver";

/** Who may call each admin RPC: the local owner of the socket (see module doc). */
export const ADMIN_ACCESS: AccessMap = Object.freeze({
  "/mcproxy.v1.ProxyAdminService/AddRoute": "public",
  "/mcproxy.v1.ProxyAdminService/RemoveRoute": "public",
  "/mcproxy.v1.ProxyAdminService/ListRoutes": "public",
  "/mcproxy.v1.ProxyAdminService/AddFirewallRule": "public",
  "/mcproxy.v1.ProxyAdminService/RemoveFirewallRule": "public",
  "/mcproxy.v1.ProxyAdminService/ListFirewallRules": "public",
  "/mcproxy.v1.ProxyAdminService/GetStatus": "public",
});
