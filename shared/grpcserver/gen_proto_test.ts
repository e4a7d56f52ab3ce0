import assert from "node:assert/strict";
import { generateProto } from "./gen_proto.ts";

const HERE = new URL(".", import.meta.url).pathname;

async function files(dir: string, prefix = ""): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for await (const e of Deno.readDir(dir)) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory) {
      for (const [k, v] of await files(`${dir}/${e.name}`, `${rel}/`)) out.set(k, v);
    } else {
      out.set(rel, await Deno.readTextFile(`${dir}/${e.name}`));
    }
  }
  return out;
}

async function assertFresh(committed: string, includeDir: string, protos: string[]) {
  const dir = await Deno.makeTempDir();
  try {
    await generateProto({ protos, outDir: dir, includeDirs: [includeDir] });
    const want = await files(dir);
    const have = await files(committed);
    assert.deepEqual([...have.keys()].sort(), [...want.keys()].sort());
    for (const [name, text] of want) {
      assert.equal(have.get(name), text, `${committed}/${name} is stale: regenerate it`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("generateProto() output matches the committed testdata/gen", async () => {
  await assertFresh(`${HERE}testdata/gen`, `${HERE}testdata`, ["echo.proto"]);
});

Deno.test("generateProto() output matches the committed _builtin", async () => {
  await assertFresh(`${HERE}_builtin`, `${HERE}proto`, [
    "grpc/health/v1/health.proto",
    "grpc/reflection/v1/reflection.proto",
    "grpc/reflection/v1alpha/reflection.proto",
  ]);
});

Deno.test("generateProto() throws RangeError without protos", async () => {
  await assert.rejects(generateProto({ protos: [], outDir: "/nonexistent" }), {
    name: "RangeError",
    message: "Cannot generate proto code: no .proto files given",
  });
});
