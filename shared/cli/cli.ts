/**
 * Command-line programs with nested subcommands, typed options and `--help`
 * at every level, on `node:util`'s `parseArgs`.
 *
 * @module
 */

import { parseArgs } from "node:util";

/** One option of a command. */
export interface OptionSpec {
  /** `string` takes a value; `boolean` is a switch. */
  type: "string" | "boolean";
  /** One-letter alias. */
  short?: string;
  /** What it does, for `--help`. */
  description: string;
  /** Value name in help (`--config <path>`). */
  valueName?: string;
  /** Whether the option must be given. */
  required?: boolean;
  /** Whether it may repeat (values collected into an array). */
  multiple?: boolean;
}

/** Parsed input handed to a command's `run`. */
export interface CommandInput {
  /** Option values by long name. */
  values: Record<string, string | boolean | string[] | undefined>;
  /** Arguments that are not options. */
  positionals: string[];
}

/** A command: either runnable (`run`) or a group of subcommands (`commands`). */
export interface CommandSpec {
  /** One line for listings. */
  summary: string;
  /** Longer text shown by `--help`. */
  description?: string;
  /** Positional arguments, shown in usage (`<archive>`). */
  args?: string;
  /** Options. `--help` is always added. */
  options?: Record<string, OptionSpec>;
  /** Runs the command; a number is the exit code. */
  run?: (input: CommandInput) => Promise<number | void> | number | void;
  /** Subcommands. */
  commands?: Record<string, CommandSpec>;
}

/** A whole program: its name, its text and its top-level commands. */
export interface CliSpec {
  /** Program name as typed (`mciasctl`). */
  name: string;
  /** What the program is. */
  description: string;
  /** Top-level commands. */
  commands: Record<string, CommandSpec>;
}

/** Bad command-line input: the message says what and how to get help. */
export class UsageError extends Error {
  /** @param message What is wrong, with a pointer to `--help`. */
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Options for {@linkcode runCli}. */
export interface RunCliOptions {
  /** Where help goes. @default {console.log} */
  out?: (text: string) => void;
  /** Where errors go. @default {console.error} */
  err?: (text: string) => void;
}

function optionLine(name: string, o: OptionSpec): [string, string] {
  const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${
    o.type === "string" ? ` <${o.valueName ?? "value"}>` : ""
  }`;
  return [flag, `${o.description}${o.required ? " (required)" : ""}`];
}

function table(rows: [string, string][]): string {
  const width = Math.max(0, ...rows.map(([a]) => a.length));
  return rows.map(([a, b]) => `  ${a.padEnd(width)}  ${b}`).join("\n");
}

/**
 * Renders the help text of a command (or the program when `path` is empty).
 *
 * @param spec The program.
 * @param path Command names leading to the command.
 * @returns The help text.
 */
export function helpText(spec: CliSpec, path: string[] = []): string {
  const cmd = path.length === 0 ? undefined : lookup(spec, path);
  const commands = cmd === undefined ? spec.commands : cmd.commands;
  const usage = [spec.name, ...path];
  if (commands !== undefined) usage.push("<command>");
  if (cmd?.options !== undefined && Object.keys(cmd.options).length > 0) usage.push("[options]");
  if (cmd?.args !== undefined) usage.push(cmd.args);
  const parts = [
    cmd === undefined ? spec.description : (cmd.description ?? cmd.summary),
    `Usage: ${usage.join(" ")}`,
  ];
  if (commands !== undefined) {
    parts.push(
      "Commands:\n" + table(Object.entries(commands).map(([n, c]) => [n, c.summary])),
    );
  }
  const options: [string, string][] = Object.entries(cmd?.options ?? {}).map(([n, o]) =>
    optionLine(n, o)
  );
  options.push(["-h, --help", "Show this help"]);
  parts.push("Options:\n" + table(options));
  if (commands !== undefined) {
    parts.push(`Run '${[spec.name, ...path].join(" ")} <command> --help' for a command's options.`);
  }
  return parts.join("\n\n");
}

function lookup(spec: CliSpec, path: string[]): CommandSpec {
  let commands: Record<string, CommandSpec> | undefined = spec.commands;
  let cmd: CommandSpec | undefined;
  for (const name of path) {
    cmd = commands?.[name];
    if (cmd === undefined) throw new UsageError(`Unknown command "${path.join(" ")}"`);
    commands = cmd.commands;
  }
  return cmd!;
}

/**
 * Parses `argv` against `spec`, prints help when asked (`--help`, `-h`,
 * `help <command>`, or a group without a subcommand) and runs the chosen
 * command.
 *
 * @param spec The program.
 * @param argv Arguments after the program name.
 * @param options Output sinks.
 * @returns The exit code: the command's, 0 for help, 2 for usage errors, 1
 *   for a command that threw.
 *
 * @example Usage
 * ```ts
 * import { runCli } from "./cli.ts";
 * import assert from "node:assert/strict";
 * let seen = "";
 * const code = await runCli({
 *   name: "demo",
 *   description: "A demo.",
 *   commands: {
 *     greet: {
 *       summary: "Say hello",
 *       options: { name: { type: "string", description: "Who", required: true } },
 *       run: ({ values }) => { seen = `hello ${values.name}`; },
 *     },
 *   },
 * }, ["greet", "--name", "ana"]);
 * assert.equal(code, 0);
 * assert.equal(seen, "hello ana");
 * ```
 */
export async function runCli(
  spec: CliSpec,
  argv: string[],
  options: RunCliOptions = {},
): Promise<number> {
  const { out = console.log, err = console.error } = options;
  const path: string[] = [];
  let rest = [...argv];
  if (rest[0] === "help") rest = [...rest.slice(1), "--help"];
  let commands: Record<string, CommandSpec> | undefined = spec.commands;
  let cmd: CommandSpec | undefined;
  try {
    while (commands !== undefined && rest.length > 0 && !rest[0].startsWith("-")) {
      const next: CommandSpec | undefined = commands[rest[0]];
      if (next === undefined) {
        throw new UsageError(
          `Unknown command "${[...path, rest[0]].join(" ")}": expected one of ${
            Object.keys(commands).join(", ")
          }; run '${[spec.name, ...path].join(" ")} --help'`,
        );
      }
      path.push(rest.shift()!);
      cmd = next;
      commands = next.commands;
    }
    const wantsHelp = rest.includes("--help") || rest.includes("-h");
    if (wantsHelp || cmd === undefined || cmd.run === undefined) {
      out(helpText(spec, path));
      return wantsHelp ? 0 : 2;
    }
    const parseOptions: Record<
      string,
      { type: "string" | "boolean"; short?: string; multiple?: boolean }
    > = {};
    for (const [name, o] of Object.entries(cmd.options ?? {})) {
      // parseArgs rejects keys present with an undefined value.
      parseOptions[name] = { type: o.type };
      if (o.short !== undefined) parseOptions[name].short = o.short;
      if (o.multiple !== undefined) parseOptions[name].multiple = o.multiple;
    }
    let parsed: ReturnType<typeof parseArgs>;
    try {
      parsed = parseArgs({
        args: rest,
        options: parseOptions,
        allowPositionals: true,
        strict: true,
      });
    } catch (e) {
      throw new UsageError(
        `${(e as Error).message}; run '${[spec.name, ...path].join(" ")} --help'`,
      );
    }
    for (const [name, o] of Object.entries(cmd.options ?? {})) {
      if (o.required && parsed.values[name] === undefined) {
        throw new UsageError(
          `Missing required option --${name} for "${path.join(" ")}"; run '${
            [spec.name, ...path].join(" ")
          } --help'`,
        );
      }
    }
    const code = await cmd.run({
      values: parsed.values as CommandInput["values"],
      positionals: parsed.positionals,
    });
    return typeof code === "number" ? code : 0;
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${e.message}`);
      return 2;
    }
    err(`error: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
}
