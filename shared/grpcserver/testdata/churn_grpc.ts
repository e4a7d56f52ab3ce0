// Churn driver with grpc-js clients (mcdsl's createGrpcClient): channels
// that run unary and streaming calls, cancel them, miss deadlines, close
// mid-stream or after their calls (GOAWAY on an idle session), and finally
// exit the process with calls in flight.
//
// deno run --allow-read --allow-write --allow-net --allow-env --allow-run --allow-sys churn_grpc.ts --target T --seconds S [--channels N] [--ca CA.pem] [--token T]
// Prints one JSON line: {"channels":N,"ok":N,"failed":N}.
import type * as grpc from "@grpc/grpc-js";
import { parseArgs } from "node:util";
import { createGrpcClient } from "../client.ts";
import { Echo } from "./echo_service.ts";
import type { EchoClient } from "./gen/mcdsl/test/v1/Echo.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    target: { type: "string" },
    seconds: { type: "string", default: "2" },
    channels: { type: "string", default: "20" },
    ca: { type: "string" },
    token: { type: "string" },
  },
});
const deadline = Date.now() + Number(values.seconds) * 1000;
const tls = values.ca ? { ca: Deno.readTextFileSync(values.ca) } : undefined;
const stats = { channels: 0, ok: 0, failed: 0 };
const rnd = (n: number) => Math.floor(Math.random() * n);

function client(): EchoClient {
  stats.channels++;
  return createGrpcClient(Echo, {
    target: values.target!,
    tls,
    token: values.token,
    channelOptions: { "grpc.use_local_subchannel_pool": 1 },
  }) as unknown as EchoClient;
}

const count = (e: grpc.ServiceError | null) => e ? stats.failed++ : stats.ok++;

/** One call of a random shape; resolves when it is over or abandoned. */
function call(c: EchoClient): Promise<void> {
  return new Promise((resolve) => {
    const done = (e: grpc.ServiceError | null = null) => {
      count(e);
      resolve();
    };
    switch (rnd(7)) {
      case 0:
        c.Ping({ message: "x" }, done);
        break;
      case 1:
        c.Whoami({ message: "x" }, { deadline: Date.now() + rnd(5) }, done);
        break;
      case 2: {
        const w = c.Watch({ message: "w", count: 1000, intervalMs: 1 });
        w.on("data", () => {});
        w.on("error", () => {});
        setTimeout(() => {
          w.cancel();
          done();
        }, rnd(20));
        break;
      }
      case 3: {
        const ch = c.Chat();
        ch.on("data", () => {});
        ch.on("error", () => {});
        for (let i = 0; i < rnd(5); i++) ch.write({ message: `c${i}` });
        setTimeout(() => {
          if (rnd(2) === 0) ch.cancel();
          else ch.end();
          done();
        }, rnd(15));
        break;
      }
      case 4: {
        const col = c.Collect(() => {});
        col.on("error", () => {});
        col.write({ message: "a" });
        setTimeout(() => {
          col.cancel();
          done();
        }, rnd(10));
        break;
      }
      case 5: {
        const w = c.Watch({ message: "w", count: 5, intervalMs: 1 }, { deadline: Date.now() + rnd(10) });
        w.on("data", () => {});
        w.on("error", () => {});
        w.on("status", () => done());
        break;
      }
      default:
        c.Admin({ message: "x" }, done);
    }
  });
}

/** A channel's life: some calls, then one way of leaving. */
async function life(): Promise<void> {
  const c = client();
  const calls = 1 + rnd(8);
  await Promise.all(Array.from({ length: calls }, () => call(c)));
  if (rnd(2) === 0) {
    // Leave with a stream open.
    const w = c.Watch({ message: "w", count: 1000, intervalMs: 1 });
    w.on("data", () => {});
    w.on("error", () => {});
    await new Promise((r) => setTimeout(r, rnd(10)));
  }
  c.close();
}

const channels = Number(values.channels);
await Promise.all(Array.from({ length: channels }, async () => {
  while (Date.now() < deadline) await life();
}));
// Leave with calls in flight on fresh channels: the process exit drops them.
for (let i = 0; i < 5; i++) {
  const c = client();
  for (let j = 0; j < 5; j++) call(c);
}
setTimeout(() => {
  console.log(JSON.stringify(stats));
  Deno.exit(0);
}, 50 + rnd(200));
