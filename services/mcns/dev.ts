/**
 * How `deno task up` runs MCNS: after MCIAS (which validates the record
 * API's tokens), DNS on a loopback port, the record API over HTTPS and gRPC.
 * Once it is healthy, `mcns record add` (the same sandboxed path an operator
 * uses) seeds `mcias.svc.mcp.<domain>` and `mcns.svc.mcp.<domain>` pointing
 * at 127.0.0.1, so `dig` has something to resolve.
 *
 * @module
 */

import { join } from "node:path";
import type { DevContext } from "../../tasks/up.ts";
import { planService } from "../../tasks/_launcher.ts";

/** Right after MCIAS. */
export const DEV_ORDER = 10;

/** Ports it needs (`dns` is UDP and TCP). */
export const DEV_PORTS = ["https", "grpc", "dns"];

/** The platform domain under `deno task up`: zones `svc.mcp.` and `mcp.` of it. */
export const DEV_DOMAIN = "metacircular.test";

/** The zone the seeded names live in. */
export const DEV_ZONE = `svc.mcp.${DEV_DOMAIN}`;

/** Names seeded into {@linkcode DEV_ZONE}, each an A record for 127.0.0.1. */
export const DEV_NAMES = ["mcias", "mcns"];

function mciasUrl(ctx: DevContext): string {
  const url = ctx.endpoints.mcias?.rest;
  if (url === undefined) {
    throw new Error("MCNS needs MCIAS: services/mcias/dev.ts must start first (DEV_ORDER 0)");
  }
  return url;
}

/** Its dev config. */
export function devConfig(ctx: DevContext): string {
  return `# Written by deno task up.
[server]
listen_addr = "127.0.0.1:${ctx.ports.https}"
grpc_addr = "127.0.0.1:${ctx.ports.grpc}"
tls_cert = ${JSON.stringify(ctx.tls.cert)}
tls_key = ${JSON.stringify(ctx.tls.key)}

[mcias]
server_url = ${JSON.stringify(mciasUrl(ctx))}
ca_cert = ${JSON.stringify(ctx.tls.ca)}
service_name = "mcns"

[database]
path = ${JSON.stringify(`${ctx.dataDir}/mcns.db`)}

[log]
level = "info"

[dns]
listen_addr = "127.0.0.1:${ctx.ports.dns}"
clients = ["127.0.0.1"]
domain = "${DEV_DOMAIN}"
reload_interval = "250ms"
`;
}

/** Endpoints to print. */
export function devEndpoints(ctx: DevContext): Record<string, string> {
  return {
    rest: `https://localhost:${ctx.ports.https}`,
    grpc: `localhost:${ctx.ports.grpc}`,
    dns: `127.0.0.1:${ctx.ports.dns}`,
  };
}

/** Answers 200 once up. */
export function devHealthUrl(ctx: DevContext): string {
  return `https://localhost:${ctx.ports.https}/v1/health`;
}

/**
 * Adds `<name>.svc.mcp.<domain> A 127.0.0.1` with `mcns record add` unless
 * it is there already (a later `up` on the same data directory).
 */
async function seed(config: string, name: string): Promise<void> {
  const plan = await planService("mcns", "record", [
    "add",
    DEV_ZONE,
    "--config",
    config,
    "--name",
    name,
    "--type",
    "A",
    "--value",
    "127.0.0.1",
  ]);
  const out = await new Deno.Command("deno", {
    args: plan.argv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  if (out.code !== 0 && !/exists already/.test(err)) {
    throw new Error(`mcns record add ${name} failed: ${err}`);
  }
}

/** Seeds the example records and prints how to query them. */
export async function devNotes(ctx: DevContext): Promise<string[]> {
  const config = join(ctx.dataDir, "mcns.toml");
  for (const name of DEV_NAMES) await seed(config, name);
  const api = `https://localhost:${ctx.ports.https}/v1/zones/${DEV_ZONE}/records`;
  return [
    `MCNS: ${DEV_NAMES.map((n) => `${n}.${DEV_ZONE}`).join(", ")} → 127.0.0.1`,
    `  resolve:  dig @127.0.0.1 -p ${ctx.ports.dns} mcias.${DEV_ZONE} +short`,
    `  records:  curl --cacert ${ctx.tls.ca} -H "authorization: Bearer $TOKEN" ${api}`,
    `  add:      deno task mcns record add ${DEV_ZONE} --config ${config} ` +
    `--name web --type A --value 127.0.0.1`,
  ];
}
