import assert from "node:assert/strict";
import { type CliSpec, helpText, runCli } from "./mod.ts";

function program(calls: unknown[]): CliSpec {
  return {
    name: "svc",
    description: "A service.",
    commands: {
      server: {
        summary: "Run the server",
        options: {
          config: {
            type: "string",
            short: "c",
            description: "Config file",
            required: true,
            valueName: "path",
          },
        },
        run: ({ values }) => {
          calls.push(["server", values.config]);
        },
      },
      account: {
        summary: "Manage accounts",
        commands: {
          create: {
            summary: "Create an account",
            args: "<name>",
            options: { admin: { type: "boolean", description: "Grant admin" } },
            run: ({ values, positionals }) => {
              calls.push(["create", positionals, values.admin]);
              return 3;
            },
          },
        },
      },
      fail: {
        summary: "Always fails",
        run: () => {
          throw new Error("database is locked: stop the server first");
        },
      },
    },
  };
}

async function run(argv: string[]) {
  const calls: unknown[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCli(program(calls), argv, {
    out: (t) => out.push(t),
    err: (t) => err.push(t),
  });
  return { code, calls, out: out.join("\n"), err: err.join("\n") };
}

Deno.test("runCli() runs a command with its options and nested subcommands", async () => {
  const a = await run(["server", "-c", "/srv/x.toml"]);
  assert.equal(a.code, 0);
  assert.deepEqual(a.calls, [["server", "/srv/x.toml"]]);
  const b = await run(["account", "create", "ana", "--admin"]);
  assert.equal(b.code, 3);
  assert.deepEqual(b.calls, [["create", ["ana"], true]]);
});

Deno.test("runCli() prints help at every level and exits 0", async () => {
  const top = await run(["--help"]);
  assert.equal(top.code, 0);
  assert.match(top.out, /Usage: svc <command>/);
  assert.match(top.out, /server\s+Run the server/);
  const sub = await run(["account", "create", "--help"]);
  assert.match(sub.out, /Usage: svc account create \[options\] <name>/);
  assert.match(sub.out, /--admin\s+Grant admin/);
  const viaHelp = await run(["help", "server"]);
  assert.match(viaHelp.out, /-c, --config <path>\s+Config file \(required\)/);
  assert.equal(sub.calls.length + viaHelp.calls.length, 0);
});

Deno.test("runCli() shows group help with exit 2 when no subcommand is given", async () => {
  const r = await run(["account"]);
  assert.equal(r.code, 2);
  assert.match(r.out, /create\s+Create an account/);
});

Deno.test("runCli() reports usage errors with exit 2 and a pointer to --help", async () => {
  const unknown = await run(["serve"]);
  assert.equal(unknown.code, 2);
  assert.match(
    unknown.err,
    /Unknown command "serve": expected one of server, account, fail; run 'svc --help'/,
  );
  const missing = await run(["server"]);
  assert.equal(missing.code, 2);
  assert.match(missing.err, /Missing required option --config for "server"/);
  const badOpt = await run(["server", "--config", "x", "--verbose"]);
  assert.equal(badOpt.code, 2);
  assert.match(badOpt.err, /--verbose.*run 'svc server --help'/);
});

Deno.test("runCli() turns a thrown error into exit 1 and its message", async () => {
  const r = await run(["fail"]);
  assert.equal(r.code, 1);
  assert.equal(r.err, "error: database is locked: stop the server first");
});

Deno.test("helpText() of the program lists commands", () => {
  assert.match(helpText(program([])), /^A service\.\n\nUsage: svc <command>/);
});
