/**
 * Test helpers: an MCIAS data directory with a dev PKI and a config on free
 * ports, the real server started as a sandboxed process, `mciasctl`
 * subcommands run under their declared flags, and an in-process core with
 * cheap Argon2 parameters for unit tests.
 *
 * @module
 */

import { join } from "node:path";
import { parseConfig } from "@mc/mcdsl/config";
import { freePort, run } from "@mc/mcdsl/testing";
import {
  makeServiceDir,
  type ServiceDir,
  type ServiceProcess,
  startServiceProcess,
} from "../../tests/_service_process.ts";
import { planService, type ServicePlan } from "../../tasks/_launcher.ts";
import { CONFIG_SCHEMA, type McIasConfig, SERVICE } from "./config.ts";

export { freePort, run };
import { createMcIas, openMcIasDatabase } from "./core/mcias.ts";
import type { McIas, SecondFactorCheck } from "./core/types.ts";

/** A temporary MCIAS data directory. */
export type McIasDir = ServiceDir;

/** Creates a data directory with certificates and a config on free ports. */
export function makeMcIasDir(extraToml = ""): Promise<McIasDir> {
  return makeServiceDir("mcias", ({ httpsPort }) => `
[log]
level = "warn"

[auth]
issuer = "https://localhost:${httpsPort}"
${extraToml}`);
}

/** An MCIAS process started under its declared flags. */
export type McIasProcess = ServiceProcess;

/**
 * Starts `mciasctl server --config <config>` exactly as `deno task mcias`
 * would, and waits until `/v1/health` answers.
 */
export function startMcIasProcess(
  dir: McIasDir,
  env: Record<string, string> = {},
): Promise<McIasProcess> {
  return startServiceProcess("mcias", {
    config: dir.config,
    healthUrl: `${dir.url}/v1/health`,
    ca: dir.ca,
    env,
  });
}

/**
 * Runs `mciasctl <subcommand> <args…> --config <dir.config>` under the
 * subcommand's declared flags.
 */
export async function mciasctl(
  dir: McIasDir,
  args: string[],
  stdin?: string,
  env?: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string; plan: ServicePlan }> {
  const [subcommand, ...rest] = args;
  const plan = await planService("mcias", subcommand, [...rest, "--config", dir.config]);
  return { ...await run(Deno.execPath(), plan.argv, { stdin, env }), plan };
}

/** A config for in-process tests (no file). */
export function testConfig(extraToml = ""): McIasConfig {
  return parseConfig(
    `[server]
listen_addr = "127.0.0.1:0"
tls_cert = "/nonexistent/cert.pem"
tls_key = "/nonexistent/key.pem"
[database]
path = "mcias.db"
[auth]
issuer = "https://mcias.test"
${extraToml}`,
    CONFIG_SCHEMA,
    { service: SERVICE, env: () => undefined, baseDir: "/nonexistent" },
  );
}

/** An in-process core on a temporary directory. */
export interface TestCore extends AsyncDisposable {
  /** The core. */
  mcias: McIas;
  /** The data directory. */
  dataDir: string;
  /** Database path. */
  dbPath: string;
  /** The fake clock: set `clock.now` (epoch ms) to move time. */
  clock: { now: number };
}

/** Builds a core on a fresh temporary database with a fake clock. */
export async function makeTestCore(
  options: { extraToml?: string; secondFactor?: SecondFactorCheck } = {},
): Promise<TestCore> {
  const dataDir = await Deno.makeTempDir({ prefix: "mcias_core_" });
  const dbPath = join(dataDir, "mcias.db");
  const clock = { now: Date.now() };
  const mcias = createMcIas({
    db: openMcIasDatabase(dbPath),
    dataDir,
    config: testConfig(options.extraToml),
    secondFactor: options.secondFactor,
    now: () => new Date(clock.now),
  });
  return {
    mcias,
    dataDir,
    dbPath,
    clock,
    async [Symbol.asyncDispose]() {
      mcias.close();
      await Deno.remove(dataDir, { recursive: true });
    },
  };
}
