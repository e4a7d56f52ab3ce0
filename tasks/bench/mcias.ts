/**
 * `deno task bench mcias`: /v1/token/validate req/s over HTTPS (wrk, 50
 * connections), in-process cached validations/s (mcdsl auth client), login
 * p50/p99 with the default Argon2id parameters.
 *
 * @module
 */

import { createAuthClient } from "@mc/mcdsl/auth";
import { makeMcIasDir, mciasctl, startMcIasProcess } from "../../services/mcias/_testing.ts";

const ADMIN = { username: "bench-admin", password: "bench-password-0123456789" };

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function wrk(url: string, body: string, seconds: number, connections: number) {
  const dir = await Deno.makeTempDir({ prefix: "wrk_" });
  try {
    const script = `${dir}/post.lua`;
    await Deno.writeTextFile(
      script,
      `wrk.method = "POST"\nwrk.body = ${
        JSON.stringify(body)
      }\nwrk.headers["Content-Type"] = "application/json"\n`,
    );
    const out = await new Deno.Command("wrk", {
      args: ["-t2", `-c${connections}`, `-d${seconds}s`, "--latency", "-s", script, url],
      stdout: "piped",
      stderr: "piped",
    }).output().catch((e) => {
      throw new Error(`wrk is needed for this benchmark (apt-get install wrk): ${e.message}`);
    });
    const text = new TextDecoder().decode(out.stdout);
    const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? NaN);
    const p99 = /99%\s+([\d.]+\w+)/.exec(text)?.[1] ?? "?";
    const errors = /Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? "0";
    return { rps, p99, errors: Number(errors), text };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The 1/5/15-minute load averages, as `uptime` shows them: other work skews the numbers. */
function loadAverage(): string {
  try {
    return `load average ${Deno.loadavg().map((n) => n.toFixed(2)).join(", ")}`;
  } catch {
    return "load average unknown";
  }
}

/** Runs the MCIAS benchmark and prints its table. */
export async function run(): Promise<void> {
  // Sampled before this benchmark adds its own load.
  const loadBefore = loadAverage();
  await using dir = await makeMcIasDir();
  const init = await mciasctl(dir, [
    "init",
    "--username",
    ADMIN.username,
    "--password-stdin",
  ], `${ADMIN.password}\n`);
  if (init.code !== 0) throw new Error(`mciasctl init failed: ${init.stderr}`);
  await using _server = await startMcIasProcess(dir);
  const client = Deno.createHttpClient({ caCerts: [dir.ca] });
  const login = async () => {
    const res = await fetch(`${dir.url}/v1/auth/login`, {
      client,
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(ADMIN),
    });
    if (!res.ok) throw new Error(`login failed: ${res.status} ${await res.text()}`);
    return (await res.json()).token as string;
  };

  // Login latency with the default Argon2id parameters.
  const times: number[] = [];
  for (let i = 0; i < 40; i++) {
    const t0 = performance.now();
    await login();
    times.push(performance.now() - t0);
  }
  times.sort((a, b) => a - b);
  const token = await login();

  // Validate over HTTPS.
  const seconds = Number(Deno.env.get("BENCH_SECONDS") ?? "10");
  const validate = await wrk(
    `${dir.url}/v1/token/validate`,
    JSON.stringify({ token }),
    seconds,
    50,
  );

  // Cached validations in-process through the mcdsl client.
  using auth = createAuthClient({
    serverUrl: dir.url,
    caCert: dir.ca,
    serviceName: "bench",
  });
  await auth.validate(token);
  let n = 0;
  const until = performance.now() + 2000;
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++) await auth.validate(token);
    n += 1000;
  }
  const cachedPerSecond = n / 2;
  client.close();

  const row = (name: string, value: string, target: string, ok: boolean) =>
    console.log(
      `${name.padEnd(34)} ${value.padStart(14)}   target ${target.padEnd(14)} ${
        ok ? "met" : "NOT MET"
      }`,
    );
  console.log(`\nMCIAS (${seconds}s wrk run, 2 cores; before: ${loadBefore})`);
  row(
    "validate over HTTPS (50 conns)",
    `${Math.round(validate.rps)} req/s`,
    ">= 10000",
    validate.rps >= 10_000,
  );
  console.log(
    `${"  validate p99 / non-2xx".padEnd(34)} ${
      validate.p99.padStart(14)
    }   ${validate.errors} errors`,
  );
  row(
    "cached validations (in-process)",
    `${Math.round(cachedPerSecond)} /s`,
    ">= 100000",
    cachedPerSecond >= 100_000,
  );
  row(
    "login p50 (Argon2id m=19MiB t=2)",
    `${quantile(times, 0.5).toFixed(1)} ms`,
    "<= 300 ms",
    quantile(times, 0.5) <= 300,
  );
  console.log(`${"login p99".padEnd(34)} ${`${quantile(times, 0.99).toFixed(1)} ms`.padStart(14)}`);
}
