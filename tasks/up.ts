/**
 * `deno task up`: runs the platform on this machine with embedded defaults.
 *
 * Every workspace member with a `dev.ts` joins, in the order of its
 * `DEV_ORDER` (MCIAS first once it exists): `up` gives each a data directory
 * under `./.mc/<service>/` (or `--data-dir`), loopback ports, a certificate
 * from a development root CA kept in `.mc/pki/`, and a config written from
 * the member's `devConfig()`. Each service runs through the same launcher as
 * `deno task <service> server`, so under exactly its declared permissions.
 * `up` prints every endpoint, then waits; Ctrl-C stops everything cleanly.
 *
 * @module
 */

import { join, resolve } from "node:path";
import { createDevPki, writeDevPki } from "@mc/mcdsl/tls";
import { listServices, planService } from "./_launcher.ts";

/** What `up` hands a member's `devConfig()`. */
export interface DevContext {
  /** The service's own data directory (exists). */
  dataDir: string;
  /** Certificate, key and CA paths inside `dataDir/certs/`. */
  tls: { cert: string; key: string; ca: string };
  /** Free loopback ports, one per name the member asked for in `DEV_PORTS`. */
  ports: Record<string, number>;
  /** Endpoints of the services started before this one, by service name. */
  endpoints: Record<string, Record<string, string>>;
}

/** What a member's `dev.ts` exports. */
export interface DevModule {
  /** Start order; lower first. */
  DEV_ORDER: number;
  /** Port names it needs (`["https", "grpc"]`). */
  DEV_PORTS: string[];
  /** The TOML config for a dev run. */
  devConfig(ctx: DevContext): string;
  /** Endpoints to print (and pass on), by label. */
  devEndpoints(ctx: DevContext): Record<string, string>;
  /** URL that answers 200 once the service is up. */
  devHealthUrl(ctx: DevContext): string;
  /** Lines to print after start (credentials, example commands). */
  devNotes?(ctx: DevContext): Promise<string[]> | string[];
}

/**
 * The environment for `up`'s children: the developer's, minus what would
 * override the dev configs (`PORT`, `PORT_*`, `<SERVICE>_*`), which would
 * otherwise move a service to `0.0.0.0:$PORT`. Deno itself still needs
 * `HOME`, `PATH`, `DENO_DIR`, so the rest is kept.
 *
 * @param env The developer's environment.
 * @param services The service names whose override prefixes are dropped.
 * @returns A new environment.
 */
export function devEnv(
  env: Readonly<Record<string, string>>,
  services: readonly string[],
): Record<string, string> {
  const prefixes = ["PORT_", ...services.map((s) => `${s.toUpperCase().replaceAll("-", "_")}_`)];
  return Object.fromEntries(
    Object.entries(env).filter(([name]) =>
      name !== "PORT" && !prefixes.some((prefix) => name.startsWith(prefix))
    ),
  );
}

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = l.addr as Deno.NetAddr;
  l.close();
  return port;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

async function waitHealthy(url: string, ca: string, child: Deno.ChildProcess, ms: number) {
  const client = Deno.createHttpClient({ caCerts: [ca] });
  const deadline = Date.now() + ms;
  let exited = false;
  child.status.then(() => exited = true);
  try {
    while (Date.now() < deadline && !exited) {
      try {
        const res = await fetch(url, { client, signal: AbortSignal.timeout(1000) });
        await res.body?.cancel();
        if (res.ok) return;
      } catch (e) {
        if (e instanceof Deno.errors.NotCapable) throw e;
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    client.close();
  }
  throw new Error(
    exited ? `exited during start-up (see its log)` : `not healthy at ${url} after ${ms} ms`,
  );
}

async function main(args: string[]): Promise<number> {
  if (args.includes("--help")) {
    console.log(
      "Usage: deno task up [--data-dir <path>]\n\nRuns every service on loopback with a dev CA; data under ./.mc/ by default. Ctrl-C stops.",
    );
    return 0;
  }
  const i = args.indexOf("--data-dir");
  const root = resolve(i >= 0 && args[i + 1] ? args[i + 1] : ".mc");
  const pkiDir = join(root, "pki");
  await Deno.mkdir(pkiDir, { recursive: true });
  if (!(await exists(join(pkiDir, "ca.pem")))) {
    await writeDevPki(pkiDir, await createDevPki({ days: 365 }));
    console.log(`generated a development root CA in ${pkiDir}/ca.pem`);
  }
  const ca = await Deno.readTextFile(join(pkiDir, "ca.pem"));

  const members: { name: string; dev: DevModule }[] = [];
  for (const [name, member] of await listServices()) {
    const devPath = join(member.dir, "dev.ts");
    if (!(await exists(devPath))) continue;
    members.push({ name, dev: await import(devPath) as DevModule });
  }
  members.sort((a, b) => a.dev.DEV_ORDER - b.dev.DEV_ORDER);

  const children: { name: string; child: Deno.ChildProcess }[] = [];
  const endpoints: Record<string, Record<string, string>> = {};
  const notes: string[] = [];
  const env = devEnv(Deno.env.toObject(), members.map((m) => m.name));
  let stopping = false;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    stopped ??= (async () => {
      stopping = true;
      console.log("\nstopping…");
      // Newest first, on a copy: the list itself keeps start order.
      for (const { child } of [...children].reverse()) {
        try {
          child.kill("SIGTERM");
        } catch { /* already gone */ }
      }
      await Promise.all(children.map(({ child }) => child.status));
    })();
  const onSignal = () => void stop();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);

  try {
    for (const { name, dev } of members) {
      const dataDir = join(root, name);
      const certs = join(dataDir, "certs");
      await Deno.mkdir(certs, { recursive: true });
      for (const f of ["ca.pem", "cert.pem", "key.pem"]) {
        await Deno.copyFile(join(pkiDir, f), join(certs, f));
      }
      const ports: Record<string, number> = {};
      for (const p of dev.DEV_PORTS) ports[p] = await freePort();
      const ctx: DevContext = {
        dataDir,
        tls: {
          cert: join(certs, "cert.pem"),
          key: join(certs, "key.pem"),
          ca: join(certs, "ca.pem"),
        },
        ports,
        endpoints,
      };
      const configPath = join(dataDir, `${name}.toml`);
      await Deno.writeTextFile(configPath, dev.devConfig(ctx));
      const plan = await planService(name, "server", ["--config", configPath], {
        env: (n) => env[n],
      });
      const log = await Deno.open(join(dataDir, `${name}.log`), {
        create: true,
        append: true,
      });
      // A Ctrl-C during the awaits above must not leave this one running:
      // nothing awaits between this check and the spawn.
      if (stopping) {
        log.close();
        break;
      }
      const child = new Deno.Command("deno", {
        args: plan.argv,
        env,
        clearEnv: true,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      // Both streams go to one log file; a WritableStream takes one pipe at a
      // time, so copy chunk by chunk.
      const copy = async (stream: ReadableStream<Uint8Array>) => {
        for await (const chunk of stream) await log.write(chunk);
      };
      Promise.all([copy(child.stdout), copy(child.stderr)]).finally(() => log.close());
      children.push({ name, child });
      await waitHealthy(dev.devHealthUrl(ctx), ca, child, 30_000).catch((e) => {
        throw new Error(`${name} ${e.message}: ${join(dataDir, `${name}.log`)}`);
      });
      endpoints[name] = dev.devEndpoints(ctx);
      notes.push(...(await dev.devNotes?.(ctx) ?? []));
    }
  } catch (e) {
    if (!stopping) {
      console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
      await stop();
      return 1;
    }
  }
  if (stopping) {
    // Ctrl-C during start-up.
    await stop();
    console.log("stopped");
    return 0;
  }

  console.log(`\nMetacircular is up (data in ${root}, trust ${join(pkiDir, "ca.pem")})\n`);
  if (members.length === 0) console.log("no services to start yet");
  for (const [name, eps] of Object.entries(endpoints)) {
    for (const [label, url] of Object.entries(eps)) {
      console.log(`  ${name.padEnd(10)} ${label.padEnd(8)} ${url}`);
    }
  }
  if (notes.length > 0) console.log("\n" + notes.join("\n"));
  console.log("\nCtrl-C stops everything.");

  const results = await Promise.all(
    children.map(async ({ name, child }) => ({ name, status: await child.status })),
  );
  if (!stopping) {
    for (const r of results) console.error(`${r.name} exited with code ${r.status.code}`);
    return 1;
  }
  console.log("stopped");
  return 0;
}

if (import.meta.main) Deno.exit(await main(Deno.args));
