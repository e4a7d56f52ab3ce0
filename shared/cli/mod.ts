/**
 * Command-line programs: nested subcommands, typed options, `--help`
 * everywhere, and errors that say how to get help.
 *
 * ```ts
 * import { runCli } from "@mc/mcdsl/cli";
 * Deno.exitCode = await runCli({ name: "demo", description: "A demo.", commands: {} }, ["--help"]);
 * ```
 *
 * @module
 */
export * from "./cli.ts";
