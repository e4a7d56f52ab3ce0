import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { createSocket, type Socket } from "node:dgram";
import { join } from "node:path";
import dnsPacket from "dns-packet";
import { createLogger } from "@mc/mcdsl/log";
import { cacheTtl, createForwarder, matchesQuery } from "./forward.ts";
import { dig, freeDnsPort, makeMcnsDir, soaQuery, startMcnsProcess, tcpQuery } from "./_testing.ts";

const logger = createLogger({ level: "error" });

function query(name: string, type = "A", rd = true, id = 0x4242): Uint8Array {
  return new Uint8Array(dnsPacket.encode({
    id,
    type: "query",
    flags: rd ? dnsPacket.RECURSION_DESIRED : 0,
    questions: [{ name, type: type as "A", class: "IN" }],
  }));
}

type Msg = {
  id: number;
  flags: number;
  rcode: string;
  questions: { name: string }[];
  answers: { name: string; type: string; ttl: number; data: unknown }[];
  authorities: { type: string }[];
};
const decode = (m: Uint8Array) => dnsPacket.decode(Buffer.from(m)) as unknown as Msg;

/**
 * A scripted upstream on 127.0.0.1: `respond` gets each query and returns the
 * datagrams to send back (so tests can send spoofed ones first).
 */
async function fakeUpstream(
  respond: (q: Msg, from: { port: number; address: string }) => Uint8Array[],
): Promise<{ port: number; queries: Msg[]; socket: Socket } & AsyncDisposable> {
  const socket = createSocket("udp4");
  const queries: Msg[] = [];
  socket.on("message", (raw: Uint8Array, from: { port: number; address: string }) => {
    const q = decode(raw);
    queries.push(q);
    for (const out of respond(q, from)) socket.send(out, from.port, from.address);
  });
  await new Promise<void>((r) => socket.bind(0, "127.0.0.1", () => r()));
  return {
    port: socket.address().port,
    queries,
    socket,
    [Symbol.asyncDispose]: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

const RCODES: Record<string, number> = { NOERROR: 0, SERVFAIL: 2, NXDOMAIN: 3 };

/** A response to `q` (dns-packet takes the rcode from the flags only). */
function response(q: Msg, extra: Record<string, unknown>, rcode = "NOERROR"): Uint8Array {
  return new Uint8Array(dnsPacket.encode({
    id: q.id,
    type: "response",
    flags: dnsPacket.RECURSION_AVAILABLE | (q.flags & dnsPacket.RECURSION_DESIRED) | RCODES[rcode],
    questions: q.questions as never,
    ...extra,
  }));
}

const A = (name: string, ttl: number, ip: string) => ({ name, type: "A", ttl, data: ip });
const SOA = (ttl: number, minimum: number) => ({
  name: "up.test",
  type: "SOA",
  ttl,
  data: {
    mname: "ns.up.test",
    rname: "h.up.test",
    serial: 1,
    refresh: 60,
    retry: 60,
    expire: 600,
    minimum,
  },
});

Deno.test("cacheTtl: min of TTLs, RFC 2308 for negative answers, bounded", () => {
  assert.equal(
    cacheTtl({ id: 0, answers: [A("a", 300, "1.1.1.1"), A("a", 60, "2.2.2.2")] }, 0, 3600),
    60,
  );
  assert.equal(cacheTtl({ id: 0, answers: [A("a", 90000, "1.1.1.1")] }, 0, 3600), 3600);
  assert.equal(cacheTtl({ id: 0, authorities: [SOA(600, 30)] }, 3, 3600), 30);
  assert.equal(cacheTtl({ id: 0, authorities: [SOA(20, 300)] }, 0, 3600), 20);
  assert.equal(cacheTtl({ id: 0, answers: [] }, 3, 3600), 0, "no SOA: not cached");
  assert.equal(cacheTtl({ id: 0, answers: [A("a", 300, "1.1.1.1")] }, 2, 3600), 0);
});

Deno.test("matchesQuery: ID, QR and the exact question bytes", () => {
  const q = query("Www.Up.Test");
  const qLen = q.length - 12;
  const ok = new Uint8Array(q);
  ok[2] |= 0x80;
  assert.equal(matchesQuery(ok, q, qLen), true);
  assert.equal(matchesQuery(q, q, qLen), false, "QR not set");
  const otherId = new Uint8Array(ok);
  otherId[1] ^= 1;
  assert.equal(matchesQuery(otherId, q, qLen), false);
  const otherCase = new Uint8Array(ok);
  otherCase[13] ^= 0x20;
  assert.equal(matchesQuery(otherCase, q, qLen), false, "question case differs");
  assert.equal(matchesQuery(ok.subarray(0, 20), q, qLen), false, "short");
});

Deno.test("forwarder: spoofed replies ignored, cache by TTL, negative cache, bound, RD", async () => {
  // A spoofer on another port answers first, with the right ID and question.
  const spoofer = createSocket("udp4");
  await new Promise<void>((r) => spoofer.bind(0, "127.0.0.1", () => r()));
  await using up = await fakeUpstream((q, from) => {
    const name = q.questions[0].name;
    if (name.toLowerCase().startsWith("nx")) {
      return [response(q, { authorities: [SOA(600, 60)] }, "NXDOMAIN")];
    }
    const good = response(q, { answers: [A(name, 30, "192.0.2.7")] });
    const wrongId = new Uint8Array(good);
    wrongId[1] ^= 0xff;
    const wrongName = response({ ...q, questions: [{ ...q.questions[0], name: `x${name}` }] }, {
      answers: [A(name, 30, "6.6.6.6")],
    });
    wrongName[0] = good[0];
    wrongName[1] = good[1];
    spoofer.send(response(q, { answers: [A(name, 30, "6.6.6.7")] }), from.port, from.address);
    return [wrongId, wrongName, good];
  });
  let clock = 1_000_000;
  const f = createForwarder({
    upstreams: [`127.0.0.1:${up.port}`],
    timeoutMs: 1000,
    cacheSize: 3,
    logger,
    now: () => clock,
  });
  const r1 = decode((await f.resolve(query("Www.Up.Test"), "udp"))!);
  assert.equal(r1.id, 0x4242);
  assert.equal(r1.rcode, "NOERROR");
  assert.equal(r1.questions[0].name, "Www.Up.Test", "the client's question, case kept");
  assert.deepEqual(r1.answers.map((a) => a.data), ["192.0.2.7"], "spoofed replies ignored");
  assert.notEqual(up.queries[0].id, 0x4242, "a fresh ID upstream (1 in 65536 to collide)");
  assert.equal(up.queries.length, 1);

  clock += 10_000;
  const r2 = decode((await f.resolve(query("www.up.test", "A", true, 7), "udp"))!);
  assert.equal(up.queries.length, 1, "served from the cache");
  assert.equal(r2.id, 7);
  assert.equal(r2.answers[0].ttl, 20, "TTL counts down in the cache");
  clock += 21_000;
  await f.resolve(query("www.up.test"), "udp");
  assert.equal(up.queries.length, 2, "expired after its TTL");

  const n1 = decode((await f.resolve(query("nx.up.test"), "udp"))!);
  assert.equal(n1.rcode, "NXDOMAIN");
  assert.equal(n1.authorities[0].type, "SOA");
  clock += 59_000;
  await f.resolve(query("nx.up.test"), "udp");
  assert.equal(up.queries.length, 3, "negative answer cached for SOA minimum (60 s)");
  clock += 2_000;
  await f.resolve(query("nx.up.test"), "udp");
  assert.equal(up.queries.length, 4);

  for (const n of ["a.up.test", "b.up.test", "c.up.test", "d.up.test"]) {
    await f.resolve(query(n), "udp");
  }
  assert.equal(f.cacheEntries(), 3, "bounded in entries");

  // Without RD: forwarded with RD clear and not cached.
  const before = up.queries.length;
  await f.resolve(query("norec.up.test", "A", false), "udp");
  await f.resolve(query("norec.up.test", "A", false), "udp");
  assert.equal(up.queries.length, before + 2);
  assert.equal(up.queries.at(-1)!.flags & dnsPacket.RECURSION_DESIRED, 0);
  assert.equal(f.stats().failures, 0);
  await new Promise<void>((r) => spoofer.close(() => r()));
});

Deno.test("forwarder: failover on timeout and SERVFAIL, SERVFAIL when all fail, TC → TCP", async () => {
  const dead = await freeDnsPort();
  await using failing = await fakeUpstream((q) => [response(q, {}, "SERVFAIL")]);
  await using good = await fakeUpstream((q) => [
    response(q, { answers: [A(q.questions[0].name, 300, "192.0.2.8")] }),
  ]);
  const f = createForwarder({
    upstreams: [`127.0.0.1:${dead}`, `127.0.0.1:${failing.port}`, `127.0.0.1:${good.port}`],
    timeoutMs: 300,
    logger,
  });
  const r = decode((await f.resolve(query("fo.up.test"), "udp"))!);
  assert.deepEqual(r.answers.map((a) => a.data), ["192.0.2.8"]);
  assert.equal(failing.queries.length, 1);

  const none = createForwarder({ upstreams: [`127.0.0.1:${dead}`], timeoutMs: 200, logger });
  const s = decode((await none.resolve(query("x.up.test"), "udp"))!);
  assert.equal(s.rcode, "SERVFAIL");
  assert.equal(none.stats().failures, 1);

  // Bounded: with one query waiting on a dead upstream, the next gets SERVFAIL at once.
  const one = createForwarder({
    upstreams: [`127.0.0.1:${dead}`],
    timeoutMs: 300,
    maxInflight: 1,
    logger,
  });
  const slow = one.resolve(query("a.up.test"), "udp");
  assert.equal(decode((await one.resolve(query("b.up.test"), "udp"))!).rcode, "SERVFAIL");
  assert.equal(decode((await slow)!).rcode, "SERVFAIL");
  assert.equal(one.stats().upstreamQueries, 1, "the second query never went upstream");

  // TC over UDP → the same upstream over TCP (a listener on the same port).
  await using tc = await fakeUpstream((q) => {
    const out = response(q, {});
    out[2] |= 0x02;
    return [out];
  });
  const tcp = Deno.listen({ hostname: "127.0.0.1", port: tc.port });
  const served = (async () => {
    const conn = await tcp.accept();
    const buf = new Uint8Array(2048);
    const n = (await conn.read(buf))!;
    const q = decode(buf.subarray(2, n));
    const many = Array.from({ length: 40 }, (_, i) => A(q.questions[0].name, 300, `10.0.0.${i}`));
    const out = response(q, { answers: many });
    await conn.write(new Uint8Array([out.length >> 8, out.length & 0xff, ...out]));
    conn.close();
  })();
  const big = createForwarder({ upstreams: [`127.0.0.1:${tc.port}`], timeoutMs: 1000, logger });
  const viaTcp = await big.resolve(query("big.up.test"), "tcp");
  await served;
  tcp.close();
  assert.equal(decode(viaTcp!).answers.length, 40);
  // The same answer to a UDP client without EDNS: too big for 512 bytes → TC.
  const small = await big.resolve(query("big.up.test"), "udp");
  assert.equal(small![2] & 0x02, 0x02);
  assert.ok(small!.length <= 512);
});

// --- the real process, forwarding to a real NSD -------------------------

async function startNsd(dir: string, port: number, zone: string, records: string) {
  await Deno.writeTextFile(
    join(dir, `${zone}.zone`),
    `$ORIGIN ${zone}.\n@ 300 IN SOA ns.${zone}. h.${zone}. 1 60 60 600 60\n@ 300 IN NS ns.${zone}.\n${records}`,
  );
  const conf = join(dir, "nsd.conf");
  await Deno.writeTextFile(
    conf,
    `server:\n  ip-address: 127.0.0.1@${port}\n  port: ${port}\n  username: ""\n  chroot: ""\n` +
      `  zonesdir: "${dir}"\n  database: ""\n  zonelistfile: "${dir}/zone.list"\n` +
      `  xfrdfile: "${dir}/xfrd.state"\n  pidfile: "${dir}/nsd.pid"\n  logfile: "${dir}/nsd.log"\n` +
      `  rrl-ratelimit: 0\nremote-control:\n  control-enable: no\n` +
      `zone:\n  name: "${zone}"\n  zonefile: "${zone}.zone"\n`,
  );
  const child = new Deno.Command("nsd", {
    args: ["-d", "-c", conf],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  const deadline = Date.now() + 15_000;
  for (;;) {
    try {
      const r = await tcpQuery(port, soaQuery(zone));
      if (r.length > 12 && (r[3] & 0x0f) === 0) break;
    } catch { /* not yet */ }
    if (Date.now() > deadline) {
      child.kill("SIGTERM");
      await child.status;
      throw new Error("nsd did not start");
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    child.kill("SIGTERM");
    await child.status;
  };
  return { stop, [Symbol.asyncDispose]: stop };
}

Deno.test("mcns process forwards through NSD: listener switch, failover, cache until TTL, SERVFAIL", async () => {
  const nsdPort = await freeDnsPort();
  const dead = await freeDnsPort();
  const fwdPort = await freeDnsPort();
  await using dir = await makeMcnsDir(
    `forward = false
forward_listen_addr = "127.0.0.1:${fwdPort}"
upstreams = ["127.0.0.1:${dead}", "127.0.0.1:${nsdPort}"]
forward_timeout = "300ms"
cache_max_ttl = "1h"
`,
  );
  const nsdDir = join(dir.root, "nsd");
  await Deno.mkdir(nsdDir);
  await using nsd = await startNsd(
    nsdDir,
    nsdPort,
    "upstream.test",
    "www 300 IN A 192.0.2.80\nshort 2 IN A 192.0.2.81\n",
  );
  await using mcns = await startMcnsProcess(dir);
  assert.ok(mcns.plan.argv.some((a) => a.includes(`127.0.0.1:${nsdPort}`)), "upstream granted");

  // The main listener does not forward.
  const refused = await dig(dir.dnsPort, "+rec", "www.upstream.test", "A");
  assert.match(refused, /status: REFUSED/);
  // The forwarding listener: past the dead first upstream to NSD.
  const www = await dig(fwdPort, "+rec", "www.upstream.test", "A");
  assert.match(www, /status: NOERROR/);
  assert.match(www, /www\.upstream\.test\.\s+\d+\s+IN\s+A\s+192\.0\.2\.80/);
  assert.match(www, /flags: qr rd ra;/, "not authoritative, recursion available");
  const tcp = await dig(fwdPort, "+rec", "+tcp", "short.upstream.test", "A");
  assert.match(tcp, /192\.0\.2\.81/);
  const nx = await dig(fwdPort, "+rec", "nope.upstream.test", "A");
  assert.match(nx, /status: NXDOMAIN/);
  assert.match(nx, /upstream\.test\.\s+\d+\s+IN\s+SOA/);
  // Its own zones stay authoritative on the forwarding listener.
  const own = await dig(fwdPort, "+rec", `svc.mcp.${dir.domain}`, "SOA");
  assert.match(own, /flags: qr aa rd;/);

  // Upstream gone: cached answers still served, until their TTL.
  await nsd.stop();
  const cached = await dig(fwdPort, "+rec", "www.upstream.test", "A");
  assert.match(cached, /192\.0\.2\.80/, `cached answer:\n${cached}`);
  const cachedNx = await dig(fwdPort, "+rec", "nope.upstream.test", "A");
  assert.match(cachedNx, /status: NXDOMAIN/);
  await new Promise((r) => setTimeout(r, 2500));
  const expired = await dig(fwdPort, "+rec", "+time=5", "short.upstream.test", "A");
  assert.match(expired, /status: SERVFAIL/, `TTL 2 expired, every upstream dead:\n${expired}`);
  const uncached = await dig(fwdPort, "+rec", "+time=5", "other.upstream.test", "A");
  assert.match(uncached, /status: SERVFAIL/);
  assert.equal(await mcns.stop(), 0);
});

Deno.test("mcns refuses to start forwarding without upstreams, with a clear error", async () => {
  await using dir = await makeMcnsDir("forward = true\n");
  await assert.rejects(
    () => startMcnsProcess(dir, {}, 15_000),
    /forward or forward_listen_addr is set but \[dns\] upstreams is empty/,
  );
});
