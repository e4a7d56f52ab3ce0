/**
 * `deno task bench dns`: MCNS against NSD (and Knot when installed) with
 * `dnsperf` on loopback. All servers hold the same zones; dnsperf replays one
 * query file (existing names of every served type, CNAME chains and
 * NXDOMAIN) with the same client count and duration against each, in
 * interleaved rounds, and the ratio MCNS/NSD is reported against the target
 * ≥ 0.5 (issue 4). MCNS runs as a real sandboxed process under its
 * launcher flags, NSD in the foreground (`-d`) with a temporary config.
 *
 * Env: `BENCH_SECONDS` (per server and round, default 10), `BENCH_CLIENTS`
 * (dnsperf -c, default 4), `BENCH_ROUNDS` (default 2), `BENCH_KNOT=0` to
 * skip Knot.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { join } from "node:path";
import dnsPacket from "dns-packet";
import { openZoneStore, type ZoneData } from "../../services/mcns/store.ts";
import {
  freeDnsPort,
  makeMcnsDir,
  soaQuery,
  startMcnsProcess,
  tcpQuery,
} from "../../services/mcns/_testing.ts";

/** Records added to the seeded zones: a realistic platform inventory. */
function inventory(domain: string): { zone: string; name: string; type: string; value: string }[] {
  const svc = `svc.mcp.${domain}`;
  const mcp = `mcp.${domain}`;
  const out: { zone: string; name: string; type: string; value: string }[] = [];
  for (let i = 1; i <= 40; i++) {
    out.push({ zone: svc, name: `host${i}`, type: "A", value: `10.0.${i >> 4}.${i}` });
    if (i % 2 === 0) {
      out.push({ zone: svc, name: `host${i}`, type: "AAAA", value: `fd00::${i.toString(16)}` });
    }
  }
  for (const s of ["mcias", "mcns", "mc-proxy", "api", "web"]) {
    out.push({ zone: svc, name: s, type: "A", value: "10.0.0.10" });
    out.push({ zone: svc, name: s, type: "A", value: "10.0.0.11" });
    out.push({ zone: svc, name: `_https._tcp.${s}`, type: "SRV", value: `10 5 8443 ${s}.${svc}` });
    out.push({ zone: svc, name: `www-${s}`, type: "CNAME", value: `${s}.${svc}.` });
  }
  out.push({ zone: svc, name: "@", type: "TXT", value: "v=spf1 -all" });
  out.push({ zone: mcp, name: "ns", type: "A", value: "10.0.0.2" });
  out.push({ zone: mcp, name: "@", type: "MX", value: `10 mail.${mcp}` });
  out.push({ zone: mcp, name: "mail", type: "A", value: "10.0.0.25" });
  return out;
}

/** One query file: ~70 % existing A/AAAA, SRV, TXT, CNAME chains, ~15 % NXDOMAIN. */
function queryFile(domain: string): string {
  const svc = `svc.mcp.${domain}`;
  const lines: string[] = [];
  for (let i = 0; i < 2000; i++) {
    const k = i % 20;
    const h = (i * 7) % 40 + 1;
    const s = ["mcias", "mcns", "mc-proxy", "api", "web"][i % 5];
    if (k < 8) lines.push(`host${h}.${svc} A`);
    else if (k < 10) lines.push(`host${h}.${svc} AAAA`);
    else if (k < 12) lines.push(`${s}.${svc} A`);
    else if (k < 13) lines.push(`_https._tcp.${s}.${svc} SRV`);
    else if (k < 14) lines.push(`www-${s}.${svc} A`);
    else if (k < 15) lines.push(`${svc} TXT`);
    else if (k < 16) lines.push(`mcp.${domain} MX`);
    else if (k < 17) lines.push(`host${h}.${svc} TXT`); // NODATA
    else lines.push(`nx${i}.${svc} A`); // NXDOMAIN
  }
  return lines.join("\n") + "\n";
}

/** The zones in RFC 1035 master-file form (for NSD and Knot). */
function zoneFile(data: ZoneData): string {
  const z = data.zone;
  const lines = [
    `$ORIGIN ${z.name}.`,
    `@ ${z.ttl} IN SOA ${z.mname}. ${z.rname}. ${z.serial} ${z.refresh} ${z.retry} ${z.expire} ${z.minimum}`,
  ];
  for (const r of data.records) {
    let value = r.value;
    if (r.type === "TXT") value = JSON.stringify(value);
    else if (["CNAME", "NS"].includes(r.type)) value = `${value}.`;
    else if (r.type === "MX" || r.type === "SRV") value = `${value}.`;
    lines.push(`${r.name}. ${r.ttl} IN ${r.type} ${value}`);
  }
  return lines.join("\n") + "\n";
}

interface PerfResult {
  qps: number;
  sent: number;
  lost: number;
}

async function dnsperf(
  port: number,
  file: string,
  clients: number,
  seconds: number,
): Promise<PerfResult> {
  const out = await new Deno.Command("dnsperf", {
    args: [
      "-s",
      "127.0.0.1",
      "-p",
      String(port),
      "-d",
      file,
      "-c",
      String(clients),
      "-l",
      String(seconds),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output().catch((e) => {
    throw new Error(`dnsperf is needed for this benchmark (apt-get install dnsperf): ${e.message}`);
  });
  const text = new TextDecoder().decode(out.stdout);
  const num = (re: RegExp) => Number(re.exec(text)?.[1] ?? NaN);
  const result = {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
  };
  if (Number.isNaN(result.qps)) {
    throw new Error(`dnsperf failed:\n${text}${new TextDecoder().decode(out.stderr)}`);
  }
  return result;
}

/** A peer server process (NSD or Knot) and how to stop it. */
interface Peer extends AsyncDisposable {
  name: string;
  port: number;
  config: string;
}

async function waitAnswering(port: number, zone: string, child: Deno.ChildProcess, what: string) {
  let exited = false;
  child.status.then(() => exited = true);
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (exited || Date.now() > deadline) {
      throw new Error(`${what} did not start (exited: ${exited})`);
    }
    try {
      const reply = await tcpQuery(port, soaQuery(zone));
      if (reply.length > 12 && (reply[3] & 0x0f) === 0) return;
    } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function startPeer(
  name: string,
  dir: string,
  argv: (conf: string) => string[],
  config: string,
  port: number,
  zone: string,
): Promise<Peer> {
  const conf = join(dir, `${name}.conf`);
  await Deno.writeTextFile(conf, config);
  const [cmd, ...args] = argv(conf);
  const child = new Deno.Command(cmd, { args, stdin: "null", stdout: "null", stderr: "piped" })
    .spawn();
  const stderr = new Response(child.stderr).text();
  try {
    await waitAnswering(port, zone, child, name);
  } catch (e) {
    try {
      child.kill("SIGTERM");
    } catch { /* exited */ }
    await child.status;
    throw new Error(`${(e as Error).message}:\n${await stderr}`);
  }
  return {
    name,
    port,
    config,
    [Symbol.asyncDispose]: async () => {
      try {
        child.kill("SIGTERM");
      } catch { /* exited */ }
      await child.status;
      await stderr;
    },
  };
}

async function startNsd(dir: string, zones: ZoneData[], port: number): Promise<Peer> {
  const config = `server:
  ip-address: 127.0.0.1@${port}
  port: ${port}
  username: ""
  chroot: ""
  zonesdir: "${dir}"
  database: ""
  zonelistfile: "${dir}/nsd-zone.list"
  xfrdfile: "${dir}/nsd-xfrd.state"
  pidfile: "${dir}/nsd.pid"
  logfile: "${dir}/nsd.log"
  verbosity: 0
  # Debian builds NSD with response rate limiting (200 q/s per client
  # netblock by default): off, as for MCNS and Knot, or it drops the load.
  rrl-ratelimit: 0
  # server-count: NSD's default (1 server process), reuseport: default (no)
remote-control:
  control-enable: no
${
    zones.map((z) => `zone:\n  name: "${z.zone.name}"\n  zonefile: "${z.zone.name}.zone"\n`).join(
      "",
    )
  }`;
  return await startPeer(
    "nsd",
    dir,
    (c) => ["nsd", "-d", "-c", c],
    config,
    port,
    zones[0].zone.name,
  );
}

async function startKnot(dir: string, zones: ZoneData[], port: number): Promise<Peer> {
  await Deno.mkdir(join(dir, "knot"), { recursive: true });
  const config = `server:
    listen: 127.0.0.1@${port}
    rundir: "${dir}/knot"
    # background-workers / udp-workers: Knot's defaults (one per core)
database:
    storage: "${dir}/knot"
log:
  - target: stderr
    any: error
template:
  - id: default
    storage: "${dir}"
    file: "%s.zone"
    zonefile-sync: -1
    journal-content: none
zone:
${zones.map((z) => `  - domain: ${z.zone.name}\n`).join("")}`;
  return await startPeer(
    "knot",
    dir,
    (c) => ["knotd", "-c", c],
    config,
    port,
    zones[0].zone.name,
  );
}

/**
 * The same answers from every server for the first distinct query lines
 * (rcode and sorted answer data, over TCP), so a mis-loaded zone cannot
 * pass for speed.
 */
async function sameAnswers(servers: { name: string; port: number }[], file: string) {
  const lines = [...new Set((await Deno.readTextFile(file)).trim().split("\n"))].slice(0, 40);
  for (const line of lines) {
    const [name, type] = line.split(" ");
    const query = new Uint8Array(
      dnsPacket.encode({ id: 7, type: "query", questions: [{ name, type: type as "A" }] }),
    );
    const seen = new Map<string, string>();
    for (const s of servers) {
      const reply = dnsPacket.decode(Buffer.from(await tcpQuery(s.port, query))) as unknown as {
        rcode: string;
        answers?: { name: string; type: string; data: unknown }[];
      };
      const data = (reply.answers ?? []).map((a) => JSON.stringify([a.name, a.type, a.data]))
        .sort();
      seen.set(s.name, `${reply.rcode} ${data.join(" ")}`);
    }
    if (new Set(seen.values()).size !== 1) {
      throw new Error(`Servers disagree on "${line}": ${JSON.stringify([...seen])}`);
    }
  }
  return lines.length;
}

function fmt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

/** Runs the DNS benchmark and prints its table. */
export async function run(): Promise<void> {
  const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? "10");
  const clients = Number(Deno.env.get("BENCH_CLIENTS") ?? "4");
  const rounds = Number(Deno.env.get("BENCH_ROUNDS") ?? "2");
  const withKnot = Deno.env.get("BENCH_KNOT") !== "0";

  await using dir = await makeMcnsDir();
  {
    using store = openZoneStore(join(dir.dataDir, "mcns.db"));
    store.seed(dir.domain);
    for (const r of inventory(dir.domain)) {
      store.addRecord(r.zone, { name: r.name, type: r.type, ttl: 300, value: r.value });
    }
  }
  const zones = (() => {
    using store = openZoneStore(join(dir.dataDir, "mcns.db"));
    return store.load();
  })();
  const peerDir = join(dir.root, "peers");
  await Deno.mkdir(peerDir);
  for (const z of zones) {
    await Deno.writeTextFile(join(peerDir, `${z.zone.name}.zone`), zoneFile(z));
  }
  const queries = join(dir.root, "queries.txt");
  await Deno.writeTextFile(queries, queryFile(dir.domain));

  await using mcns = await startMcnsProcess(dir);
  await using nsd = await startNsd(peerDir, zones, await freeDnsPort());
  let knot: Peer | undefined;
  if (withKnot) {
    try {
      knot = await startKnot(peerDir, zones, await freeDnsPort());
    } catch (e) {
      console.error(`knot skipped: ${(e as Error).message.split("\n")[0]}`);
    }
  }
  await using _knot = knot;
  const servers: { name: string; port: number }[] = [
    { name: "nsd", port: nsd.port },
    { name: "mcns", port: dir.dnsPort },
    ...(knot ? [{ name: "knot", port: knot.port }] : []),
  ];

  const checked = await sameAnswers(servers, queries);
  console.log(
    `${checked} distinct queries answered alike by ${servers.map((s) => s.name).join(", ")}; ` +
      `dnsperf -c ${clients} -l ${seconds}, ${rounds} interleaved round(s), 2000-line query file ` +
      `(A/AAAA/SRV/TXT/MX, CNAME chains, 5 % NODATA, 15 % NXDOMAIN), ` +
      `${navigator.hardwareConcurrency} cores shared by dnsperf and the server`,
  );
  console.log(`load before: ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  const totals = new Map<string, PerfResult[]>();
  for (let round = 1; round <= rounds; round++) {
    for (const s of servers) {
      const r = await dnsperf(s.port, queries, clients, seconds);
      totals.set(s.name, [...(totals.get(s.name) ?? []), r]);
      console.log(
        `  round ${round} ${s.name.padEnd(5)} ${
          fmt(r.qps).padStart(9)
        } q/s  lost ${r.lost}/${r.sent}`,
      );
    }
  }
  console.log(`load after:  ${Deno.loadavg().map((l) => l.toFixed(2)).join(" ")}`);
  const mean = (name: string) => {
    const rs = totals.get(name) ?? [];
    return rs.reduce((a, r) => a + r.qps, 0) / Math.max(rs.length, 1);
  };
  console.log("\nserver   mean q/s   lost");
  for (const s of servers) {
    const lost = (totals.get(s.name) ?? []).reduce((a, r) => a + r.lost, 0);
    console.log(`${s.name.padEnd(6)} ${fmt(mean(s.name)).padStart(10)}   ${lost}`);
  }
  const ratio = mean("mcns") / mean("nsd");
  console.log(
    `\nMCNS/NSD = ${ratio.toFixed(2)} (target ≥ 0.5: ${ratio >= 0.5 ? "met" : "NOT met"})` +
      (knot ? `, MCNS/Knot = ${(mean("mcns") / mean("knot")).toFixed(2)}` : ""),
  );
  console.log(`\nNSD config used:\n${nsd.config.replace(/^/gm, "  ")}`);
  if (knot) console.log(`Knot config used:\n${knot.config.replace(/^/gm, "  ")}`);
  await mcns.stop();
}
