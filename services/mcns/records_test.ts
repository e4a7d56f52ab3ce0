import assert from "node:assert/strict";
import {
  checkTtl,
  checkType,
  normalizeName,
  normalizeValue,
  RecordValidationError,
} from "./records.ts";

Deno.test("normalizeValue() accepts and normalises every record type", () => {
  assert.equal(normalizeValue("A", "192.0.2.1"), "192.0.2.1");
  assert.equal(normalizeValue("AAAA", "2001:DB8:0:0::1"), "2001:db8::1");
  assert.equal(normalizeValue("CNAME", "Api.Example.COM."), "api.example.com");
  assert.equal(normalizeValue("NS", "ns1.example.com"), "ns1.example.com");
  assert.equal(normalizeValue("TXT", "v=spf1 -all"), "v=spf1 -all");
  assert.equal(normalizeValue("SRV", "10  5 8443 API.example.com"), "10 5 8443 api.example.com");
  assert.equal(normalizeValue("MX", "10 mail.example.com."), "10 mail.example.com");
  assert.equal(normalizeValue("CAA", '0 ISSUE "letsencrypt.org"'), '0 issue "letsencrypt.org"');
});

Deno.test("normalizeValue() throws RecordValidationError naming the bad value", () => {
  const cases: [Parameters<typeof normalizeValue>[0], string, RegExp][] = [
    ["A", "256.1.1.1", /A value "256\.1\.1\.1": expected an IPv4 address/],
    ["A", "01.2.3.4", /IPv4/],
    ["A", "1.2.3", /IPv4/],
    ["AAAA", "2001:db8::g", /AAAA value "2001:db8::g": expected an IPv6 address/],
    ["AAAA", "1.2.3.4", /IPv6/],
    ["CNAME", "bad..name", /label "" must be/],
    ["CNAME", "-x.example.com", /label "-x"/],
    ["SRV", "10 5 70000 x.example.com", /port must be an integer from 0 to 65535/],
    ["SRV", "10 5 x.example.com", /priority weight port target/],
    ["MX", "mail.example.com", /preference exchange/],
    ["CAA", "0 issue letsencrypt.org", /flags tag "value"/],
    ["TXT", "", /TXT value of 0 characters/],
  ];
  for (const [type, value, re] of cases) {
    assert.throws(() => normalizeValue(type, value), (e: Error) => {
      assert.ok(e instanceof RecordValidationError, `${type} ${value}`);
      assert.match(e.message, re);
      return true;
    });
  }
});

Deno.test("checkTtl(), checkType() and normalizeName() bound their input", () => {
  assert.equal(checkTtl(0), 0);
  assert.equal(checkTtl(604800), 604800);
  assert.throws(() => checkTtl(604801), /TTL 604801: expected an integer from 0 to 604800/);
  assert.throws(() => checkTtl(1.5), RecordValidationError);
  assert.equal(checkType("aaaa"), "AAAA");
  assert.throws(() => checkType("SOA"), /record type "SOA": expected one of A, AAAA/);
  assert.equal(normalizeName("_http._TCP.Example.com."), "_http._tcp.example.com");
  assert.throws(() => normalizeName("a".repeat(64) + ".com"), /label/);
  assert.throws(() => normalizeName(("a".repeat(60) + ".").repeat(5) + "com"), /1 to 253/);
});

Deno.test("checkType() and normalizeName() refuse non-ASCII before folding case", () => {
  // "ſ" (long s) upper-cases to "S"; the Kelvin sign lower-cases to "k".
  assert.equal("ſrv".toUpperCase(), "SRV");
  assert.equal("\u212a".toLowerCase(), "k");
  assert.throws(() => checkType("ſrv"), /record type "ſrv"/);
  assert.throws(() => checkType("\u212a"), RecordValidationError);
  assert.throws(() => normalizeName("\u212a.example.com"), /names are ASCII/);
  assert.throws(() => normalizeName("web.exampl\u0435.com"), RecordValidationError);
  assert.throws(() => normalizeValue("CNAME", "\u212a.example.com"), RecordValidationError);
  assert.throws(() => normalizeValue("SRV", "0 0 443 \u212a.example.com"), RecordValidationError);
  assert.equal(normalizeName("K.example.com"), "k.example.com");
});
