import assert from "node:assert/strict";
import dnsPacket from "dns-packet";
import { answer, compileZones } from "./answers.ts";
import type { ZoneData } from "./store.ts";
import {
  createRing,
  refusedOutsideZones,
  ringDrain,
  ringDropped,
  ringWait,
  ringWrite,
  workerSource,
} from "./udp_worker.ts";

const enc = new TextEncoder();

Deno.test("ring: records come out in order, intact, across many wrap-arounds", async () => {
  const ring = createRing(300);
  const got: [string, string, number][] = [];
  let want: [string, string, number][] = [];
  let seed = 7;
  const rand = (n: number) => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
  for (let round = 0; round < 2000; round++) {
    const writes = 1 + rand(4);
    for (let i = 0; i < writes; i++) {
      const len = 1 + rand(60);
      const reply = Uint8Array.from({ length: len }, (_, k) => (round + k) & 0xff);
      const host = rand(2) === 0 ? "127.0.0.1" : "2001:db8::1";
      const port = rand(65536);
      if (ringWrite(ring.ctl, ring.bytes, reply, enc.encode(host), port)) {
        want.push([[...reply].join(","), host, port]);
      }
    }
    if (rand(3) !== 0) {
      await ringWait(ring, new Promise(() => {}));
      ringDrain(ring, (r, h, p) => got.push([[...r].join(","), h, p]));
      assert.deepEqual(got, want);
      got.length = 0;
      want = [];
    }
  }
  ringDrain(ring, (r, h, p) => got.push([[...r].join(","), h, p]));
  assert.deepEqual(got, want);
});

Deno.test("ring: full → write refused and counted, never overwriting unread records", () => {
  const ring = createRing(100);
  const reply = new Uint8Array(40);
  const host = enc.encode("127.0.0.1");
  assert.equal(ringWrite(ring.ctl, ring.bytes, reply.fill(1), host, 1), true);
  assert.equal(ringWrite(ring.ctl, ring.bytes, reply.fill(2), host, 2), false, "56 + 56 > 100");
  assert.equal(ringDropped(ring), 1);
  const seen: number[] = [];
  ringDrain(ring, (r, _h, p) => seen.push(p, r[0]));
  assert.deepEqual(seen, [1, 1]);
  // Wrapping needs the record to end before the read position (56): 46 bytes fit.
  assert.equal(ringWrite(ring.ctl, ring.bytes, reply.subarray(0, 30), host, 3), true, "room again");
  ringDrain(ring, (_r, _h, p) => seen.push(p));
  assert.deepEqual(seen, [1, 1, 3]);
});

Deno.test("ringWait: resolves when stopped, with nothing written", async () => {
  const ring = createRing(64);
  await ringWait(ring, Promise.resolve());
});

Deno.test("refusedOutsideZones: only the REFUSED for a name outside every zone", () => {
  const data: ZoneData[] = [{
    zone: {
      name: "example.test",
      mname: "ns.example.test",
      rname: "h.example.test",
      serial: 1,
      refresh: 60,
      retry: 60,
      expire: 600,
      minimum: 60,
      ttl: 300,
    },
    records: [{
      id: 1,
      zone: "example.test",
      name: "www.example.test",
      type: "A",
      ttl: 60,
      value: "192.0.2.1",
    }],
  }];
  const zones = compileZones(data);
  const q = (name: string, cls = "IN") =>
    new Uint8Array(
      dnsPacket.encode({
        id: 1,
        type: "query",
        questions: [{ name, type: "A", class: cls as "IN" }],
      }),
    );
  assert.equal(refusedOutsideZones(answer(q("www.elsewhere.test"), zones, "udp")!), true);
  assert.equal(refusedOutsideZones(answer(q("www.example.test"), zones, "udp")!), false);
  assert.equal(refusedOutsideZones(answer(q("nx.example.test"), zones, "udp")!), false);
  assert.equal(refusedOutsideZones(answer(q("www.elsewhere.test", "CH"), zones, "udp")!), false);
});

Deno.test("workerSource: self-contained script that parses, with every answering helper", () => {
  const src = workerSource();
  new Function(src); // a syntax error throws here
  for (
    const name of [
      "function answer(",
      "function header(",
      "function errorReply(",
      "function ringWrite(",
    ]
  ) {
    assert.ok(src.includes(name), name);
  }
  assert.doesNotMatch(
    src,
    /^\s*import\s/m,
    "no imports: a worker module file would need read permission",
  );
});
