import assert from "node:assert/strict";
import { join } from "node:path";
import type { TokenInfo } from "@mc/mcdsl/auth/types";
import { createLogger } from "@mc/mcdsl/log";
import { RecordValidationError } from "../records.ts";
import { NotFoundError, openZoneStore, type ZoneStore } from "../store.ts";
import {
  checkMayWriteRecords,
  checkRecordWrite,
  checkZoneAdmin,
  ForbiddenError,
  mayWriteRecord,
  ownLabel,
  relativeName,
  type WriteTarget,
} from "./authz.ts";
import {
  type ApiContext,
  createRecord,
  deleteRecord,
  getRecord,
  updateRecord,
} from "./operations.ts";

const ZONE = "svc.mcp.example.com";
const OTHER = "mcp.example.com";

function who(
  username: string,
  accountType: "human" | "system",
  roles: string[] = [],
  valid = true,
): TokenInfo {
  return { valid, username, accountType, roles, expiresAt: new Date(Date.now() + 60_000) };
}

const admin = who("root", "human", ["admin"]);
const agent = who("mcp-agent", "system");
const mcr = who("mcr", "system");
const alice = who("alice", "human", ["user"]);

/** A target in the service zone unless `zone` says otherwise. */
function at(name: string, type = "A", zone = ZONE): WriteTarget {
  return { zone, name, type };
}

function may(caller: TokenInfo, target: WriteTarget): boolean {
  return mayWriteRecord(caller, ZONE, target);
}

Deno.test("relativeName() gives @ for the apex, the labels in front of the zone, or undefined", () => {
  assert.equal(relativeName(ZONE, ZONE), "@");
  assert.equal(relativeName(ZONE, `mcr.${ZONE}`), "mcr");
  assert.equal(relativeName(ZONE, `api.mcr.${ZONE}`), "api.mcr");
  assert.equal(relativeName(ZONE, "mcr.example.org"), undefined);
  assert.equal(relativeName(ZONE, `x${ZONE}`), undefined);
});

Deno.test("mayWriteRecord(): admin and mcp-agent anywhere, any type; other system accounts only their own name", () => {
  for (
    const target of [
      at(ZONE, "NS"),
      at(`mcr.${ZONE}`, "CAA"),
      at(`a.b.${ZONE}`),
      at(OTHER, "MX", OTHER),
    ]
  ) {
    assert.equal(may(admin, target), true, target.name);
    assert.equal(may(agent, target), true, target.name);
    assert.equal(may(alice, target), false, target.name);
  }
  assert.equal(may(mcr, at(`mcr.${ZONE}`)), true);
  for (const owner of [ZONE, `api.${ZONE}`, `api.mcr.${ZONE}`, `mcr-x.${ZONE}`, `xmcr.${ZONE}`]) {
    assert.equal(may(mcr, at(owner)), false, owner);
  }
  // Account names compare case-insensitively with the lower-case owner.
  assert.equal(may(who("MCR", "system"), at(`mcr.${ZONE}`)), true);
});

Deno.test("mayWriteRecord(): a system account writes A, AAAA, CNAME, TXT, SRV at its name; never NS, MX, CAA", () => {
  for (const type of ["A", "AAAA", "CNAME", "TXT", "SRV"]) {
    assert.equal(may(mcr, at(`mcr.${ZONE}`, type)), true, type);
  }
  // NS would delegate sub-names, CAA controls certificate issuance, MX mail.
  for (const type of ["NS", "MX", "CAA"]) {
    assert.equal(may(mcr, at(`mcr.${ZONE}`, type)), false, type);
    assert.equal(may(agent, at(`mcr.${ZONE}`, type)), true, type);
  }
});

Deno.test("mayWriteRecord(): the own-name right holds only in the service zone", () => {
  assert.equal(may(mcr, at("mcr.mcp.example.com", "A", OTHER)), false);
  assert.equal(may(mcr, at("mcr.lab.example.org", "A", "lab.example.org")), false);
  // Another instance's service zone is a different zone.
  assert.equal(mayWriteRecord(mcr, "svc.mcp.other.test", at(`mcr.${ZONE}`)), false);
});

Deno.test("mayWriteRecord(): an account name that is not one DNS label owns no name", () => {
  // MCIAS allows dots in usernames: "api.web" must not own api.web.<zone>.
  assert.equal(ownLabel(who("api.web", "system")), undefined);
  assert.equal(may(who("api.web", "system"), at(`api.web.${ZONE}`)), false);
  assert.equal(may(who("*", "system"), at(`*.${ZONE}`)), false);
  assert.equal(may(who("-web", "system"), at(`-web.${ZONE}`)), false);
  assert.equal(may(who("a".repeat(64), "system"), at(`${"a".repeat(64)}.${ZONE}`)), false);
  // The Kelvin sign lower-cases to ASCII "k"; it is still not the label "k".
  assert.equal(may(who("\u212a", "system"), at(`k.${ZONE}`)), false);
  assert.equal(ownLabel(who("Web_1", "system")), "web_1");
  assert.equal(may(who("web_1", "system"), at(`web_1.${ZONE}`)), true);
});

Deno.test("mayWriteRecord(): a human named mcp-agent or after the record gets nothing; invalid tokens nothing", () => {
  assert.equal(may(who("mcp-agent", "human", ["user"]), at(`api.${ZONE}`)), false);
  assert.equal(may(who("mcr", "human", ["user"]), at(`mcr.${ZONE}`)), false);
  assert.equal(may(who("mcp-agent", "system", [], false), at(`api.${ZONE}`)), false);
  assert.equal(may(who("mcr", "system", [], false), at(`mcr.${ZONE}`)), false);
  assert.equal(may(who("root", "human", ["admin"], false), at(ZONE)), false);
});

Deno.test("checkRecordWrite() checks every target (an update's old and new record) and says why", () => {
  checkRecordWrite(mcr, ZONE, at(`mcr.${ZONE}`), at(`mcr.${ZONE}`, "TXT"));
  assert.throws(
    () => checkRecordWrite(mcr, ZONE, at(`mcr.${ZONE}`), at(`api.${ZONE}`)),
    (e: unknown) =>
      e instanceof ForbiddenError &&
      e.message ===
        `Cannot change A records at "api.${ZONE}" as system account "mcr": ` +
          `it may only manage A, AAAA, CNAME, TXT, SRV records at "mcr.${ZONE}"`,
  );
  assert.throws(
    () => checkRecordWrite(mcr, ZONE, at(`api.${ZONE}`), at(`mcr.${ZONE}`)),
    ForbiddenError,
  );
  assert.throws(
    () => checkRecordWrite(mcr, ZONE, at(`mcr.${ZONE}`), at(`mcr.${ZONE}`, "NS")),
    /NS records/,
  );
  assert.throws(
    () => checkRecordWrite(who("api.web", "system"), ZONE, at(`api.web.${ZONE}`)),
    /not a single DNS label/,
  );
  assert.throws(() => checkRecordWrite(alice, ZONE, at(`alice.${ZONE}`)), /only admins and system/);
});

Deno.test("checkMayWriteRecords() refuses readers; checkZoneAdmin() everyone but admins", () => {
  checkMayWriteRecords(admin);
  checkMayWriteRecords(agent);
  checkMayWriteRecords(mcr);
  assert.throws(() => checkMayWriteRecords(alice), ForbiddenError);
  checkZoneAdmin(admin);
  for (const caller of [agent, mcr, alice]) {
    assert.throws(() => checkZoneAdmin(caller), /admin role required/);
  }
});

// The operations (operations.ts) on a real SQLite store: the rules above,
// applied inside the store's transaction.

async function withCtx(
  fn: (ctx: ApiContext, store: ZoneStore, log: string[], reloads: { n: number }) => void,
  onChange?: () => void,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "mcns_ops_" });
  try {
    using store = openZoneStore(join(dir, "mcns.db"));
    store.seed("example.com");
    const log: string[] = [];
    const reloads = { n: 0 };
    const ctx: ApiContext = {
      store,
      serviceZone: ZONE,
      logger: createLogger({ write: (line) => log.push(line) }),
      onChange: onChange ?? (() => reloads.n++),
    };
    fn(ctx, store, log, reloads);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("operations: a system account cannot write NS/CAA or outside the service zone; nothing is written", async () => {
  await withCtx((ctx, store, _log, reloads) => {
    const serial = store.getZone(ZONE).serial;
    for (
      const [type, value] of [["NS", "ns.evil.test"], ["CAA", '0 issue "evil.test"'], [
        "mx",
        "10 mx.evil.test",
      ]]
    ) {
      assert.throws(
        () => createRecord(ctx, mcr, ZONE, { name: "mcr", type, value }),
        ForbiddenError,
        type,
      );
    }
    assert.throws(
      () => createRecord(ctx, mcr, OTHER, { name: "mcr", type: "A", value: "192.0.2.1" }),
      ForbiddenError,
    );
    assert.equal(store.getZone(ZONE).serial, serial);
    assert.equal(store.listRecords(OTHER).some((r) => r.name.startsWith("mcr.")), false);
    assert.equal(reloads.n, 0);
    const own = createRecord(ctx, mcr, ZONE, { name: "MCR", type: "a", value: "192.0.2.1" });
    assert.equal(own.name, `mcr.${ZONE}`);
    assert.equal(reloads.n, 1);
    // An update needs the right on both sides: not into NS, not from the agent's NS.
    assert.throws(
      () =>
        updateRecord(ctx, mcr, ZONE, own.id, { name: "mcr", type: "NS", value: "ns.evil.test" }),
      ForbiddenError,
    );
    const txt = createRecord(ctx, agent, ZONE, { name: "mcr", type: "TXT", value: "x" });
    const nsMx = createRecord(ctx, agent, ZONE, { name: "mcr", type: "MX", value: "10 mail" });
    assert.equal(txt.type, "TXT");
    assert.throws(
      () => updateRecord(ctx, mcr, ZONE, nsMx.id, { name: "mcr", type: "TXT", value: "y" }),
      /MX records/,
    );
    assert.throws(() => deleteRecord(ctx, mcr, ZONE, nsMx.id), ForbiddenError);
    assert.equal(getRecord(ctx, ZONE, nsMx.id).value, `10 mail.${ZONE}`);
  });
});

Deno.test("operations: an empty name is refused (the apex is @), not taken as the apex", async () => {
  await withCtx((ctx, store) => {
    const serial = store.getZone(ZONE).serial;
    assert.throws(
      () => createRecord(ctx, admin, ZONE, { name: "", type: "A", value: "192.0.2.1" }),
      (e: unknown) =>
        e instanceof RecordValidationError && /empty record name.*"@"/.test(e.message),
    );
    const apex = createRecord(ctx, admin, ZONE, { name: "@", type: "A", value: "192.0.2.1" });
    assert.throws(
      () => updateRecord(ctx, admin, ZONE, apex.id, { name: "", type: "A", value: "192.0.2.2" }),
      RecordValidationError,
    );
    assert.equal(store.getZone(ZONE).serial, serial + 1);
  });
});

Deno.test("operations: ids are scoped to the zone in the request for get, update and delete", async () => {
  await withCtx((ctx, store) => {
    const r = createRecord(ctx, agent, ZONE, { name: "api", type: "A", value: "192.0.2.1" });
    const serial = store.getZone(OTHER).serial;
    assert.throws(() => getRecord(ctx, OTHER, r.id), NotFoundError);
    assert.throws(() => getRecord(ctx, ZONE, r.id + 1000), NotFoundError);
    assert.throws(
      () => updateRecord(ctx, admin, OTHER, r.id, { name: "api", type: "A", value: "192.0.2.9" }),
      (e: unknown) => e instanceof NotFoundError && e.message.includes(`in zone "${OTHER}"`),
    );
    assert.throws(() => deleteRecord(ctx, admin, OTHER, r.id), NotFoundError);
    assert.deepEqual(getRecord(ctx, ZONE, r.id), r);
    assert.equal(store.getZone(OTHER).serial, serial);
  });
});

Deno.test("operations: a failing reload after a committed write is logged, and the write still succeeds", async () => {
  let calls = 0;
  await withCtx((ctx, store, log) => {
    const r = createRecord(ctx, agent, ZONE, { name: "api", type: "A", value: "192.0.2.1" });
    assert.equal(r.name, `api.${ZONE}`);
    assert.deepEqual(getRecord(ctx, ZONE, r.id), r);
    updateRecord(ctx, agent, ZONE, r.id, { name: "api", type: "A", value: "192.0.2.2" });
    deleteRecord(ctx, agent, ZONE, r.id);
    assert.equal(calls, 3);
    assert.equal(store.listRecords(ZONE).some((x) => x.id === r.id), false);
    assert.equal(log.filter((l) => l.includes("reload after a write failed")).length, 3);
    assert.ok(log.every((l) => JSON.parse(l).level === "error"));
  }, () => {
    calls++;
    throw new Error("compile failed");
  });
});
