/**
 * How `deno task up` runs MCIAS: first (every other service needs it), on
 * loopback with the dev CA. After start-up it creates the first admin with
 * `mciasctl init --password-stdin` (the same sandboxed path an operator
 * uses) and prints its credentials; the password is kept in
 * `<data dir>/dev-admin-password` (mode 0600) so later runs print it again.
 *
 * @module
 */

import { join } from "node:path";
import type { DevContext } from "../../tasks/up.ts";
import { planService } from "../../tasks/_launcher.ts";

/** Start before everything else. */
export const DEV_ORDER = 0;

/** Ports it needs. */
export const DEV_PORTS = ["https", "grpc"];

/** The first admin's name under `deno task up`. */
export const DEV_ADMIN = "admin";

/** Its dev config. */
export function devConfig(ctx: DevContext): string {
  return `# Written by deno task up.
[server]
listen_addr = "127.0.0.1:${ctx.ports.https}"
grpc_addr = "127.0.0.1:${ctx.ports.grpc}"
tls_cert = ${JSON.stringify(ctx.tls.cert)}
tls_key = ${JSON.stringify(ctx.tls.key)}

[database]
path = ${JSON.stringify(`${ctx.dataDir}/mcias.db`)}

[log]
level = "info"

[auth]
issuer = "https://localhost:${ctx.ports.https}"

[webauthn]
rp_id = "localhost"
origins = ["https://localhost:${ctx.ports.https}"]
`;
}

/** Endpoints to print (and pass on to later services). */
export function devEndpoints(ctx: DevContext): Record<string, string> {
  return {
    rest: `https://localhost:${ctx.ports.https}`,
    web: `https://localhost:${ctx.ports.https}/login`,
    grpc: `localhost:${ctx.ports.grpc}`,
    jwks: `https://localhost:${ctx.ports.https}/.well-known/jwks.json`,
  };
}

/** Answers 200 once up. */
export function devHealthUrl(ctx: DevContext): string {
  return `https://localhost:${ctx.ports.https}/v1/health`;
}

function randomPassword(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(18));
  return btoa(String.fromCharCode(...bytes)).replaceAll("+", "-").replaceAll("/", "_");
}

/**
 * Makes sure the first admin exists and returns its credentials: runs
 * `mciasctl init` when the data directory has no saved dev password.
 *
 * @param ctx Where the dev MCIAS lives.
 * @returns Username and password (or `undefined` when an admin was created some other way).
 */
export async function ensureDevAdmin(
  ctx: Pick<DevContext, "dataDir">,
): Promise<{ username: string; password: string | undefined }> {
  const saved = join(ctx.dataDir, "dev-admin-password");
  try {
    return { username: DEV_ADMIN, password: (await Deno.readTextFile(saved)).trim() };
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  const password = randomPassword();
  const plan = await planService("mcias", "init", [
    "--config",
    join(ctx.dataDir, "mcias.toml"),
    "--username",
    DEV_ADMIN,
    "--password-stdin",
  ]);
  const child = new Deno.Command("deno", {
    args: plan.argv,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(password + "\n"));
  await writer.close();
  const out = await child.output();
  if (out.code !== 0) {
    const message = new TextDecoder().decode(out.stderr);
    if (/already initialised/.test(message)) return { username: DEV_ADMIN, password: undefined };
    throw new Error(`mciasctl init failed: ${message}`);
  }
  await Deno.writeTextFile(saved, password + "\n", { mode: 0o600 });
  return { username: DEV_ADMIN, password };
}

/** Prints the first admin's credentials and example commands. */
export async function devNotes(ctx: DevContext): Promise<string[]> {
  const { username, password } = await ensureDevAdmin(ctx);
  const config = join(ctx.dataDir, "mcias.toml");
  return [
    `MCIAS admin: ${username} / ${password ?? "(set outside deno task up; not known)"}`,
    `  log in:   curl --cacert ${ctx.tls.ca} -H 'content-type: application/json' ` +
    `-d '{"username":"${username}","password":"…"}' https://localhost:${ctx.ports.https}/v1/auth/login`,
    `  accounts: deno task mcias account list --config ${config}`,
  ];
}
