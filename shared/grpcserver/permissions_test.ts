// The permissions CHURN.md lists are enough: a server and a client each run
// in `deno run` with only those flags, and a call goes through.
import assert from "node:assert/strict";
import { createDevPki, writeDevPki } from "../tls/mod.ts";
import { GRPC_CLIENT_ENV_NAMES, GRPC_SERVER_ENV_NAMES } from "./env_names.ts";

const CONFIG = new URL("../../deno.json", import.meta.url).pathname;
const TESTDATA = new URL("./testdata/", import.meta.url).pathname;

function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function scopedServer(flags: string[], args: string[]): Promise<Deno.ChildProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--config", CONFIG, ...flags, `${TESTDATA}churn_server.ts`, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const { value } = await reader.read();
  await reader.cancel();
  if (!value?.startsWith("READY")) {
    const err = await new Response(child.stderr).text();
    await child.status;
    throw new Error(`scoped server did not start: ${err}`);
  }
  return child;
}

async function stop(child: Deno.ChildProcess): Promise<Deno.CommandStatus> {
  child.kill("SIGTERM");
  const [status, stderr] = await Promise.all([child.status, new Response(child.stderr).text()]);
  assert.equal(stderr.includes("NotCapable"), false, stderr);
  return status;
}

async function scopedPing(flags: string[], args: string[]): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--config", CONFIG, ...flags, `${TESTDATA}ping.ts`, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return out.success ? "ok" : new TextDecoder().decode(out.stderr);
}

Deno.test("a TLS server and client run with only the documented permissions", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const paths = await writeDevPki(dir, await createDevPki({ hosts: ["localhost", "127.0.0.1"] }));
    const port = freePort();
    const server = await scopedServer(
      [
        `--allow-net=127.0.0.1:${port}`,
        `--allow-read=${dir}`,
        `--allow-env=${GRPC_SERVER_ENV_NAMES.join(",")}`,
      ],
      ["--mode", "mcdsl", "--addr", `127.0.0.1:${port}`, "--certs", dir],
    );
    try {
      const ping = await scopedPing(
        [
          `--allow-net=localhost,127.0.0.1:${port}`,
          `--allow-read=${paths.caCert}`,
          `--allow-env=${GRPC_CLIENT_ENV_NAMES.join(",")}`,
        ],
        ["--target", `localhost:${port}`, "--ca", paths.caCert],
      );
      assert.equal(ping, "ok");
    } finally {
      assert.equal((await stop(server)).code, 0);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a unix-socket server and client run with only the documented permissions", async () => {
  const dir = await Deno.makeTempDir();
  const sock = `${dir}/admin.sock`;
  const perms = [
    `--allow-read=${sock}`,
    `--allow-write=${sock}`,
    `--allow-net=unix:${sock}`,
    `--allow-env=${GRPC_SERVER_ENV_NAMES.join(",")}`,
  ];
  try {
    const server = await scopedServer(perms, ["--mode", "mcdsl", "--addr", `unix://${sock}`]);
    try {
      assert.equal(await scopedPing(perms, ["--target", `unix://${sock}`]), "ok");
    } finally {
      assert.equal((await stop(server)).code, 0);
    }
    await assert.rejects(Deno.lstat(sock), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
