import assert from "node:assert/strict";
import { createSocket } from "node:dgram";
import { join, resolve } from "node:path";
import { planService } from "../../tasks/_launcher.ts";
import { readAudit, undeclaredAccesses } from "@mc/mcdsl/sandbox";
import { openZoneStore } from "./store.ts";
import {
  dig,
  freePort,
  makeMcnsDir,
  type McnsDir,
  run,
  soaQuery,
  startMcnsProcess,
  tcpQuery,
} from "./_testing.ts";

const ROOT = resolve(import.meta.dirname!, "../..");

async function mcns(dir: McnsDir, ...args: string[]): Promise<string> {
  const plan = await planService("mcns", args[0], [...args.slice(1), "--config", dir.config]);
  const out = await run(Deno.execPath(), plan.argv);
  assert.equal(out.code, 0, out.stderr);
  return out.stdout;
}

async function seedRecords(dir: McnsDir): Promise<void> {
  // The admin CLI seeds the zones itself when the server has not run yet.
  const zone = `svc.mcp.${dir.domain}`;
  const add = (name: string, type: string, value: string) =>
    mcns(dir, "record", "add", zone, "--name", name, "--type", type, "--value", value);
  await add("api", "A", "192.0.2.1");
  await add("api", "AAAA", "2001:db8::1");
  await add("api", "TXT", "hello world");
  await add("www", "CNAME", "api");
  await add("old", "CNAME", "www");
  await add("_https._tcp.api", "SRV", "10 5 8443 api");
  await add("@", "MX", "10 mail");
  await add("@", "CAA", '0 issue "letsencrypt.org"');
  for (let i = 0; i < 10; i++) await add("big", "TXT", `${i}`.padEnd(200, "x"));
}

function answerLines(out: string): string[] {
  return out.split("\n").filter((l) => l.trim() !== "" && !l.startsWith(";"));
}

Deno.test("mcns serves every record type to dig under its sandbox", async () => {
  await using dir = await makeMcnsDir();
  await seedRecords(dir);
  await using server = await startMcnsProcess(dir);
  assert.ok(server.plan.flags.includes("--unstable-net"));
  const z = `svc.mcp.${dir.domain}`;
  const short = async (name: string, type: string) =>
    (await dig(dir.dnsPort, "+short", name, type)).trim().split("\n");
  assert.deepEqual(await short(`api.${z}`, "A"), ["192.0.2.1"]);
  assert.deepEqual(await short(`api.${z}`, "AAAA"), ["2001:db8::1"]);
  assert.deepEqual(await short(`api.${z}`, "TXT"), ['"hello world"']);
  assert.deepEqual(await short(`www.${z}`, "CNAME"), [`api.${z}.`]);
  assert.deepEqual(await short(`_https._tcp.api.${z}`, "SRV"), [`10 5 8443 api.${z}.`]);
  assert.deepEqual(await short(z, "MX"), [`10 mail.${z}.`]);
  assert.deepEqual(await short(z, "CAA"), ['0 issue "letsencrypt.org"']);
  assert.deepEqual(await short(z, "NS"), [`ns.mcp.${dir.domain}.`]);
  assert.match((await short(z, "SOA"))[0], new RegExp(`^ns\\.mcp\\.${dir.domain}\\. hostmaster`));
  assert.deepEqual(await short(`mcp.${dir.domain}`, "NS"), [`ns.mcp.${dir.domain}.`]);
  // Case-insensitive, with the question's case echoed.
  const mixed = await dig(dir.dnsPort, `API.Svc.Mcp.${dir.domain}`, "A");
  assert.match(mixed, /status: NOERROR/);
  assert.match(mixed, /flags: qr aa;/);
  assert.match(mixed, new RegExp(`;API\\.Svc\\.Mcp\\.${dir.domain}\\.\\s+IN\\s+A`));
  // CNAME chains are chased inside the zone.
  assert.deepEqual(
    answerLines(await dig(dir.dnsPort, "+noall", "+answer", `old.${z}`, "A")).map((l) =>
      l.split(/\s+/).slice(3).join(" ")
    ),
    [`CNAME www.${z}.`, `CNAME api.${z}.`, "A 192.0.2.1"],
  );
  // NXDOMAIN vs NODATA, both with the SOA in authority.
  const nx = await dig(dir.dnsPort, `nope.${z}`, "A");
  assert.match(nx, /status: NXDOMAIN/);
  assert.match(nx, /AUTHORITY: 1/);
  assert.match(nx, /AUTHORITY SECTION:\n\S+\s+60\s+IN\s+SOA/);
  const nodata = await dig(dir.dnsPort, `api.${z}`, "MX");
  assert.match(nodata, /status: NOERROR/);
  assert.match(nodata, /ANSWER: 0, AUTHORITY: 1/);
  // Outside its zones: REFUSED.
  assert.match(await dig(dir.dnsPort, "example.org", "A"), /status: REFUSED/);
  // kdig agrees.
  const k = await run("kdig", [
    "@127.0.0.1",
    "-p",
    String(dir.dnsPort),
    "+norec",
    `api.${z}`,
    "AAAA",
  ]);
  assert.match(k.stdout, /2001:db8::1/);
});

Deno.test("mcns honours EDNS0 sizes and sets TC so clients retry over TCP", async () => {
  await using dir = await makeMcnsDir();
  await seedRecords(dir);
  await using _server = await startMcnsProcess(dir);
  const big = `big.svc.mcp.${dir.domain}`;
  // Without EDNS0 the 512-byte limit truncates; +ignore shows the TC reply.
  const noEdns = await dig(dir.dnsPort, "+noedns", "+ignore", big, "TXT");
  assert.match(noEdns, /flags: qr aa tc;/);
  assert.match(noEdns, /ANSWER: 0/);
  // A small EDNS0 buffer truncates too; dig's default retries over TCP.
  const small = await dig(dir.dnsPort, "+bufsize=1232", "+ignore", big, "TXT");
  assert.match(small, /flags: qr aa tc;/);
  const retried = await dig(dir.dnsPort, "+bufsize=1232", big, "TXT");
  assert.match(retried, /Truncated, retrying in TCP mode/);
  assert.match(retried, /ANSWER: 10/);
  assert.match(retried, /\(TCP\)/);
  // A large EDNS0 buffer gets it all over UDP.
  const large = await dig(dir.dnsPort, "+bufsize=4096", big, "TXT");
  assert.match(large, /flags: qr aa;/);
  assert.match(large, /ANSWER: 10/);
  assert.match(large, /udp: 1232/);
  assert.match(large, /\(UDP\)/);
  // TCP directly, several queries over one connection (kdig +keepopen).
  const tcp = await run("kdig", [
    "@127.0.0.1",
    "-p",
    String(dir.dnsPort),
    "+tcp",
    "+keepopen",
    big,
    "TXT",
    `api.svc.mcp.${dir.domain}`,
    "A",
  ]);
  assert.match(tcp.stdout, /192\.0\.2\.1/);
  assert.equal((tcp.stdout.match(/status: NOERROR/g) ?? []).length, 2);
});

Deno.test("mcns serves changes made by the admin CLI at once, with a new serial", async () => {
  await using dir = await makeMcnsDir();
  await using _server = await startMcnsProcess(dir);
  const z = `svc.mcp.${dir.domain}`;
  const serial = async () => Number((await dig(dir.dnsPort, "+short", z, "SOA")).split(" ")[2]);
  const before = await serial();
  await mcns(dir, "record", "add", z, "--name", "late", "--type", "A", "--value", "192.0.2.9");
  const deadline = Date.now() + 5000;
  let got = "";
  while (Date.now() < deadline && got !== "192.0.2.9") {
    got = (await dig(dir.dnsPort, "+short", `late.${z}`, "A")).trim();
    if (got !== "192.0.2.9") await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(got, "192.0.2.9");
  assert.equal(await serial(), before + 1);
  const list = await mcns(dir, "record", "list", z);
  assert.match(list, /late\.svc\.mcp\.example\.test\t300\tA\t192\.0\.2\.9/);
  // Bad values are refused with a clear message and nothing is written.
  const plan = await planService("mcns", "record", [
    "add",
    z,
    "--name",
    "bad",
    "--type",
    "A",
    "--value",
    "300.1.1.1",
    "--config",
    dir.config,
  ]);
  const bad = await run(Deno.execPath(), plan.argv);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /Cannot use A value "300\.1\.1\.1": expected an IPv4 address/);
  assert.equal(await serial(), before + 1);
});

Deno.test("mcns stays up and answering under random and mutated packets (bounded)", async () => {
  await using dir = await makeMcnsDir();
  await seedRecords(dir);
  await using server = await startMcnsProcess(dir);
  const good = soaQuery(`svc.mcp.${dir.domain}`);
  // node:dgram: the test runner has no --unstable-net.
  const udp = createSocket("udp4");
  const send = (p: Uint8Array) =>
    new Promise<void>((resolve, reject) =>
      udp.send(p, dir.dnsPort, "127.0.0.1", (e) => e ? reject(e) : resolve())
    );
  let seed = 987654321;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const deadline = Date.now() + 8000;
  let sent = 0;
  try {
    for (; sent < 4000 && Date.now() < deadline; sent++) {
      let p: Uint8Array;
      if (sent % 2 === 0) {
        p = new Uint8Array(Math.floor(rand() * 600));
        for (let i = 0; i < p.length; i++) p[i] = Math.floor(rand() * 256);
      } else {
        p = good.slice(0, Math.max(1, Math.floor(rand() * (good.length + 4))));
        for (let k = 0; k < 1 + rand() * 3; k++) {
          p[Math.floor(rand() * p.length)] = Math.floor(rand() * 256);
        }
      }
      await send(p);
    }
    // Hostile TCP: garbage, a length with no body, a half-sent message.
    for (let i = 0; i < 50; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port: dir.dnsPort });
      const junk = new Uint8Array(1 + Math.floor(rand() * 100));
      for (let j = 0; j < junk.length; j++) junk[j] = Math.floor(rand() * 256);
      if (i % 3 === 0) junk[0] = 0xff;
      await conn.write(junk).catch(() => {});
      conn.close();
    }
  } finally {
    await new Promise<void>((resolve) => udp.close(() => resolve()));
  }
  assert.ok(sent >= 2000, `sent only ${sent}`);
  // Still answering over UDP and TCP.
  assert.match(await dig(dir.dnsPort, `api.svc.mcp.${dir.domain}`, "A"), /192\.0\.2\.1/);
  const reply = await tcpQuery(dir.dnsPort, good);
  assert.equal(reply[3] & 0x0f, 0);
  // And it shuts down cleanly.
  assert.equal(await server.stop(), 0);
  assert.doesNotMatch(server.output(), /"level":"error"/);
});

Deno.test("mcns sandbox denies what its manifest does not declare", async () => {
  await using dir = await makeMcnsDir();
  const other = await Deno.makeTempDir({ prefix: "other_" });
  try {
    const plan = await planService("mcns", "server", ["--config", dir.config]);
    assert.ok(
      !plan.flags.some((f) => /^(-A|--allow-all|--allow-ffi|--allow-run|--allow-sys)/.test(f)),
    );
    // DNS, UDP replies to [dns] clients, the record API's HTTPS, MCIAS; no
    // port-0 bind: this config forwards to no upstream.
    assert.ok(
      plan.flags.includes(
        `--allow-net=127.0.0.1:${dir.dnsPort},127.0.0.1,127.0.0.1:${dir.httpsPort},localhost:9`,
      ),
      plan.flags.join(" "),
    );
    const probe = join(ROOT, "tests/sandbox_probe.ts");
    const out = await run(Deno.execPath(), [
      "run",
      ...plan.flags,
      `--allow-read=${probe}`,
      probe,
      other,
      String(freePort()),
      dir.dataDir,
      String(dir.dnsPort),
    ]);
    assert.equal(out.code, 0, out.stderr);
    assert.deepEqual(JSON.parse(out.stdout), {
      readOtherDir: "denied",
      writeOtherDir: "denied",
      readEtc: "denied",
      listenOtherPort: "denied",
      // The UDP reply grant is per host (clients answer from ephemeral
      // ports), so TCP to any port of 127.0.0.1 passes the permission check
      // too (documented); nothing listens there, hence the refusal.
      connectOut: "ConnectionRefused",
      listenUdpOtherPort: "denied",
      sendUdpOtherHost: "denied",
      envHome: "denied",
      envAll: "denied",
      run: "denied",
      ffi: "denied",
      sys: "denied",
      importDenoLand: "denied",
      importEsmSh: "denied",
      importJsdelivr: "denied",
      listenUdpOwnPort: "allowed",
      writeOwnDataDir: "allowed",
    });
  } finally {
    await Deno.remove(other, { recursive: true });
  }
});

Deno.test("mcns snapshot and restore carry the zones to a new data directory", async () => {
  await using dir = await makeMcnsDir();
  await seedRecords(dir);
  await using _server = await startMcnsProcess(dir);
  const archive = join(dir.root, "out", "mcns.tar.zst");
  await Deno.mkdir(join(dir.root, "out"));
  const plan = await planService("mcns", "snapshot", ["--config", dir.config, "--output", archive]);
  const snap = await run(Deno.execPath(), plan.argv);
  assert.equal(snap.code, 0, snap.stderr);
  const to = join(dir.root, "restored");
  const restorePlan = await planService("mcns", "restore", ["--from", archive, "--to", to]);
  const restored = await run(Deno.execPath(), restorePlan.argv);
  assert.equal(restored.code, 0, restored.stderr);
  using store = openZoneStore(join(to, "mcns.db"));
  const records = store.listRecords(`svc.mcp.${dir.domain}`);
  assert.ok(records.some((r) => r.name === `api.svc.mcp.${dir.domain}` && r.value === "192.0.2.1"));
});

Deno.test("mcns uses only declared capabilities (DENO_AUDIT_PERMISSIONS)", async () => {
  await using dir = await makeMcnsDir();
  await seedRecords(dir);
  const audit = join(dir.root, "audit.jsonl");
  const proc = await startMcnsProcess(dir, { DENO_AUDIT_PERMISSIONS: audit });
  try {
    assert.match(await dig(dir.dnsPort, `api.svc.mcp.${dir.domain}`, "A"), /192\.0\.2\.1/);
    assert.match(await dig(dir.dnsPort, "+tcp", `big.svc.mcp.${dir.domain}`, "TXT"), /ANSWER: 10/);
    await mcns(
      dir,
      "record",
      "add",
      `svc.mcp.${dir.domain}`,
      "--name",
      "x",
      "--type",
      "A",
      "--value",
      "192.0.2.7",
    );
    const deadline = Date.now() + 5000;
    while (
      Date.now() < deadline &&
      !(await dig(dir.dnsPort, "+short", `x.svc.mcp.${dir.domain}`, "A")).includes("192.0.2.7")
    ) await new Promise((r) => setTimeout(r, 100));
  } finally {
    assert.equal(await proc.stop(), 0, proc.output());
  }
  const entries = await readAudit(audit);
  assert.ok(entries.some((e) => e.permission === "net"), "audit recorded nothing");
  assert.deepEqual(undeclaredAccesses(entries, proc.plan.permissions), []);
});
