import assert from "node:assert/strict";
import { freePort } from "@mc/mcdsl/testing";
import { encodeProxyV2, parseProxyHeader, V2_MAX_PAYLOAD } from "./proxy_protocol.ts";
import { sendTo, startCaptureServer, startHaproxy } from "./_testing.ts";

const enc = (s: string) => new TextEncoder().encode(s);

Deno.test("parseProxyHeader() reads v1 TCP4, TCP6 and UNKNOWN", () => {
  assert.deepEqual(parseProxyHeader(enc("PROXY TCP4 192.0.2.1 198.51.100.1 5000 443\r\nDATA")), {
    status: "ok",
    length: 44,
    source: { address: "192.0.2.1", port: 5000, localAddress: "198.51.100.1", localPort: 443 },
  });
  const v6 = "PROXY TCP6 2001:DB8:0:0::1 ::ffff:10.0.0.1 1 65535\r\n";
  assert.deepEqual(parseProxyHeader(enc(v6)), {
    status: "ok",
    length: v6.length,
    source: { address: "2001:db8::1", port: 1, localAddress: "10.0.0.1", localPort: 65535 },
  });
  assert.deepEqual(parseProxyHeader(enc("PROXY UNKNOWN\r\n")), { status: "ok", length: 15 });
  assert.deepEqual(parseProxyHeader(enc("PROXY TCP4 1.2.3.4 5.6")), { status: "incomplete" });
});

Deno.test("parseProxyHeader() refuses malformed v1", () => {
  for (
    const bad of [
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n",
      "PROXY TCP4 1.2.3.4 ::1 1 2\r\n",
      "PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.999 5.6.7.8 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n",
      "PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n",
      "PROXX TCP4",
      `PROXY TCP4 ${"1".repeat(120)}`,
      "\x16\x03\x01",
    ]
  ) {
    assert.equal(parseProxyHeader(enc(bad)).status, "invalid", JSON.stringify(bad));
  }
});

Deno.test("encodeProxyV2() round-trips through parseProxyHeader() for v4, v6 and mixed families", () => {
  const cases = [
    { address: "81.2.69.142", port: 40000, localAddress: "10.0.0.1", localPort: 443 },
    { address: "2001:218::5", port: 1, localAddress: "2001:db8::1", localPort: 8443 },
  ];
  for (const a of cases) {
    const h = encodeProxyV2(a);
    const withData = new Uint8Array([...h, 0x16, 0x03]);
    assert.deepEqual(parseProxyHeader(withData), { status: "ok", length: h.length, source: a });
    for (let n = 0; n < h.length; n++) {
      assert.equal(
        parseProxyHeader(h.subarray(0, n)).status,
        n === 0 ? "incomplete" : "incomplete",
      );
    }
  }
  const mixed = encodeProxyV2({ address: "1.2.3.4", port: 5, localAddress: "::1", localPort: 6 });
  assert.equal(mixed[13], 0x21);
  assert.deepEqual(parseProxyHeader(mixed), {
    status: "ok",
    length: 52,
    source: { address: "1.2.3.4", port: 5, localAddress: "::1", localPort: 6 },
  });
  assert.throws(() => encodeProxyV2({ ...cases[0], address: "nope" }), RangeError);
});

Deno.test("parseProxyHeader() handles v2 LOCAL, UNSPEC, TLVs and refuses oversize or bad versions", () => {
  const base = encodeProxyV2({
    address: "1.2.3.4",
    port: 5,
    localAddress: "5.6.7.8",
    localPort: 6,
  });
  const local = base.slice(0, 16);
  local[12] = 0x20;
  local[13] = 0x00;
  local[15] = 0;
  assert.deepEqual(parseProxyHeader(local), { status: "ok", length: 16 });
  // TLVs after the addresses are skipped.
  const tlv = new Uint8Array([...base, 0x04, 0x00, 0x03, 0x61, 0x62, 0x63]);
  tlv[15] = 12 + 6;
  const r = parseProxyHeader(tlv);
  assert.equal(r.status, "ok");
  assert.equal(r.status === "ok" && r.length, 34);
  const big = base.slice();
  big[14] = (V2_MAX_PAYLOAD + 1) >> 8;
  big[15] = (V2_MAX_PAYLOAD + 1) & 0xff;
  assert.equal(parseProxyHeader(big).status, "invalid");
  const v3 = base.slice();
  v3[12] = 0x31;
  assert.equal(parseProxyHeader(v3).status, "invalid");
  const cmd2 = base.slice();
  cmd2[12] = 0x22;
  assert.equal(parseProxyHeader(cmd2).status, "invalid");
  const short = base.slice();
  short[15] = 8;
  assert.equal(parseProxyHeader(short.subarray(0, 24)).status, "invalid");
});

Deno.test("parseProxyHeader() reads the v1 and v2 headers real HAProxy sends (send-proxy, send-proxy-v2)", async () => {
  for (const directive of ["send-proxy", "send-proxy-v2"]) {
    await using capture = await startCaptureServer();
    const front = freePort();
    await using _haproxy = await startHaproxy(
      `frontend f\n  bind 127.0.0.1:${front}\n  tcp-request connection set-src ipv4(81.2.69.142)\n  default_backend b\nbackend b\n  server s 127.0.0.1:${capture.port} ${directive}\n`,
      front,
    );
    // waitForPort's own probe connection arrives first; skip it.
    await capture.next((b) => parseProxyHeader(b).status !== "incomplete");
    const client = sendTo(front, "hello");
    const bytes = await capture.next((b) => {
      const r = parseProxyHeader(b);
      return r.status === "invalid" || (r.status === "ok" && b.length >= r.length + 5);
    });
    client.destroy();
    const r = parseProxyHeader(bytes);
    assert.equal(r.status, "ok", directive);
    if (r.status !== "ok") continue;
    assert.equal(r.source?.address, "81.2.69.142", directive);
    assert.equal(r.source?.localAddress, "127.0.0.1", directive);
    assert.equal(r.source?.localPort, front, directive);
    assert.equal(new TextDecoder().decode(bytes.subarray(r.length)), "hello", directive);
    assert.equal(bytes[0] === 0x50, directive === "send-proxy");
  }
});
