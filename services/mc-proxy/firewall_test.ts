import assert from "node:assert/strict";
import { Firewall } from "./firewall.ts";
import { canonicalIp, cidrContains, parseCidr, parseIp } from "./ip.ts";

const GEOIP = "/work/shared/testdata/geoip/GeoLite2-Country-Test.mmdb";

Deno.test("ip helpers canonicalise v4, v6 and IPv4-mapped IPv6", () => {
  assert.equal(canonicalIp("::ffff:10.1.2.3"), "10.1.2.3");
  assert.equal(canonicalIp("::FFFF:a01:203"), "10.1.2.3");
  assert.equal(canonicalIp("2001:DB8:0:0:0:0:0:1"), "2001:db8::1");
  assert.equal(canonicalIp("2001:db8:0:1:0:0:0:1"), "2001:db8:0:1::1");
  assert.equal(canonicalIp("::"), "::");
  assert.equal(canonicalIp("::1"), "::1");
  assert.equal(canonicalIp("[fe80::1%eth0]"), "fe80::1");
  assert.equal(canonicalIp("1.2.3"), undefined);
  assert.equal(canonicalIp("example.com"), undefined);
  const c = parseCidr("10.0.0.0/8")!;
  assert.ok(cidrContains(c, parseIp("10.255.0.1")!));
  assert.ok(cidrContains(c, parseIp("::ffff:10.9.9.9")!));
  assert.ok(!cidrContains(c, parseIp("11.0.0.1")!));
  const m = parseCidr("::ffff:192.168.0.0/112")!;
  assert.deepEqual([m.net.length, m.bits], [4, 16]);
  assert.ok(cidrContains(parseCidr("2001:db8::/33")!, parseIp("2001:db8:7fff::1")!));
  assert.ok(!cidrContains(parseCidr("2001:db8::/33")!, parseIp("2001:db8:8000::1")!));
  assert.ok(cidrContains(parseCidr("0.0.0.0/0")!, parseIp("8.8.8.8")!));
  for (const bad of ["10.0.0.0/33", "::/129", "10.0.0.0/x", "nope/8", "::ffff:1.2.3.4/95"]) {
    assert.equal(parseCidr(bad), undefined, bad);
  }
});

Deno.test("Firewall blocks by IP and CIDR, v4 and v6, mapped addresses included", () => {
  const fw = new Firewall();
  const rejected = fw.setRules([
    { kind: "ip", value: "192.0.2.7" },
    { kind: "ip", value: "2001:db8::7" },
    { kind: "cidr", value: "198.51.100.0/24" },
    { kind: "cidr", value: "2001:db8:1::/48" },
    { kind: "cidr", value: "not-a-cidr" },
  ]);
  assert.deepEqual(rejected.map((r) => r.rule.value), ["not-a-cidr"]);
  assert.equal(fw.check("192.0.2.7"), "ip");
  assert.equal(fw.check("::ffff:192.0.2.7"), "ip");
  assert.equal(fw.check("2001:DB8:0::7"), "ip");
  assert.equal(fw.check("198.51.100.200"), "cidr");
  assert.equal(fw.check("::ffff:198.51.100.1"), "cidr");
  assert.equal(fw.check("2001:db8:1:ffff::1"), "cidr");
  assert.equal(fw.check("2001:db8:2::1"), undefined);
  assert.equal(fw.check("192.0.2.8"), undefined);
  // Rules swap at run time.
  fw.setRules([]);
  assert.equal(fw.check("192.0.2.7"), undefined);
});

Deno.test("Firewall blocks countries from the real GeoLite2 test database", async () => {
  const fw = new Firewall({ geoipDb: await Deno.readFile(GEOIP) });
  assert.equal(fw.country("81.2.69.142"), "GB");
  assert.equal(fw.country("89.160.20.115"), "SE");
  assert.equal(fw.country("2001:218::1"), "JP");
  assert.equal(fw.country("127.0.0.1"), undefined);
  fw.setRules([{ kind: "country", value: "gb" }, { kind: "country", value: "JP" }]);
  assert.equal(fw.check("81.2.69.142"), "country");
  assert.equal(fw.check("::ffff:81.2.69.160"), "country");
  assert.equal(fw.check("2001:218::1"), "country");
  assert.equal(fw.check("89.160.20.115"), undefined);
  assert.equal(fw.check("216.160.83.57"), undefined);
  // Without a database country rules match nothing.
  const none = new Firewall();
  none.setRules([{ kind: "country", value: "GB" }]);
  assert.equal(none.hasGeoip, false);
  assert.equal(none.check("81.2.69.142"), undefined);
});

Deno.test("Firewall rate-limits per IP per window and bounds its memory", () => {
  let now = 1_000_000;
  const fw = new Firewall({
    rateLimit: { limit: 3, windowMs: 10_000 },
    maxTrackedIps: 100,
    now: () => now,
  });
  const seen = Array.from({ length: 5 }, () => fw.check("203.0.113.9"));
  assert.deepEqual(seen, [undefined, undefined, undefined, "rate_limit", "rate_limit"]);
  assert.equal(fw.check("203.0.113.10"), undefined, "another IP has its own budget");
  assert.equal(fw.check("::ffff:203.0.113.9"), "rate_limit", "mapped form is the same client");
  now += 10_000;
  assert.equal(fw.check("203.0.113.9"), undefined, "a new window");
  // 10 000 distinct IPs: the map never exceeds the cap.
  for (let i = 0; i < 10_000; i++) {
    fw.check(`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`);
    assert.ok(fw.trackedIps <= 100);
  }
  assert.equal(fw.trackedIps, 100);
});

Deno.test("Firewall matches user-agent substrings case-insensitively", () => {
  const fw = new Firewall();
  fw.setRules([{ kind: "user_agent", value: "BadBot" }, { kind: "user_agent", value: "sqlmap" }]);
  assert.equal(fw.blockedUserAgent("Mozilla/5.0 (compatible; badbot/2.1)"), true);
  assert.equal(fw.blockedUserAgent("SQLMap/1.7"), true);
  assert.equal(fw.blockedUserAgent("curl/7.88.1"), false);
  assert.equal(fw.blockedUserAgent(undefined), false);
  // UA rules never block a TCP connection.
  assert.equal(fw.check("192.0.2.1"), undefined);
});
