/**
 * `deno task bench <name>`: performance measurements, each against its
 * target (and, where the design names one, a peer measured in the same run).
 * Numbers, not pass/fail: benchmarks never run in `deno task test`. Each
 * benchmark lives in `tasks/bench/<name>.ts` and exports `run()`.
 *
 *   mcias   /v1/token/validate req/s over HTTPS, cached validations/s, login p50/p99
 *   dns     MCNS q/s vs NSD (and Knot) with dnsperf on loopback; target ≥ 0.5 × NSD
 *   proxy   h2load req/s and p99: direct, HAProxy and MC-Proxy in L4 and L7 (ratios vs targets)
 *
 * @module
 */

const BENCHES: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  mcias: () => import("./bench/mcias.ts"),
  dns: () => import("./bench/dns.ts"),
  proxy: () => import("./bench/proxy.ts"),
};

if (import.meta.main) {
  const name = Deno.args[0];
  const load = name === undefined ? undefined : BENCHES[name];
  if (load === undefined) {
    console.error(`usage: deno task bench <${Object.keys(BENCHES).join("|")}>`);
    Deno.exit(name === "--help" ? 0 : 2);
  }
  await (await load()).run();
}
