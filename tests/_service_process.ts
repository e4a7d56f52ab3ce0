/**
 * Starts a service's `server` as a real process under exactly the flags its
 * manifest declares (as `deno task <service> server` would) and waits until
 * it answers its health URL. Shared by every service's integration tests.
 *
 * @module
 */

import { join } from "node:path";
import { freePort } from "@mc/mcdsl/testing";
import { createDevPki, writeDevPki } from "@mc/mcdsl/tls";
import { planService, type ServicePlan } from "../tasks/_launcher.ts";

/** A service process started under its declared flags. */
export interface ServiceProcess extends AsyncDisposable {
  /** The plan it was started with (its exact flags and permissions). */
  plan: ServicePlan;
  /** The process. */
  child: Deno.ChildProcess;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Sends SIGTERM and waits; returns the exit code. */
  stop(): Promise<number>;
}

/** Options for {@linkcode startServiceProcess}. */
export interface StartServiceOptions {
  /** Its config file. */
  config: string;
  /** A URL that answers 200 once it is up. */
  healthUrl: string;
  /** CA certificate (PEM) to trust for the health check. */
  ca: string;
  /** Extra environment (e.g. `DENO_AUDIT_PERMISSIONS`). */
  env?: Record<string, string>;
  /** How long to wait for health. @default {30000} */
  timeoutMs?: number;
}

/**
 * Starts `<name> server --config <config>` and waits for health.
 *
 * @throws {Error} With its stderr when it exits or stays unhealthy.
 */
export async function startServiceProcess(
  name: string,
  options: StartServiceOptions,
): Promise<ServiceProcess> {
  const { config, healthUrl, ca, env = {}, timeoutMs = 30_000 } = options;
  const plan = await planService(name, "server", ["--config", config]);
  const child = new Deno.Command(Deno.execPath(), {
    args: plan.argv,
    env,
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let err = "";
  const decoder = new TextDecoder();
  const pump = child.stderr.pipeTo(
    new WritableStream({ write: (chunk) => void (err += decoder.decode(chunk)) }),
  );
  let exited = false;
  const status = child.status.then((s) => {
    exited = true;
    return s;
  });
  const stop = async () => {
    if (!exited) child.kill("SIGTERM");
    const s = await status;
    await pump;
    return s.code;
  };
  const client = Deno.createHttpClient({ caCerts: [ca] });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (exited || Date.now() > deadline) {
        await stop();
        throw new Error(`${name} did not become healthy (exited: ${exited}):\n${err}`);
      }
      try {
        const res = await fetch(healthUrl, { client, signal: AbortSignal.timeout(1000) });
        await res.body?.cancel();
        if (res.ok) break;
      } catch { /* not listening yet */ }
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    client.close();
  }
  return {
    plan,
    child,
    stderr: () => err,
    stop,
    [Symbol.asyncDispose]: async () => void await stop(),
  };
}

/** A temporary data directory for a service with HTTPS and gRPC listeners. */
export interface ServiceDir extends AsyncDisposable {
  /** Holds everything; removed on dispose. */
  root: string;
  /** The data directory (`root/<service>`). */
  dataDir: string;
  /** The config file inside it (`<service>.toml`). */
  config: string;
  /** CA certificate PEM to trust. */
  ca: string;
  /** HTTPS port in the config. */
  httpsPort: number;
  /** gRPC port in the config. */
  grpcPort: number;
  /** `https://localhost:<httpsPort>`. */
  url: string;
}

/**
 * Creates `<tmp>/<service>/` with a dev PKI in `certs/` and a config holding
 * the standard `[server]` (HTTPS and gRPC on free loopback ports, relative
 * certificate paths) and `[database]` (`<service>.db`) sections, followed by
 * `extraToml(ports)` for the service's own sections.
 *
 * @param service Service name.
 * @param extraToml The rest of the config, given the chosen ports.
 */
export async function makeServiceDir(
  service: string,
  extraToml: (ports: { httpsPort: number; grpcPort: number }) => string = () => "",
): Promise<ServiceDir> {
  const root = await Deno.makeTempDir({ prefix: `${service}_` });
  const dataDir = join(root, service);
  await Deno.mkdir(join(dataDir, "certs"), { recursive: true });
  const paths = await writeDevPki(join(dataDir, "certs"), await createDevPki());
  const httpsPort = freePort();
  const grpcPort = freePort();
  const config = join(dataDir, `${service}.toml`);
  await Deno.writeTextFile(
    config,
    `[server]
listen_addr = "127.0.0.1:${httpsPort}"
grpc_addr = "127.0.0.1:${grpcPort}"
tls_cert = "certs/cert.pem"
tls_key = "certs/key.pem"

[database]
path = "${service}.db"
${extraToml({ httpsPort, grpcPort })}`,
  );
  return {
    root,
    dataDir,
    config,
    ca: await Deno.readTextFile(paths.caCert),
    httpsPort,
    grpcPort,
    url: `https://localhost:${httpsPort}`,
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}
