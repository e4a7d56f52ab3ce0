/**
 * `deno task compile [service] [--config <path>] [--output <dir>]`: builds
 * one binary per service with its `server` permissions baked in, derived
 * from the config exactly as `deno task <service> server` derives them.
 *
 * `deno compile` needs Deno's `denort` runtime for the pinned version. It
 * downloads it unless `DENORT_BIN` points at one; where the download is
 * unreachable this task says so and how to proceed.
 *
 * @module
 */

import { join } from "node:path";
import { flagValue, listServices, planService, ROOT } from "./_launcher.ts";

const DENO_VERSION = "2.9.6";

async function compile(name: string, args: string[], outDir: string): Promise<number> {
  // The example config under deploy/ stands in when none is given.
  const example = join(ROOT, "deploy", name, `${name}.toml`);
  const config = flagValue(args, "config") ??
    (await Deno.stat(example).then(() => example, () => undefined));
  if (config === undefined) {
    console.error(
      `error: compiling "${name}" bakes in its permissions, which come from its config: pass --config <path>`,
    );
    return 2;
  }
  const plan = await planService(name, "server", ["--config", config]);
  const output = join(outDir, name);
  const compileArgs = [
    "compile",
    ...plan.flags.filter((f) => f !== "--no-prompt"),
    "--output",
    output,
    plan.member.main,
    "server",
    "--config",
    plan.config!,
  ];
  console.error(`compile ${name}: deno ${compileArgs.join(" ")}`);
  const { code, stderr } = await new Deno.Command("deno", {
    args: compileArgs,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(stderr);
  const denort = Deno.env.get("DENORT_BIN");
  if (code !== 0 && denort !== undefined && /Could not find denort/i.test(text)) {
    console.error(text.trim());
    console.error(
      `\nerror: DENORT_BIN is set to "${denort}", which does not exist: point it at the denort binary of Deno ${DENO_VERSION}, or unset it to download one`,
    );
    return 1;
  }
  if (code !== 0 && /denort|dl\.deno\.land|error sending request/i.test(text)) {
    console.error(text.trim());
    console.error(
      `\nerror: deno compile could not get the denort runtime for Deno ${DENO_VERSION}: it is downloaded from dl.deno.land, which this machine cannot reach.\n` +
        `Download denort-x86_64-unknown-linux-gnu.zip for v${DENO_VERSION} on a connected machine, unzip it here and run again with DENORT_BIN=/path/to/denort.\n` +
        `Until then, run the service with the same flags: deno task ${name} server --config ${config}`,
    );
    return 1;
  }
  if (text.trim() !== "") console.error(text.trim());
  if (code === 0) console.error(`compiled ${output} (runs: server --config ${plan.config})`);
  return code;
}

if (import.meta.main) {
  const args = [...Deno.args];
  const outDir = flagValue(args, "output") ?? join(ROOT, "dist");
  const name = args[0] !== undefined && !args[0].startsWith("-") ? args.shift()! : undefined;
  if (args.includes("--help")) {
    console.log(
      "Usage: deno task compile [service] [--config <path>] [--output <dir>]\n\n" +
        "Builds dist/<service>, a binary running `server --config <path>` under the service's\n" +
        "declared permissions (config default: deploy/<service>/<service>.toml). Needs the denort runtime: set DENORT_BIN where it cannot be downloaded.",
    );
    Deno.exit(0);
  }
  const names = name !== undefined ? [name] : [...(await listServices()).keys()];
  let worst = 0;
  for (const n of names) {
    try {
      worst = Math.max(worst, await compile(n, args, outDir));
    } catch (e) {
      console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
      worst = 1;
    }
  }
  Deno.exit(worst);
}
