import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createSocket } from "node:dgram";
import { join } from "node:path";
import dnsPacket from "dns-packet";
import { readAudit, undeclaredAccesses } from "@mc/mcdsl/sandbox";
import { planService } from "../../tasks/_launcher.ts";
import type { ZoneData, ZoneRecord } from "./store.ts";
import { canonicalIp, canonicalIpPort } from "./config.ts";
import {
  answerTransfer,
  axfrMessages,
  fetchAxfr,
  NOTAUTH,
  parseQuestion,
  presentation,
  serialLess,
} from "./xfr.ts";
import { dig, freeDnsPort, makeMcnsDir, type McnsDir, run, startMcnsProcess } from "./_testing.ts";

// ------------------------------------------------------------ in-process

const ZONE = "z.test";

function zoneData(records: Omit<ZoneRecord, "id" | "zone">[], serial = 7): ZoneData {
  return {
    zone: {
      name: ZONE,
      mname: "ns.z.test",
      rname: "hostmaster.z.test",
      serial,
      refresh: 3600,
      retry: 600,
      expire: 604800,
      minimum: 60,
      ttl: 3600,
    },
    records: records.map((r, i) => ({ id: i + 1, zone: ZONE, ...r })),
  };
}

const EVERY_TYPE = [
  { name: ZONE, type: "NS", ttl: 3600, value: "ns.z.test" },
  { name: ZONE, type: "MX", ttl: 300, value: "10 mail.z.test" },
  { name: ZONE, type: "CAA", ttl: 300, value: '0 issue "letsencrypt.org"' },
  { name: `api.${ZONE}`, type: "A", ttl: 300, value: "192.0.2.1" },
  { name: `api.${ZONE}`, type: "AAAA", ttl: 300, value: "2001:db8::1" },
  { name: `api.${ZONE}`, type: "TXT", ttl: 300, value: "x".repeat(600) },
  { name: `_https._tcp.api.${ZONE}`, type: "SRV", ttl: 300, value: "10 5 8443 api.z.test" },
  { name: `www.${ZONE}`, type: "CNAME", ttl: 60, value: "api.z.test" },
] as Omit<ZoneRecord, "id" | "zone">[];

function query(name: string, type: string, id = 0x4242, authorities: unknown[] = []): Uint8Array {
  return new Uint8Array(
    dnsPacket.encode({
      type: "query",
      id,
      flags: 0,
      questions: [{ name, type, class: "IN" }],
      authorities,
    } as never),
  );
}

const decode = (m: Uint8Array) => dnsPacket.decode(Buffer.from(m));

Deno.test("serialLess() follows RFC 1982 serial arithmetic", () => {
  assert.ok(serialLess(1, 2));
  assert.ok(!serialLess(2, 1));
  assert.ok(!serialLess(5, 5));
  assert.ok(serialLess(4294967295, 1)); // wraps
  assert.ok(!serialLess(1, 4294967295));
  assert.ok(serialLess(0, 0x7fffffff));
  assert.ok(!serialLess(0, 0x80000000) && !serialLess(0x80000000, 0)); // undefined pair
});

Deno.test("axfrMessages() streams SOA, every record, SOA, split across messages", () => {
  const big = Array.from({ length: 300 }, (_, i) => ({
    name: `t${i}.${ZONE}`,
    type: "TXT" as const,
    ttl: 60,
    value: `${i}`.padEnd(200, "y"),
  }));
  const data = zoneData([...EVERY_TYPE, ...big]);
  const q = query(ZONE, "AXFR");
  const msgs = axfrMessages(q, parseQuestion(q)!.qEnd, data);
  assert.ok(msgs.length >= 4, `${msgs.length} messages`);
  const all = [];
  for (const [i, m] of msgs.entries()) {
    assert.ok(m.length <= 16_384);
    const p = decode(m);
    assert.equal(p.id, 0x4242);
    assert.equal(p.type, "response");
    assert.ok(p.flag_aa);
    assert.equal(p.rcode, "NOERROR");
    assert.equal(p.questions.length, i === 0 ? 1 : 0);
    all.push(...p.answers);
  }
  assert.equal(all.length, data.records.length + 2);
  assert.equal(all[0].type, "SOA");
  assert.equal(all.at(-1)!.type, "SOA");
  assert.equal((all[0] as { data: { serial: number } }).data.serial, 7);
  // Every record converts back to the stored presentation form.
  const back = all.slice(1, -1).map((rr) => presentation(rr as dnsPacket.Answer));
  assert.deepEqual(
    back,
    data.records.map(({ name, type, ttl, value }) => ({ name, type, ttl, value })),
  );
});

Deno.test("answerTransfer() enforces the ACL, NOTAUTH off the apex, IXFR falls back", () => {
  const data = zoneData(EVERY_TYPE, 7);
  const policy = { transferTo: new Set(["127.0.0.1"]), zones: [data] };
  const ask = (name: string, type: string, ip = "127.0.0.1", auth: unknown[] = []) => {
    const q = query(name, type, 1, auth);
    return answerTransfer(q, parseQuestion(q)!, ip, policy).map(decode);
  };
  const refused = ask(ZONE, "AXFR", "192.0.2.9");
  assert.equal(refused.length, 1);
  assert.equal(refused[0].rcode, "REFUSED");
  assert.equal(refused[0].answers.length, 0);
  assert.equal(ask(`api.${ZONE}`, "AXFR")[0].rcode, "NOTAUTH");
  assert.equal(NOTAUTH, 9);
  assert.equal(ask("other.test", "AXFR")[0].rcode, "NOTAUTH");
  assert.equal(ask(ZONE, "AXFR")[0].answers.length, EVERY_TYPE.length + 2);
  // IXFR from a current serial: the SOA alone; from an older one: the whole zone.
  const soa = (serial: number) => ({
    name: ZONE,
    type: "SOA",
    class: "IN",
    ttl: 0,
    data: { mname: ".", rname: ".", serial, refresh: 0, retry: 0, expire: 0, minimum: 0 },
  });
  const current = ask(ZONE, "IXFR", "127.0.0.1", [soa(7)]);
  assert.deepEqual(current[0].answers.map((a: dnsPacket.Answer) => a.type), ["SOA"]);
  const stale = ask(ZONE, "IXFR", "127.0.0.1", [soa(6)]);
  assert.equal(stale[0].answers.length, EVERY_TYPE.length + 2);
  assert.equal(ask(ZONE, "IXFR", "192.0.2.9", [soa(6)])[0].rcode, "REFUSED");
  // An IPv4 client of a dual-stack listener is reported as ::ffff:a.b.c.d.
  assert.equal(ask(ZONE, "AXFR", "::ffff:127.0.0.1")[0].rcode, "NOERROR");
  assert.equal(ask(ZONE, "AXFR", "::ffff:7f00:1")[0].rcode, "NOERROR");
  assert.equal(ask(ZONE, "AXFR", "::ffff:127.0.0.2")[0].rcode, "REFUSED");
  // IPv6 compared in one form, however the ACL or the socket wrote it.
  const v6 = (ip: string, acl: string) => {
    const q = query(ZONE, "AXFR", 1);
    const r = answerTransfer(q, parseQuestion(q)!, ip, {
      transferTo: new Set([acl]),
      zones: [data],
    });
    return decode(r[0]).rcode;
  };
  assert.equal(v6("2001:db8::1", "2001:DB8:0:0::1"), "NOERROR");
  assert.equal(v6("2001:DB8::0:1", "2001:db8::1"), "NOERROR");
  assert.equal(v6("2001:db8::2", "2001:db8::1"), "REFUSED");
});

Deno.test("canonicalIp() gives one form per address", () => {
  assert.equal(canonicalIp("192.0.2.1"), "192.0.2.1");
  assert.equal(canonicalIp("::ffff:192.0.2.1"), "192.0.2.1");
  assert.equal(canonicalIp("::FFFF:c000:0201"), "192.0.2.1");
  assert.equal(canonicalIp("2001:DB8:0000:0:0::0001"), "2001:db8::1");
  assert.equal(canonicalIp("[::1]"), "::1");
  assert.equal(canonicalIp("0:0:0:0:0:0:0:1"), "::1");
  assert.equal(canonicalIp("ns.example.test"), "ns.example.test");
  assert.equal(canonicalIpPort("[2001:DB8::0:1]:53"), "[2001:db8::1]:53");
  assert.equal(canonicalIpPort("[::ffff:127.0.0.1]:5300"), "127.0.0.1:5300");
  assert.equal(canonicalIpPort("127.0.0.1:53"), "127.0.0.1:53");
});

Deno.test("parseQuestion() never throws on random and truncated input (bounded)", () => {
  let seed = 42;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const good = query(ZONE, "AXFR");
  let parsed = 0;
  for (let i = 0; i < 5000; i++) {
    const p = i % 2 === 0
      ? Uint8Array.from({ length: Math.floor(rand() * 80) }, () => Math.floor(rand() * 256))
      : good.slice(0, Math.floor(rand() * (good.length + 1)));
    if (parseQuestion(p) !== undefined) parsed++;
  }
  assert.ok(parsed < 5000);
  assert.equal(parseQuestion(good)!.name, ZONE);
  assert.equal(parseQuestion(good)!.qtype, 252);
});

// ------------------------------------------------------- real processes

async function mcns(dir: McnsDir, ...args: string[]) {
  const plan = await planService("mcns", args[0], [...args.slice(1), "--config", dir.config]);
  return await run(Deno.execPath(), plan.argv);
}

async function ok(dir: McnsDir, ...args: string[]): Promise<string> {
  const out = await mcns(dir, ...args);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout;
}

/** Polls `probe` every 100 ms until it returns true or `ms` pass. */
async function eventually(probe: () => Promise<boolean>, ms = 10_000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await probe()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

function udpAsk(port: number, msg: Uint8Array): Promise<Uint8Array> {
  const socket = createSocket("udp4");
  return new Promise<Uint8Array>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("no UDP reply")), 2000);
    socket.once("message", (m) => {
      clearTimeout(timer);
      resolve(new Uint8Array(m));
    });
    socket.send(msg, port, "127.0.0.1", (e) => e && reject(e));
  }).finally(() => socket.close());
}

Deno.test("dig AXFR gets the whole zone in several messages; others are refused", async () => {
  await using dir = await makeMcnsDir(`transfer_to = ["127.0.0.1"]\n`);
  const z = `svc.mcp.${dir.domain}`;
  await ok(dir, "record", "add", z, "--name", "api", "--type", "A", "--value", "192.0.2.1");
  await ok(dir, "record", "add", z, "--name", "www", "--type", "CNAME", "--value", "api");
  // A TXT record of 4000 characters, 40 times: ~160 kB, ten or more 16 kB messages.
  for (let i = 0; i < 40; i++) {
    await ok(
      dir,
      "record",
      "add",
      z,
      "--name",
      "big",
      "--type",
      "TXT",
      "--value",
      `${i}`.padEnd(4000, "x"),
    );
  }
  await using _server = await startMcnsProcess(dir);
  const out = await dig(dir.dnsPort, "AXFR", z);
  const rrs = out.split("\n").filter((l) => l !== "" && !l.startsWith(";"));
  assert.equal(rrs.length, 1 + 1 + 42 + 1, out.slice(0, 2000)); // SOA, NS, 42 records, SOA
  assert.match(rrs[0], new RegExp(`^${z}\\.\\s+3600\\s+IN\\s+SOA\\s`));
  assert.equal(rrs.at(-1), rrs[0]);
  assert.ok(rrs.some((l) => /^api\.\S+\s+300\s+IN\s+A\s+192\.0\.2\.1$/.test(l)));
  assert.ok(
    rrs.some((l) => new RegExp(`^www\\.\\S+\\s+300\\s+IN\\s+CNAME\\s+api\\.${z}\\.$`).test(l)),
  );
  assert.equal(rrs.filter((l) => /\sTXT\s/.test(l)).length, 40);
  const messages = Number(/XFR size: 45 records \(messages (\d+)/.exec(out)?.[1]);
  assert.ok(messages >= 10, out.slice(-300));
  // kdig agrees, and IXFR falls back to the whole zone in AXFR form.
  const k = await run("kdig", ["@127.0.0.1", "-p", String(dir.dnsPort), z, "IXFR=1"]);
  assert.equal(k.code, 0, k.stderr);
  assert.match(k.stdout, /Received \d+ B \(\d+ messages, 45 records\)/);
  // A host not in transfer_to (dig from 127.0.0.2) is refused.
  const refused = await dig(dir.dnsPort, "-b", "127.0.0.2", "AXFR", z);
  assert.match(refused, /Transfer failed/);
  const kr = await run("kdig", [
    "@127.0.0.1",
    "-p",
    String(dir.dnsPort),
    "-b",
    "127.0.0.2",
    "AXFR",
    z,
  ]);
  assert.match(kr.stdout + kr.stderr, /REFUSED/);
  // Not a zone apex: NOTAUTH (not just any failure).
  await assert.rejects(
    fetchAxfr(`127.0.0.1:${dir.dnsPort}`, `api.${z}`, { timeoutMs: 5000 }),
    /AXFR refused: NOTAUTH$/,
  );
  // AXFR over UDP is FORMERR (RFC 5936 §4.2); IXFR over UDP gets the SOA alone.
  const u = decode(await udpAsk(dir.dnsPort, query(z, "AXFR")));
  assert.equal(u.rcode, "FORMERR");
  const ui = decode(await udpAsk(dir.dnsPort, query(z, "IXFR")));
  assert.deepEqual(ui.answers.map((a: dnsPacket.Answer) => a.type), ["SOA"]);
});

Deno.test("a dual-stack listener ([::]) still lets IPv4 clients in transfer_to transfer", async () => {
  await using dir = await makeMcnsDir(`transfer_to = ["127.0.0.1"]\n`);
  const text = await Deno.readTextFile(dir.config);
  const v4 = `listen_addr = "127.0.0.1:${dir.dnsPort}"`;
  assert.ok(text.includes(v4));
  await Deno.writeTextFile(dir.config, text.replace(v4, `listen_addr = "[::]:${dir.dnsPort}"`));
  const z = `svc.mcp.${dir.domain}`;
  await using server = await startMcnsProcess(dir);
  // Deno reports the client as ::ffff:127.0.0.1; the ACL says 127.0.0.1.
  const got = await fetchAxfr(`127.0.0.1:${dir.dnsPort}`, z, { timeoutMs: 5000 });
  assert.equal(got.soa.name, z);
  assert.ok(got.records.some((r) => r.type === "NS"), JSON.stringify(got.records));
  assert.match(server.output(), /"zone transfer"/);
  // 127.0.0.2 (::ffff:127.0.0.2) is not in the ACL.
  const kr = await run("kdig", [
    "@127.0.0.1",
    "-p",
    String(dir.dnsPort),
    "-b",
    "127.0.0.2",
    "AXFR",
    z,
  ]);
  assert.match(kr.stdout + kr.stderr, /REFUSED/);
});

/** Appends `[dns]` keys to a test config (its last section). */
function appendDns(dir: McnsDir, lines: string): Promise<void> {
  return Deno.writeTextFile(dir.config, lines, { append: true });
}

Deno.test("an edge MCNS follows its origin by NOTIFY and AXFR; local writes refused", async () => {
  await using origin = await makeMcnsDir();
  await using edge = await makeMcnsDir();
  const z = `svc.mcp.${origin.domain}`;
  // UDP replies only to 127.0.0.2 (dig uses TCP below): the NOTIFY and its
  // answer pass only through the ${dns.notify} and ${dns.primary} grants.
  await appendDns(
    origin,
    `clients = ["127.0.0.2"]\ntransfer_to = ["127.0.0.1"]\nnotify = ["127.0.0.1:${edge.dnsPort}"]\n`,
  );
  await appendDns(
    edge,
    `clients = ["127.0.0.2"]\nprimary = "127.0.0.1:${origin.dnsPort}"\nsecondary_zones = ["${z}"]\n`,
  );
  const edgePlan = await planService("mcns", "server", ["--config", edge.config]);
  const net = edgePlan.permissions.net ?? [];
  assert.ok(net.includes(`127.0.0.1:${origin.dnsPort}`), net.join(","));
  assert.ok(!net.includes("127.0.0.1"), net.join(","));
  const originNet = (await planService("mcns", "server", ["--config", origin.config])).permissions
    .net ?? [];
  assert.ok(originNet.includes(`127.0.0.1:${edge.dnsPort}`), originNet.join(","));
  assert.ok(!originNet.includes("127.0.0.1"), originNet.join(","));
  await ok(origin, "record", "add", z, "--name", "api", "--type", "A", "--value", "192.0.2.1");
  const audits = [join(origin.root, "audit.jsonl"), join(edge.root, "audit.jsonl")];
  await using originProc = await startMcnsProcess(origin, { DENO_AUDIT_PERMISSIONS: audits[0] });
  // The edge logs at debug level: "notify received" is a debug line (a flood must not flood the log).
  await using edgeProc = await startMcnsProcess(edge, {
    DENO_AUDIT_PERMISSIONS: audits[1],
    MCNS_LOG_LEVEL: "debug",
  });
  const edgeA = async (name: string) =>
    (await dig(edge.dnsPort, "+tcp", "+short", `${name}.${z}`, "A")).trim();
  const soaSerial = async (port: number) =>
    Number((await dig(port, "+tcp", "+short", z, "SOA")).split(" ")[2]);
  // The first copy, pulled on start.
  assert.ok(await eventually(async () => await edgeA("api") === "192.0.2.1"), edgeProc.output());
  assert.equal(await soaSerial(edge.dnsPort), await soaSerial(origin.dnsPort));
  // A record added on the origin reaches the edge through NOTIFY (the SOA
  // refresh is an hour, so only NOTIFY can explain it).
  const added = await ok(
    origin,
    "record",
    "add",
    z,
    "--name",
    "late",
    "--type",
    "A",
    "--value",
    "192.0.2.9",
  );
  const t0 = Date.now();
  assert.ok(
    await eventually(async () => await edgeA("late") === "192.0.2.9"),
    edgeProc.output(),
  );
  const propagationMs = Date.now() - t0;
  assert.match(edgeProc.output(), /notify received/);
  assert.match(originProc.output(), /zone transfer/);
  assert.equal(await soaSerial(edge.dnsPort), await soaSerial(origin.dnsPort));
  // A deletion too.
  await ok(origin, "record", "delete", added.split("\t")[0]);
  assert.ok(await eventually(async () => await edgeA("late") === ""), edgeProc.output());
  assert.match(await dig(edge.dnsPort, "+tcp", `late.${z}`, "A"), /status: NXDOMAIN/);
  // The edge refuses a local write to its secondary zone, and says why.
  const local = await mcns(
    edge,
    "record",
    "add",
    z,
    "--name",
    "x",
    "--type",
    "A",
    "--value",
    "192.0.2.7",
  );
  assert.equal(local.code, 1);
  assert.match(local.stderr, /secondary copy of 127\.0\.0\.1:\d+'s zone \(read-only\)/);
  assert.match(await ok(edge, "zone", "list"), new RegExp(`${z}\\tserial \\d+\\tsecondary of`));
  // The edge seeded nothing of its own.
  assert.doesNotMatch(await ok(edge, "zone", "list"), /^mcp\./m);
  // A NOTIFY from a host that is not the edge's primary is dropped unanswered.
  const spoof = createSocket("udp4");
  try {
    const got = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 800);
      spoof.once("message", () => {
        clearTimeout(timer);
        resolve(true);
      });
      spoof.bind(0, "127.0.0.2", () => {
        const n = new Uint8Array(query(z, "SOA", 99));
        n[2] = 4 << 3;
        spoof.send(n, edge.dnsPort, "127.0.0.1");
      });
    });
    assert.equal(got, false);
  } finally {
    spoof.close();
  }
  assert.equal(await edgeProc.stop(), 0);
  assert.equal(await originProc.stop(), 0);
  assert.doesNotMatch(originProc.output() + edgeProc.output(), /"level":"error"/);
  // Both used only what their manifests declare (NOTIFY, its answer, SOA and AXFR).
  for (const [i, proc] of [originProc, edgeProc].entries()) {
    const entries = await readAudit(audits[i]);
    assert.ok(entries.some((e) => e.permission === "net"));
    assert.deepEqual(undeclaredAccesses(entries, proc.plan.permissions), []);
  }
  console.log(`propagation origin → edge: ${propagationMs} ms`);
});

/** A third-party secondary: its config for `zone` from MCNS, and how its log shows the sync. */
interface ThirdParty {
  name: string;
  /** Writes its config into `dir` and returns the command line. */
  configure(dir: string, zone: string, port: number, primaryPort: number): Promise<string[]>;
  /** What its log must show after following a NOTIFY. */
  logs: RegExp[];
}

async function followsMcns(secondary: ThirdParty): Promise<void> {
  await using origin = await makeMcnsDir();
  const z = `svc.mcp.${origin.domain}`;
  const port = await freeDnsPort();
  const dir = await Deno.makeTempDir({ prefix: `${secondary.name}_` });
  try {
    await appendDns(origin, `transfer_to = ["127.0.0.1"]\nnotify = ["127.0.0.1:${port}"]\n`);
    await ok(origin, "record", "add", z, "--name", "api", "--type", "A", "--value", "192.0.2.1");
    await using originProc = await startMcnsProcess(origin);
    const [cmd, ...args] = await secondary.configure(dir, z, port, origin.dnsPort);
    const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "piped", stderr: "piped" })
      .spawn();
    let log = "";
    const sink = () =>
      new WritableStream<Uint8Array>({ write: (c) => void (log += new TextDecoder().decode(c)) });
    const pumps = Promise.all([child.stdout.pipeTo(sink()), child.stderr.pipeTo(sink())]);
    try {
      const a = async (name: string) => (await dig(port, "+short", `${name}.${z}`, "A")).trim();
      // The first copy (on its start), then a change pushed by NOTIFY (refresh is an hour).
      assert.ok(await eventually(async () => await a("api") === "192.0.2.1"), log);
      await ok(origin, "record", "add", z, "--name", "late", "--type", "A", "--value", "192.0.2.9");
      assert.ok(await eventually(async () => await a("late") === "192.0.2.9"), log);
      if (Deno.env.get("SHOW_LOG")) console.log(log);
      for (const re of secondary.logs) assert.match(log, re);
      assert.match(originProc.output(), /"zone transfer"/);
      // It serves the origin's serial.
      const serial = async (p: number) => (await dig(p, "+short", z, "SOA")).split(" ")[2];
      assert.equal(await serial(port), await serial(origin.dnsPort));
    } finally {
      try {
        child.kill("SIGTERM");
      } catch { /* exited already */ }
      await child.status;
      await pumps;
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("Knot (knotd) follows MCNS as a real third-party secondary", async () => {
  await followsMcns({
    name: "knot",
    async configure(dir, zone, port, primaryPort) {
      await Deno.mkdir(join(dir, "run"));
      await Deno.mkdir(join(dir, "db"));
      const conf = join(dir, "knot.conf");
      await Deno.writeTextFile(
        conf,
        `server:
    rundir: "${dir}/run"
    listen: 127.0.0.1@${port}
database:
    storage: "${dir}/db"
log:
  - target: stderr
    any: info
remote:
  - id: mcns
    address: 127.0.0.1@${primaryPort}
acl:
  - id: from_mcns
    address: 127.0.0.1
    action: notify
template:
  - id: default
    storage: "${dir}/db"
zone:
  - domain: ${zone}
    master: mcns
    acl: from_mcns
`,
      );
      return ["knotd", "-c", conf];
    },
    logs: [
      /notify, incoming/i,
      /AXFR, incoming.*finished/,
      // Knot asks IXFR on NOTIFY; MCNS answers with the whole zone, AXFR-style.
      /receiving AXFR-style IXFR/,
    ],
  });
});

Deno.test("NSD follows MCNS as a real third-party secondary", async () => {
  await followsMcns({
    name: "nsd",
    async configure(dir, zone, port, primaryPort) {
      const conf = join(dir, "nsd.conf");
      await Deno.writeTextFile(
        conf,
        `server:
    ip-address: 127.0.0.1@${port}
    port: ${port}
    username: ""
    chroot: ""
    zonesdir: "${dir}"
    database: ""
    pidfile: "${dir}/nsd.pid"
    xfrdfile: "${dir}/xfrd.state"
    zonelistfile: "${dir}/zone.list"
    xfrdir: "${dir}"
    server-count: 1
    verbosity: 2
remote-control:
    control-enable: no
zone:
    name: ${zone}
    zonefile: "${dir}/${zone}.zone"
    allow-notify: 127.0.0.1 NOKEY
    request-xfr: 127.0.0.1@${primaryPort} NOKEY
`,
      );
      return ["nsd", "-d", "-c", conf];
    },
    logs: [
      /notify for svc\.mcp\.example\.test\. from 127\.0\.0\.1 serial \d+/,
      /zone svc\.mcp\.example\.test serial \d+ is updated to \d+/,
    ],
  });
});
