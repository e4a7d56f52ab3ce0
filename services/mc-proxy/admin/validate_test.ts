import assert from "node:assert/strict";
import {
  AdminInputError,
  checkBackend,
  normalizeHostname,
  validateRoute,
  validateRule,
} from "./validate.ts";

const LISTENERS = [":443", "127.0.0.1:8443"];

Deno.test("normalizeHostname() lower-cases, drops the trailing dot, refuses non-names", () => {
  assert.equal(normalizeHostname("WWW.Example.COM."), "www.example.com");
  assert.equal(normalizeHostname("a-b.c"), "a-b.c");
  for (const bad of ["", "*.example.com", "-a.example.com", "a..b", "127.0.0.1", "::1", "a b.c"]) {
    assert.throws(() => normalizeHostname(bad), AdminInputError, bad);
  }
  assert.throws(() => normalizeHostname(`${"a".repeat(64)}.test`), /expected a DNS name/);
});

Deno.test("checkBackend() takes host:port, [v6]:port and names; refuses the rest", () => {
  for (const ok of ["127.0.0.1:8443", "[::1]:443", "app.internal:1", "10.0.0.1:65535"]) {
    assert.equal(checkBackend(ok), ok);
  }
  for (const bad of ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", "::1:443", "[x]:1", "a b:1"]) {
    assert.throws(() => checkBackend(bad), /Cannot use backend/, bad);
  }
});

Deno.test("validateRoute() normalises an l4 route and checks every field", () => {
  assert.deepEqual(
    validateRoute(
      { listener: ":443", hostname: "A.Test", backend: "127.0.0.1:1", mode: "L4" },
      LISTENERS,
    ),
    {
      listener: ":443",
      hostname: "a.test",
      backend: "127.0.0.1:1",
      mode: "l4",
      backendTls: false,
      sendProxyProtocol: false,
    },
  );
  const base = { listener: ":443", hostname: "a.test", backend: "127.0.0.1:1", mode: "l4" };
  assert.throws(() => validateRoute({ ...base, listener: ":9999" }, LISTENERS), /unknown listener/);
  assert.throws(() => validateRoute({ ...base, mode: "l5" }, LISTENERS), /expected "l4" or "l7"/);
  assert.throws(() => validateRoute({ ...base, mode: "" }, LISTENERS), /expected "l4" or "l7"/);
  assert.throws(() => validateRoute({ ...base, hostname: "" }, LISTENERS), /Cannot use hostname/);
  assert.throws(() => validateRoute({ ...base, backend: "x" }, LISTENERS), /Cannot use backend/);
  assert.throws(
    () => validateRoute({ ...base, backendTls: true }, LISTENERS),
    /are for l7 routes/,
  );
});

Deno.test("validateRoute() requires absolute cert and key paths for l7", () => {
  const base = { listener: ":443", hostname: "a.test", backend: "127.0.0.1:1", mode: "l7" };
  assert.throws(() => validateRoute(base, LISTENERS), /tls_cert and tls_key are required/);
  assert.throws(
    () => validateRoute({ ...base, tlsCert: "/c.pem" }, LISTENERS),
    /tls_cert and tls_key are required/,
  );
  assert.throws(
    () => validateRoute({ ...base, tlsCert: "c.pem", tlsKey: "/k.pem" }, LISTENERS),
    /expected an absolute path/,
  );
  const r = validateRoute(
    { ...base, tlsCert: "/c.pem", tlsKey: "/k.pem", backendTls: true, sendProxyProtocol: true },
    LISTENERS,
  );
  assert.equal(r.tlsCert, "/c.pem");
  assert.equal(r.tlsKey, "/k.pem");
  assert.equal(r.backendTls, true);
  assert.equal(r.sendProxyProtocol, true);
});

Deno.test("validateRule() normalises each kind and refuses bad values", () => {
  assert.deepEqual(validateRule({ kind: "ip", value: " 192.0.2.1 " }), {
    kind: "ip",
    value: "192.0.2.1",
  });
  assert.deepEqual(validateRule({ kind: "ip", value: "2001:DB8::1" }), {
    kind: "ip",
    value: "2001:db8::1",
  });
  assert.deepEqual(validateRule({ kind: "cidr", value: "10.0.0.0/8" }), {
    kind: "cidr",
    value: "10.0.0.0/8",
  });
  assert.deepEqual(validateRule({ kind: "cidr", value: "2001:DB8::/32" }), {
    kind: "cidr",
    value: "2001:db8::/32",
  });
  assert.deepEqual(validateRule({ kind: "country", value: "cn" }), {
    kind: "country",
    value: "CN",
  });
  assert.deepEqual(validateRule({ kind: "user_agent", value: "ZGrab" }), {
    kind: "user_agent",
    value: "zgrab",
  });
  const bad: [string, string][] = [
    ["ip", "300.1.1.1"],
    ["ip", "10.0.0.0/8"],
    ["cidr", "10.0.0.0/33"],
    ["cidr", "10.0.0.0"],
    ["cidr", "::/129"],
    ["country", "CHN"],
    ["user_agent", ""],
    ["user_agent", "a\nb"],
  ];
  for (const [kind, value] of bad) {
    assert.throws(() => validateRule({ kind, value }), AdminInputError, `${kind} ${value}`);
  }
  assert.throws(() => validateRule({ kind: "port", value: "1" }), /expected one of "ip"/);
});
