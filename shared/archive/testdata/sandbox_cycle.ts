// Test helper: a full snapshot/restore cycle, meant to run under
//   deno run --allow-read=DATA,OUT --allow-write=DATA,OUT sandbox_cycle.ts DATA OUT
// and nothing else, to prove the modules need no other permission.
// Prints one JSON line describing what it did.
import { migrate, openDatabase, transaction } from "../../db/mod.ts";
import { restore, snapshot } from "../mod.ts";

const [dataDir, outDir] = Deno.args;
const db = openDatabase(`${dataDir}/svc.db`);
migrate(db, [{ version: 1, name: "create_t", up: "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)" }]);
transaction(db, () => {
  const insert = db.prepare("INSERT INTO t (v) VALUES (?)");
  for (let i = 0; i < 250; i++) insert.run(`row ${i}`);
});
await Deno.mkdir(`${dataDir}/certs`, { recursive: true });
await Deno.writeTextFile(`${dataDir}/certs/cert.pem`, "-----BEGIN CERTIFICATE-----\n");
await Deno.writeTextFile(`${dataDir}/svc.toml`, "[server]\n");

// Defaults: the database copy in dataDir, the archive in dataDir/backups.
const inPlace = await snapshot({ dataDir, service: "svc", database: db });
// Explicit: archive and temporary copy in another granted directory.
const elsewhere = await snapshot({
  dataDir,
  service: "svc",
  database: `${dataDir}/svc.db`,
  output: `${outDir}/svc.tar.zst`,
  tempDir: outDir,
});
db.close();

const first = await restore({ archive: inPlace.path, dest: `${outDir}/restored-1` });
const file = await Deno.open(elsewhere.path);
const second = await restore({ archive: file.readable, dest: `${outDir}/restored-2` });

const rows: number[] = [];
for (const dir of [first.path, second.path]) {
  const copy = openDatabase(`${dir}/svc.db`);
  rows.push(Number(copy.prepare("SELECT count(*) AS n FROM t").get()!.n));
  copy.close();
}
console.log(JSON.stringify({
  archives: [inPlace.path, elsewhere.path],
  entries: [first.entries, second.entries],
  rows,
  cert: await Deno.readTextFile(`${second.path}/certs/cert.pem`),
  tmpWritable: Deno.permissions.querySync({ name: "write", path: "/tmp" }).state,
  envGranted: Deno.permissions.querySync({ name: "env" }).state,
}));
