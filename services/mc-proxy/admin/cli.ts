/**
 * `mcproxyctl`: the admin subcommands of `deno task mc-proxy` (`route`,
 * `firewall`, `status`) that talk to the running proxy over its admin unix
 * socket, plus `snapshot` and `restore` of the data directory.
 *
 * They need the config (to find the socket) and read/write of the socket
 * path only: no network, no database. A change made here is persisted by the
 * server before it answers, and applies to new connections at once.
 *
 * @module
 */

import { restoreCommand, snapshotCommand } from "@mc/mcdsl/archive";
import type { CommandSpec } from "@mc/mcdsl/cli";
import { loadConfig } from "@mc/mcdsl/config";
import { CONFIG_SCHEMA, type McProxyConfig, SERVICE } from "../config.ts";
import type { Route__Output } from "../../../proto/mcproxy/v1/gen/mcproxy/v1/Route.ts";
import { adminSocketPath } from "../server.ts";
import type { AdminClient } from "./client.ts";

const CONFIG_OPTION = {
  type: "string",
  short: "c",
  valueName: "path",
  description: "Config file (TOML); names the admin socket",
  required: true,
} as const;

const JSON_OPTION = {
  type: "boolean",
  description: "Print JSON instead of a table",
} as const;

function load(path: unknown): Promise<McProxyConfig> {
  return loadConfig(path as string, CONFIG_SCHEMA, { service: SERVICE });
}

/** Runs `fn` with a client for the config's socket; turns gRPC errors into plain ones. */
async function withAdmin(configPath: unknown, fn: (c: AdminClient) => Promise<void>) {
  const config = await load(configPath);
  const socket = adminSocketPath(config);
  if (socket === undefined) {
    throw new Error(
      `The admin API is off: ${configPath} has no [admin] socket. Set [admin] socket = "<data dir>/mc-proxy.sock" and restart the server`,
    );
  }
  // Imported here: grpc-js reads GRPC_* env at import, which --help lacks.
  const { connectAdmin } = await import("./client.ts");
  using client = connectAdmin(socket);
  try {
    await fn(client);
  } catch (e) {
    const err = e as { code?: number; details?: string };
    if (typeof err.code === "number" && typeof err.details === "string") {
      // UNAVAILABLE: nothing listens (server down, wrong socket).
      const hint = err.code === 14 ? ` (is the server running on ${socket}?)` : "";
      throw new Error(`${err.details}${hint}`, { cause: e });
    }
    throw e;
  }
}

function routeLine(r: Route__Output): string {
  const flags = [
    r.backendTls ? "backend_tls" : "",
    r.sendProxyProtocol ? "proxy_v2" : "",
  ].filter((f) => f !== "").join(",");
  const cert = r.mode === "l7" ? `\t${r.tlsCert}` : "";
  return `${r.listener}\t${r.hostname}\t${r.mode}\t${r.backend}\t${flags || "-"}${cert}`;
}

const ROUTE: CommandSpec = {
  summary: "List, add (idempotent upsert) and remove routes on the running proxy",
  commands: {
    list: {
      summary: "List routes: listener, hostname, mode, backend, flags[, cert]",
      options: {
        config: CONFIG_OPTION,
        listener: { type: "string", valueName: "addr", description: "Only this listener" },
        json: JSON_OPTION,
      },
      run: ({ values }) =>
        withAdmin(values.config, async (c) => {
          const routes = await c.listRoutes((values.listener as string | undefined) ?? "");
          if (values.json) console.log(JSON.stringify(routes, null, 2));
          else for (const r of routes) console.log(routeLine(r));
        }),
    },
    add: {
      summary: "Add or replace the route for (listener, hostname); applies to new connections",
      options: {
        config: CONFIG_OPTION,
        listener: {
          type: "string",
          valueName: "addr",
          description: 'Listener address as configured, e.g. ":443"',
          required: true,
        },
        hostname: {
          type: "string",
          valueName: "name",
          description: "Exact SNI hostname",
          required: true,
        },
        backend: {
          type: "string",
          valueName: "host:port",
          description: "Backend address",
          required: true,
        },
        mode: { type: "string", valueName: "l4|l7", description: "Proxy mode (default l4)" },
        "tls-cert": {
          type: "string",
          valueName: "path",
          description: "L7: PEM certificate chain (in the proxy's data directory)",
        },
        "tls-key": {
          type: "string",
          valueName: "path",
          description: "L7: PEM private key (in the proxy's data directory)",
        },
        "backend-tls": { type: "boolean", description: "L7: TLS to the backend (else h2c)" },
        "send-proxy-protocol": {
          type: "boolean",
          description: "Send a PROXY v2 header to the backend",
        },
      },
      run: ({ values }) =>
        withAdmin(values.config, async (c) => {
          const res = await c.addRoute({
            listener: values.listener as string,
            hostname: values.hostname as string,
            backend: values.backend as string,
            mode: (values.mode as string | undefined) ?? "l4",
            tlsCert: (values["tls-cert"] as string | undefined) ?? "",
            tlsKey: (values["tls-key"] as string | undefined) ?? "",
            backendTls: values["backend-tls"] === true,
            sendProxyProtocol: values["send-proxy-protocol"] === true,
          });
          console.log(`${res.replaced ? "replaced" : "added"}\t${routeLine(res.route!)}`);
        }),
    },
    remove: {
      summary: "Remove a route",
      options: {
        config: CONFIG_OPTION,
        listener: {
          type: "string",
          valueName: "addr",
          description: "Listener address as configured",
          required: true,
        },
        hostname: { type: "string", valueName: "name", description: "Hostname", required: true },
      },
      run: ({ values }) =>
        withAdmin(values.config, async (c) => {
          await c.removeRoute(values.listener as string, values.hostname as string);
          console.log(`removed\t${values.listener}\t${values.hostname}`);
        }),
    },
  },
};

const RULE_OPTIONS = {
  config: CONFIG_OPTION,
  kind: {
    type: "string",
    valueName: "kind",
    description: "ip, cidr, country or user_agent",
    required: true,
  },
  value: {
    type: "string",
    valueName: "value",
    description: "Address, prefix, ISO country code or user-agent substring",
    required: true,
  },
} as const;

const FIREWALL: CommandSpec = {
  summary: "List, add and remove global firewall block rules on the running proxy",
  commands: {
    list: {
      summary: "List block rules: kind, value",
      options: { config: CONFIG_OPTION, json: JSON_OPTION },
      run: ({ values }) =>
        withAdmin(values.config, async (c) => {
          const rules = await c.listFirewallRules();
          if (values.json) console.log(JSON.stringify(rules, null, 2));
          else for (const r of rules) console.log(`${r.kind}\t${r.value}`);
        }),
    },
    add: {
      summary: "Add a block rule (adding an existing rule is a no-op)",
      options: RULE_OPTIONS,
      run: ({ values }) =>
        withAdmin(values.config, async (c) => {
          const rule = await c.addFirewallRule(values.kind as string, values.value as string);
          console.log(`added\t${rule.kind}\t${rule.value}`);
        }),
    },
    remove: {
      summary: "Remove a block rule",
      options: RULE_OPTIONS,
      run: ({ values }) =>
        withAdmin(values.config, async (c) => {
          await c.removeFirewallRule(values.kind as string, values.value as string);
          console.log(`removed\t${values.kind}\t${values.value}`);
        }),
    },
  },
};

const STATUS: CommandSpec = {
  summary: "Show version, uptime, listeners, routes and live connections",
  options: { config: CONFIG_OPTION, json: JSON_OPTION },
  run: ({ values }) =>
    withAdmin(values.config, async (c) => {
      const s = await c.getStatus();
      if (values.json) {
        console.log(JSON.stringify(s, null, 2));
        return;
      }
      console.log(`version\t${s.version}`);
      console.log(`started\t${s.startedAt} (up ${Math.round(s.uptimeSeconds)} s)`);
      console.log(`live connections\t${s.liveConnections}`);
      console.log(`routes\t${s.totalRoutes}`);
      console.log(`firewall rules\t${s.firewallRules}`);
      for (const l of s.listeners) {
        const trusted = l.trustedProxies.length > 0
          ? `\ttrusts PROXY from ${l.trustedProxies.join(",")}`
          : "";
        console.log(
          `listener ${l.addr}\t${l.routes} routes\t${l.activeConnections} connections${trusted}`,
        );
      }
    }),
};

/** The admin subcommands, for main.ts's command table. */
export const ADMIN_COMMANDS: Record<string, CommandSpec> = {
  route: ROUTE,
  firewall: FIREWALL,
  status: STATUS,
  snapshot: snapshotCommand({
    service: SERVICE,
    databasePath: async (path) => (await load(path)).database.path,
  }),
  restore: restoreCommand(),
};
