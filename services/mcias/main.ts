/**
 * mciasctl: `server`, `init`, `account`, `token`, `policy`, `snapshot`,
 * `restore`. Run it through `deno task mcias <subcommand>` so it gets
 * exactly the permissions its `deno.json` sandbox manifest declares. Admin
 * subcommands work on the database directly (SQLite WAL lets them run
 * beside the server).
 *
 * @module
 */

import { restoreCommand, snapshotCommand } from "@mc/mcdsl/archive";
import { type CliSpec, type CommandInput, type OptionSpec, runCli } from "@mc/mcdsl/cli";
import { loadConfig, parseDuration } from "@mc/mcdsl/config";
import { createLogger } from "@mc/mcdsl/log";
import { promptSecret } from "@mc/mcdsl/terminal";
import { CONFIG_SCHEMA, type McIasConfig, SERVICE } from "./config.ts";
import { createMcIas, dataDirOf, initMcIas, openMcIasDatabase } from "./core/mcias.ts";
import type { Account, McIas, PolicyRule, Role } from "./core/types.ts";

const CONFIG_OPTION: OptionSpec = {
  type: "string",
  short: "c",
  valueName: "path",
  description: "Config file (TOML)",
  required: true,
};

const PASSWORD_STDIN: OptionSpec = {
  type: "boolean",
  description: "Read the password from one line of stdin instead of prompting (automation)",
};

async function config(values: CommandInput["values"]): Promise<McIasConfig> {
  return await loadConfig(values.config as string, CONFIG_SCHEMA, { service: SERVICE });
}

/** Opens the core on the database named by the config. */
async function openCore(values: CommandInput["values"]): Promise<McIas> {
  const cfg = await config(values);
  const db = openMcIasDatabase(cfg.database.path);
  try {
    return createMcIas({ db, dataDir: dataDirOf(cfg), config: cfg });
  } catch (e) {
    db.close();
    throw e;
  }
}

/** A new password: prompted twice without echo, or one line of stdin. */
async function newPassword(values: CommandInput["values"]): Promise<string> {
  if (values["password-stdin"] === true) {
    return await promptSecret("", { allowNonTerminal: true });
  }
  if (!Deno.stdin.isTerminal()) {
    throw new Error("stdin is not a terminal: pass --password-stdin to read the password from it");
  }
  const first = await promptSecret("New password: ", { allowNonTerminal: false });
  const second = await promptSecret("Repeat password: ", { allowNonTerminal: false });
  if (first !== second) throw new Error("the passwords do not match; nothing was changed");
  return first;
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new Error(`expected exactly one ${what}; see --help`);
  return positionals[0];
}

function list(value: unknown): string[] {
  return Array.isArray(value) ? value.map(String) : [];
}

function showAccount(a: Account): string {
  return [
    a.username.padEnd(24),
    a.type.padEnd(7),
    (a.roles.join(",") || "-").padEnd(18),
    a.disabled ? "disabled" : "enabled ",
    a.totpEnabled ? "totp" : "-   ",
    `passkeys=${a.passkeys}`,
  ].join(" ");
}

function showRule(r: PolicyRule): string {
  const any = (xs: string[]) => xs.length === 0 ? "*" : xs.join(",");
  return `${String(r.id).padStart(4)} ${String(r.priority).padStart(6)} ${r.effect.padEnd(5)} ` +
    `roles=${any(r.roles)} types=${any(r.accountTypes)} services=${any(r.serviceNames)} ` +
    `tags=${any(r.tags)}${r.description ? `  # ${r.description}` : ""}`;
}

const ROLE_OPTION: OptionSpec = {
  type: "string",
  multiple: true,
  valueName: "role",
  description: "Role: admin, user or guest (repeat for several)",
};

/** The command line. */
export const CLI: CliSpec = {
  name: "mciasctl",
  description:
    "MCIAS, the Metacircular identity service: accounts, login policy, tokens. Admin commands work on the database directly.",
  commands: {
    server: {
      summary: "Run the MCIAS servers until SIGINT or SIGTERM",
      options: { config: CONFIG_OPTION },
      async run({ values }) {
        const cfg = await config(values);
        // Loaded here so `--help` and the admin subcommands do not import the
        // server stack (grpc-js reads env at import time).
        const { runServer } = await import("./server.ts");
        await runServer(cfg, createLogger({ level: cfg.log.level, fields: { service: SERVICE } }));
      },
    },
    init: {
      summary: "Create the first admin account and the default policy rule",
      description:
        "Creates the first admin (prompting twice for the password without echo, or reading it " +
        "from stdin with --password-stdin), the master key and the default rule: allow role " +
        "user everywhere, priority 1000. Refuses when an admin exists.",
      options: {
        config: CONFIG_OPTION,
        username: { type: "string", valueName: "name", description: "Admin name (default admin)" },
        "password-stdin": PASSWORD_STDIN,
      },
      async run({ values }) {
        using mcias = await openCore(values);
        const username = (values.username as string | undefined) ?? "admin";
        const existing = mcias.listAccounts().find((a) => a.roles.includes("admin"));
        if (existing !== undefined) {
          throw new Error(
            `MCIAS is already initialised: admin account "${existing.username}" exists`,
          );
        }
        const password = await newPassword(values);
        const result = await initMcIas(mcias, { username, password });
        console.log(`created admin account "${result.admin.username}"`);
        if (result.rule !== undefined) {
          console.log(`seeded policy rule ${result.rule.id}: allow role user everywhere`);
        }
      },
    },
    account: {
      summary: "Manage accounts",
      commands: {
        list: {
          summary: "List accounts",
          options: { config: CONFIG_OPTION },
          async run({ values }) {
            using mcias = await openCore(values);
            for (const a of mcias.listAccounts()) console.log(showAccount(a));
          },
        },
        show: {
          summary: "Show one account",
          args: "<username>",
          options: { config: CONFIG_OPTION },
          async run({ values, positionals }) {
            using mcias = await openCore(values);
            const a = mcias.getAccount(one(positionals, "username"));
            console.log(JSON.stringify({ ...a, createdAt: a.createdAt.toISOString() }, null, 2));
          },
        },
        create: {
          summary: "Create an account (human: prompts for a password; system: none)",
          args: "<username>",
          options: {
            config: CONFIG_OPTION,
            type: {
              type: "string",
              valueName: "human|system",
              description: "Account type (default human)",
            },
            role: ROLE_OPTION,
            "password-stdin": PASSWORD_STDIN,
          },
          async run({ values, positionals }) {
            using mcias = await openCore(values);
            const username = one(positionals, "username");
            const type = (values.type as string | undefined) ?? "human";
            if (type !== "human" && type !== "system") {
              throw new Error(`--type must be human or system, got "${type}"`);
            }
            const roles = list(values.role);
            const account = await mcias.createAccount({
              username,
              type,
              password: type === "human" ? await newPassword(values) : undefined,
              roles: roles.length > 0 ? roles as Role[] : undefined,
            });
            console.log(`created ${account.type} account "${account.username}"`);
          },
        },
        update: {
          summary: "Change roles, or enable/disable an account",
          args: "<username>",
          options: {
            config: CONFIG_OPTION,
            role: { ...ROLE_OPTION, description: "Replace the roles (repeat for several)" },
            "no-roles": { type: "boolean", description: "Remove every role" },
            disable: { type: "boolean", description: "Disable (its tokens stop validating)" },
            enable: { type: "boolean", description: "Enable" },
          },
          async run({ values, positionals }) {
            using mcias = await openCore(values);
            if (values.disable === true && values.enable === true) {
              throw new Error("give --disable or --enable, not both");
            }
            const roles = values["no-roles"] === true
              ? []
              : list(values.role).length > 0
              ? list(values.role) as Role[]
              : undefined;
            const a = await mcias.updateAccount(one(positionals, "username"), {
              roles,
              disabled: values.disable === true ? true : values.enable === true ? false : undefined,
            });
            console.log(showAccount(a));
          },
        },
        passwd: {
          summary: "Set a human account's password (revokes its session tokens)",
          args: "<username>",
          options: { config: CONFIG_OPTION, "password-stdin": PASSWORD_STDIN },
          async run({ values, positionals }) {
            using mcias = await openCore(values);
            const username = one(positionals, "username");
            mcias.getAccount(username);
            await mcias.updateAccount(username, { password: await newPassword(values) });
            console.log(`password changed for "${username}"; its sessions were revoked`);
          },
        },
        delete: {
          summary: "Delete an account with its tokens and second factors",
          args: "<username>",
          options: { config: CONFIG_OPTION },
          async run({ values, positionals }) {
            using mcias = await openCore(values);
            const username = one(positionals, "username");
            mcias.deleteAccount(username);
            console.log(`deleted "${username}"`);
          },
        },
      },
    },
    token: {
      summary: "System tokens and revocation",
      commands: {
        issue: {
          summary: "Issue a token for a system account and print it (shown once)",
          args: "<account>",
          options: {
            config: CONFIG_OPTION,
            ttl: {
              type: "string",
              valueName: "duration",
              description: "Lifetime, e.g. 720h (default [auth] system_token_ttl)",
            },
          },
          async run({ values, positionals }) {
            using mcias = await openCore(values);
            const ttl = values.ttl === undefined ? undefined : parseDuration(values.ttl as string);
            const grant = await mcias.issueSystemToken(one(positionals, "account"), ttl);
            console.error(`expires ${grant.expiresAt.toISOString()}`);
            console.log(grant.token);
          },
        },
        revoke: {
          summary: "Revoke a token by its jti (or its SHA-256 hash)",
          args: "<jti>",
          options: { config: CONFIG_OPTION },
          async run({ values, positionals }) {
            using mcias = await openCore(values);
            mcias.revokeToken(one(positionals, "jti"));
            console.log("revoked");
          },
        },
      },
    },
    policy: {
      summary: "Login policy rules and MCAT, the policy tester",
      commands: {
        list: {
          summary: "List rules in evaluation order",
          options: { config: CONFIG_OPTION },
          async run({ values }) {
            using mcias = await openCore(values);
            console.log("  id   prio effect");
            for (const r of mcias.listRules()) console.log(showRule(r));
          },
        },
        add: {
          summary: "Add a rule",
          options: {
            config: CONFIG_OPTION,
            priority: {
              type: "string",
              valueName: "n",
              description: "Lower runs first",
              required: true,
            },
            effect: {
              type: "string",
              valueName: "allow|deny",
              description: "What a match decides",
              required: true,
            },
            role: { ...ROLE_OPTION, description: "Match accounts with any of these roles" },
            "account-type": {
              type: "string",
              multiple: true,
              valueName: "human|system",
              description: "Match these account types",
            },
            service: {
              type: "string",
              multiple: true,
              valueName: "name",
              description: "Match these service names",
            },
            tag: {
              type: "string",
              multiple: true,
              valueName: "tag",
              description: "Match when every one of these tags is present",
            },
            description: { type: "string", valueName: "text", description: "For operators" },
          },
          async run({ values }) {
            using mcias = await openCore(values);
            const rule = mcias.createRule({
              priority: Number(values.priority),
              effect: values.effect as "allow" | "deny",
              roles: list(values.role) as Role[],
              accountTypes: list(values["account-type"]) as ("human" | "system")[],
              serviceNames: list(values.service),
              tags: list(values.tag),
              description: (values.description as string | undefined) ?? "",
            });
            console.log(showRule(rule));
          },
        },
        rm: {
          summary: "Delete a rule",
          args: "<id>",
          options: { config: CONFIG_OPTION },
          async run({ values, positionals }) {
            using mcias = await openCore(values);
            const id = Number(one(positionals, "rule id"));
            mcias.deleteRule(id);
            console.log(`deleted rule ${id}`);
          },
        },
        test: {
          summary: "MCAT: would this account's login to this service be allowed?",
          args: "<username>",
          options: {
            config: CONFIG_OPTION,
            service: { type: "string", valueName: "name", description: "Target service" },
            tag: {
              type: "string",
              multiple: true,
              valueName: "tag",
              description: "Target service tag",
            },
          },
          async run({ values, positionals }) {
            using mcias = await openCore(values);
            const result = mcias.testPolicy(
              one(positionals, "username"),
              (values.service as string | undefined) ?? "",
              list(values.tag),
            );
            console.log(`${result.allowed ? "allow" : "deny"}: ${result.reason}`);
            return result.allowed ? 0 : 3;
          },
        },
      },
    },
    snapshot: snapshotCommand({
      service: SERVICE,
      databasePath: async (path) => (await config({ config: path })).database.path,
    }),
    restore: restoreCommand(),
  },
};

if (import.meta.main) {
  Deno.exit(await runCli(CLI, Deno.args));
}
