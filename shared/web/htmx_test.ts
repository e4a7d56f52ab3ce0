import assert from "node:assert/strict";
import { Hono } from "hono";
import { HTMX_PATH, HTMX_SRC, HTMX_VERSION, mountHtmx } from "./htmx.ts";

/** The file as the npm package ships it, read from Deno's npm cache. */
async function packageBytes(): Promise<Uint8Array> {
  return await Deno.readFile(new URL(import.meta.resolve("htmx.org/dist/htmx.min.js")));
}

function makeApp() {
  const app = new Hono();
  mountHtmx(app);
  return app;
}

Deno.test("mountHtmx() serves the exact bytes of the npm package's htmx.min.js", async () => {
  const expected = await packageBytes();
  const app = makeApp();
  for (let i = 0; i < 2; i++) {
    const res = await app.request(HTMX_SRC);
    assert.equal(res.status, 200);
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), expected);
  }
});

Deno.test("mountHtmx() serves htmx as JavaScript with a year-long immutable cache and an ETag", async () => {
  const res = await makeApp().request(HTMX_PATH);
  assert.equal(res.headers.get("content-type"), "text/javascript; charset=utf-8");
  assert.equal(res.headers.get("cache-control"), "public, max-age=31536000, immutable");
  assert.equal(res.headers.get("etag"), `"htmx-${HTMX_VERSION}"`);
  await res.body?.cancel();
});

Deno.test("mountHtmx() answers 304 to a matching If-None-Match", async () => {
  const res = await makeApp().request(HTMX_PATH, {
    headers: { "If-None-Match": `"htmx-${HTMX_VERSION}"` },
  });
  assert.equal(res.status, 304);
  assert.equal(await res.text(), "");
});

Deno.test("HTMX_VERSION and HTMX_SRC name the pinned package version", async () => {
  const pkg = JSON.parse(
    await Deno.readTextFile(new URL(import.meta.resolve("htmx.org/package.json"))),
  );
  assert.equal(HTMX_VERSION, pkg.version);
  assert.equal(HTMX_SRC, `/static/htmx.min.js?v=${pkg.version}`);
});

Deno.test("htmx.ts loads in a sandbox with no read permission", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `import { htmxHandler } from ${JSON.stringify(import.meta.resolve("./htmx.ts"))};\n` +
        `import { Hono } from "hono";\n` +
        `const app = new Hono();\n` +
        `app.get("/", htmxHandler());\n` +
        `const res = await app.request("/");\n` +
        `console.log((await res.arrayBuffer()).byteLength);\n`,
    );
    const config = new URL(import.meta.resolve("../../deno.json")).pathname;
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-lock", "--config", config, script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.equal(
      new TextDecoder().decode(stdout).trim(),
      String((await packageBytes()).byteLength),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
