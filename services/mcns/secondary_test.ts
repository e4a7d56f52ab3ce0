import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import dnsPacket from "dns-packet";
import { parseConfig } from "@mc/mcdsl/config";
import { createLogger } from "@mc/mcdsl/log";
import { CONFIG_SCHEMA, SERVICE } from "./config.ts";
import { secondaryConfig } from "./server.ts";
import { answer, compileZones } from "./answers.ts";
import { hiddenSecondaryZones, startSecondary } from "./secondary.ts";
import { openZoneStore, SecondaryZoneError, type ZoneData, type ZoneStore } from "./store.ts";
import {
  answerTransfer,
  encodeQuery,
  fetchAxfr,
  isTransfer,
  parseQuestion,
  querySoa,
  TransferError,
} from "./xfr.ts";

const ZONE = "z.test";
const logger = createLogger({ level: "error", fields: { service: "mcns-test" } });

/**
 * A primary over TCP only (tests run without --unstable-net): answers from
 * `data()` (a store by default, or anything a test wants to serve).
 */
function tcpPrimary(data: () => ZoneData[], addr?: string) {
  const port = addr === undefined ? 0 : Number(addr.split(":")[1]);
  const listener = Deno.listen({ hostname: "127.0.0.1", port });
  const conns = new Set<Deno.Conn>();
  let transfers = 0;
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    try {
      const len = new Uint8Array(2);
      for (;;) {
        if ((await conn.read(len)) === null) break;
        const msg = new Uint8Array((len[0] << 8) | len[1]);
        let off = 0;
        while (off < msg.length) {
          const n = await conn.read(msg.subarray(off));
          if (n === null) return;
          off += n;
        }
        const q = parseQuestion(msg)!;
        const zones = data();
        if (isTransfer(q.qtype)) transfers++;
        const replies = isTransfer(q.qtype)
          ? answerTransfer(msg, q, "127.0.0.1", {
            transferTo: new Set(["127.0.0.1"]),
            zones,
            maxMessage: 1024,
          })
          : [answer(msg, compileZones(zones), "tcp")!];
        for (const r of replies) {
          const framed = new Uint8Array(r.length + 2);
          framed.set([r.length >> 8, r.length & 0xff]);
          framed.set(r, 2);
          await conn.write(framed);
        }
      }
    } catch {
      /* closed */
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const loop = (async () => {
    for await (const conn of listener) void serve(conn);
  })().catch(() => {});
  return {
    addr: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    transfers: () => transfers,
    async close() {
      listener.close();
      for (const c of conns) c.close();
      await loop;
    },
  };
}

async function withStores(fn: (primary: ZoneStore, secondary: ZoneStore) => Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "mcns_secondary_" });
  try {
    using primary = openZoneStore(join(dir, "primary.db"));
    using secondary = openZoneStore(join(dir, "secondary.db"));
    await fn(primary, secondary);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const decode = (m: Uint8Array) => dnsPacket.decode(Buffer.from(m));

const count = (store: ZoneStore) =>
  store.listZones().some((z) => z.name === ZONE) ? store.listRecords(ZONE).length : -1;

const values = (store: ZoneStore) =>
  store.listRecords(ZONE).map((r) => `${r.name} ${r.ttl} ${r.type} ${r.value}`);

async function eventually(probe: () => boolean, ms = 5000): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !probe()) await new Promise((r) => setTimeout(r, 50));
  return probe();
}

Deno.test("startSecondary() copies a zone, refuses local writes, follows changes", async () => {
  await withStores(async (p, s) => {
    p.createZone({ name: ZONE, mname: "ns.z.test", rname: "hostmaster.z.test", serial: 41 });
    p.addRecord(ZONE, { name: "@", type: "NS", value: "ns.z.test" });
    p.addRecord(ZONE, { name: "api", type: "A", value: "192.0.2.1" });
    p.addRecord(ZONE, { name: "www", type: "CNAME", value: "api" });
    for (let i = 0; i < 30; i++) {
      p.addRecord(ZONE, { name: "big", type: "TXT", value: `${i}`.padEnd(300, "t") });
    }
    const primary = tcpPrimary(() => p.load());
    const changes: string[] = [];
    const sec = startSecondary({
      zones: [ZONE],
      primary: primary.addr,
      store: s,
      logger,
      onChange: (z) => changes.push(z),
      tickMs: 50,
    });
    try {
      // The first check runs on start.
      assert.ok(await eventually(() => changes.length === 1));
      assert.deepEqual(values(s), values(p));
      const copy = s.getZone(ZONE);
      assert.equal(copy.serial, p.getZone(ZONE).serial);
      assert.equal(copy.primary, primary.addr);
      // Local writes are refused, clearly, and write nothing.
      assert.throws(
        () => s.addRecord(ZONE, { name: "x", type: "A", value: "192.0.2.7" }),
        (e) => e instanceof SecondaryZoneError && /read-only/.test(e.message),
      );
      const first = s.listRecords(ZONE)[0];
      assert.throws(() => s.deleteRecord(first.id), SecondaryZoneError);
      assert.throws(
        () => s.updateRecord(first.id, { ...first, value: "ns2.z.test" }),
        SecondaryZoneError,
      );
      assert.equal(s.getZone(ZONE).serial, copy.serial);
      // Same serial: no transfer.
      assert.equal(await sec.check(ZONE), "current");
      assert.equal(primary.transfers(), 1);
      // A change on the primary and a NOTIFY: a new copy.
      const late = p.addRecord(ZONE, { name: "late", type: "A", value: "192.0.2.9" });
      sec.notify(ZONE);
      assert.ok(await eventually(() => changes.length === 2));
      assert.deepEqual(values(s), values(p));
      p.deleteRecord(late.id);
      assert.equal(await sec.check(ZONE), "transferred");
      assert.deepEqual(values(s), values(p));
      assert.equal(s.getZone(ZONE).serial, p.getZone(ZONE).serial);
    } finally {
      await sec.close();
      await primary.close();
    }
  });
});

Deno.test("startSecondary() refreshes on the SOA timer, retries, and expires", async () => {
  await withStores(async (p, s) => {
    p.createZone({
      name: ZONE,
      mname: "ns.z.test",
      rname: "hostmaster.z.test",
      refresh: 1,
      retry: 2,
      expire: 30,
    });
    p.addRecord(ZONE, { name: "api", type: "A", value: "192.0.2.1" });
    let primary = tcpPrimary(() => p.load());
    let clock = Date.now();
    const now = () => clock;
    const changes: string[] = [];
    const sec = startSecondary({
      zones: [ZONE],
      primary: primary.addr,
      store: s,
      logger,
      onChange: (z) => changes.push(z),
      tickMs: 20,
      soaTimeoutMs: 500,
      minIntervalMs: 1000,
      now,
    });
    // What the server serves: the store's zones less the hidden ones (server.ts visible()).
    const served = () => {
      const hidden = sec.expired();
      return compileZones(s.load().filter((d) => !hidden.has(d.zone.name)));
    };
    const soaRcode = () => decode(answer(encodeQuery(ZONE, "SOA", 1), served(), "tcp")!).rcode;
    try {
      assert.ok(await eventually(() => count(s) === 1));
      assert.equal(soaRcode(), "NOERROR");
      // No NOTIFY: the refresh timer (1 s) picks the change up.
      p.addRecord(ZONE, { name: "b", type: "A", value: "192.0.2.2" });
      clock += 1500;
      assert.ok(await eventually(() => count(s) === 2));
      // The primary goes away: checks fail, retried after `retry`, the zone is kept until expire.
      const addr = primary.addr;
      await primary.close();
      clock += 1500;
      const failedAt = clock;
      assert.ok(await eventually(() => sec.state(ZONE)?.error !== undefined));
      assert.equal(sec.state(ZONE)?.nextAt, failedAt + 2000);
      assert.equal(sec.expired().size, 0);
      assert.equal(soaRcode(), "NOERROR");
      const changed = changes.length;
      clock += 31_000;
      assert.ok(await eventually(() => sec.expired().has(ZONE)));
      assert.ok(await eventually(() => changes.length === changed + 1)); // the server recompiles
      assert.equal(s.listRecords(ZONE).length, 2); // kept, just not served:
      assert.equal(soaRcode(), "REFUSED");
      // The primary answers again: the zone is served again.
      primary = tcpPrimary(() => p.load(), addr);
      clock += 2500;
      assert.ok(await eventually(() => !sec.expired().has(ZONE)));
      assert.equal(sec.state(ZONE)?.error, undefined);
      assert.equal(soaRcode(), "NOERROR");
      assert.equal(s.lastRefresh(ZONE), clock);
    } finally {
      await sec.close();
      await primary.close();
    }
  });
});

Deno.test("the expire clock survives a restart; unconfigured copies are hidden", async () => {
  await withStores(async (p, s) => {
    p.createZone({ name: ZONE, mname: "ns.z.test", rname: "hostmaster.z.test", expire: 100 });
    const [d] = p.load();
    // A copy last refreshed 101 s ago, and a primary that never answers.
    const silent = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const addr = `127.0.0.1:${(silent.addr as Deno.NetAddr).port}`;
    const t0 = Date.now();
    s.replaceZone(d.zone, [], addr, { at: t0 - 101_000 });
    const lines: string[] = [];
    const log = createLogger({ level: "warn", write: (l) => lines.push(l) });
    try {
      // Expired at once after the restart, before any check has finished.
      const sec = startSecondary({ zones: [ZONE], primary: addr, store: s, logger: log });
      try {
        assert.ok(sec.state(ZONE)?.expired);
        assert.deepEqual([...sec.expired()], [ZONE]);
      } finally {
        await sec.close();
      }
      // Refreshed 99 s ago: still served.
      s.markRefreshed(ZONE, t0 - 99_000);
      const fresh = startSecondary({ zones: [ZONE], primary: addr, store: s, logger: log });
      try {
        assert.equal(fresh.state(ZONE)?.expired, false);
        assert.equal(fresh.expired().size, 0);
      } finally {
        await fresh.close();
      }
      // Dropped from secondary_zones: hidden (whatever its age), logged once.
      assert.deepEqual([...hiddenSecondaryZones(s, [], t0, log)], [ZONE]);
      assert.deepEqual([...hiddenSecondaryZones(s, [], t0, log)], [ZONE]);
      assert.equal(lines.filter((l) => l.includes("not in [dns] secondary_zones")).length, 1);
      const other = startSecondary({ zones: ["other.test"], primary: addr, store: s, logger });
      try {
        assert.deepEqual([...other.expired()], [ZONE]);
      } finally {
        await other.close();
      }
      // A zone of this instance's own is never hidden.
      s.createZone({ name: "own.test", mname: "ns.own.test", rname: "h.own.test" });
      assert.ok(!hiddenSecondaryZones(s, [], t0).has("own.test"));
    } finally {
      silent.close();
    }
  });
});

Deno.test("startSecondary() never replaces a copy with an older one", async () => {
  await withStores(async (p, s) => {
    p.createZone({ name: ZONE, mname: "ns.z.test", rname: "hostmaster.z.test", serial: 10 });
    p.addRecord(ZONE, { name: "api", type: "A", value: "192.0.2.1" }); // serial 11
    const [newer] = p.load();
    // The primary's SOA says 11, but by the time of the AXFR it serves serial 5.
    let calls = 0;
    const older: ZoneData = { zone: { ...newer.zone, serial: 5 }, records: [] };
    const primary = tcpPrimary(() => calls++ === 0 ? [newer] : [older]);
    s.replaceZone({ ...newer.zone, serial: 8 }, [
      { name: "keep.z.test", type: "A", ttl: 60, value: "192.0.2.8" },
    ], primary.addr);
    const sec = startSecondary({ zones: [ZONE], primary: primary.addr, store: s, logger });
    try {
      assert.ok(await eventually(() => sec.state(ZONE)?.lastOk !== undefined && calls >= 2));
      await sec.close();
      assert.equal(primary.transfers(), 1);
      assert.equal(s.getZone(ZONE).serial, 8);
      assert.deepEqual(values(s), ["keep.z.test 60 A 192.0.2.8"]);
    } finally {
      await sec.close();
      await primary.close();
    }
  });
});

/** A listener that accepts and never answers. */
function silentPrimary() {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns: Deno.Conn[] = [];
  const loop = (async () => {
    for await (const c of listener) conns.push(c);
  })().catch(() => {});
  return {
    addr: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    accepted: () => conns.length,
    async close() {
      listener.close();
      for (const c of conns) {
        try {
          c.close();
        } catch { /* closed */ }
      }
      await loop;
    },
  };
}

/** Resolves `p`, or rejects after `ms` (a bound against hangs, not a timing check). */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} still pending after ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

Deno.test("close() cuts a running check short", async () => {
  await withStores(async (_p, s) => {
    const primary = silentPrimary();
    const sec = startSecondary({
      zones: [ZONE],
      primary: primary.addr,
      store: s,
      logger,
      soaTimeoutMs: 120_000,
      transfer: { timeoutMs: 120_000 },
    });
    try {
      assert.ok(await eventually(() => primary.accepted() === 1));
      await within(sec.close(), 10_000, "close()");
      assert.match(sec.state(ZONE)?.error ?? "", /aborted/);
      assert.equal(await sec.check(ZONE), "failed"); // closed: no new checks
    } finally {
      await sec.close();
      await primary.close();
    }
  });
});

Deno.test("a store or reload error fails the check, never the process", async () => {
  await withStores(async (p, s) => {
    p.createZone({ name: ZONE, mname: "ns.z.test", rname: "hostmaster.z.test" });
    const primary = tcpPrimary(() => p.load());
    const lines: string[] = [];
    const logger = createLogger({ level: "error", write: (l) => lines.push(l) });
    // onChange (the server's reload) throws.
    const sec = startSecondary({
      zones: [ZONE],
      primary: primary.addr,
      store: s,
      logger,
      onChange: () => {
        throw new Error("reload failed");
      },
    });
    // The store itself throws (a broken disk).
    const broken: ZoneStore = {
      ...s,
      getZone: () => {
        throw new Error("disk I/O error");
      },
    };
    const sec2 = startSecondary({ zones: [ZONE], primary: primary.addr, store: broken, logger });
    try {
      assert.ok(await eventually(() => count(s) === 0 && sec.state(ZONE)?.lastOk !== undefined));
      assert.equal(sec.state(ZONE)?.error, undefined);
      assert.ok(await eventually(() => sec2.state(ZONE)?.error === "disk I/O error"));
      assert.equal(await sec2.check(ZONE), "failed");
      assert.ok(lines.some((l) => l.includes("zone reload after a refresh failed")), lines.join());
      assert.ok(lines.some((l) => l.includes("disk I/O error")), lines.join());
    } finally {
      await sec.close();
      await sec2.close();
      await primary.close();
    }
  });
});

Deno.test("NOTIFYs are merged and rate-limited per zone; refresh is at least a minute", async () => {
  await withStores(async (p, s) => {
    p.createZone({ name: ZONE, mname: "ns.z.test", rname: "hostmaster.z.test", refresh: 1 });
    let queries = 0;
    const primary = tcpPrimary(() => {
      queries++;
      return p.load();
    });
    let clock = Date.now();
    const sec = startSecondary({
      zones: [ZONE],
      primary: primary.addr,
      store: s,
      logger,
      tickMs: 20,
      notifyIntervalMs: 60_000,
      now: () => clock,
    });
    const idle = async () => {
      // Bounded: no check may be started by a tick while the clock stands still.
      await new Promise((r) => setTimeout(r, 200));
      return queries;
    };
    try {
      assert.ok(await eventually(() => count(s) === 0)); // the first copy: SOA + AXFR
      assert.equal(await idle(), 2);
      const st = sec.state(ZONE)!;
      // The SOA says refresh 1 s; the secondary waits at least a minute.
      assert.equal(st.nextAt - st.lastOk!, 60_000);
      // A flood: one SOA check, the rest merged into one pending flag.
      for (let i = 0; i < 1000; i++) sec.notify(ZONE);
      assert.ok(await eventually(() => queries === 3));
      for (let i = 0; i < 1000; i++) sec.notify(ZONE);
      assert.equal(await idle(), 3);
      assert.ok(st.notifyPending);
      // The interval passes: the pending NOTIFY gets its one check.
      clock += 59_999;
      assert.equal(await idle(), 3);
      clock += 1;
      assert.ok(await eventually(() => queries === 4 && !st.notifyPending));
      assert.equal(await idle(), 4);
    } finally {
      await sec.close();
      await primary.close();
    }
  });
});

/**
 * A primary answering every query with `respond(query)`: crafted, possibly
 * broken, DNS messages (dns-packet objects; `id` is the query's unless set).
 */
function rawPrimary(respond: (q: dnsPacket.Packet) => Record<string, unknown>[]) {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const conns = new Set<Deno.Conn>();
  const serve = async (conn: Deno.Conn) => {
    conns.add(conn);
    try {
      const len = new Uint8Array(2);
      if ((await conn.read(len)) === null) return;
      const msg = new Uint8Array((len[0] << 8) | len[1]);
      let off = 0;
      while (off < msg.length) {
        const n = await conn.read(msg.subarray(off));
        if (n === null) return;
        off += n;
      }
      const q = dnsPacket.decode(Buffer.from(msg));
      for (const r of respond(q)) {
        const b = dnsPacket.encode({ id: q.id, type: "response", ...r } as never);
        const framed = new Uint8Array(b.length + 2);
        framed.set([b.length >> 8, b.length & 0xff]);
        framed.set(b, 2);
        await conn.write(framed);
      }
      await conn.read(len); // until the client hangs up
    } catch {
      /* closed */
    } finally {
      conns.delete(conn);
      try {
        conn.close();
      } catch { /* closed */ }
    }
  };
  const loop = (async () => {
    for await (const conn of listener) void serve(conn);
  })().catch(() => {});
  return {
    addr: `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`,
    async close() {
      listener.close();
      for (const c of conns) c.close();
      await loop;
    },
  };
}

const soaRr = (serial: number) => ({
  name: ZONE,
  type: "SOA",
  ttl: 60,
  data: {
    mname: "ns.z.test",
    rname: "hostmaster.z.test",
    serial,
    refresh: 3600,
    retry: 600,
    expire: 604800,
    minimum: 60,
  },
});
const aRr = (i: number) => ({ name: `h${i}.${ZONE}`, type: "A", ttl: 60, data: "192.0.2.1" });
const axfrQ = [{ name: ZONE, type: "AXFR", class: "IN" }];

Deno.test("fetchAxfr() and querySoa() refuse bad streams and stay bounded", async () => {
  const cases: [string, (q: dnsPacket.Packet) => Record<string, unknown>[], RegExp, object?][] = [
    [
      "a good stream",
      () => [{ flags: 0x400, questions: axfrQ, answers: [soaRr(1), soaRr(1)] }],
      /^$/,
    ],
    [
      "a wrong ID",
      (q) => [{ id: (q.id! + 1) & 0xffff, flags: 0x400, answers: [soaRr(1), soaRr(1)] }],
      /wrong ID/,
    ],
    [
      "first record not the SOA",
      () => [{ answers: [aRr(1), soaRr(1), soaRr(1)] }],
      /start with the SOA/,
    ],
    [
      "closing SOA serial differs",
      () => [{ answers: [soaRr(1), aRr(1)] }, { answers: [soaRr(2)] }],
      /closing SOA serial 2 differs from the opening 1/,
    ],
    [
      "records after the closing SOA",
      () => [{ answers: [soaRr(1), soaRr(1), aRr(1)] }],
      /records after the closing SOA/,
    ],
    [
      "another question",
      () => [{
        questions: [{ name: "other.test", type: "AXFR", class: "IN" }],
        answers: [soaRr(1), soaRr(1)],
      }],
      /another question/,
    ],
    [
      "an error rcode",
      () => [{ flags: 9, questions: axfrQ }], // NOTAUTH
      /AXFR refused: NOTAUTH/,
    ],
    [
      "more than maxRecords",
      () => [{ answers: [soaRr(1), ...Array.from({ length: 10 }, (_, i) => aRr(i)), soaRr(1)] }],
      /more than 5 records/,
      { maxRecords: 5 },
    ],
    [
      "more than maxBytes",
      () =>
        Array.from({ length: 20 }, (_, i) => ({
          answers: [
            ...(i === 0 ? [soaRr(1)] : []),
            ...Array.from({ length: 20 }, (_, j) => aRr(i * 20 + j)),
          ],
        })),
      /more than 2000 bytes/,
      { maxBytes: 2000 },
    ],
  ];
  for (const [what, respond, error, options] of cases) {
    const primary = rawPrimary(respond);
    try {
      const got = fetchAxfr(primary.addr, ZONE, { timeoutMs: 5000, ...options });
      if (error.source === "^$") {
        assert.equal((await got).soa.serial, 1, what);
      } else {
        await assert.rejects(got, (e) => e instanceof TransferError && error.test(e.message), what);
      }
    } finally {
      await primary.close();
    }
  }
  // querySoa() wants an authoritative answer.
  const notAa = rawPrimary(() => [{ flags: 0, answers: [soaRr(3)] }]);
  const aa = rawPrimary(() => [{ flags: 0x400, answers: [soaRr(3)] }]);
  try {
    await assert.rejects(querySoa(notAa.addr, ZONE), /not authoritative/);
    assert.equal((await querySoa(aa.addr, ZONE)).serial, 3);
  } finally {
    await notAa.close();
    await aa.close();
  }
  // A primary that accepts and never answers: a TransferError after the timeout, not a hang.
  const silent = silentPrimary();
  try {
    await assert.rejects(querySoa(silent.addr, ZONE, 300), /timed out after 300 ms/);
    await assert.rejects(
      fetchAxfr(silent.addr, ZONE, { timeoutMs: 300 }),
      /timed out after 300 ms/,
    );
    const stop = new AbortController();
    const pending = fetchAxfr(silent.addr, ZONE, { timeoutMs: 120_000, signal: stop.signal });
    stop.abort();
    await within(assert.rejects(pending, /aborted/), 10_000, "an aborted fetchAxfr()");
  } finally {
    await silent.close();
  }
});

Deno.test("replaceZone() from a transfer leaves out-of-zone records out", async () => {
  await withStores(async (p, s) => {
    p.createZone({ name: ZONE, mname: "ns.z.test", rname: "hostmaster.z.test" });
    p.addRecord(ZONE, { name: "api", type: "A", value: "192.0.2.1" });
    // A primary serving records of another zone inside this zone's transfer.
    const evil = tcpPrimary(() => {
      const [d] = p.load();
      return [{
        zone: d.zone,
        records: [...d.records, { ...d.records[0], name: "victim.example.org" }],
      }];
    });
    try {
      const got = await fetchAxfr(evil.addr, ZONE);
      assert.equal(got.records.length, 2);
      const skipped: string[] = [];
      s.replaceZone(got.soa, got.records, evil.addr, { onSkip: (r) => skipped.push(r.name) });
      assert.deepEqual(skipped, ["victim.example.org"]);
      assert.deepEqual(values(s), values(p));
      // Not authoritative for the zone asked: the transfer fails.
      await assert.rejects(fetchAxfr(evil.addr, "other.test"), TransferError);
      await assert.rejects(querySoa(evil.addr, "other.test"), TransferError);
    } finally {
      await evil.close();
    }
  });
});

Deno.test("[dns] transfer keys are validated; secondary zones need a primary", () => {
  const base = `[server]
listen_addr = "127.0.0.1:8444"
tls_cert = "/x/cert.pem"
tls_key = "/x/key.pem"
[mcias]
server_url = "https://localhost:9"
service_name = "mcns"
[database]
path = "/x/mcns.db"
[dns]
listen_addr = "127.0.0.1:53"
domain = "example.test"
`;
  const parse = (extra: string) =>
    parseConfig(base + extra, CONFIG_SCHEMA, { service: SERVICE, env: () => undefined });
  const none = parse("");
  assert.deepEqual(
    [none.dns.transfer_to, none.dns.notify, none.dns.primary, none.dns.secondary_zones],
    [[], [], undefined, []],
  );
  assert.deepEqual(secondaryConfig(none), { secondaryZones: [] });
  const edge = parse(`primary = "[::1]:5300"\nsecondary_zones = ["Svc.Example.Test."]\n`);
  assert.deepEqual(secondaryConfig(edge), {
    secondaryZones: ["svc.example.test"],
    primary: { addr: "[::1]:5300", hostname: "::1" },
  });
  // Addresses are kept in one canonical form, so comparisons and sandbox grants agree.
  const odd = parse(
    `transfer_to = ["::FFFF:127.0.0.1", "2001:DB8:0:0::1"]\nnotify = ["[2001:db8:0::0:2]:53", "[::ffff:192.0.2.1]:5301"]\nprimary = "[2001:DB8::0:3]:53"\nsecondary_zones = ["svc.example.test"]\n`,
  );
  assert.deepEqual(odd.dns.transfer_to, ["127.0.0.1", "2001:db8::1"]);
  assert.deepEqual(odd.dns.notify, ["[2001:db8::2]:53", "192.0.2.1:5301"]);
  assert.equal(odd.dns.primary, "[2001:db8::3]:53");
  assert.equal(secondaryConfig(odd).primary?.hostname, "2001:db8::3");
  assert.throws(() => parse(`transfer_to = ["ns.example.test"]\n`), /expected an IP address/);
  assert.throws(() => parse(`notify = ["127.0.0.1"]\n`), /expected ip:port/);
  assert.throws(() => parse(`primary = "ns.example.test:53"\n`), /expected ip:port/);
  assert.throws(
    () => secondaryConfig(parse(`secondary_zones = ["svc.example.test"]\n`)),
    /\[dns\] primary is not set/,
  );
});
