import assert from "node:assert/strict";
import { parseListenAddr } from "./listen_addr.ts";

Deno.test("parseListenAddr() binds all IPv4 interfaces when the host is omitted", () => {
  assert.deepEqual(parseListenAddr(":8443"), { hostname: "0.0.0.0", port: 8443 });
});

Deno.test("parseListenAddr() splits IPv4, host names, port 0 and bracketed IPv6", () => {
  assert.deepEqual(parseListenAddr("127.0.0.1:0"), { hostname: "127.0.0.1", port: 0 });
  assert.deepEqual(parseListenAddr("localhost:65535"), { hostname: "localhost", port: 65535 });
  assert.deepEqual(parseListenAddr("mcr.svc.mcp.example:443"), {
    hostname: "mcr.svc.mcp.example",
    port: 443,
  });
  assert.deepEqual(parseListenAddr("[::1]:8443"), { hostname: "::1", port: 8443 });
  assert.deepEqual(parseListenAddr("[::]:53"), { hostname: "::", port: 53 });
});

Deno.test("parseListenAddr() throws SyntaxError naming the address and the fix", () => {
  const cases: [string, RegExp][] = [
    ["8443", /there is no ":port" part, e\.g\. ":8443"/],
    ["::1:8443", /put IPv6 addresses in brackets, e\.g\. "\[::1\]:8443"/],
    ["[::1]8443", /write IPv6 addresses as "\[::1\]:8443"/],
    ["[nothost]:80", /"nothost" is not an IPv6 address/],
    ["host:http", /port "http" is not a number/],
    ["bad host:80", /"bad host" is not a host name or IP/],
    ["", /there is no ":port" part/],
  ];
  for (const [addr, reason] of cases) {
    assert.throws(() => parseListenAddr(addr), (error: unknown) => {
      assert.ok(error instanceof SyntaxError, `${addr}: ${error}`);
      assert.ok(error.message.startsWith(`Cannot parse listen address "${addr}": `), error.message);
      assert.match(error.message, reason);
      return true;
    });
  }
});

Deno.test("parseListenAddr() throws RangeError when the port is above 65535", () => {
  assert.throws(
    () => parseListenAddr(":65536"),
    (error: unknown) =>
      error instanceof RangeError && /port 65536 is not in 0\.\.65535/.test(error.message),
  );
});
