import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import dnsPacket from "dns-packet";
import { answer, type CompiledZones, compileZones, EDNS_SIZE } from "./answers.ts";
import type { ZoneData, ZoneRecord } from "./store.ts";

const ZONE = "svc.mcp.example.test";

function zones(extra: Omit<ZoneRecord, "id" | "zone">[] = []): CompiledZones {
  const records: ZoneRecord[] = [
    { name: ZONE, type: "NS", ttl: 3600, value: "ns.mcp.example.test" },
    { name: `api.${ZONE}`, type: "A", ttl: 300, value: "192.0.2.1" },
    { name: `api.${ZONE}`, type: "AAAA", ttl: 300, value: "2001:db8::1" },
    { name: `www.${ZONE}`, type: "CNAME", ttl: 300, value: `api.${ZONE}` },
    { name: `old.${ZONE}`, type: "CNAME", ttl: 300, value: `www.${ZONE}` },
    { name: `dangling.${ZONE}`, type: "CNAME", ttl: 300, value: `gone.${ZONE}` },
    { name: `loop1.${ZONE}`, type: "CNAME", ttl: 300, value: `loop2.${ZONE}` },
    { name: `loop2.${ZONE}`, type: "CNAME", ttl: 300, value: `loop1.${ZONE}` },
    { name: `_h._tcp.api.${ZONE}`, type: "SRV", ttl: 300, value: `1 2 8443 api.${ZONE}` },
    ...extra,
  ].map((r, i) => ({ id: i + 1, zone: ZONE, ...r }) as ZoneRecord);
  const data: ZoneData[] = [{
    zone: {
      name: ZONE,
      mname: "ns.mcp.example.test",
      rname: "hostmaster.example.test",
      serial: 7,
      refresh: 3600,
      retry: 600,
      expire: 604800,
      minimum: 60,
      ttl: 3600,
    },
    records,
  }];
  return compileZones(data);
}

interface Decoded {
  id: number;
  flags: number;
  rcode: string;
  questions: { name: string; type: string }[];
  answers: { name: string; type: string; data: unknown }[];
  authorities: { type: string }[];
  additionals: { type: string; udpPayloadSize?: number }[];
}

function query(name: string, type: string, opts: { udpSize?: number; id?: number } = {}) {
  return new Uint8Array(dnsPacket.encode({
    type: "query",
    id: opts.id ?? 4660,
    flags: dnsPacket.RECURSION_DESIRED,
    questions: [{ type, name, class: "IN" }],
    additionals: opts.udpSize === undefined
      ? []
      : [{ type: "OPT", name: ".", udpPayloadSize: opts.udpSize }],
  } as never));
}

function ask(
  z: CompiledZones,
  name: string,
  type: string,
  opts: { udpSize?: number; tcp?: boolean } = {},
) {
  const reply = answer(query(name, type, opts), z, opts.tcp ? "tcp" : "udp");
  assert.ok(reply !== undefined);
  return { bytes: reply, msg: dnsPacket.decode(Buffer.from(reply)) as unknown as Decoded };
}

Deno.test("answer() serves A with AA, the client's ID, RD and name case", () => {
  const { msg } = ask(zones(), "API.Svc.MCP.example.test", "A");
  assert.equal(msg.id, 4660);
  assert.equal(msg.rcode, "NOERROR");
  assert.ok(msg.flags & dnsPacket.AUTHORITATIVE_ANSWER);
  assert.ok(msg.flags & dnsPacket.RECURSION_DESIRED);
  assert.deepEqual(msg.questions[0], { name: "API.Svc.MCP.example.test", type: "A", class: "IN" });
  assert.deepEqual(msg.answers.map((a) => a.data), ["192.0.2.1"]);
});

Deno.test("answer() tells NXDOMAIN from NODATA, both with the SOA", () => {
  const nx = ask(zones(), `nope.${ZONE}`, "A").msg;
  assert.equal(nx.rcode, "NXDOMAIN");
  assert.deepEqual(nx.authorities.map((a) => a.type), ["SOA"]);
  const nodata = ask(zones(), `api.${ZONE}`, "MX").msg;
  assert.equal(nodata.rcode, "NOERROR");
  assert.equal(nodata.answers.length, 0);
  assert.deepEqual(nodata.authorities.map((a) => a.type), ["SOA"]);
  // An empty non-terminal exists: NODATA, not NXDOMAIN.
  assert.equal(ask(zones(), `_tcp.api.${ZONE}`, "A").msg.rcode, "NOERROR");
});

Deno.test("answer() chases CNAME chains inside the zone and stops on loops", () => {
  const chain = ask(zones(), `old.${ZONE}`, "AAAA").msg;
  assert.deepEqual(chain.answers.map((a) => [a.type, a.data]), [
    ["CNAME", `www.${ZONE}`],
    ["CNAME", `api.${ZONE}`],
    ["AAAA", "2001:db8::1"],
  ]);
  assert.deepEqual(ask(zones(), `www.${ZONE}`, "CNAME").msg.answers.length, 1);
  const dangling = ask(zones(), `dangling.${ZONE}`, "A").msg;
  assert.equal(dangling.rcode, "NXDOMAIN");
  assert.equal(dangling.answers.length, 1);
  const loop = ask(zones(), `loop1.${ZONE}`, "A").msg;
  assert.equal(loop.rcode, "NOERROR");
  assert.equal(loop.answers.length, 2);
  // A type no precompiled answer covers still follows the chain.
  assert.equal(ask(zones(), `www.${ZONE}`, "HINFO").msg.answers[0].type, "CNAME");
});

Deno.test("answer() refuses names outside its zones and other classes", () => {
  const refused = ask(zones(), "example.org", "A").msg;
  assert.equal(refused.rcode, "REFUSED");
  assert.equal(refused.flags & dnsPacket.AUTHORITATIVE_ANSWER, 0);
  // Zone transfers: AXFR over UDP is FORMERR (TCP only, RFC 5936 §4.2);
  // IXFR over UDP gets the SOA alone (RFC 1995 §2), NOTAUTH off the apex.
  assert.equal(ask(zones(), `x.${ZONE}`, "AXFR").msg.rcode, "FORMERR");
  const ixfr = ask(zones(), ZONE, "IXFR").msg;
  assert.equal(ixfr.rcode, "NOERROR");
  assert.deepEqual(ixfr.answers.map((a) => a.type), ["SOA"]);
  assert.equal(ask(zones(), `x.${ZONE}`, "IXFR").msg.rcode, "NOTAUTH");
  assert.equal(ask(zones(), ZONE, "AXFR", { tcp: true }).msg.rcode, "REFUSED");
});

Deno.test("answer() honours the client's EDNS0 size, sets TC, and TCP is unbounded", () => {
  const txt = Array.from({ length: 12 }, (_, i) => ({
    name: `big.${ZONE}`,
    type: "TXT" as const,
    ttl: 60,
    value: `${i}`.padEnd(200, "x"),
  }));
  const z = zones(txt);
  const plain = ask(z, `big.${ZONE}`, "TXT");
  assert.ok(plain.bytes.length <= 512);
  assert.ok(plain.msg.flags & dnsPacket.TRUNCATED_RESPONSE);
  assert.equal(plain.msg.answers.length, 0);
  const edns = ask(z, `big.${ZONE}`, "TXT", { udpSize: 4096 });
  assert.equal(edns.msg.flags & dnsPacket.TRUNCATED_RESPONSE, 0);
  assert.equal(edns.msg.answers.length, 12);
  assert.equal(edns.msg.additionals[0].type, "OPT");
  assert.equal(edns.msg.additionals[0].udpPayloadSize, EDNS_SIZE);
  const small = ask(z, `big.${ZONE}`, "TXT", { udpSize: 1232 });
  assert.ok(small.msg.flags & dnsPacket.TRUNCATED_RESPONSE);
  assert.equal(small.msg.additionals[0].type, "OPT");
  const tcp = ask(z, `big.${ZONE}`, "TXT", { tcp: true });
  assert.equal(tcp.msg.answers.length, 12);
});

Deno.test("answer() drops or FORMERRs malformed packets", () => {
  const z = zones();
  assert.equal(answer(new Uint8Array(5), z, "udp"), undefined);
  const good = query(`api.${ZONE}`, "A");
  const response = good.slice();
  response[2] |= 0x80;
  assert.equal(answer(response, z, "udp"), undefined);
  for (let cut = 12; cut < good.length; cut++) {
    const reply = answer(good.subarray(0, cut), z, "udp")!;
    assert.equal(reply[3] & 0x0f, 1, `cut at ${cut}`);
    assert.equal(reply.length, 12);
  }
  const twoQuestions = good.slice();
  twoQuestions[5] = 2;
  assert.equal(answer(twoQuestions, z, "udp")![3] & 0x0f, 1);
  const pointer = good.slice();
  pointer[12] = 0xc0;
  assert.equal(answer(pointer, z, "udp")![3] & 0x0f, 1);
});

Deno.test("answer() survives random and mutated packets (bounded fuzz)", () => {
  const z = zones();
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
  const seeds = ["A", "AAAA", "TXT", "SRV", "CNAME", "MX", "ANY"].map((t) =>
    query(`api.${ZONE}`, t, { udpSize: 1232 })
  );
  const deadline = Date.now() + 5000;
  let n = 0;
  for (; n < 20_000 && Date.now() < deadline; n++) {
    let packet: Uint8Array;
    if (n % 2 === 0) {
      packet = new Uint8Array(Math.floor(rand() * 300));
      for (let i = 0; i < packet.length; i++) packet[i] = Math.floor(rand() * 256);
    } else {
      packet = seeds[n % seeds.length].slice(0, 12 + Math.floor(rand() * 60));
      for (let k = 0; k < 1 + rand() * 4; k++) {
        packet[Math.floor(rand() * packet.length)] = Math.floor(rand() * 256);
      }
    }
    const reply = answer(packet, z, n % 3 === 0 ? "tcp" : "udp");
    if (reply !== undefined) {
      assert.ok(reply.length >= 12);
      assert.equal(reply[0], packet[0]);
      assert.equal(reply[1], packet[1]);
      assert.ok(reply[2] & 0x80);
    }
  }
  assert.ok(n >= 2000, `only ${n} packets in time`);
});
