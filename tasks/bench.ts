/**
 * `deno task bench <name>`: performance measurements, each against its
 * target (and, where the design names one, a peer measured in the same run).
 * Numbers, not pass/fail: benchmarks never run in `deno task test`. Each
 * benchmark lives in `tasks/bench/<name>.ts` and exports `run()`.
 *
 *   mcias   /v1/token/validate req/s over HTTPS, cached validations/s, login p50/p99
 *
 * @module
 */

const BENCHES: Record<string, () => Promise<{ run(): Promise<void> }>> = {
  mcias: () => import("./bench/mcias.ts"),
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
