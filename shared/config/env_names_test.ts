import assert from "node:assert/strict";
import { configEnvNames, DEFAULT_PORT_ENV } from "./env_names.ts";
import * as field from "./fields.ts";
import { SSO_SECTION, STANDARD_SCHEMA } from "./standard.ts";

Deno.test("configEnvNames() lists port variables then one variable per key of the standard schema", () => {
  assert.deepEqual(configEnvNames("mcr", { ...STANDARD_SCHEMA, sso: SSO_SECTION }), [
    "PORT",
    "PORT_REST",
    "PORT_GRPC",
    "MCR_SERVER_LISTEN_ADDR",
    "MCR_SERVER_GRPC_ADDR",
    "MCR_SERVER_TLS_CERT",
    "MCR_SERVER_TLS_KEY",
    "MCR_DATABASE_PATH",
    "MCR_MCIAS_SERVER_URL",
    "MCR_MCIAS_CA_CERT",
    "MCR_MCIAS_SERVICE_NAME",
    "MCR_MCIAS_TAGS",
    "MCR_LOG_LEVEL",
    "MCR_SSO_REDIRECT_URI",
  ]);
});

Deno.test("configEnvNames() uppercases, turns '-' into '_', and skips arrays of tables and maps", () => {
  const schema = {
    "log-level": field.string({ optional: true }),
    dns: field.table({
      upstreams: field.stringArray({ default: [] }),
      sub: field.table({ ttl: field.int() }),
    }),
    sso_clients: field.tables({ client_id: field.string() }),
    images: field.map(field.string()),
  };
  assert.deepEqual(configEnvNames("mc-proxy", schema), [
    "MC_PROXY_LOG_LEVEL",
    "MC_PROXY_DNS_UPSTREAMS",
    "MC_PROXY_DNS_SUB_TTL",
  ]);
});

Deno.test("configEnvNames() includes only the port variables whose keys the schema has", () => {
  const schema = { server: field.table({ listen_addr: field.listenAddr() }) };
  assert.deepEqual(configEnvNames("demo", schema), [
    "PORT",
    "PORT_REST",
    "DEMO_SERVER_LISTEN_ADDR",
  ]);
  assert.deepEqual(configEnvNames("demo", schema, { ports: { PORT_WEB: "server.listen_addr" } }), [
    "PORT_WEB",
    "DEMO_SERVER_LISTEN_ADDR",
  ]);
  assert.deepEqual(Object.keys(DEFAULT_PORT_ENV), ["PORT", "PORT_REST", "PORT_GRPC"]);
});

Deno.test("configEnvNames() throws TypeError when two keys map to one variable", () => {
  const schema = {
    a: field.table({ b_c: field.string() }),
    a_b: field.table({ c: field.string() }),
  };
  assert.throws(() => configEnvNames("svc", schema), {
    name: "TypeError",
    message: `Cannot derive environment variables: keys "a.b_c" and "a_b.c" both map to ` +
      `SVC_A_B_C; rename one of them`,
  });
});

Deno.test("configEnvNames() throws TypeError for a bad service name, key or port mapping", () => {
  assert.throws(() => configEnvNames("9lives", {}), {
    name: "TypeError",
    message: `Cannot derive environment variables for service "9lives": the name must match ` +
      `/^[A-Za-z][A-Za-z0-9_-]*$/, for example "mcr" or "mc-proxy"`,
  });
  assert.throws(() => configEnvNames("svc", { "a.b": field.string() }), {
    name: "TypeError",
    message: `Cannot derive environment variable for key "a.b": schema keys must match ` +
      `/^[A-Za-z0-9_-]+$/; rename the key`,
  });
  assert.throws(() => configEnvNames("svc", {}, { ports: { PORT: "web.listen_addr" } }), {
    name: "TypeError",
    message: `Cannot map port variable PORT to "web.listen_addr": the schema has no such key; ` +
      `use the dotted key of a listen address, such as "server.listen_addr"`,
  });
});
