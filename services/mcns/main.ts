/**
 * MCNS's CLI: `server`, `zone` and `record` administration (directly on the
 * database; the running server picks changes up by serial), `snapshot`,
 * `restore`. Run it through `deno task mcns <subcommand>` so it gets exactly
 * the permissions its `deno.json` sandbox manifest declares.
 *
 * @module
 */

import { restoreCommand, snapshotCommand } from "@mc/mcdsl/archive";
import { type CliSpec, type CommandSpec, runCli } from "@mc/mcdsl/cli";
import { loadConfig } from "@mc/mcdsl/config";
import { createLogger } from "@mc/mcdsl/log";
import { CONFIG_SCHEMA, type McnsConfig, SERVICE } from "./config.ts";
import { openZoneStore, type ZoneStore } from "./store.ts";

const CONFIG_OPTION = {
  type: "string",
  short: "c",
  valueName: "path",
  description: "Config file (TOML)",
  required: true,
} as const;

function load(path: unknown): Promise<McnsConfig> {
  return loadConfig(path as string, CONFIG_SCHEMA, { service: SERVICE });
}

async function withStore<T>(configPath: unknown, fn: (store: ZoneStore) => T): Promise<T> {
  const config = await load(configPath);
  using store = openZoneStore(config.database.path);
  // Seeded here too, so records can be added before the first server start;
  // not on an instance with secondary zones (its zones come from its primary,
  // and record writes to them fail with SecondaryZoneError).
  if (config.dns.secondary_zones.length === 0) store.seed(config.dns.domain);
  return fn(store);
}

function int(value: unknown, name: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) {
    throw new RangeError(`Cannot use --${name} "${value}": expected an integer`);
  }
  return n;
}

const ZONE: CommandSpec = {
  summary: "List, create and delete zones",
  commands: {
    list: {
      summary: "List zones with their serials",
      options: { config: CONFIG_OPTION },
      run: ({ values }) =>
        withStore(values.config, (store) => {
          for (const z of store.listZones()) {
            const role = z.primary === undefined ? "" : `\tsecondary of ${z.primary}`;
            console.log(`${z.name}\tserial ${z.serial}${role}`);
          }
        }),
    },
    create: {
      summary: "Create a zone",
      args: "<zone>",
      options: {
        config: CONFIG_OPTION,
        mname: {
          type: "string",
          valueName: "name",
          description: "Primary name server",
          required: true,
        },
        rname: {
          type: "string",
          valueName: "name",
          description: "Responsible mailbox as a name (hostmaster.example.com)",
          required: true,
        },
      },
      run: ({ values, positionals }) =>
        withStore(values.config, (store) => {
          const z = store.createZone({
            name: positionals[0] ?? "",
            mname: values.mname as string,
            rname: values.rname as string,
          });
          console.log(`created zone ${z.name}`);
        }),
    },
    delete: {
      summary: "Delete a zone and all its records",
      args: "<zone>",
      options: { config: CONFIG_OPTION },
      run: ({ values, positionals }) =>
        withStore(values.config, (store) => {
          store.deleteZone(positionals[0] ?? "");
          console.log(`deleted zone ${positionals[0]}`);
        }),
    },
  },
};

const RECORD_OPTIONS = {
  config: CONFIG_OPTION,
  name: {
    type: "string",
    valueName: "name",
    description: "Owner (@, relative, or absolute.)",
    required: true,
  },
  type: {
    type: "string",
    valueName: "type",
    description: "A, AAAA, CNAME, TXT, SRV, NS, MX, CAA",
    required: true,
  },
  ttl: { type: "string", valueName: "seconds", description: "TTL (default 300)" },
  value: {
    type: "string",
    valueName: "value",
    description: "Value in presentation form",
    required: true,
  },
} as const;

const RECORD: CommandSpec = {
  summary: "List, add, update and delete records",
  commands: {
    list: {
      summary: "List a zone's records",
      args: "<zone>",
      options: { config: CONFIG_OPTION },
      run: ({ values, positionals }) =>
        withStore(values.config, (store) => {
          for (const r of store.listRecords(positionals[0] ?? "")) {
            console.log(`${r.id}\t${r.name}\t${r.ttl}\t${r.type}\t${r.value}`);
          }
        }),
    },
    add: {
      summary: "Add a record (the zone's serial bumps)",
      args: "<zone>",
      options: RECORD_OPTIONS,
      run: ({ values, positionals }) =>
        withStore(values.config, (store) => {
          const r = store.addRecord(positionals[0] ?? "", {
            name: values.name as string,
            type: values.type as string,
            ttl: int(values.ttl, "ttl"),
            value: values.value as string,
          });
          console.log(`${r.id}\t${r.name}\t${r.ttl}\t${r.type}\t${r.value}`);
        }),
    },
    update: {
      summary: "Replace a record by id",
      args: "<id>",
      options: RECORD_OPTIONS,
      run: ({ values, positionals }) =>
        withStore(values.config, (store) => {
          const r = store.updateRecord(int(positionals[0], "id") ?? -1, {
            name: values.name as string,
            type: values.type as string,
            ttl: int(values.ttl, "ttl"),
            value: values.value as string,
          });
          console.log(`${r.id}\t${r.name}\t${r.ttl}\t${r.type}\t${r.value}`);
        }),
    },
    delete: {
      summary: "Delete a record by id",
      args: "<id>",
      options: { config: CONFIG_OPTION },
      run: ({ values, positionals }) =>
        withStore(values.config, (store) => {
          store.deleteRecord(int(positionals[0], "id") ?? -1);
          console.log(`deleted record ${positionals[0]}`);
        }),
    },
  },
};

/** MCNS's command line. */
export const CLI: CliSpec = {
  name: "mcns",
  description: "MCNS: the platform's authoritative DNS server.",
  commands: {
    server: {
      summary: "Serve DNS over UDP and TCP and the record API until SIGINT or SIGTERM",
      options: { config: CONFIG_OPTION },
      async run({ values }) {
        const config = await load(values.config);
        const { runServer } = await import("./server.ts");
        await runServer(
          config,
          createLogger({ level: config.log.level, fields: { service: SERVICE } }),
        );
      },
    },
    zone: ZONE,
    record: RECORD,
    snapshot: snapshotCommand({
      service: SERVICE,
      databasePath: async (path) => (await load(path)).database.path,
    }),
    restore: restoreCommand(),
  },
};

if (import.meta.main) {
  Deno.exit(await runCli(CLI, Deno.args));
}
