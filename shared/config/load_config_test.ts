import assert from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import * as field from "./fields.ts";
import { loadConfig } from "./load_config.ts";
import { STANDARD_SCHEMA } from "./standard.ts";

const CONFIG = `
[server]
listen_addr = ":8443"
tls_cert = "certs/cert.pem"
tls_key = "certs/key.pem"

[database]
path = "demo.db"

[mcias]
server_url = "https://mcias.metacircular.net:8443"
ca_cert = "/etc/ssl/mcias-ca.pem"
service_name = "demo"
`;

const MAIN = new URL("./testdata/scoped_env_main.ts", import.meta.url);
const ROOT_CONFIG = new URL("../../deno.json", import.meta.url);

async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mcdsl_config_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function loadError(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error;
  }
  assert.fail("expected a ConfigError");
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the sandboxed loader in a real `deno run` with exactly the given permissions. */
async function runScoped(
  permissions: string[],
  args: string[],
  env: Record<string, string>,
  cwd?: string,
): Promise<Run> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "--no-prompt",
      `--config=${ROOT_CONFIG.pathname}`,
      ...permissions,
      MAIN.pathname,
      ...args,
    ],
    cwd,
    // Empty means unset to the loader, so stray values in the test's own
    // environment cannot change the outcome; everything else is inherited.
    env: {
      PORT: "",
      PORT_REST: "",
      PORT_GRPC: "",
      NO_COLOR: "1",
      UNRELATED_SECRET: "must-not-be-read",
      ...env,
    },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

Deno.test("loadConfig() reads the file and resolves relative paths against its directory", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/demo.toml`;
    await Deno.writeTextFile(file, CONFIG);
    const config = await loadConfig(file, STANDARD_SCHEMA, {
      service: "demo",
      env: () => undefined,
    });
    assert.equal(config.server.tls_cert, `${dir}/certs/cert.pem`);
    assert.equal(config.server.tls_key, `${dir}/certs/key.pem`);
    assert.equal(config.database.path, `${dir}/demo.db`);
    assert.equal(config.mcias.ca_cert, "/etc/ssl/mcias-ca.pem");
    assert.equal(config.log.level, "info");
  });
});

Deno.test("loadConfig() throws ConfigError naming the path and the fix when the file is missing", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/missing.toml`;
    const error = await loadError(
      loadConfig(file, STANDARD_SCHEMA, { service: "demo", env: () => undefined }),
    );
    assert.equal(error.name, "ConfigError");
    assert.equal(error.source, file);
    assert.ok(error.cause instanceof Deno.errors.NotFound);
    assert.equal(
      error.message,
      `Cannot load config "${file}": the file does not exist; create it (a [server] section ` +
        `with listen_addr, tls_cert and tls_key, a [database] section with path, and so on) or ` +
        `pass --config with the path of the service's config`,
    );
  });
});

Deno.test("loadConfig() throws ConfigError when the path is a directory", async () => {
  await withTempDir(async (dir) => {
    const error = await loadError(loadConfig(dir, {}, { service: "demo", env: () => undefined }));
    assert.equal(
      error.message,
      `Cannot load config "${dir}": it is a directory; pass the path of the TOML file itself`,
    );
  });
});

Deno.test("loadConfig() names the file and line of a TOML syntax error", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/demo.toml`;
    await Deno.writeTextFile(file, `[server]\nlisten_addr = ":8443"\n[database\npath = "x"\n`);
    const error = await loadError(
      loadConfig(file, STANDARD_SCHEMA, { service: "demo", env: () => undefined }),
    );
    assert.equal(error.line, 3);
    assert.match(
      error.message,
      new RegExp(`^Cannot load config "${file}": TOML syntax error at line 3,`),
    );
  });
});

Deno.test("loadConfig() names the file in every schema problem of a file it read", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/demo.toml`;
    await Deno.writeTextFile(
      file,
      CONFIG.replace(`listen_addr = ":8443"`, `listen_addr = ":http"`),
    );
    const schema = { ...STANDARD_SCHEMA, demo: field.table({ workers: field.int() }) };
    const error = await loadError(
      loadConfig(file, schema, { service: "demo", env: () => undefined }),
    );
    assert.equal(
      error.message,
      `Cannot load config "${file}": found 2 problems; fix them and start again\n` +
        `  - server.listen_addr: expected a listen address such as ":8443", "127.0.0.1:8443" or ` +
        `"[::1]:8443", found string ":http" (port "http" is not a number); fix it in [server], ` +
        `e.g. listen_addr = ":8443"\n` +
        `  - demo.workers: required key is missing, expected an integer; add workers = 1 in [demo] ` +
        `or set DEMO_DEMO_WORKERS`,
    );
  });
});

Deno.test("loadConfig() works under --allow-env granting only PORT, PORT_* and DEMO_*", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/demo.toml`;
    await Deno.writeTextFile(file, CONFIG);
    const run = await runScoped(
      [`--allow-read=${file}`, "--allow-env=PORT,PORT_*,DEMO_*"],
      [file],
      {
        PORT: "12345",
        PORT_GRPC: "12346",
        DEMO_SERVER_LISTEN_ADDR: "127.0.0.1:1",
        DEMO_LOG_LEVEL: "debug",
        DEMO_MCIAS_TAGS: "env:restricted,team:infra",
        DEMO_DEMO_WORKERS: "8",
        DEMO_DEMO_TIMEOUT: "1m30s",
      },
    );
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    assert.deepEqual(JSON.parse(run.stdout), {
      server: {
        listen_addr: "0.0.0.0:12345",
        grpc_addr: "0.0.0.0:12346",
        tls_cert: `${dir}/certs/cert.pem`,
        tls_key: `${dir}/certs/key.pem`,
      },
      database: { path: `${dir}/demo.db` },
      mcias: {
        server_url: "https://mcias.metacircular.net:8443",
        ca_cert: "/etc/ssl/mcias-ca.pem",
        service_name: "demo",
        tags: ["env:restricted", "team:infra"],
      },
      log: { level: "debug" },
      demo: { workers: 8, timeout: 90_000 },
    });
  });
});

Deno.test("loadConfig() reads a variable the sandbox does not grant as unset", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/demo.toml`;
    await Deno.writeTextFile(file, CONFIG);
    const run = await runScoped([`--allow-read=${file}`, "--allow-env=PORT"], [file], {
      PORT: "12345",
      DEMO_LOG_LEVEL: "debug",
    });
    assert.equal(run.stderr, "");
    assert.equal(run.code, 0);
    const config = JSON.parse(run.stdout);
    assert.equal(config.server.listen_addr, "0.0.0.0:12345");
    assert.equal(config.log.level, "info");
  });
});

Deno.test("loadConfig() under the sandbox reports bad values and a relative path from the cwd", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/demo.toml`;
    await Deno.writeTextFile(file, CONFIG);
    const run = await runScoped(
      [`--allow-read=${dir}`, "--allow-env=PORT,PORT_*,DEMO_*"],
      ["demo.toml"],
      { PORT: "70000", DEMO_DEMO_WORKERS: "0" },
      dir,
    );
    assert.equal(run.code, 2);
    assert.equal(
      run.stderr,
      `Cannot load config "${file}": found 2 problems; fix them and start again\n` +
        `  - PORT (overrides server.listen_addr): expected a port number from 1 to 65535, ` +
        `found "70000"; fix or unset PORT\n` +
        `  - DEMO_DEMO_WORKERS (overrides demo.workers): expected an integer of at least 1, ` +
        `found "0" (below 1); fix or unset DEMO_DEMO_WORKERS\n`,
    );
  });
});

Deno.test("loadConfig() tells the operator which --allow-read the sandbox lacks", async () => {
  await withTempDir(async (dir) => {
    const file = `${dir}/demo.toml`;
    await Deno.writeTextFile(file, CONFIG);
    const run = await runScoped([`--allow-read=${dir}/other.toml`, "--allow-env=PORT"], [file], {});
    assert.equal(run.code, 2);
    assert.equal(
      run.stderr,
      `Cannot load config "${file}": the sandbox does not allow reading it; ` +
        `run the service with --allow-read=${file}\n`,
    );
  });
});
