import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import dnsPacket from "dns-packet";
import { createLogger } from "@mc/mcdsl/log";
import { createNotifyService, encodeNotify, isNotify } from "./notify.ts";

const logger = createLogger({ level: "error", fields: { service: "mcns-test" } });
const ZONE = "z.test";
const PRIMARY: Deno.NetAddr = { transport: "udp", hostname: "192.0.2.1", port: 53 };
const STRANGER: Deno.NetAddr = { transport: "udp", hostname: "192.0.2.66", port: 53 };

const decode = (m: Uint8Array) => dnsPacket.decode(Buffer.from(m));

function secondary() {
  const notified: string[] = [];
  const service = createNotifyService({
    send: () => Promise.resolve(0),
    primaries: new Map([[ZONE, PRIMARY.hostname]]),
    onNotify: (z) => notified.push(z),
    logger,
  });
  return { service, notified };
}

Deno.test("encodeNotify() builds an RFC 1996 NOTIFY with the serial as a hint", () => {
  const msg = encodeNotify(ZONE, 0x1234, { serial: 42 });
  assert.ok(isNotify(msg));
  const p = decode(msg);
  assert.equal(p.id, 0x1234);
  assert.equal(p.type, "query");
  assert.equal(p.opcode, "NOTIFY");
  assert.ok(p.flag_aa);
  assert.deepEqual(p.questions, [{ name: ZONE, type: "SOA", class: "IN" }]);
  assert.equal((p.answers[0] as { data: { serial: number } }).data.serial, 42);
  assert.ok(!isNotify(new Uint8Array(12)));
});

Deno.test("handleNotify() answers the listed primary and asks for an SOA check", () => {
  const { service, notified } = secondary();
  const reply = service.handleNotify(encodeNotify(ZONE, 7, { serial: 3 }), PRIMARY);
  assert.ok(reply !== undefined);
  const p = decode(reply);
  assert.equal(p.id, 7);
  assert.equal(p.type, "response");
  assert.equal(p.opcode, "NOTIFY");
  assert.ok(p.flag_aa);
  assert.equal(p.rcode, "NOERROR");
  assert.deepEqual(p.questions, [{ name: ZONE, type: "SOA", class: "IN" }]);
  assert.equal(p.answers.length, 0); // the hint is not echoed, nor trusted
  assert.deepEqual(notified, [ZONE]);
});

Deno.test("handleNotify() drops strangers and refuses zones it does not copy", () => {
  const { service, notified } = secondary();
  // Another host, even for the right zone: no answer, no check.
  assert.equal(service.handleNotify(encodeNotify(ZONE, 1), STRANGER), undefined);
  // The primary, for a zone this instance does not copy from it: NOTAUTH.
  assert.equal(
    decode(service.handleNotify(encodeNotify("other.test", 2), PRIMARY)!).rcode,
    "NOTAUTH",
  );
  // Malformed from the primary: FORMERR; malformed from a stranger: nothing.
  const junk = new Uint8Array([0, 3, 4 << 3, 0, 0, 1, 0, 0, 0, 0, 0, 0, 99]);
  assert.equal(decode(service.handleNotify(junk, PRIMARY)!).rcode, "FORMERR");
  assert.equal(service.handleNotify(junk, STRANGER), undefined);
  // A stray response is never answered.
  const response = encodeNotify(ZONE, 4);
  response[2] |= 0x80;
  assert.equal(service.handleNotify(response, PRIMARY), undefined);
  assert.deepEqual(notified, []);
});

Deno.test("notify() retries until the target answers, bounded in attempts", async () => {
  const sec = secondary();
  let sends = 0;
  // The target answers only the third send.
  const primary = createNotifyService({
    send: (msg, to) => {
      sends++;
      assert.equal(to.hostname, "192.0.2.9");
      assert.equal(to.port, 5301);
      if (sends === 3) {
        const reply = sec.service.handleNotify(msg, PRIMARY)!;
        queueMicrotask(() => primary.handleNotify(reply, { ...to, port: 5301 }));
      }
      return Promise.resolve(msg.length);
    },
    targets: ["192.0.2.9:5301"],
    logger,
    attempts: 5,
    timeoutMs: 30,
  });
  assert.deepEqual(await primary.notify(ZONE, 5), ["192.0.2.9:5301"]);
  assert.equal(sends, 3);
  assert.deepEqual(sec.notified, [ZONE]);
  // A silent target: exactly `attempts` sends, then it gives up.
  sends = 0;
  const silent = createNotifyService({
    send: () => {
      sends++;
      return Promise.resolve(0);
    },
    targets: ["192.0.2.9:5301", "[2001:db8::1]:53"],
    logger,
    attempts: 3,
    timeoutMs: 20,
  });
  assert.deepEqual(await silent.notify(ZONE, 6), []);
  assert.equal(sends, 6);
});

Deno.test("close() ends pending retries at once", async () => {
  let sends = 0;
  const silent = createNotifyService({
    send: () => {
      sends++;
      return Promise.resolve(0);
    },
    targets: ["192.0.2.9:5301"],
    logger,
    attempts: 5,
    timeoutMs: 60_000,
  });
  const closing = silent.notify(ZONE, 7);
  assert.equal(sends, 1);
  silent.close();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const result = await Promise.race([
    closing,
    new Promise<string>((r) => timer = setTimeout(() => r("still pending"), 10_000)),
  ]);
  clearTimeout(timer);
  assert.deepEqual(result, []);
  assert.equal(sends, 1);
});

/** A primary whose one target answers each NOTIFY through `answer` (or not). */
function primaryTo(
  answer: (
    msg: Uint8Array,
    serial: number,
  ) => { rcode?: number; from?: Partial<Deno.NetAddr> } | undefined,
) {
  const sent: number[] = [];
  const target: Deno.NetAddr = { transport: "udp", hostname: "192.0.2.9", port: 5301 };
  const service = createNotifyService({
    send: (msg) => {
      const serial = (decode(msg).answers[0] as { data: { serial: number } }).data.serial;
      sent.push(serial);
      const a = answer(msg, serial);
      if (a !== undefined) {
        const reply = msg.slice();
        reply[2] |= 0x80;
        reply[3] = a.rcode ?? 0;
        queueMicrotask(() => service.handleNotify(reply, { ...target, ...a.from }));
      }
      return Promise.resolve(msg.length);
    },
    targets: ["192.0.2.9:5301"],
    logger,
    attempts: 3,
    timeoutMs: 30,
  });
  return { service, sent };
}

Deno.test("notify() keeps one NOTIFY in flight per zone and target; the newest serial wins", async () => {
  const { service, sent } = primaryTo(() => ({}));
  // Three changes in a row: the first is sent, the third replaces the
  // second while the first is in flight, and is sent once the first is answered.
  const all = await Promise.all([
    service.notify(ZONE, 1),
    service.notify(ZONE, 2),
    service.notify(ZONE, 3),
  ]);
  assert.deepEqual(all, [["192.0.2.9:5301"], ["192.0.2.9:5301"], ["192.0.2.9:5301"]]);
  assert.deepEqual(sent, [1, 3]);
  // Another zone has its own flight.
  sent.length = 0;
  await Promise.all([service.notify(ZONE, 4), service.notify("other.test", 9)]);
  assert.deepEqual(sent, [4, 9]);
});

Deno.test("notify() stops at an error answer and ignores answers from another port", async () => {
  // NOTAUTH: the target will not act on it, retrying cannot help.
  const refused = primaryTo(() => ({ rcode: 9 }));
  assert.deepEqual(await refused.service.notify(ZONE, 1), []);
  assert.deepEqual(refused.sent, [1]);
  // The right host but another port: not an answer to this NOTIFY.
  const stray = primaryTo(() => ({ from: { port: 5302 } }));
  assert.deepEqual(await stray.service.notify(ZONE, 1), []);
  assert.deepEqual(stray.sent, [1, 1, 1]);
  // Reported as ::ffff:192.0.2.9 (a dual-stack socket): the same host.
  const mapped = primaryTo(() => ({ from: { hostname: "::ffff:192.0.2.9" } }));
  assert.deepEqual(await mapped.service.notify(ZONE, 1), ["192.0.2.9:5301"]);
  assert.deepEqual(mapped.sent, [1]);
});

Deno.test("handleNotify() compares addresses in canonical form", () => {
  const notified: string[] = [];
  const service = createNotifyService({
    send: () => Promise.resolve(0),
    primaries: new Map([[ZONE, "192.0.2.1"], ["six.test", "2001:DB8:0:0::1"]]),
    onNotify: (z) => notified.push(z),
    logger,
  });
  // An IPv4 primary seen through a dual-stack listener.
  const v4 = service.handleNotify(encodeNotify(ZONE, 1), {
    transport: "udp",
    hostname: "::ffff:192.0.2.1",
    port: 53,
  });
  assert.equal(decode(v4!).rcode, "NOERROR");
  // An IPv6 primary written in the config in another form.
  const v6 = service.handleNotify(encodeNotify("six.test", 2), {
    transport: "udp",
    hostname: "2001:db8::1",
    port: 53,
  });
  assert.equal(decode(v6!).rcode, "NOERROR");
  assert.deepEqual(notified, [ZONE, "six.test"]);
});
