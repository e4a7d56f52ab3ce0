// Tries what MCNS's sandbox must deny and prints one JSON line of outcomes:
// "denied" (NotCapable, or the import-permission error), "allowed", or
// another error's name.
const [otherDir, otherPort, ownDataDir, ownPort] = Deno.args;

async function attempt(fn: () => unknown | Promise<unknown>): Promise<string> {
  try {
    await fn();
    return "allowed";
  } catch (e) {
    if (e instanceof Deno.errors.NotCapable) return "denied";
    if (e instanceof TypeError && /^Requires import access to /.test(e.message)) return "denied";
    return (e as Error).name;
  }
}

function importRemote(url: string): Promise<unknown> {
  return import(url);
}

const results = {
  readOtherDir: await attempt(() => Deno.readDir(otherDir)[Symbol.asyncIterator]().next()),
  writeOtherDir: await attempt(() => Deno.writeTextFile(`${otherDir}/x`, "x")),
  readEtc: await attempt(() => Deno.readTextFile("/etc/passwd")),
  listenOtherPort: await attempt(() =>
    Deno.listen({ hostname: "0.0.0.0", port: Number(otherPort) }).close()
  ),
  listenUdpOtherPort: await attempt(() =>
    Deno.listenDatagram({ hostname: "0.0.0.0", port: Number(otherPort), transport: "udp" }).close()
  ),
  sendUdpOtherHost: await attempt(async () => {
    const s = Deno.listenDatagram({ hostname: "127.0.0.1", port: Number(ownPort), transport: "udp" });
    try {
      await s.send(new Uint8Array(1), { transport: "udp", hostname: "192.0.2.1", port: 53 });
    } finally {
      s.close();
    }
  }),
  connectOtherHost: await attempt(async () =>
    (await Deno.connect({ hostname: "192.0.2.1", port: Number(otherPort) })).close()
  ),
  envHome: await attempt(() => Deno.env.get("HOME")),
  envAll: await attempt(() => Deno.env.toObject()),
  run: await attempt(() => new Deno.Command("true").outputSync()),
  ffi: await attempt(() => Deno.dlopen("libc.so.6", {})),
  sys: await attempt(() => Deno.hostname()),
  importDenoLand: await attempt(() => importRemote("https://deno.land/std/version.ts")),
  importEsmSh: await attempt(() => importRemote("https://esm.sh/left-pad")),
  importJsdelivr: await attempt(() => importRemote("https://cdn.jsdelivr.net/npm/left-pad/+esm")),
  listenUdpOwnPort: await attempt(() =>
    Deno.listenDatagram({ hostname: "127.0.0.1", port: Number(ownPort), transport: "udp" }).close()
  ),
  writeOwnDataDir: await attempt(() => Deno.writeTextFile(`${ownDataDir}/probe.txt`, "ok")),
};
console.log(JSON.stringify(results));
