/**
 * MC-Proxy as a real process under exactly the flags its sandbox manifest
 * gives it (tasks/_launcher.ts): it serves, drains on SIGTERM, keeps its
 * store across a restart, and is denied what it did not declare.
 */
import assert from "node:assert/strict";
import { connect as tlsConnect, createServer as tlsServer, type TLSSocket } from "node:tls";
import { join, resolve } from "node:path";
import { Buffer } from "node:buffer";
import { freePort, run } from "@mc/mcdsl/testing";
import { createDevPki } from "@mc/mcdsl/tls";
import { planService } from "../../tasks/_launcher.ts";
import { openProxyStore } from "./store.ts";
import { waitForPort } from "./_testing.ts";

const ROOT = resolve(import.meta.dirname!, "../..");

interface ProxyDir extends AsyncDisposable {
  root: string;
  dataDir: string;
  config: string;
  port: number;
  backendPort: number;
}

async function makeDir(backendPort: number): Promise<ProxyDir> {
  const root = await Deno.makeTempDir({ prefix: "mcproxy_proc_" });
  const dataDir = join(root, "data");
  await Deno.mkdir(dataDir);
  const port = freePort();
  const config = join(root, "mc-proxy.toml");
  await Deno.writeTextFile(
    config,
    `
[database]
path = "data/mc-proxy.db"

[[listeners]]
addr = "127.0.0.1:${port}"

[[listeners.routes]]
hostname = "a.test"
backend = "127.0.0.1:${backendPort}"

[firewall]
geoip_db = "/work/shared/testdata/geoip/GeoLite2-Country-Test.mmdb"
blocked_countries = ["GB"]

[proxy]
connect_timeout = "2s"
shutdown_timeout = "2s"

[log]
level = "info"
`,
  );
  return {
    root,
    dataDir,
    config,
    port,
    backendPort,
    [Symbol.asyncDispose]: () => Deno.remove(root, { recursive: true }),
  };
}

async function startProcess(dir: ProxyDir) {
  const plan = await planService("mc-proxy", "server", ["--config", dir.config]);
  const child = new Deno.Command(Deno.execPath(), {
    args: plan.argv,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  const err = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const pump = async (r: ReadableStreamDefaultReader<string>) => {
    for (;;) {
      const { value, done } = await r.read();
      if (done) return;
      text += value;
    }
  };
  const pumps = Promise.all([pump(out), pump(err)]);
  try {
    await waitForPort(dir.port, 15_000);
  } catch (e) {
    child.kill("SIGKILL");
    await child.status;
    await pumps;
    throw new Error(`${(e as Error).message}\n${text}`);
  }
  return {
    plan,
    output: () => text,
    async stop(): Promise<number> {
      child.kill("SIGTERM");
      const { code } = await child.status;
      await pumps;
      return code;
    },
  };
}

function fetchGreeting(port: number, servername: string): Promise<string> {
  return new Promise((resolve) => {
    const s: TLSSocket = tlsConnect({
      host: "127.0.0.1",
      port,
      servername,
      rejectUnauthorized: false,
    });
    const chunks: Buffer[] = [];
    let secure = false;
    let code = "";
    const timer = setTimeout(() => s.destroy(), 5000);
    s.on("secureConnect", () => secure = true);
    s.on("data", (c: Buffer) => chunks.push(c));
    s.on("error", (e: NodeJS.ErrnoException) => code ||= e.code ?? e.message);
    s.on("close", () => {
      clearTimeout(timer);
      resolve(secure ? Buffer.concat(chunks).toString() : `refused ${code}`);
    });
  });
}

Deno.test("mc-proxy server relays under its sandbox, drains on SIGTERM and keeps its routes across a restart", async () => {
  const pki = await createDevPki({ hosts: ["a.test", "b.test"] });
  const backend = tlsServer({ cert: pki.server.cert, key: pki.server.key }, (s) => {
    s.on("error", () => {});
    s.end(`hello ${(s as unknown as { servername: string }).servername}`);
  });
  await new Promise<void>((r) => backend.listen(0, "127.0.0.1", r));
  const backendPort = (backend.address() as { port: number }).port;
  try {
    await using dir = await makeDir(backendPort);
    const first = await startProcess(dir);
    assert.ok(
      !first.plan.flags.some((f) =>
        /^(-A|--allow-all|--allow-ffi|--allow-run|--allow-sys)/.test(f)
      ),
    );
    assert.ok(
      first.plan.flags.includes(`--allow-net=127.0.0.1:${dir.port},127.0.0.1:${backendPort}`),
      first.plan.flags.join(" "),
    );
    assert.equal(await fetchGreeting(dir.port, "a.test"), "hello a.test", first.output());
    assert.equal(await fetchGreeting(dir.port, "b.test"), "refused ECONNRESET");
    assert.equal(await first.stop(), 0, first.output());
    assert.match(first.output(), /store seeded from config/);
    assert.match(first.output(), /draining/);
    assert.doesNotMatch(first.output(), /"level":"error"/);

    // Change the store while the proxy is down (as the admin API would have):
    // a new route to the same (granted) backend.
    {
      using store = openProxyStore(join(dir.dataDir, "mc-proxy.db"));
      store.upsertRoute({
        listener: `127.0.0.1:${dir.port}`,
        hostname: "b.test",
        backend: `127.0.0.1:${backendPort}`,
        mode: "l4",
        backendTls: false,
        sendProxyProtocol: false,
      });
    }
    const second = await startProcess(dir);
    assert.equal(await fetchGreeting(dir.port, "b.test"), "hello b.test");
    assert.equal(await second.stop(), 0, second.output());
    assert.match(second.output(), /store loaded/);
  } finally {
    await new Promise((r) => backend.close(r));
  }
});

Deno.test("mc-proxy sandbox denies what its manifest does not declare", async () => {
  await using dir = await makeDir(freePort());
  const other = await Deno.makeTempDir({ prefix: "other_" });
  try {
    const plan = await planService("mc-proxy", "server", ["--config", dir.config]);
    const probe = join(ROOT, "tests/sandbox_probe.ts");
    const out = await run(Deno.execPath(), [
      "run",
      ...plan.flags,
      `--allow-read=${probe}`,
      probe,
      other,
      String(freePort()),
      dir.dataDir,
    ]);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), {
      readOtherDir: "denied",
      writeOtherDir: "denied",
      readEtc: "denied",
      listenOtherPort: "denied",
      connectOut: "denied",
      envHome: "denied",
      envAll: "denied",
      run: "denied",
      ffi: "denied",
      sys: "denied",
      importDenoLand: "denied",
      importEsmSh: "denied",
      importJsdelivr: "denied",
      writeOwnDataDir: "allowed",
    });
  } finally {
    await Deno.remove(other, { recursive: true });
  }
});
