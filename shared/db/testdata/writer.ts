// Test helper: a second process writing to a WAL database until its stdin
// closes. Prints "ready" after its first commit and, at exit, the number of
// rows it committed. Usage: deno run --allow-read=DIR --allow-write=DIR writer.ts DB
import { DatabaseSync } from "node:sqlite";

const MAX_ROWS = 2_000_000;
const MAX_MS = 60_000;

const db = new DatabaseSync(Deno.args[0]);
db.exec("PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL");
db.exec("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, pad TEXT)");
const insert = db.prepare("INSERT INTO t (pad) VALUES (?)");

let stop = false;
(async () => {
  // Drain stdin; its end is the signal to stop.
  for await (const _ of Deno.stdin.readable) { /* ignore */ }
  stop = true;
})();

const started = Date.now();
let rows = 0;
const out = Deno.stdout;
while (!stop && rows < MAX_ROWS && Date.now() - started < MAX_MS) {
  // Batches of 50 single-row commits, then a turn of the event loop so the
  // stdin reader can notice the end of input.
  for (let i = 0; i < 50; i++) {
    insert.run("w".repeat(100));
    rows++;
  }
  if (rows === 50) await out.write(new TextEncoder().encode("ready\n"));
  await new Promise((resolve) => setTimeout(resolve, 0));
}
db.close();
await out.write(new TextEncoder().encode(`rows ${rows}\n`));
