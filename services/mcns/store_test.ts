import assert from "node:assert/strict";
import { join } from "node:path";
import { RecordValidationError } from "./records.ts";
import { ConflictError, NotFoundError, openZoneStore, ownerName } from "./store.ts";

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
