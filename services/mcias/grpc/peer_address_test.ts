import assert from "node:assert/strict";
import { peerAddress } from "./peer_address.ts";

Deno.test("peerAddress() strips the port from IPv4 and unbracketed IPv6 peers", () => {
  assert.equal(peerAddress("127.0.0.1:50000"), "127.0.0.1");
  assert.equal(peerAddress("10.1.2.3:1"), "10.1.2.3");
  assert.equal(peerAddress("::1:50000"), "::1");
  assert.equal(peerAddress("2001:db8::7:443"), "2001:db8::7");
  assert.equal(peerAddress("[2001:db8::7]:443"), "2001:db8::7");
});

Deno.test("peerAddress() maps IPv4-mapped IPv6 to IPv4", () => {
  assert.equal(peerAddress("::ffff:192.0.2.1:50000"), "192.0.2.1");
  assert.equal(peerAddress("::FFFF:192.0.2.1:50000"), "192.0.2.1");
});

Deno.test("peerAddress() keeps what holds no IP", () => {
  assert.equal(peerAddress("unknown"), "unknown");
  assert.equal(peerAddress("/run/mcias.sock"), "/run/mcias.sock");
  assert.equal(peerAddress("host:123"), "host:123");
});
