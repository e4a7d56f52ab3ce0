/**
 * MC-Proxy's CLI: `server` runs the proxy; `route`, `firewall` and `status`
 * (mcproxyctl, admin/cli.ts) talk to it over its admin socket; `snapshot`
 * and `restore` archive the data directory. Run it through
 * `deno task mc-proxy <subcommand>` so it gets exactly the permissions its
 * `deno.json` sandbox manifest declares.
 *
 * @module
 */

import { type CliSpec, type CommandSpec, runCli } from "@mc/mcdsl/cli";
import { loadConfig } from "@mc/mcdsl/config";
import { createLogger } from "@mc/mcdsl/log";
import { ADMIN_COMMANDS } from "./admin/cli.ts";
import { CONFIG_SCHEMA, type McProxyConfig, SERVICE } from "./config.ts";

/** `--config <path>`, shared by every subcommand that reads the config. */
const CONFIG_OPTION = {
  type: "string",
  short: "c",
  valueName: "path",
  description: "Config file (TOML)",
  required: true,
} as const;

/**
 * Loads and checks the config.
 *
 * @param path The `--config` value.
 * @returns The config.
 */
function load(path: unknown): Promise<McProxyConfig> {
  return loadConfig(path as string, CONFIG_SCHEMA, { service: SERVICE });
}

const SERVER: CommandSpec = {
  summary: "Run the proxy until SIGINT or SIGTERM (then drain)",
  options: { config: CONFIG_OPTION },
  async run({ values }) {
    const config = await load(values.config);
    const { runServer } = await import("./server.ts");
    const { adminParts } = await import("./admin/wiring.ts");
    const { createL7Terminator } = await import("./l7/mod.ts");
    const logger = createLogger({ level: config.log.level, fields: { service: SERVICE } });
    const { observer, extras } = adminParts(config, logger);
    await runServer(config, logger, {
      observer,
      extras,
      l7: (firewall, obs) =>
        createL7Terminator({
          firewall,
          observer: obs,
          connectTimeoutMs: config.proxy.connect_timeout,
          idleTimeoutMs: config.proxy.idle_timeout,
          logger,
        }),
    });
  },
};

/**
 * The subcommands. Admin helper: add the route/firewall/status subcommands
 * (the mcproxyctl side, over the admin socket) and snapshot/restore below the
 * marker; every entry also needs its sandbox manifest entry in deno.json.
 */
const COMMANDS: Record<string, CommandSpec> = {
  server: SERVER,
  // --- admin subcommands (route, firewall, status, snapshot, restore) go here ---
  ...ADMIN_COMMANDS,
};

/** MC-Proxy's command line. */
export const CLI: CliSpec = {
  name: "mc-proxy",
  description: "MC-Proxy: SNI-routing TLS proxy (L4 passthrough, L7 termination).",
  commands: COMMANDS,
};

if (import.meta.main) {
  Deno.exit(await runCli(CLI, Deno.args));
}
