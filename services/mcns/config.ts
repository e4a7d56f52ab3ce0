/**
 * MCNS's config: the standard `[server]`, `[database]` and `[log]` sections
 * and `[dns]`, the authoritative DNS listeners and the zones seeded on first
 * start.
 *
 * @module
 */

import { DATABASE_SECTION, field, LOG_SECTION, SERVER_SECTION } from "@mc/mcdsl/config";
import type { InferConfig } from "@mc/mcdsl/config";

/** Name for env overrides: `MCNS_<SECTION>_<KEY>`. */
export const SERVICE = "mcns";

/** The full schema. */
export const CONFIG_SCHEMA = {
  /** The record API's listeners (REST/gRPC): declared now, served in a later version. */
  server: SERVER_SECTION,
  database: DATABASE_SECTION,
  log: LOG_SECTION,
  dns: field.table({
    /** Address of the UDP and TCP DNS listeners (both on the same port). */
    listen_addr: field.listenAddr({ example: `"127.0.0.1:53"` }),
    /**
     * Hosts allowed to receive UDP replies: Deno needs net permission to the
     * destination host of every datagram sent, so these become the sandbox's
     * net grants (a host, every port: clients reply from ephemeral ports).
     */
    clients: field.stringArray({ default: ["127.0.0.1"] }),
    /** The platform domain: zones `svc.mcp.<domain>` and `mcp.<domain>` are seeded. */
    domain: field.string({ example: `"metacircular.net"` }),
    /** How often the server checks the database for zone changes. */
    reload_interval: field.duration({ default: "1s" }),
  }),
};

/** The loaded config. */
export type McnsConfig = InferConfig<typeof CONFIG_SCHEMA>;
