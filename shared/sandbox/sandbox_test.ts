import assert from "node:assert/strict";
import {
  BlanketPermissionError,
  ManifestError,
  mergePermissionSets,
  normalizeNetValue,
  parseManifest,
  readAudit,
  resolveManifest,
  toFlags,
  undeclaredAccesses,
} from "./mod.ts";

Deno.test("toFlags() emits one scoped flag per kind in a fixed order and nothing for empty kinds", () => {
  assert.deepEqual(
    toFlags({
      env: ["PORT", "MCIAS_*"],
      net: ["127.0.0.1:8443"],
      read: ["/srv/mcias"],
      write: [],
      unstable: ["net"],
    }),
    [
      "--allow-read=/srv/mcias",
      "--allow-net=127.0.0.1:8443",
      "--allow-env=PORT,MCIAS_*",
      "--unstable-net",
    ],
  );
  assert.deepEqual(toFlags({}), []);
});

Deno.test("toFlags() refuses blanket grants with a message naming the entry", () => {
  const cases: [Parameters<typeof toFlags>[0], string][] = [
    [{ read: ["/"] }, 'read permission "/": that is the whole file system'],
    [{ write: ["*"] }, 'write permission "*"'],
    [{ net: ["0.0.0.0"] }, 'net permission "0.0.0.0": that is every host'],
    [{ env: ["*"] }, 'env permission "*"'],
    [{ env: ["A-B"] }, "not a variable name"],
    [{ run: ["*"] }, "every program"],
    [{ read: [""] }, "empty"],
    [{ read: ["/a,/b"] }, "comma"],
    [{ sys: ["everything"] }, "not a Deno sys permission name"],
    [{ unstable: ["ffi"] }, "not a known unstable feature"],
  ];
  for (const [set, text] of cases) {
    assert.throws(
      () => toFlags(set),
      (e: Error) => e instanceof BlanketPermissionError && e.message.includes(text),
      JSON.stringify(set),
    );
  }
});

Deno.test("toFlags() refuses paths that are relative or not normalised, and programs equal to -A", () => {
  const cases: [Parameters<typeof toFlags>[0], string][] = [
    [{ write: ["/srv/.."] }, 'write permission "/srv/..": not an absolute, normalised path'],
    [{ read: ["/x/.."] }, "not an absolute, normalised path"],
    [{ read: ["//"] }, "not an absolute, normalised path"],
    [{ read: ["/."] }, "not an absolute, normalised path"],
    [{ read: ["."] }, "not an absolute, normalised path"],
    [{ read: ["data/x.db"] }, "not an absolute, normalised path"],
    [{ write: ["/srv/x/"] }, "not an absolute, normalised path"],
    [{ read: ["/srv/./x"] }, "not an absolute, normalised path"],
    [{ run: ["deno"] }, 'run permission "deno": running it grants every permission'],
    [{ run: ["/usr/local/bin/deno"] }, "grants every permission"],
    [{ run: ["sh"] }, "grants every permission"],
    [{ run: ["/bin/bash"] }, "grants every permission"],
    [{ run: ["env"] }, "grants every permission"],
    [{ run: ["sudo"] }, "grants every permission"],
  ];
  for (const [set, text] of cases) {
    assert.throws(
      () => toFlags(set),
      (e: Error) => e instanceof BlanketPermissionError && e.message.includes(text),
      JSON.stringify(set),
    );
  }
  assert.deepEqual(toFlags({ read: ["/srv/x"], run: ["/usr/bin/tar"] }), [
    "--allow-read=/srv/x",
    "--allow-run=/usr/bin/tar",
  ]);
});

Deno.test("mergePermissionSets() unions entries without duplicates", () => {
  assert.deepEqual(
    mergePermissionSets({ read: ["/a"], net: ["h:1"] }, { read: ["/a", "/b"] }, {}),
    { read: ["/a", "/b"], net: ["h:1"] },
  );
});

Deno.test("normalizeNetValue() handles listen addresses, URLs and unix sockets", () => {
  assert.deepEqual(normalizeNetValue(":8443"), { net: "0.0.0.0:8443" });
  assert.deepEqual(normalizeNetValue("127.0.0.1:9443"), { net: "127.0.0.1:9443" });
  assert.deepEqual(normalizeNetValue("[::1]:53"), { net: "[::1]:53" });
  assert.deepEqual(normalizeNetValue("https://mcias.example:8443/"), {
    net: "mcias.example:8443",
  });
  assert.deepEqual(normalizeNetValue("https://mcias.example"), { net: "mcias.example:443" });
  assert.deepEqual(normalizeNetValue("unix:///srv/p/admin.sock"), { socket: "/srv/p/admin.sock" });
});

Deno.test("resolveManifest() merges default and subcommand sets and drops empty placeholders", () => {
  const manifest = parseManifest({
    default: { read: ["${config}"], env: ["${config_env}"] },
    server: { net: ["${server.listen_addr}", "${server.grpc_addr}"], write: ["${data_dir}"] },
    restore: { read: ["${flag:from}"] },
  }, "test");
  const values: Record<string, string | string[]> = {
    config: "/srv/x/x.toml",
    config_env: ["PORT", "PORT_GRPC", "X_*"],
    "server.listen_addr": "127.0.0.1:8443",
    "server.grpc_addr": "",
    data_dir: "/srv/x",
    "flag:from": "/tmp/x.tar.zst",
  };
  assert.deepEqual(resolveManifest(manifest, "server", (n) => values[n]), {
    read: ["/srv/x/x.toml"],
    env: ["PORT", "PORT_GRPC", "X_*"],
    net: ["127.0.0.1:8443"],
    write: ["/srv/x"],
  });
  assert.deepEqual(resolveManifest(manifest, "restore", (n) => values[n]), {
    read: ["/srv/x/x.toml", "/tmp/x.tar.zst"],
    env: ["PORT", "PORT_GRPC", "X_*"],
  });
});

Deno.test("resolveManifest() and parseManifest() reject unknown placeholders and kinds", () => {
  assert.throws(
    () => resolveManifest({ default: { read: ["${nope}"] } }, "server", () => undefined),
    (e: Error) => e instanceof ManifestError && e.message.includes('named "nope"'),
  );
  assert.throws(
    () => resolveManifest({ default: { read: ["${a}/b"] } }, "server", () => "x"),
    /placeholder must be the whole entry/,
  );
  assert.throws(
    () => parseManifest({ server: { all: ["x"] } }, "svc/deno.json"),
    (e: Error) => e instanceof ManifestError && e.message.includes('"sandbox.server.all"'),
  );
  assert.throws(() => parseManifest([], "svc/deno.json"), /must be an object/);
});

Deno.test("readAudit() and undeclaredAccesses() report what a run touched beyond its set", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const audit = `${dir}/audit.jsonl`;
    const script = `${dir}/probe.ts`;
    await Deno.writeTextFile(
      script,
      `Deno.readTextFileSync(${JSON.stringify(script)});
       try { Deno.readTextFileSync("/etc/hostname"); } catch { /* denied */ }
       Deno.env.get("PROBE_LEVEL");
       const l = Deno.listen({ hostname: "127.0.0.1", port: 0 }); l.close();`,
    );
    const flags = [`--allow-read=${dir}`, "--allow-env=PROBE_*", "--allow-net=127.0.0.1"];
    const { code, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", ...flags, script],
      env: { DENO_AUDIT_PERMISSIONS: audit },
      stdout: "null",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    const entries = await readAudit(audit);
    assert.ok(entries.some((e) => e.permission === "env" && e.value === "PROBE_LEVEL"));
    assert.deepEqual(
      undeclaredAccesses(entries, { read: [dir], env: ["PROBE_*"], net: ["127.0.0.1"] }),
      [{ permission: "read", value: "/etc/hostname" }],
    );
    assert.deepEqual(
      undeclaredAccesses(entries, { read: [dir, "/etc/hostname"], env: ["PROBE_*"] })
        .map((e) => e.permission),
      ["net"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("undeclaredAccesses() treats unix sockets as read and write of their path", () => {
  const entries = [{ permission: "net", value: "unix:/srv/p/admin.sock" }];
  assert.deepEqual(undeclaredAccesses(entries, { read: ["/srv/p"], write: ["/srv/p"] }), []);
  assert.equal(undeclaredAccesses(entries, { read: ["/srv/p"] }).length, 1);
});

Deno.test("resolveManifest() grants a unix socket as read, write and unix: net, from a URL or a bare path", () => {
  const manifest = parseManifest({
    server: { net: ["${server.grpc_addr}", "unix:${admin.socket}"] },
  }, "test");
  const values: Record<string, string> = {
    "server.grpc_addr": "unix:///srv/x/grpc.sock",
    "admin.socket": "/srv/x/admin.sock",
  };
  assert.deepEqual(resolveManifest(manifest, "server", (name) => values[name]), {
    read: ["/srv/x/grpc.sock", "/srv/x/admin.sock"],
    write: ["/srv/x/grpc.sock", "/srv/x/admin.sock"],
    net: ["unix:/srv/x/grpc.sock", "unix:/srv/x/admin.sock"],
  });
  assert.throws(
    () => resolveManifest({ server: { net: ["unix:${nope}"] } }, "server", () => undefined),
    /no config key or launcher value named "nope"/,
  );
});
