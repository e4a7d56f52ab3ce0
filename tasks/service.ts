/**
 * `deno task <service> <subcommand> [options]`: runs a service's CLI under
 * exactly the permissions its `deno.json` sandbox manifest declares, derived
 * from its config (`--config`). `--help` runs with no permissions at all.
 *
 * @module
 */

import { NO_REMOTE_CODE_FLAGS, planService } from "./_launcher.ts";

/**
 * Whether the command line asks for help (or is a usage error), which runs
 * with no permissions at all: `help`, `-h`, `--help`, or an option where
 * the subcommand belongs.
 *
 * @param subcommand The word after the service name.
 * @param rest The arguments after it.
 * @returns `true` to run the CLI without permissions.
 */
export function isHelpRequest(subcommand: string | undefined, rest: readonly string[]): boolean {
  return subcommand === undefined || subcommand === "help" || subcommand.startsWith("-") ||
    rest.includes("--help") || rest.includes("-h");
}

async function main(argv: string[]): Promise<number> {
  const [name, subcommand, ...rest] = argv;
  if (name === undefined) {
    console.error("usage: deno task <service> <subcommand> [--config <path>] [options]");
    return 2;
  }
  let args: string[];
  if (isHelpRequest(subcommand, rest)) {
    // Help and usage errors need no capabilities.
    const { findService } = await import("./_launcher.ts");
    const member = await findService(name);
    args = ["run", "--no-prompt", ...NO_REMOTE_CODE_FLAGS, member.main, ...argv.slice(1)];
  } else {
    args = (await planService(name, subcommand, rest)).argv;
  }
  const child = new Deno.Command("deno", { args, stdin: "inherit" }).spawn();
  // The child gets the terminal's Ctrl-C itself and shuts down gracefully;
  // the launcher waits for it rather than dying first. TERM from a
  // supervisor is forwarded.
  const ignore = () => {};
  const forward = () => child.kill("SIGTERM");
  Deno.addSignalListener("SIGINT", ignore);
  Deno.addSignalListener("SIGTERM", forward);
  const { code } = await child.status;
  Deno.removeSignalListener("SIGINT", ignore);
  Deno.removeSignalListener("SIGTERM", forward);
  return code;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
    Deno.exit(1);
  }
}
