/**
 * Test helpers for this package: a capturing logger, a fake token
 * validator and a temporary development PKI.
 *
 * @module
 */

import { createLogger, type Logger } from "../log/mod.ts";
import type { TokenInfo, TokenValidator } from "../auth/types.ts";
import { createDevPki, type DevPkiPaths, writeDevPki } from "../tls/mod.ts";

/** A logger at debug level that keeps its lines. */
export function captureLogger(): {
  logger: Logger;
  lines: string[];
  records: () => Record<string, unknown>[];
} {
  const lines: string[] = [];
  const logger = createLogger({ level: "debug", write: (line) => lines.push(line) });
  return { logger, lines, records: () => lines.map((line) => JSON.parse(line)) };
}

/**
 * A validator knowing three tokens: `user-token` (role user),
 * `admin-token` (role admin) and `expired-token` (invalid); `broken-token`
 * makes it throw as an unreachable MCIAS would. Counts calls.
 */
export class FakeValidator implements TokenValidator {
  calls: string[] = [];

  validate(token: string): Promise<TokenInfo> {
    this.calls.push(token);
    if (token === "broken-token") {
      return Promise.reject(new Error("connect ECONNREFUSED mcias:8443"));
    }
    const known: Record<string, string[]> = { "user-token": ["user"], "admin-token": ["admin"] };
    const roles = known[token];
    return Promise.resolve({
      valid: roles !== undefined,
      username: roles === undefined ? "" : token.replace("-token", ""),
      accountType: "human",
      roles: roles ?? [],
      expiresAt: new Date(Date.now() + 60_000),
    });
  }
}

/** A temporary directory holding a dev PKI; removed on dispose. */
export async function tempPki(): Promise<
  DevPkiPaths & { dir: string; caPem: string } & AsyncDisposable
> {
  const dir = await Deno.makeTempDir({ prefix: "httpserver_test_" });
  const paths = await writeDevPki(dir, await createDevPki());
  return {
    ...paths,
    dir,
    caPem: await Deno.readTextFile(paths.caCert),
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** Runs a command and returns its exit code and text output. */
export async function run(
  cmd: string,
  args: string[],
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode(stdin));
    await writer.close();
  }
  const { code, stdout, stderr } = await child.output();
  const text = new TextDecoder();
  return { code, stdout: text.decode(stdout), stderr: text.decode(stderr) };
}
