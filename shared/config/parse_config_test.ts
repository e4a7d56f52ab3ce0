import assert from "node:assert/strict";
import { ConfigError } from "./config_error.ts";
import * as field from "./fields.ts";
import { parseConfig, type ParseConfigOptions } from "./parse_config.ts";
import { SSO_SECTION, STANDARD_SCHEMA } from "./standard.ts";
import type { Schema } from "./schema.ts";

const SOURCE = "/srv/mcr/mcr.toml";

const VALID = `
[server]
listen_addr = ":8443"
grpc_addr = ":9443"
tls_cert = "/srv/mcr/certs/cert.pem"
tls_key = "/srv/mcr/certs/key.pem"

[database]
path = "/srv/mcr/mcr.db"

[mcias]
server_url = "https://mcias.metacircular.net:8443"
ca_cert = ""
service_name = "mcr"
tags = []

[log]
level = "info"
`;

function envOf(vars: Record<string, string>): (name: string) => string | undefined {
  return (name) => Object.hasOwn(vars, name) ? vars[name] : undefined;
}

function options(vars: Record<string, string> = {}): ParseConfigOptions {
  return { service: "mcr", source: SOURCE, env: envOf(vars) };
}

/** Runs `fn`, asserts it throws a ConfigError, returns it. */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected ConfigError, got ${error}`);
    return error;
  }
  assert.fail("expected a ConfigError");
}

/** The problem lines of a ConfigError message. */
function lines(error: ConfigError): string[] {
  return error.message.split("\n").slice(1).map((l) => l.replace(/^ {2}- /, ""));
}

Deno.test("parseConfig() returns the standard sections typed, with defaults applied", () => {
  const config = parseConfig(
    VALID.replace(`[log]\nlevel = "info"\n`, ""),
    STANDARD_SCHEMA,
    options(),
  );
  assert.deepEqual(config, {
    server: {
      listen_addr: ":8443",
      grpc_addr: ":9443",
      tls_cert: "/srv/mcr/certs/cert.pem",
      tls_key: "/srv/mcr/certs/key.pem",
    },
    database: { path: "/srv/mcr/mcr.db" },
    mcias: {
      server_url: "https://mcias.metacircular.net:8443",
      ca_cert: undefined,
      service_name: "mcr",
      tags: [],
    },
    log: { level: "info" },
  });
});

Deno.test("parseConfig() infers the config type from the schema", () => {
  const schema = {
    ...STANDARD_SCHEMA,
    sso: SSO_SECTION,
    storage: field.table({
      root: field.path(),
      quota: field.int({ optional: true }),
      gc: field.duration({ default: "1h" }),
      mode: field.oneOf(["fast", "safe"], { default: "safe" }),
    }),
  };
  const config = parseConfig(VALID + `[storage]\nroot = "blobs"\n`, schema, options());
  // Compile-time checks: each line fails `deno check` if the inferred type is wrong.
  const listen: string = config.server.listen_addr;
  const grpc: string | undefined = config.server.grpc_addr;
  // @ts-expect-error grpc_addr is optional, so it may be undefined
  const grpcRequired: string = config.server.grpc_addr;
  const level: "debug" | "info" | "warn" | "error" = config.log.level;
  const tags: string[] = config.mcias.tags;
  const redirect: string | undefined = config.sso.redirect_uri;
  const quota: number | undefined = config.storage.quota;
  const gc: number = config.storage.gc;
  const mode: "fast" | "safe" = config.storage.mode;
  assert.deepEqual([listen, grpc, grpcRequired, level, tags, redirect, quota, gc, mode], [
    ":8443",
    ":9443",
    ":9443",
    "info",
    [],
    undefined,
    undefined,
    3_600_000,
    "safe",
  ]);
});

Deno.test("parseConfig() reports an unknown key with file, dotted key and allowed keys", () => {
  const error = configError(() =>
    parseConfig(VALID.replace(`grpc_addr`, `tls_crt = "x"\ngrpc_addr`), STANDARD_SCHEMA, options())
  );
  assert.equal(error.name, "ConfigError");
  assert.equal(error.source, SOURCE);
  assert.equal(
    error.message,
    `Cannot load config "/srv/mcr/mcr.toml": found 1 problem; fix it and start again\n` +
      `  - server.tls_crt: unknown key; did you mean tls_cert? remove it or fix its name ` +
      `(keys allowed in [server]: listen_addr, grpc_addr, tls_cert, tls_key)`,
  );
  assert.deepEqual(error.problems.map((p) => p.key), ["server.tls_crt"]);
});

Deno.test("parseConfig() reports an unknown section at the top level", () => {
  const error = configError(() =>
    parseConfig(VALID + `[metrics]\nenabled = true\n`, STANDARD_SCHEMA, options())
  );
  assert.deepEqual(lines(error), [
    "metrics: unknown section [metrics]; remove it or fix its name " +
    "(keys allowed at the top level: server, database, mcias, log)",
  ]);
});

Deno.test("parseConfig() reports a wrong type naming key, expected, found and the fix", () => {
  const error = configError(() =>
    parseConfig(
      VALID.replace(`listen_addr = ":8443"`, `listen_addr = 8443`),
      STANDARD_SCHEMA,
      options(),
    )
  );
  assert.match(error.message, /^Cannot load config "\/srv\/mcr\/mcr\.toml": found 1 problem/);
  assert.deepEqual(lines(error), [
    `server.listen_addr: expected a listen address such as ":8443", "127.0.0.1:8443" or ` +
    `"[::1]:8443", found integer 8443; fix it in [server], e.g. listen_addr = ":8443"`,
  ]);
});

Deno.test("parseConfig() reports a missing required key with where to add it and its variable", () => {
  const error = configError(() =>
    parseConfig(VALID.replace(`path = "/srv/mcr/mcr.db"`, ""), STANDARD_SCHEMA, options())
  );
  assert.deepEqual(lines(error), [
    `database.path: required key is missing, expected a file path; ` +
    `add path = "/srv/<service>/<service>.db" in [database] or set MCR_DATABASE_PATH`,
  ]);
});

Deno.test("parseConfig() reports required keys of an absent section", () => {
  const error = configError(() =>
    parseConfig(
      VALID.replace(`[database]\npath = "/srv/mcr/mcr.db"`, ""),
      STANDARD_SCHEMA,
      options(),
    )
  );
  assert.deepEqual(error.problems.map((p) => p.key), ["database.path"]);
});

Deno.test("parseConfig() reports an empty required string as empty", () => {
  const error = configError(() =>
    parseConfig(
      VALID.replace(`service_name = "mcr"`, `service_name = ""`),
      STANDARD_SCHEMA,
      options(),
    )
  );
  assert.deepEqual(lines(error), [
    `mcias.service_name: required key is empty, expected a string; ` +
    `add service_name = "<service>" in [mcias] or set MCR_MCIAS_SERVICE_NAME`,
  ]);
});

Deno.test("parseConfig() reports a missing top-level key as belonging before any section", () => {
  const schema = { name: field.string(), node: field.string() };
  const error = configError(() => parseConfig(`node = "rift"`, schema, options()));
  assert.deepEqual(lines(error), [
    `name: required key is missing, expected a string; ` +
    `add name = "..." at the top of the file, before any [section] or set MCR_NAME`,
  ]);
});

Deno.test("parseConfig() collects every problem into one error, one per line", () => {
  const text = `
[server]
listen_addr = 8443
tls_cert = "cert.pem"
tls_key = "key.pem"
bogus = 1
[database]
[mcias]
server_url = "http://mcias.example"
service_name = "mcr"
tags = ["a", 3]
[log]
level = "verbose"
`;
  const error = configError(() => parseConfig(text, STANDARD_SCHEMA, options()));
  assert.match(error.message, /found 6 problems; fix them and start again\n/);
  assert.deepEqual(error.problems.map((p) => p.key), [
    "server.bogus",
    "server.listen_addr",
    "database.path",
    "mcias.server_url",
    "mcias.tags",
    "log.level",
  ]);
  const got = lines(error);
  assert.equal(got.length, 6);
  assert.match(
    got[3],
    /^mcias\.server_url: expected an https:\/\/ URL, found string "http:\/\/mcias\.example" \(scheme http:\); fix it in \[mcias\]/,
  );
  assert.match(
    got[4],
    /^mcias\.tags: expected an array of strings, found an array of 2 items \(item 1 is not a string\)/,
  );
  assert.match(
    got[5],
    /^log\.level: expected one of "debug", "info", "warn" or "error", found string "verbose"; fix it in \[log\], e.g\. level = "debug"$/,
  );
});

Deno.test("parseConfig() tells a TOML float from an integer and checks ranges", () => {
  const schema = { pool: field.table({ size: field.int({ min: 1, max: 64 }) }) };
  const float = configError(() => parseConfig(`[pool]\nsize = 8.0`, schema, options()));
  assert.deepEqual(lines(float), [
    "pool.size: expected an integer from 1 to 64, found float 8.0; fix it in [pool], e.g. size = 1",
  ]);
  const big = configError(() => parseConfig(`[pool]\nsize = 65`, schema, options()));
  assert.match(
    big.message,
    /pool\.size: expected an integer from 1 to 64, found integer 65 \(above 64\)/,
  );
  assert.equal(parseConfig(`[pool]\nsize = 64`, schema, options()).pool.size, 64);
});

Deno.test("parseConfig() reads numbers, booleans and dates as their TOML types", () => {
  const schema = {
    ratio: field.number({ max: 1 }),
    on: field.bool(),
    off: field.bool({ default: false }),
  };
  assert.deepEqual(parseConfig(`ratio = 0.5\non = true`, schema, options()), {
    ratio: 0.5,
    on: true,
    off: false,
  });
  assert.equal(parseConfig(`ratio = 1\non = false`, schema, options()).ratio, 1);
  const error = configError(() => parseConfig(`ratio = 2\non = 1979-05-27`, schema, options()));
  assert.deepEqual(lines(error), [
    "ratio: expected a number of at most 1, found integer 2 (above 1); fix it at the top level, e.g. ratio = 1",
    "on: expected true or false, found date-time 1979-05-27; fix it at the top level, e.g. on = true",
  ]);
});

Deno.test("parseConfig() reports a section written as a plain value", () => {
  const error = configError(() =>
    parseConfig(
      `log = "debug"\n` + VALID.replace(`[log]\nlevel = "info"\n`, ""),
      STANDARD_SCHEMA,
      options(),
    )
  );
  assert.deepEqual(lines(error), [
    `log: expected a table [log], found string "debug"; write it as a [log] section with its keys below it`,
  ]);
});

Deno.test("parseConfig() throws ConfigError with file, line and column on a TOML syntax error", () => {
  const error = configError(() =>
    parseConfig(
      `[server]\nlisten_addr = ":8443"\ntls_cert = "unterminated\n`,
      STANDARD_SCHEMA,
      options(),
    )
  );
  assert.equal(error.line, 3);
  assert.equal(typeof error.column, "number");
  assert.match(
    error.message,
    /^Cannot load config "\/srv\/mcr\/mcr\.toml": TOML syntax error at line 3, column \d+: .+; fix the syntax there$/,
  );
  assert.deepEqual(error.problems, []);
});

Deno.test("parseConfig() never repeats source text, which may hold a secret, in a TOML syntax error", () => {
  const secret = "hunter2-very-secret";
  for (
    const text of [
      `[mcias]\npassword = "${secret}\n`,
      `[mcias]\npassword = ${secret}\n`,
      `[mcias]\npassword = "${secret}" x\n`,
      `[mcias]\n${secret} = = 1\n`,
    ]
  ) {
    const error = configError(() => parseConfig(text, STANDARD_SCHEMA, options()));
    assert.equal(error.line, 2);
    assert.match(
      error.message,
      /^Cannot load config "\/srv\/mcr\/mcr\.toml": TOML syntax error at line 2, column \d+: [a-z][^"\n]*; fix the syntax there$/,
    );
    for (const shown of [String(error), error.message, String(error.cause), error.stack ?? ""]) {
      assert.ok(!shown.includes("hunter2"), shown);
    }
    assert.equal(error.cause, undefined);
  }
});

Deno.test("parseConfig() names the source label, or <inline config> when none is given", () => {
  const error = configError(() =>
    parseConfig(`x = 1`, { y: field.int() }, { service: "demo", env: () => undefined })
  );
  assert.match(error.message, /^Cannot load config "<inline config>": found 2 problems/);
  assert.equal(error.source, "<inline config>");
});

Deno.test("parseConfig() hides secret values in messages", () => {
  const schema = { db: field.table({ password: field.string({ secret: true }) }) };
  const error = configError(() =>
    parseConfig(`[db]\npassword = 12345`, schema, options({ MCR_DB_PASSWORD: "" }))
  );
  assert.match(error.message, /db\.password: expected a string, found integer 12345/);
  const fromEnv = configError(() => parseConfig(`[db]\npassword = ["hunter2"]`, schema, options()));
  assert.doesNotMatch(fromEnv.message, /hunter2/);
  const durationSecret = { token: field.string({ secret: true, validate: () => "too short" }) };
  const validated = configError(() =>
    parseConfig(`token = "s3cr3t-value"`, durationSecret, options())
  );
  assert.doesNotMatch(validated.message, /s3cr3t/);
  assert.match(
    validated.message,
    /token: expected a string, found a string \(value hidden\) \(too short\)/,
  );
});

Deno.test("parseConfig() overrides keys from $<SERVICE>_<SECTION>_<KEY>, parsed by type", () => {
  const schema = {
    ...STANDARD_SCHEMA,
    storage: field.table({
      max_uploads: field.int({ default: 4 }),
      gc_interval: field.duration({ default: "1h" }),
      read_only: field.bool({ default: false }),
      ratio: field.number({ default: 1 }),
      mirrors: field.stringArray({ default: [] }),
    }),
  };
  const config = parseConfig(
    VALID,
    schema,
    options({
      MCR_SERVER_LISTEN_ADDR: ":9999",
      MCR_LOG_LEVEL: "debug",
      MCR_MCIAS_TAGS: "env:restricted, team:infra,,",
      MCR_MCIAS_CA_CERT: "/etc/ssl/ca.pem",
      MCR_STORAGE_MAX_UPLOADS: "16",
      MCR_STORAGE_GC_INTERVAL: "1h30m",
      MCR_STORAGE_READ_ONLY: "TRUE",
      MCR_STORAGE_RATIO: "0.25",
      MCR_STORAGE_MIRRORS: "a.example:443",
    }),
  );
  assert.equal(config.server.listen_addr, ":9999");
  assert.equal(config.log.level, "debug");
  assert.deepEqual(config.mcias.tags, ["env:restricted", "team:infra"]);
  assert.equal(config.mcias.ca_cert, "/etc/ssl/ca.pem");
  assert.deepEqual(config.storage, {
    max_uploads: 16,
    gc_interval: 5_400_000,
    read_only: true,
    ratio: 0.25,
    mirrors: ["a.example:443"],
  });
  assert.equal(
    parseConfig(VALID, schema, options({ MCR_STORAGE_READ_ONLY: "0" })).storage.read_only,
    false,
  );
});

Deno.test("parseConfig() fills a missing required key from its variable", () => {
  const config = parseConfig(
    VALID.replace(`path = "/srv/mcr/mcr.db"`, ""),
    STANDARD_SCHEMA,
    options({ MCR_DATABASE_PATH: "/data/mcr.db" }),
  );
  assert.equal(config.database.path, "/data/mcr.db");
});

Deno.test("parseConfig() treats an empty variable as unset", () => {
  const config = parseConfig(
    VALID,
    STANDARD_SCHEMA,
    options({ MCR_SERVER_LISTEN_ADDR: "", PORT: "" }),
  );
  assert.equal(config.server.listen_addr, ":8443");
});

Deno.test("parseConfig() reports bad variables naming the variable, the key and what was expected", () => {
  const schema = {
    ...STANDARD_SCHEMA,
    storage: field.table({
      max_uploads: field.int({ default: 4 }),
      gc_interval: field.duration({ default: "1h" }),
      read_only: field.bool({ default: false }),
    }),
  };
  const error = configError(() =>
    parseConfig(
      VALID,
      schema,
      options({
        MCR_SERVER_LISTEN_ADDR: "9999",
        MCR_LOG_LEVEL: "loud",
        MCR_STORAGE_MAX_UPLOADS: "4.5",
        MCR_STORAGE_GC_INTERVAL: "10",
        MCR_STORAGE_READ_ONLY: "yes",
      }),
    )
  );
  assert.deepEqual(error.problems.map((p) => p.env), [
    "MCR_SERVER_LISTEN_ADDR",
    "MCR_LOG_LEVEL",
    "MCR_STORAGE_MAX_UPLOADS",
    "MCR_STORAGE_GC_INTERVAL",
    "MCR_STORAGE_READ_ONLY",
  ]);
  assert.deepEqual(lines(error), [
    `MCR_SERVER_LISTEN_ADDR (overrides server.listen_addr): expected a listen address such as ` +
    `":8443", "127.0.0.1:8443" or "[::1]:8443", found "9999" (there is no ":port" part, e.g. ":9999"); ` +
    `fix or unset MCR_SERVER_LISTEN_ADDR`,
    `MCR_LOG_LEVEL (overrides log.level): expected one of "debug", "info", "warn" or "error", ` +
    `found "loud"; fix or unset MCR_LOG_LEVEL`,
    `MCR_STORAGE_MAX_UPLOADS (overrides storage.max_uploads): expected an integer, found "4.5"; ` +
    `fix or unset MCR_STORAGE_MAX_UPLOADS`,
    `MCR_STORAGE_GC_INTERVAL (overrides storage.gc_interval): expected a duration such as "500ms", ` +
    `"10s", "5m" or "1h30m", found "10" ("10" is missing a unit (h, m, s or ms)); ` +
    `fix or unset MCR_STORAGE_GC_INTERVAL`,
    `MCR_STORAGE_READ_ONLY (overrides storage.read_only): expected true or false, found "yes"; ` +
    `fix or unset MCR_STORAGE_READ_ONLY`,
  ]);
});

Deno.test("parseConfig() derives variable names with '-' in the service name as '_'", () => {
  const config = parseConfig(VALID, STANDARD_SCHEMA, {
    service: "mc-proxy",
    env: envOf({ MC_PROXY_SERVER_LISTEN_ADDR: "127.0.0.1:7443" }),
  });
  assert.equal(config.server.listen_addr, "127.0.0.1:7443");
});

Deno.test("parseConfig() lets $PORT and $PORT_GRPC win over TOML and service variables", () => {
  const config = parseConfig(
    VALID,
    STANDARD_SCHEMA,
    options({
      PORT: "20443",
      PORT_GRPC: "20444",
      MCR_SERVER_LISTEN_ADDR: "127.0.0.1:9999",
      MCR_SERVER_GRPC_ADDR: "127.0.0.1:9998",
    }),
  );
  assert.equal(config.server.listen_addr, "0.0.0.0:20443");
  assert.equal(config.server.grpc_addr, "0.0.0.0:20444");
});

Deno.test("parseConfig() lets $PORT fill a listen address the file lacks", () => {
  const config = parseConfig(
    VALID.replace(`listen_addr = ":8443"\ngrpc_addr = ":9443"\n`, ""),
    STANDARD_SCHEMA,
    options({ PORT: "10000" }),
  );
  assert.equal(config.server.listen_addr, "0.0.0.0:10000");
  assert.equal(config.server.grpc_addr, undefined);
});

Deno.test("parseConfig() uses $PORT_REST for the listen address, $PORT first when both are set", () => {
  const rest = parseConfig(VALID, STANDARD_SCHEMA, options({ PORT_REST: "10001" }));
  assert.equal(rest.server.listen_addr, "0.0.0.0:10001");
  const both = parseConfig(VALID, STANDARD_SCHEMA, options({ PORT: "10002", PORT_REST: "10001" }));
  assert.equal(both.server.listen_addr, "0.0.0.0:10002");
});

Deno.test("parseConfig() rejects a port variable outside 1..65535", () => {
  for (const bad of ["0", "65536", "http", "-1", "8443.0"]) {
    const error = configError(() => parseConfig(VALID, STANDARD_SCHEMA, options({ PORT: bad })));
    assert.deepEqual(lines(error), [
      `PORT (overrides server.listen_addr): expected a port number from 1 to 65535, ` +
      `found ${JSON.stringify(bad)}; fix or unset PORT`,
    ]);
    assert.equal(error.problems[0].env, "PORT");
  }
  const grpc = configError(() =>
    parseConfig(VALID, STANDARD_SCHEMA, options({ PORT_GRPC: "99999" }))
  );
  assert.match(
    grpc.message,
    /PORT_GRPC \(overrides server\.grpc_addr\): expected a port number from 1 to 65535, found "99999"/,
  );
});

Deno.test("parseConfig() maps custom port variables to other listen addresses", () => {
  const schema = { web: field.table({ listen_addr: field.listenAddr() }) };
  const config = parseConfig(`[web]\nlisten_addr = "127.0.0.1:8080"`, schema, {
    ...options({ PORT_WEB: "18080", PORT: "1" }),
    ports: { PORT_WEB: "web.listen_addr" },
  });
  assert.equal(config.web.listen_addr, "0.0.0.0:18080");
});

Deno.test("parseConfig() asks the env lookup only for names derived from the schema", () => {
  const asked: string[] = [];
  parseConfig(VALID, { ...STANDARD_SCHEMA, sso: SSO_SECTION }, {
    service: "mcr",
    env: (name) => {
      asked.push(name);
      return undefined;
    },
  });
  assert.deepEqual([...new Set(asked)].sort(), [
    "MCR_DATABASE_PATH",
    "MCR_LOG_LEVEL",
    "MCR_MCIAS_CA_CERT",
    "MCR_MCIAS_SERVER_URL",
    "MCR_MCIAS_SERVICE_NAME",
    "MCR_MCIAS_TAGS",
    "MCR_SERVER_GRPC_ADDR",
    "MCR_SERVER_LISTEN_ADDR",
    "MCR_SERVER_TLS_CERT",
    "MCR_SERVER_TLS_KEY",
    "MCR_SSO_REDIRECT_URI",
    "PORT",
    "PORT_GRPC",
    "PORT_REST",
  ]);
});

Deno.test("parseConfig() gives undefined for an absent optional section unless a variable sets it", () => {
  const schema = {
    metrics: field.table({
      listen_addr: field.listenAddr(),
      path: field.string({ default: "/metrics" }),
    }, {
      optional: true,
    }),
  };
  assert.deepEqual(parseConfig("", schema, options()), { metrics: undefined });
  assert.deepEqual(
    parseConfig("", schema, options({ MCR_METRICS_LISTEN_ADDR: "127.0.0.1:9100" })),
    { metrics: { listen_addr: "127.0.0.1:9100", path: "/metrics" } },
  );
  const present = configError(() => parseConfig("[metrics]", schema, options()));
  assert.deepEqual(present.problems.map((p) => p.key), ["metrics.listen_addr"]);
});

Deno.test("parseConfig() reads arrays of tables and reports problems by index and ordinal", () => {
  const schema = {
    sso_clients: field.tables({
      client_id: field.string(),
      redirect_uri: field.url(),
      service_name: field.string(),
    }),
  };
  const text = `
[[sso_clients]]
client_id = "mcr"
redirect_uri = "https://mcr.svc.mcp.metacircular.net/sso/callback"
service_name = "mcr"

[[sso_clients]]
client_id = "metacrypt"
redirect_uri = "https://metacrypt.svc.mcp.metacircular.net/sso/callback"
service_name = "metacrypt"
`;
  const config = parseConfig(text, schema, options());
  assert.deepEqual(config.sso_clients, [
    {
      client_id: "mcr",
      redirect_uri: "https://mcr.svc.mcp.metacircular.net/sso/callback",
      service_name: "mcr",
    },
    {
      client_id: "metacrypt",
      redirect_uri: "https://metacrypt.svc.mcp.metacircular.net/sso/callback",
      service_name: "metacrypt",
    },
  ]);
  const id: string = config.sso_clients[0].client_id;
  assert.equal(id, "mcr");
  assert.deepEqual(parseConfig("", schema, options()).sso_clients, []);

  const bad = text.replace(`service_name = "metacrypt"`, `extra = 1`).replace(
    `redirect_uri = "https://mcr.svc.mcp.metacircular.net/sso/callback"`,
    `redirect_uri = "/sso/callback"`,
  );
  const error = configError(() => parseConfig(bad, schema, options()));
  assert.deepEqual(lines(error), [
    `sso_clients[0].redirect_uri: expected a URL starting with https:// or http://, found string ` +
    `"/sso/callback" (not an absolute URL); fix it in the 1st [[sso_clients]] table, e.g. ` +
    `redirect_uri = "https://host.example"`,
    `sso_clients[1].extra: unknown key; remove it or fix its name ` +
    `(keys allowed in the 2nd [[sso_clients]] table: client_id, redirect_uri, service_name)`,
    `sso_clients[1].service_name: required key is missing, expected a string; ` +
    `add service_name = "..." in the 2nd [[sso_clients]] table`,
  ]);
});

Deno.test("parseConfig() reports an array of tables written as another type or too short", () => {
  const schema = { upstreams: field.tables({ addr: field.hostPort() }, { min: 1 }) };
  const wrong = configError(() => parseConfig(`upstreams = "1.1.1.1:53"`, schema, options()));
  assert.deepEqual(lines(wrong), [
    `upstreams: expected an array of at least 1 tables ([[upstreams]]), found string "1.1.1.1:53"; ` +
    `write each entry as a [[upstreams]] table`,
  ]);
  const missing = configError(() => parseConfig(``, schema, options()));
  assert.deepEqual(lines(missing), [
    "upstreams: required key is missing, expected an array of at least 1 tables; add a [[upstreams]] table",
  ]);
  const short = configError(() => parseConfig(`upstreams = []`, schema, options()));
  assert.match(short.message, /upstreams: expected an array of at least 1 tables, found 0/);
});

Deno.test("parseConfig() reads nested arrays of tables such as [[listeners.routes]]", () => {
  const schema = {
    listeners: field.tables({
      addr: field.listenAddr(),
      routes: field.tables({ hostname: field.string(), backend: field.hostPort() }),
    }),
  };
  const text = `
[[listeners]]
addr = ":443"
[[listeners.routes]]
hostname = "metacrypt.metacircular.net"
backend = "100.95.252.120:18080"
[[listeners.routes]]
hostname = "mcr.metacircular.net"
backend = "localhost"
`;
  const error = configError(() => parseConfig(text, schema, options()));
  assert.deepEqual(lines(error), [
    `listeners[0].routes[1].backend: expected a host:port address such as "127.0.0.1:9443" or ` +
    `"[::1]:53", found string "localhost" (there is no ":port" part, e.g. ":localhost"); ` +
    `fix it in the 2nd [[listeners.routes]] table, e.g. backend = "127.0.0.1:9443"`,
  ]);
  const config = parseConfig(text.replace(`"localhost"`, `"localhost:8443"`), schema, options());
  assert.equal(config.listeners[0].routes[1].backend, "localhost:8443");
});

Deno.test("parseConfig() reads free-form maps and checks each value", () => {
  const schema = { build: field.table({ images: field.map(field.string()) }) };
  const config = parseConfig(
    `[build.images]\nmyservice = "Dockerfile.api"\n"myservice-web" = "Dockerfile.web"`,
    schema,
    options(),
  );
  const images: Record<string, string> = config.build.images;
  assert.deepEqual(images, { myservice: "Dockerfile.api", "myservice-web": "Dockerfile.web" });
  const error = configError(() => parseConfig(`[build.images]\n"my.image" = 3`, schema, options()));
  assert.deepEqual(lines(error), [
    `build.images."my.image": expected a string, found integer 3; fix it in [build.images], ` +
    `e.g. "my.image" = "..."`,
  ]);
});

Deno.test("parseConfig() resolves relative paths against the directory of an absolute source", () => {
  const schema = {
    ...STANDARD_SCHEMA,
    storage: field.table({ root: field.path({ default: "blobs" }) }),
  };
  const text = VALID
    .replace(`tls_cert = "/srv/mcr/certs/cert.pem"`, `tls_cert = "certs/cert.pem"`)
    .replace(`path = "/srv/mcr/mcr.db"`, `path = "../shared/mcr.db"`)
    .replace(`ca_cert = ""`, `ca_cert = "./certs/ca.pem"`);
  const config = parseConfig(text, schema, options({ MCR_SERVER_TLS_KEY: "keys/key.pem" }));
  assert.equal(config.server.tls_cert, "/srv/mcr/certs/cert.pem");
  assert.equal(config.server.tls_key, "/srv/mcr/keys/key.pem");
  assert.equal(config.database.path, "/srv/shared/mcr.db");
  assert.equal(config.mcias.ca_cert, "/srv/mcr/certs/ca.pem");
  assert.equal(config.storage.root, "/srv/mcr/blobs");

  const based = parseConfig(text, schema, { ...options(), baseDir: "/etc/mcr" });
  assert.equal(based.server.tls_cert, "/etc/mcr/certs/cert.pem");
  const inline = parseConfig(text, schema, { service: "mcr", env: () => undefined });
  assert.equal(inline.server.tls_cert, "certs/cert.pem");
  assert.equal(inline.storage.root, "blobs");
});

Deno.test("parseConfig() normalises absolute paths, so `..` never reaches a permission grant", () => {
  const text = VALID.replace(`path = "/srv/mcr/mcr.db"`, `path = "/srv/../mcr.db"`)
    .replace(`tls_cert = "/srv/mcr/certs/cert.pem"`, `tls_cert = "/srv/mcr/./certs//cert.pem"`);
  const config = parseConfig(text, STANDARD_SCHEMA, options());
  assert.equal(config.database.path, "/mcr.db");
  assert.equal(config.server.tls_cert, "/srv/mcr/certs/cert.pem");
  const inline = parseConfig(text, STANDARD_SCHEMA, { service: "mcr", env: () => undefined });
  assert.equal(inline.database.path, "/mcr.db");
});

Deno.test("parseConfig() runs custom validators and reports their reason", () => {
  const schema = {
    dns: field.table({
      zone: field.string({
        validate: (v) => v.endsWith(".") ? undefined : "a zone ends with a dot",
      }),
      upstreams: field.stringArray({
        default: [],
        item: (v) => v.includes(":") ? undefined : "missing :port",
      }),
    }),
  };
  const error = configError(() =>
    parseConfig(
      `[dns]\nzone = "example.com"\nupstreams = ["1.1.1.1:53", "8.8.8.8"]`,
      schema,
      options(),
    )
  );
  assert.deepEqual(lines(error), [
    `dns.zone: expected a string, found string "example.com" (a zone ends with a dot); ` +
    `fix it in [dns], e.g. zone = "..."`,
    `dns.upstreams: expected an array of strings, found an array of 2 items ` +
    `(item 1 "8.8.8.8": missing :port); fix it in [dns], e.g. upstreams = ["a", "b"]`,
  ]);
});

Deno.test("parseConfig() reads durations into milliseconds and checks their bounds", () => {
  const schema = {
    timeouts: field.table({
      read: field.duration({ default: 30_000 }),
      idle: field.duration({ min: 1000, max: 3_600_000, optional: true }),
    }),
  };
  assert.deepEqual(parseConfig(`[timeouts]\nidle = "1m30s"`, schema, options()).timeouts, {
    read: 30_000,
    idle: 90_000,
  });
  const error = configError(() =>
    parseConfig(`[timeouts]\nread = 30\nidle = "500ms"`, schema, options())
  );
  assert.deepEqual(lines(error), [
    `timeouts.read: expected a duration such as "500ms", "10s", "5m" or "1h30m", found integer 30; ` +
    `fix it in [timeouts], e.g. read = "30s"`,
    `timeouts.idle: expected a duration such as "500ms", "10s", "5m" or "1h30m" from 1000 ms to ` +
    `3600000 ms, found string "500ms" (below 1000 ms); fix it in [timeouts], e.g. idle = "30s"`,
  ]);
});

Deno.test("parseConfig() checks URL schemes and host:port addresses", () => {
  const schema = {
    upstream: field.hostPort(),
    hook: field.url({ protocols: ["https:"], optional: true }),
  };
  assert.deepEqual(parseConfig(`upstream = "[::1]:53"`, schema, options()), {
    upstream: "[::1]:53",
    hook: undefined,
  });
  const error = configError(() =>
    parseConfig(`upstream = ":53"\nhook = "ftp://x"`, schema, options())
  );
  assert.deepEqual(lines(error), [
    `upstream: expected a host:port address such as "127.0.0.1:9443" or "[::1]:53", found string ":53" ` +
    `(the host is missing); fix it at the top level, e.g. upstream = "127.0.0.1:9443"`,
    `hook: expected an https:// URL, found string "ftp://x" (scheme ftp:); fix it at the top level, ` +
    `e.g. hook = "https://host.example"`,
  ]);
});

Deno.test("parseConfig() checks the file even where a variable overrides the key", () => {
  const error = configError(() =>
    parseConfig(
      VALID.replace(`listen_addr = ":8443"`, `listen_addr = 8443`),
      STANDARD_SCHEMA,
      options({ PORT: "1234" }),
    )
  );
  assert.deepEqual(error.problems.map((p) => p.key), ["server.listen_addr"]);
});

Deno.test("parseConfig() throws TypeError for a service name that cannot prefix variables", () => {
  assert.throws(
    () => parseConfig(VALID, STANDARD_SCHEMA, { service: "mc proxy", env: () => undefined }),
    (error: unknown) =>
      error instanceof TypeError &&
      error.message.startsWith(`Cannot derive environment variables for service "mc proxy": `),
  );
});

Deno.test("parseConfig() accepts any schema shape with no keys", () => {
  const empty: Schema = {};
  assert.deepEqual(parseConfig("", empty, options()), {});
});
