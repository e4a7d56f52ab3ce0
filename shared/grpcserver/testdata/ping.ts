// One Ping from its own process: exits 0 when it succeeds, 1 otherwise.
// deno run --allow-read --allow-write --allow-net --allow-env --allow-run --allow-sys ping.ts --target T [--ca CA.pem]
import { parseArgs } from "node:util";
import { createGrpcClient } from "../client.ts";
import { Echo } from "./echo_service.ts";
import type { EchoClient } from "./gen/mcdsl/test/v1/Echo.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { target: { type: "string" }, ca: { type: "string" } },
});
const client = createGrpcClient(Echo, {
  target: values.target!,
  tls: values.ca ? { ca: Deno.readTextFileSync(values.ca) } : undefined,
}) as unknown as EchoClient;
const ok = await new Promise<boolean>((resolve) =>
  client.Ping({ message: "ping" }, { deadline: Date.now() + 5000 }, (e, r) => {
    if (e) console.error(e.message);
    resolve(e === null && r?.message === "ping");
  })
);
client.close();
Deno.exit(ok ? 0 : 1);
