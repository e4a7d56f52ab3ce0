/**
 * The record API end to end: a real MCIAS process (accounts and tokens made
 * with `mciasctl`, logins over its REST API) and a real MCNS process under
 * its declared flags, called over REST (TLS 1.3) and gRPC, with answers
 * checked by `dig`. The DNS reload poll is set to an hour, so a change seen
 * by `dig` at once was pushed by the API's reload, not picked up by polling.
 */

import assert from "node:assert/strict";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { createGrpcClient } from "@mc/mcdsl/grpcserver";
import { dig, makeMcnsDir, type McnsDir, startMcnsProcess } from "./_testing.ts";
import { PROTO } from "./api/grpc.ts";
import { makeMcIasDir, mciasctl, type McIasDir, startMcIasProcess } from "../mcias/_testing.ts";

const ADMIN_PASSWORD = "correct horse battery staple";
const USER_PASSWORD = "user password 12345";

interface Reply {
  status: number;
  json: Record<string, unknown>;
}

/** One REST call; `rawBody` is sent as-is with a JSON content type. */
async function api(
  client: Deno.HttpClient,
  url: string,
  method: string,
  token?: string,
  body?: unknown,
  rawBody?: string,
): Promise<Reply> {
  const headers: Record<string, string> = {};
  if (body !== undefined || rawBody !== undefined) headers["content-type"] = "application/json";
  if (token !== undefined) headers.authorization = `Bearer ${token}`;
  const res = await fetch(url, {
    client,
    method,
    headers,
    body: rawBody ?? (body === undefined ? undefined : JSON.stringify(body)),
  });
  const text = await res.text();
  return { status: res.status, json: text === "" ? {} : JSON.parse(text) };
}

/** Tokens of each kind of caller. */
interface Tokens {
  admin: string;
  agent: string;
  web: string;
  /** System account "api.web": its name is not one DNS label. */
  dotted: string;
  alice: string;
  revoked: string;
  /** Alice's session token for another service (audience "mcr"). */
  otherService: string;
}

/** Sets up MCIAS accounts (CLI) and logs in (REST); returns the tokens. */
async function makeTokens(dir: McIasDir, client: Deno.HttpClient): Promise<Tokens> {
  for (const [name, type] of [["mcp-agent", "system"], ["web", "system"], ["api.web", "system"]]) {
    const made = await mciasctl(dir, ["account", "create", name, "--type", type]);
    assert.equal(made.code, 0, made.stderr);
  }
  const alice = await mciasctl(
    dir,
    ["account", "create", "alice", "--role", "user", "--password-stdin"],
    USER_PASSWORD + "\n",
  );
  assert.equal(alice.code, 0, alice.stderr);
  const issue = async (name: string) => {
    const out = await mciasctl(dir, ["token", "issue", name, "--ttl", "1h"]);
    assert.equal(out.code, 0, out.stderr);
    return out.stdout.trim();
  };
  const login = async (username: string, password: string, service = "mcns") => {
    const res = await api(client, `${dir.url}/v1/auth/login`, "POST", undefined, {
      username,
      password,
      service_name: service,
    });
    assert.equal(res.status, 200, JSON.stringify(res.json));
    return res.json.token as string;
  };
  const revoked = await login("alice", USER_PASSWORD);
  const logout = await api(client, `${dir.url}/v1/auth/logout`, "POST", revoked);
  assert.equal(logout.status, 204);
  return {
    admin: await login("admin", ADMIN_PASSWORD),
    agent: await issue("mcp-agent"),
    web: await issue("web"),
    dotted: await issue("api.web"),
    alice: await login("alice", USER_PASSWORD),
    revoked,
    otherService: await login("alice", USER_PASSWORD, "mcr"),
  };
}

/** Runs `fn` with MCIAS and MCNS (REST and gRPC) up. */
async function withPlatform(
  fn: (env: {
    mcns: McnsDir;
    tokens: Tokens;
    client: Deno.HttpClient;
    url: string;
    zone: string;
    output: () => string;
  }) => Promise<void>,
): Promise<void> {
  await using mciasDir = await makeMcIasDir();
  const init = await mciasctl(mciasDir, ["init", "--password-stdin"], ADMIN_PASSWORD + "\n");
  assert.equal(init.code, 0, init.stderr);
  await using _mcias = await startMcIasProcess(mciasDir);
  const mciasClient = Deno.createHttpClient({ caCerts: [mciasDir.ca] });
  let tokens: Tokens;
  try {
    tokens = await makeTokens(mciasDir, mciasClient);
  } finally {
    mciasClient.close();
  }
  await using mcns = await makeMcnsDir("", {
    mciasUrl: mciasDir.url,
    mciasCa: join(mciasDir.dataDir, "certs", "ca.pem"),
    grpc: true,
    reloadInterval: "1h",
  });
  await using proc = await startMcnsProcess(mcns);
  const client = Deno.createHttpClient({ caCerts: [mcns.ca] });
  try {
    const url = `https://localhost:${mcns.httpsPort}`;
    // startMcnsProcess waits for DNS; the API starts right after it.
    let health: Reply | undefined;
    for (let i = 0; i < 100 && health === undefined; i++) {
      health = await api(client, `${url}/v1/health`, "GET").catch(async () => {
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    assert.deepEqual(health, { status: 200, json: { status: "ok" } }, proc.output());
    await fn({
      mcns,
      tokens,
      client,
      url,
      zone: `svc.mcp.${mcns.domain}`,
      output: proc.output,
    });
  } finally {
    client.close();
  }
}

/** The answer section's values for `name`/`type`, via dig +short. */
async function digShort(port: number, name: string, type = "A"): Promise<string[]> {
  const out = await dig(port, name, type, "+short");
  return out.trim() === "" ? [] : out.trim().split("\n").sort();
}

async function serial(client: Deno.HttpClient, url: string, token: string, zone: string) {
  const res = await api(client, `${url}/v1/zones/${zone}`, "GET", token);
  assert.equal(res.status, 200);
  return (res.json.zone as { serial: number }).serial;
}

Deno.test("record API over REST: every kind of caller against the real MCIAS, served by dig at once", async () => {
  await withPlatform(async ({ mcns, tokens, client, url, zone, output }) => {
    const records = `${url}/v1/zones/${zone}/records`;
    const A = (name: string, value: string) => ({ name, type: "A", value });

    // No token, a garbage token, a revoked token, a token for another
    // service: 401 on reads and writes.
    for (const token of [undefined, "not-a-token", tokens.revoked, tokens.otherService]) {
      assert.equal((await api(client, `${url}/v1/zones`, "GET", token)).status, 401);
      const write = await api(client, records, "POST", token, A("web", "10.0.0.1"));
      const error = token === undefined ? "authentication required" : "invalid or expired token";
      assert.deepEqual(write, { status: 401, json: { error } });
    }

    // mcp-agent: any name; served by DNS at once (the poll is 1 h).
    const before = await serial(client, url, tokens.agent, zone);
    const created = await api(client, records, "POST", tokens.agent, A("api", "10.0.0.1"));
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const api1 = created.json.record as { id: number; name: string; ttl: number };
    assert.deepEqual({ ...api1, id: 0 }, {
      id: 0,
      zone,
      name: `api.${zone}`,
      type: "A",
      ttl: 300,
      value: "10.0.0.1",
    });
    assert.deepEqual(await digShort(mcns.dnsPort, `api.${zone}`), ["10.0.0.1"]);
    assert.equal(await serial(client, url, tokens.agent, zone), before + 1);
    const soa = await dig(mcns.dnsPort, zone, "SOA", "+short");
    assert.match(soa, new RegExp(` ${before + 1} `));
    const moved = await api(client, `${records}/${api1.id}`, "PUT", tokens.agent, {
      name: "api",
      type: "A",
      ttl: 60,
      value: "10.0.0.2",
    });
    assert.equal(moved.status, 200, JSON.stringify(moved.json));
    assert.deepEqual(await digShort(mcns.dnsPort, `api.${zone}`), ["10.0.0.2"]);
    const got = await api(client, `${records}/${api1.id}`, "GET", tokens.alice);
    assert.deepEqual(got.json.record, { ...api1, ttl: 60, value: "10.0.0.2" });

    // Another system account: only its own name (relative name = account name).
    const own = await api(client, records, "POST", tokens.web, A("web", "10.0.1.1"));
    assert.equal(own.status, 201, JSON.stringify(own.json));
    const ownId = (own.json.record as { id: number }).id;
    const absolute = await api(client, records, "POST", tokens.web, A(`web.${zone}.`, "10.0.1.2"));
    assert.equal(absolute.status, 201, JSON.stringify(absolute.json));
    assert.deepEqual(await digShort(mcns.dnsPort, `web.${zone}`), ["10.0.1.1", "10.0.1.2"]);
    for (const name of ["api", "@", "x.web", "web2", `web.mcp.${mcns.domain}.`]) {
      const denied = await api(client, records, "POST", tokens.web, A(name, "10.0.1.3"));
      assert.equal(denied.status, name.endsWith(".") ? 400 : 403, `${name}: ${denied.json.error}`);
    }
    const other = await api(client, records, "POST", tokens.web, A("db", "10.0.1.3"));
    assert.deepEqual(other, {
      status: 403,
      json: {
        error: `Cannot change A records at "db.${zone}" as system account "web": ` +
          `it may only manage A, AAAA, CNAME, TXT, SRV records at "web.${zone}"`,
      },
    });
    // Not NS (delegation), CAA (certificate issuance) or MX, even at its own name.
    for (
      const [type, value] of [["NS", "ns.evil.test"], ["CAA", '0 issue "evil.test"'], [
        "MX",
        "10 mx.evil.test",
      ]]
    ) {
      const denied = await api(client, records, "POST", tokens.web, { name: "web", type, value });
      assert.equal(denied.status, 403, `${type}: ${denied.json.error}`);
      assert.match(denied.json.error as string, new RegExp(`${type} records`));
    }
    // The own-name right is the service zone's only: not web.mcp.<domain>.
    const mcpZone = `${url}/v1/zones/mcp.${mcns.domain}/records`;
    const elsewhere = await api(client, mcpZone, "POST", tokens.web, A("web", "10.0.1.4"));
    assert.equal(elsewhere.status, 403, JSON.stringify(elsewhere.json));
    assert.match(await dig(mcns.dnsPort, `web.mcp.${mcns.domain}`, "A"), /status: NXDOMAIN/);
    // An account whose name has a dot owns no name, not even its own dotted one.
    const dotted = await api(client, records, "POST", tokens.dotted, A("api.web", "10.0.1.5"));
    assert.equal(dotted.status, 403, JSON.stringify(dotted.json));
    assert.match(dotted.json.error as string, /not a single DNS label/);
    // Upper case is the same name; an empty name is not the apex.
    const upper = await api(client, records, "POST", tokens.web, {
      name: "WEB",
      type: "TXT",
      value: "v=1",
    });
    assert.equal(upper.status, 201, JSON.stringify(upper.json));
    assert.equal((upper.json.record as { name: string }).name, `web.${zone}`);
    assert.equal(
      (await api(
        client,
        `${records}/${(upper.json.record as { id: number }).id}`,
        "DELETE",
        tokens.web,
      )).status,
      204,
    );
    const empty = await api(client, records, "POST", tokens.agent, A("", "10.0.1.6"));
    assert.equal(empty.status, 400);
    assert.match(empty.json.error as string, /empty record name/);
    // Neither renaming its record away nor touching someone else's.
    const rename = await api(client, `${records}/${ownId}`, "PUT", tokens.web, A("db", "10.0.1.1"));
    assert.equal(rename.status, 403);
    assert.equal((await api(client, `${records}/${api1.id}`, "DELETE", tokens.web)).status, 403);
    assert.equal(
      (await api(client, `${records}/${api1.id}`, "PUT", tokens.web, A("web", "10.0.1.9"))).status,
      403,
    );
    assert.deepEqual(await digShort(mcns.dnsPort, `api.${zone}`), ["10.0.0.2"]);
    // Zones are the admin's.
    const zoneBody = { name: "lab.example.test", mname: "ns.lab.example.test", rname: "h.x.test" };
    assert.equal((await api(client, `${url}/v1/zones`, "POST", tokens.web, zoneBody)).status, 403);
    assert.equal(
      (await api(client, `${url}/v1/zones`, "POST", tokens.agent, zoneBody)).status,
      403,
    );

    // A human user reads, never writes.
    const list = await api(client, records, "GET", tokens.alice);
    assert.equal(list.status, 200);
    assert.deepEqual(
      (list.json.records as { name: string; type: string }[]).map((r) => `${r.name} ${r.type}`),
      [`api.${zone} A`, `${zone} NS`, `web.${zone} A`, `web.${zone} A`],
    );
    assert.equal((await api(client, `${url}/v1/zones`, "GET", tokens.alice)).status, 200);
    const aliceWrite = await api(client, records, "POST", tokens.alice, A("alice", "10.0.2.1"));
    assert.deepEqual(aliceWrite, {
      status: 403,
      json: {
        error: 'Cannot change records as "alice": only admins and system accounts write records',
      },
    });
    assert.equal((await api(client, `${records}/${ownId}`, "DELETE", tokens.alice)).status, 403);
    // A reader is refused before the id is even parsed.
    const aliceBadId = await api(client, `${records}/abc`, "PUT", tokens.alice, A("x", "10.0.2.1"));
    assert.equal(aliceBadId.status, 403, JSON.stringify(aliceBadId.json));
    assert.equal(
      (await api(client, `${url}/v1/zones/${zone}`, "DELETE", tokens.alice)).status,
      403,
    );

    // The admin: zones and any record.
    const lab = await api(client, `${url}/v1/zones`, "POST", tokens.admin, zoneBody);
    assert.equal(lab.status, 201, JSON.stringify(lab.json));
    assert.equal((lab.json.zone as { serial: number }).serial, 1);
    const dup = await api(client, `${url}/v1/zones`, "POST", tokens.admin, zoneBody);
    assert.equal(dup.status, 409);
    const labA = await api(
      client,
      `${url}/v1/zones/lab.example.test/records`,
      "POST",
      tokens.admin,
      A("@", "10.9.9.9"),
    );
    assert.equal(labA.status, 201, JSON.stringify(labA.json));
    assert.deepEqual(await digShort(mcns.dnsPort, "lab.example.test"), ["10.9.9.9"]);
    assert.equal(
      (await api(client, `${url}/v1/zones/lab.example.test`, "DELETE", tokens.admin)).status,
      204,
    );
    assert.match(await dig(mcns.dnsPort, "lab.example.test", "A"), /status: REFUSED/);
    const deleted = await api(client, `${records}/${ownId}`, "DELETE", tokens.web);
    assert.equal(deleted.status, 204);
    assert.deepEqual(await digShort(mcns.dnsPort, `web.${zone}`), ["10.0.1.2"]);

    // Tokens never reach the log.
    for (const token of Object.values(tokens)) assert.ok(!output().includes(token));
  });
});

Deno.test("record API over REST: bad input is 400 and writes nothing, conflicts 409, unknown ids 404", async () => {
  await withPlatform(async ({ mcns, tokens, client, url, zone }) => {
    const records = `${url}/v1/zones/${zone}/records`;
    const post = (body: unknown, raw?: string) =>
      api(client, records, "POST", tokens.agent, body, raw);
    const web = await post({ name: "web", type: "A", value: "10.0.0.1" });
    assert.equal(web.status, 201);
    const webId = (web.json.record as { id: number }).id;
    const listBefore = await api(client, records, "GET", tokens.agent);
    const serialBefore = await serial(client, url, tokens.agent, zone);

    const badIp = await post({ name: "bad", type: "A", value: "10.0.0.256" });
    assert.equal(badIp.status, 400);
    assert.match(badIp.json.error as string, /10\.0\.0\.256/);
    assert.match(await dig(mcns.dnsPort, `bad.${zone}`, "A"), /status: NXDOMAIN/);
    const bad: [unknown, string | undefined, RegExp][] = [
      [{ name: "x", type: "A", value: "1.2.3.4", ttl: 604801 }, undefined, /TTL|ttl/],
      [
        { name: "x", type: "A", value: "1.2.3.4", ttl: "300" },
        undefined,
        /"ttl" must be an integer/,
      ],
      [{ name: "x", type: "A", value: "1.2.3.4", ttl: 1.5 }, undefined, /"ttl"/],
      [{ name: "x", type: "AAAA", value: "1.2.3.4" }, undefined, /1\.2\.3\.4/],
      [{ name: "x", type: "SOA", value: "x" }, undefined, /SOA/],
      [{ name: "bad name!", type: "A", value: "1.2.3.4" }, undefined, /bad name!/],
      [{ name: "x", type: "A" }, undefined, /"value" must be a string/],
      [{ name: "x", type: "A", value: "1.2.3.4", owner: "me" }, undefined, /unknown field "owner"/],
      [undefined, "{", /JSON/],
      [undefined, "[1]", /object/],
    ];
    for (const [body, raw, message] of bad) {
      const res = await post(body, raw);
      assert.equal(res.status, 400, JSON.stringify([body, raw, res.json]));
      assert.match(res.json.error as string, message);
    }
    const big = await post(
      undefined,
      JSON.stringify({ name: "x", type: "TXT", value: "a".repeat(70_000) }),
    );
    assert.equal(big.status, 413);

    // CNAME exclusivity: 409 both ways, and at the apex.
    const cname = await post({ name: "web", type: "CNAME", value: "api" });
    assert.equal(cname.status, 409);
    assert.match(cname.json.error as string, /CNAME/);
    assert.equal((await post({ name: "@", type: "CNAME", value: "api" })).status, 409);
    const alias = await post({ name: "www", type: "CNAME", value: "web" });
    assert.equal(alias.status, 201);
    assert.equal((await post({ name: "www", type: "A", value: "10.0.0.5" })).status, 409);
    assert.equal((await post({ name: "web", type: "A", value: "10.0.0.1" })).status, 409);
    // The CNAME went in (one write); nothing else did.
    assert.equal(await serial(client, url, tokens.agent, zone), serialBefore + 1);
    const listAfter = await api(client, records, "GET", tokens.agent);
    assert.equal(
      (listAfter.json.records as unknown[]).length,
      (listBefore.json.records as unknown[]).length + 1,
    );
    assert.deepEqual(
      await digShort(mcns.dnsPort, `www.${zone}`),
      [`web.${zone}.`, "10.0.0.1"].sort(),
    );

    // Not found, and ids are scoped to the zone in the path.
    assert.equal(
      (await api(client, `${url}/v1/zones/nope.test/records`, "GET", tokens.agent)).status,
      404,
    );
    const elsewhere = `${url}/v1/zones/mcp.${mcns.domain}/records/${webId}`;
    assert.equal((await api(client, elsewhere, "GET", tokens.agent)).status, 404);
    assert.equal((await api(client, elsewhere, "DELETE", tokens.agent)).status, 404);
    const moveAcross = await api(client, elsewhere, "PUT", tokens.agent, {
      name: "web",
      type: "A",
      value: "10.0.0.7",
    });
    assert.equal(moveAcross.status, 404, JSON.stringify(moveAcross.json));
    assert.deepEqual(await digShort(mcns.dnsPort, `web.${zone}`), ["10.0.0.1"]);
    assert.equal((await api(client, `${records}/999999`, "GET", tokens.agent)).status, 404);
    assert.equal((await api(client, `${records}/abc`, "GET", tokens.agent)).status, 400);
    assert.equal((await api(client, `${url}/v1/nothing`, "GET", tokens.agent)).status, 404);
    assert.equal(await serial(client, url, tokens.agent, zone), serialBefore + 1);
  });
});

/** Promisified unary call. */
function unary<Req, Res>(
  client: grpc.Client,
  method: string,
  request: Req,
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const fn = (client as unknown as Record<
      string,
      (r: Req, cb: (e: grpc.ServiceError | null, v: Res) => void) => void
    >)[method];
    fn.call(client, request, (e, v) => e ? reject(e) : resolve(v));
  });
}

async function grpcCode(p: Promise<unknown>): Promise<grpc.status> {
  try {
    await p;
  } catch (e) {
    return (e as grpc.ServiceError).code;
  }
  throw new Error("expected the call to fail");
}

Deno.test("record API over gRPC: list, create, get, update, delete; authorization and errors", async () => {
  await withPlatform(async ({ mcns, tokens, zone }) => {
    const target = `localhost:${mcns.grpcPort}`;
    const records = (token?: string) =>
      createGrpcClient(PROTO.RecordService, { target, tls: { ca: mcns.ca }, token });
    const zones = (token?: string) =>
      createGrpcClient(PROTO.ZoneService, { target, tls: { ca: mcns.ca }, token });
    const agent = records(tokens.agent);
    const web = records(tokens.web);
    const alice = records(tokens.alice);
    const anon = records();
    const agentZones = zones(tokens.agent);
    const adminZones = zones(tokens.admin);
    try {
      type R = { id: string; name: string; ttl: number; value: string; type: string };
      const created = await unary<unknown, { record: R }>(agent, "CreateRecord", {
        zone,
        name: "grpc",
        type: "A",
        value: "10.1.0.1",
      });
      assert.equal(created.record.name, `grpc.${zone}`);
      assert.equal(created.record.ttl, 300);
      assert.deepEqual(await digShort(mcns.dnsPort, `grpc.${zone}`), ["10.1.0.1"]);
      const { id } = created.record;
      const got = await unary<unknown, { record: R }>(alice, "GetRecord", { zone, id });
      assert.deepEqual(got.record, created.record);
      const updated = await unary<unknown, { record: R }>(agent, "UpdateRecord", {
        zone,
        id,
        name: "grpc",
        type: "A",
        ttl: 0,
        value: "10.1.0.2",
      });
      assert.deepEqual([updated.record.ttl, updated.record.value], [0, "10.1.0.2"]);
      assert.deepEqual(await digShort(mcns.dnsPort, `grpc.${zone}`), ["10.1.0.2"]);
      const list = await unary<unknown, { records: R[] }>(alice, "ListRecords", { zone });
      assert.deepEqual(list.records.map((r) => r.name), [`grpc.${zone}`, zone]);

      // Authorization: name-scoped system account, read-only human, no token, admin-only zones.
      const A = { zone, type: "A", value: "10.1.0.9" };
      assert.equal(
        await grpcCode(unary(web, "CreateRecord", { ...A, name: "grpc" })),
        grpc.status.PERMISSION_DENIED,
      );
      assert.equal(
        await grpcCode(unary(web, "DeleteRecord", { zone, id })),
        grpc.status.PERMISSION_DENIED,
      );
      const own = await unary<unknown, { record: R }>(web, "CreateRecord", { ...A, name: "web" });
      assert.equal(own.record.name, `web.${zone}`);
      for (const [type, value] of [["NS", "ns.evil.test"], ["CAA", '0 issue "evil.test"']]) {
        assert.equal(
          await grpcCode(unary(web, "CreateRecord", { zone, name: "web", type, value })),
          grpc.status.PERMISSION_DENIED,
          type,
        );
      }
      // Renaming its own record away from its name is refused; nothing changes.
      assert.equal(
        await grpcCode(unary(web, "UpdateRecord", { ...A, id: own.record.id, name: "db" })),
        grpc.status.PERMISSION_DENIED,
      );
      assert.deepEqual(await digShort(mcns.dnsPort, `web.${zone}`), ["10.1.0.9"]);
      assert.match(await dig(mcns.dnsPort, `db.${zone}`, "A"), /status: NXDOMAIN/);
      // An unset name (proto3: "") is not the apex.
      assert.equal(
        await grpcCode(unary(agent, "CreateRecord", { zone, type: "A", value: "10.1.0.8" })),
        grpc.status.INVALID_ARGUMENT,
      );
      // Requests are bounded like REST bodies (64 KiB).
      assert.equal(
        await grpcCode(
          unary(agent, "CreateRecord", {
            zone,
            name: "big",
            type: "TXT",
            value: "a".repeat(70_000),
          }),
        ),
        grpc.status.RESOURCE_EXHAUSTED,
      );
      assert.equal(
        await grpcCode(unary(alice, "CreateRecord", { ...A, name: "alice" })),
        grpc.status.PERMISSION_DENIED,
      );
      assert.equal(
        await grpcCode(unary(anon, "ListRecords", { zone })),
        grpc.status.UNAUTHENTICATED,
      );
      const zoneReq = { name: "g.example.test", mname: "ns.g.example.test", rname: "h.g.test" };
      assert.equal(
        await grpcCode(unary(agentZones, "CreateZone", zoneReq)),
        grpc.status.PERMISSION_DENIED,
      );
      const made = await unary<unknown, { zone: { name: string; serial: number } }>(
        adminZones,
        "CreateZone",
        zoneReq,
      );
      assert.deepEqual(made.zone.name, "g.example.test");
      const all = await unary<unknown, { zones: { name: string }[] }>(agentZones, "ListZones", {});
      assert.ok(all.zones.some((z) => z.name === "g.example.test"));
      await unary(adminZones, "DeleteZone", { name: "g.example.test" });

      // Errors map like REST's.
      assert.equal(
        await grpcCode(unary(agent, "CreateRecord", { ...A, name: "x", value: "10.0.0.256" })),
        grpc.status.INVALID_ARGUMENT,
      );
      assert.equal(
        await grpcCode(
          unary(agent, "CreateRecord", { zone, name: "grpc", type: "CNAME", value: "web" }),
        ),
        grpc.status.ALREADY_EXISTS,
      );
      assert.equal(
        await grpcCode(unary(agent, "GetRecord", { zone: `mcp.${mcns.domain}`, id })),
        grpc.status.NOT_FOUND,
      );
      assert.equal(
        await grpcCode(unary(agent, "GetRecord", { zone, id: "0" })),
        grpc.status.INVALID_ARGUMENT,
      );

      await unary(agent, "DeleteRecord", { zone, id });
      assert.match(await dig(mcns.dnsPort, `grpc.${zone}`, "A"), /status: NXDOMAIN/);
      assert.equal(
        await grpcCode(unary(agent, "GetRecord", { zone, id })),
        grpc.status.NOT_FOUND,
      );
    } finally {
      for (const c of [agent, web, alice, anon, agentZones, adminZones]) c.close();
    }
  });
});

Deno.test("record API: MCIAS unreachable is 503 over REST and UNAVAILABLE over gRPC, never a default allow", async () => {
  // No MCIAS: the test config points [mcias] at https://localhost:9.
  await using mcns = await makeMcnsDir("", { grpc: true, reloadInterval: "1h" });
  await using proc = await startMcnsProcess(mcns);
  const client = Deno.createHttpClient({ caCerts: [mcns.ca] });
  const records = createGrpcClient(PROTO.RecordService, {
    target: `localhost:${mcns.grpcPort}`,
    tls: { ca: mcns.ca },
    token: "some-token",
  });
  try {
    const url = `https://localhost:${mcns.httpsPort}`;
    let health: Reply | undefined;
    for (let i = 0; i < 100 && health === undefined; i++) {
      health = await api(client, `${url}/v1/health`, "GET").catch(async () => {
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    assert.equal(health?.status, 200, proc.output());
    const zone = `svc.mcp.${mcns.domain}`;
    const read = await api(client, `${url}/v1/zones`, "GET", "some-token");
    assert.equal(read.status, 503, JSON.stringify(read.json));
    const write = await api(client, `${url}/v1/zones/${zone}/records`, "POST", "some-token", {
      name: "x",
      type: "A",
      value: "10.0.0.1",
    });
    assert.equal(write.status, 503, JSON.stringify(write.json));
    assert.equal(
      await grpcCode(
        unary(records, "CreateRecord", { zone, name: "x", type: "A", value: "10.0.0.1" }),
      ),
      grpc.status.UNAVAILABLE,
    );
    assert.match(await dig(mcns.dnsPort, `x.${zone}`, "A"), /status: NXDOMAIN/);
  } finally {
    records.close();
    client.close();
  }
});
