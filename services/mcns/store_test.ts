import assert from "node:assert/strict";
import { join } from "node:path";
import { RecordValidationError } from "./records.ts";
import { migrate, openDatabase } from "@mc/mcdsl/db";
import {
  ConflictError,
  MIGRATIONS,
  NotFoundError,
  openZoneStore,
  ownerName,
  type RecordGuard,
} from "./store.ts";

async function withStore(fn: (store: ReturnType<typeof openZoneStore>) => void | Promise<void>) {
  const dir = await Deno.makeTempDir({ prefix: "mcns_store_" });
  try {
    using store = openZoneStore(join(dir, "mcns.db"));
    await fn(store);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("ZoneStore.seed() creates svc.mcp.<domain> and mcp.<domain> once", async () => {
  await withStore((store) => {
    assert.equal(store.seed("Example.com"), true);
    assert.equal(store.seed("example.com"), false);
    assert.deepEqual(store.listZones().map((z) => [z.name, z.mname, z.rname]), [
      ["mcp.example.com", "ns.mcp.example.com", "hostmaster.example.com"],
      ["svc.mcp.example.com", "ns.mcp.example.com", "hostmaster.example.com"],
    ]);
    assert.deepEqual(store.listRecords("svc.mcp.example.com").map((r) => [r.name, r.type]), [
      ["svc.mcp.example.com", "NS"],
    ]);
  });
});

Deno.test("ZoneStore bumps the serial on every mutation and only then", async () => {
  await withStore((store) => {
    store.createZone({ name: "z.test", mname: "ns.z.test", rname: "hostmaster.z.test" });
    const serial = () => store.getZone("z.test").serial;
    assert.equal(serial(), 1);
    const r = store.addRecord("z.test", { name: "api", type: "A", value: "192.0.2.1" });
    assert.deepEqual(r, {
      id: r.id,
      zone: "z.test",
      name: "api.z.test",
      type: "A",
      ttl: 300,
      value: "192.0.2.1",
    });
    assert.equal(serial(), 2);
    store.updateRecord(r.id, { name: "api", type: "A", ttl: 60, value: "192.0.2.2" });
    assert.equal(serial(), 3);
    assert.throws(
      () => store.addRecord("z.test", { name: "api", type: "A", value: "999.0.0.1" }),
      RecordValidationError,
    );
    assert.equal(serial(), 3);
    store.deleteRecord(r.id);
    assert.equal(serial(), 4);
    assert.deepEqual(store.listRecords("z.test"), []);
    assert.equal(store.serials().get("z.test"), 4);
  });
});

Deno.test("ZoneStore enforces CNAME exclusivity and refuses duplicates", async () => {
  await withStore((store) => {
    store.createZone({ name: "z.test", mname: "ns.z.test", rname: "hostmaster.z.test" });
    store.addRecord("z.test", { name: "api", type: "A", value: "192.0.2.1" });
    assert.throws(
      () => store.addRecord("z.test", { name: "api", type: "CNAME", value: "other" }),
      (e: Error) =>
        e instanceof ConflictError && /CNAME at "api\.z\.test": A data exists/.test(e.message),
    );
    const c = store.addRecord("z.test", { name: "www", type: "CNAME", value: "api" });
    assert.equal(c.value, "api.z.test");
    assert.throws(
      () => store.addRecord("z.test", { name: "www", type: "TXT", value: "x" }),
      /Cannot add TXT at "www\.z\.test": a CNAME exists there/,
    );
    assert.throws(
      () => store.addRecord("z.test", { name: "www", type: "CNAME", value: "api2" }),
      ConflictError,
    );
    assert.throws(
      () => store.addRecord("z.test", { name: "@", type: "CNAME", value: "x.example" }),
      /zone apex/,
    );
    assert.throws(
      () => store.addRecord("z.test", { name: "api", type: "A", value: "192.0.2.1" }),
      /exists already/,
    );
    // Updating the CNAME in place is allowed (it does not conflict with itself).
    store.updateRecord(c.id, { name: "www", type: "CNAME", value: "api3" });
  });
});

Deno.test("ZoneStore reports unknown zones and records, names outside the zone", async () => {
  await withStore((store) => {
    assert.throws(() => store.getZone("nope.test"), NotFoundError);
    assert.throws(() => store.deleteRecord(42), /Cannot find record 42/);
    store.createZone({ name: "z.test", mname: "ns.z.test", rname: "hostmaster.z.test" });
    assert.throws(
      () => store.createZone({ name: "Z.test.", mname: "a.b", rname: "c.d" }),
      /exists already/,
    );
    assert.throws(
      () => store.addRecord("z.test", { name: "a.other.", type: "A", value: "192.0.2.1" }),
      /the zone or under it/,
    );
    assert.equal(ownerName("z.test", "@"), "z.test");
    assert.equal(ownerName("z.test", "A.B"), "a.b.z.test");
    assert.equal(ownerName("z.test", "x.z.test"), "x.z.test");
    store.deleteZone("z.test");
    assert.deepEqual(store.listZones(), []);
  });
});

Deno.test("replaceZone() keeps what it can store, skips the rest and says why", async () => {
  await withStore((store) => {
    const soa = {
      name: "z.test",
      mname: "ns.z.test",
      rname: "first\\.last.z.test", // an escaped dot MCNS cannot encode
      serial: 7,
      refresh: 3600,
      retry: 600,
      expire: 604800,
      minimum: 60,
      ttl: 2_000_000,
    };
    const skipped: string[] = [];
    const zone = store.replaceZone(
      soa,
      [
        { name: "z.test", type: "NS", ttl: 9_999_999, value: "ns.z.test" },
        { name: "a.z.test", type: "A", ttl: 60, value: "192.0.2.1" },
        { name: "victim.example.org", type: "A", ttl: 60, value: "192.0.2.66" },
        { name: "z.test", type: "MX", ttl: 60, value: "0 ." },
        { name: "_x._tcp.z.test", type: "SRV", ttl: 60, value: "0 0 0 ." },
        { name: "z.test", type: "CAA", ttl: 60, value: '0 issue "a"b"' },
        { name: "t.z.test", type: "TXT", ttl: 60, value: "x".repeat(4001) },
      ],
      "192.0.2.53:53",
      {
        at: 1234,
        onSkip: (r, reason) => skipped.push(`${r.name} ${r.type}: ${reason}`),
      },
    );
    // The copy is stored, TTLs above a week clamped, the RNAME replaced.
    assert.equal(zone.serial, 7);
    assert.equal(zone.primary, "192.0.2.53:53");
    assert.equal(zone.ttl, 604_800);
    assert.equal(zone.rname, "hostmaster.z.test");
    assert.deepEqual(
      store.listRecords("z.test").map((r) => `${r.name} ${r.ttl} ${r.type} ${r.value}`),
      ["a.z.test 60 A 192.0.2.1", "z.test 604800 NS ns.z.test"],
    );
    assert.equal(skipped.length, 5);
    assert.match(skipped[0], /^victim\.example\.org A: .*must be the zone or under it/);
    assert.match(skipped[1], /^z\.test MX: /);
    assert.match(skipped[2], /^_x\._tcp\.z\.test SRV: /);
    assert.match(skipped[3], /^z\.test CAA: /);
    assert.match(skipped[4], /^t\.z\.test TXT: .*4001 characters/);
    assert.equal(store.lastRefresh("z.test"), 1234);
    store.markRefreshed("z.test", 5678);
    assert.equal(store.lastRefresh("z.test"), 5678);
    // Only secondary zones have a refresh time.
    store.createZone({ name: "own.test", mname: "ns.own.test", rname: "h.own.test" });
    store.markRefreshed("own.test", 5678);
    assert.equal(store.lastRefresh("own.test"), undefined);
  });
});

Deno.test("migration 3 gives existing secondary copies a last_refresh; it survives reopening", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mcns_store_" });
  try {
    const path = join(dir, "mcns.db");
    // A store from before migration 3, holding a secondary copy and an own zone.
    const old = openDatabase(path);
    migrate(old, MIGRATIONS.slice(0, 2));
    old.exec(`INSERT INTO zones (name, mname, rname, serial, refresh, retry, expire, minimum, ttl,
      primary_addr) VALUES ('copy.test', 'ns.copy.test', 'h.copy.test', 3, 3600, 600, 604800, 60,
      3600, '192.0.2.53:53'), ('own.test', 'ns.own.test', 'h.own.test', 1, 3600, 600, 604800, 60,
      3600, NULL)`);
    old.close();
    const before = Date.now();
    {
      using store = openZoneStore(path);
      const at = store.lastRefresh("copy.test");
      assert.ok(at !== undefined && at >= before - 1000 && at <= Date.now() + 1000, String(at));
      assert.equal(store.lastRefresh("own.test"), undefined);
      store.markRefreshed("copy.test", 42);
    }
    using again = openZoneStore(path);
    assert.equal(again.lastRefresh("copy.test"), 42);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ZoneStore keeps a target written with a trailing dot absolute, even one label", async () => {
  await withStore((store) => {
    store.createZone({ name: "z.test", mname: "ns.z.test", rname: "hostmaster.z.test" });
    const add = (type: string, value: string) =>
      store.addRecord("z.test", { name: type.toLowerCase(), type, value }).value;
    assert.equal(add("CNAME", "x."), "x");
    assert.equal(add("NS", "ns."), "ns");
    assert.equal(add("MX", "10 mail."), "10 mail");
    assert.equal(add("SRV", "0 0 443 host. "), "0 0 443 host");
    // Without the dot a single label is relative to the zone, as in zone files.
    const rel = store.addRecord("z.test", { name: "rel", type: "CNAME", value: "api" });
    assert.equal(rel.value, "api.z.test");
    const upd = store.updateRecord(rel.id, { name: "rel", type: "CNAME", value: "api." });
    assert.equal(upd.value, "api");
  });
});

Deno.test("ownerName() refuses non-ASCII owners instead of folding them to ASCII", () => {
  assert.throws(() => ownerName("z.test", "\u212a"), RecordValidationError);
  assert.throws(() => ownerName("z.test", "ſrv.z.test"), RecordValidationError);
});

Deno.test("ZoneStore record guards run in the transaction, see the old and new record, and roll back", async () => {
  await withStore((store) => {
    store.createZone({ name: "z.test", mname: "ns.z.test", rname: "hostmaster.z.test" });
    const serial = () => store.getZone("z.test").serial;
    const seen: Parameters<RecordGuard>[0][] = [];
    const r = store.addRecord(
      "z.test",
      { name: "API", type: "a", value: "192.0.2.1" },
      (change) => seen.push(change),
    );
    assert.deepEqual(seen.splice(0), [{
      old: undefined,
      next: { zone: "z.test", name: "api.z.test", type: "A", ttl: 300, value: "192.0.2.1" },
    }]);
    assert.deepEqual(store.getRecord(r.id), r);
    const before = serial();
    const refuse = () => {
      throw new Error("refused");
    };
    assert.throws(
      () => store.addRecord("z.test", { name: "b", type: "A", value: "192.0.2.2" }, refuse),
      /refused/,
    );
    assert.throws(
      () => store.updateRecord(r.id, { name: "c", type: "A", value: "192.0.2.3" }, refuse),
      /refused/,
    );
    assert.throws(() => store.deleteRecord(r.id, refuse), /refused/);
    assert.equal(serial(), before);
    assert.deepEqual(store.listRecords("z.test"), [r]);
    // The guard of an update sees the stored row it replaces.
    store.updateRecord(r.id, { name: "c", type: "TXT", value: "t" }, (c) => seen.push(c));
    assert.deepEqual(seen.splice(0), [{
      old: r,
      next: { zone: "z.test", name: "c.z.test", type: "TXT", ttl: 300, value: "t" },
    }]);
    store.deleteRecord(r.id, (c) => seen.push(c));
    assert.equal(seen.splice(0)[0].old?.name, "c.z.test");
    assert.throws(() => store.getRecord(r.id), NotFoundError);
  });
});
