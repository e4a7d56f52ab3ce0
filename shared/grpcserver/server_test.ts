import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import { createDevPki, type DevPki } from "../tls/mod.ts";
import { createLogger } from "../log/mod.ts";
import { AccessMapError, createGrpcClient, createGrpcServer, type GrpcListener } from "./mod.ts";
import { builtinProto } from "./_builtin_proto.ts";
import { Echo, ECHO_ACCESS, echoService, FakeValidator } from "./testdata/echo_service.ts";
import type { EchoClient } from "./testdata/gen/mcdsl/test/v1/Echo.ts";
import type { EchoResponse__Output } from "./testdata/gen/mcdsl/test/v1/EchoResponse.ts";

const pki: DevPki = await createDevPki({ hosts: ["localhost", "127.0.0.1"] });

interface Harness {
  listener: GrpcListener;
  lines: Record<string, unknown>[];
  validator: FakeValidator;
  client(token?: string): EchoClient;
  close(): Promise<void>;
}

async function serve(addr = "127.0.0.1:0"): Promise<Harness> {
  const lines: Record<string, unknown>[] = [];
  const validator = new FakeValidator();
  const server = createGrpcServer({
    services: [echoService],
    access: ECHO_ACCESS,
    validator,
    logger: createLogger({ level: "debug", write: (l) => lines.push(JSON.parse(l)) }),
  });
  const unix = addr.startsWith("unix:");
  const listener = await server.listen({ addr, tls: unix ? undefined : pki.server });
  const clients: grpc.Client[] = [];
  return {
    listener,
    lines,
    validator,
    client(token?: string) {
      const c = createGrpcClient(Echo, {
        target: unix ? addr : `localhost:${listener.port}`,
        tls: unix ? undefined : { ca: pki.ca.cert },
        token,
      });
      clients.push(c);
      return c as unknown as EchoClient;
    },
    async close() {
      for (const c of clients) c.close();
      await listener.shutdown(2000);
    },
  };
}

type Unary = (
  req: { message: string },
  cb: (e: grpc.ServiceError | null, r?: EchoResponse__Output) => void,
) => void;

function unary(
  client: EchoClient,
  method: "Ping" | "Whoami" | "Admin",
): Promise<EchoResponse__Output> {
  return new Promise((resolve, reject) =>
    (client[method] as unknown as Unary).call(
      client,
      { message: "hi" },
      (e, r) => e ? reject(e) : resolve(r!),
    )
  );
}

async function rejectsWith(p: Promise<unknown>, code: grpc.status, details: string) {
  await assert.rejects(p, (e: grpc.ServiceError) => {
    assert.equal(e.code, code, `status ${grpc.status[e.code]}: ${e.details}`);
    assert.equal(e.details, details);
    return true;
  });
}

Deno.test("createGrpcServer() throws AccessMapError listing undeclared and stale methods", () => {
  const access = { ...ECHO_ACCESS, "/mcdsl.test.v1.Echo/Gone": "admin" as const };
  delete (access as Record<string, unknown>)["/mcdsl.test.v1.Echo/Admin"];
  delete (access as Record<string, unknown>)["/mcdsl.test.v1.Echo/Chat"];
  assert.throws(
    () => createGrpcServer({ services: [echoService], access, validator: new FakeValidator() }),
    (e: AccessMapError) => {
      assert.ok(e instanceof AccessMapError);
      assert.deepEqual(e.undeclared, ["/mcdsl.test.v1.Echo/Admin", "/mcdsl.test.v1.Echo/Chat"]);
      assert.deepEqual(e.stale, ["/mcdsl.test.v1.Echo/Gone"]);
      assert.equal(
        e.message,
        'Cannot start gRPC server: the access map does not match the services: undeclared methods "/mcdsl.test.v1.Echo/Admin", "/mcdsl.test.v1.Echo/Chat" (declare each as "public", "authenticated", "admin"); stale entries "/mcdsl.test.v1.Echo/Gone" (no registered service has them: remove them)',
      );
      return true;
    },
  );
});

Deno.test("createGrpcServer() refuses invalid levels and entries for built-in services", () => {
  const access = {
    ...ECHO_ACCESS,
    "/mcdsl.test.v1.Echo/Ping": "root",
    "/grpc.health.v1.Health/Check": "admin",
  } as unknown as Record<string, "public">;
  assert.throws(
    () => createGrpcServer({ services: [echoService], access, validator: new FakeValidator() }),
    (e: AccessMapError) => {
      assert.deepEqual(e.invalid, ["/mcdsl.test.v1.Echo/Ping"]);
      assert.deepEqual(e.reserved, ["/grpc.health.v1.Health/Check"]);
      assert.match(e.message, /invalid levels for "\/mcdsl.test.v1.Echo\/Ping"/);
      assert.match(
        e.message,
        /built-in services "\/grpc.health.v1.Health\/Check" \(declared public/,
      );
      return true;
    },
  );
});

Deno.test("createGrpcServer() throws TypeError when protected methods have no validator", () => {
  assert.throws(
    () => createGrpcServer({ services: [echoService], access: ECHO_ACCESS }),
    {
      name: "TypeError",
      message:
        'Cannot create gRPC server: methods "/mcdsl.test.v1.Echo/Whoami", "/mcdsl.test.v1.Echo/Admin", "/mcdsl.test.v1.Echo/Watch", "/mcdsl.test.v1.Echo/Collect" need a token validator; pass options.validator',
    },
  );
});

Deno.test("GrpcServer.access lists every method with built-ins as public", () => {
  const server = createGrpcServer({
    services: [echoService],
    access: ECHO_ACCESS,
    validator: new FakeValidator(),
  });
  assert.equal(server.access.get("/mcdsl.test.v1.Echo/Admin"), "admin");
  assert.equal(server.access.get("/grpc.health.v1.Health/Check"), "public");
  assert.equal(
    server.access.get("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
    "public",
  );
  assert.equal(server.access.size, 6 + 3 + 2);
});

Deno.test("GrpcServer.listen() enforces the access map with bearer tokens over TLS", async () => {
  const h = await serve();
  try {
    assert.deepEqual(await unary(h.client(), "Ping"), { message: "hi", caller: "" });
    await rejectsWith(
      unary(h.client(), "Whoami"),
      grpc.status.UNAUTHENTICATED,
      'missing bearer token: send "authorization: Bearer <token>" metadata',
    );
    await rejectsWith(
      unary(h.client("expired-token"), "Whoami"),
      grpc.status.UNAUTHENTICATED,
      "invalid or expired token",
    );
    assert.deepEqual(await unary(h.client("user-token"), "Whoami"), {
      message: "hi",
      caller: "bob",
    });
    await rejectsWith(
      unary(h.client("user-token"), "Admin"),
      grpc.status.PERMISSION_DENIED,
      "method requires the admin role",
    );
    assert.deepEqual(await unary(h.client("admin-token"), "Admin"), {
      message: "hi",
      caller: "alice",
    });
    await rejectsWith(
      unary(h.client("broken-token"), "Whoami"),
      grpc.status.UNAVAILABLE,
      "token validation is unavailable",
    );
    // Public methods never consult the validator.
    assert.equal(h.validator.calls.includes("admin-token"), true);
    const before = h.validator.calls.length;
    await unary(h.client("user-token"), "Ping");
    assert.equal(h.validator.calls.length, before);
  } finally {
    await h.close();
  }
});

Deno.test("GrpcServer.listen() rejects a malformed authorization entry", async () => {
  const h = await serve();
  try {
    const client = h.client();
    const md = new grpc.Metadata();
    md.set("authorization", "Basic dXNlcjpwYXNz");
    await rejectsWith(
      new Promise((resolve, reject) =>
        client.Whoami({ message: "x" }, md, (e, r) => e ? reject(e) : resolve(r))
      ),
      grpc.status.UNAUTHENTICATED,
      'authorization metadata must be one "Bearer <token>" entry',
    );
  } finally {
    await h.close();
  }
});

Deno.test("GrpcServer.listen() checks streaming calls before their messages", async () => {
  const h = await serve();
  try {
    const denied = h.client().Watch({ message: "w", count: 3, intervalMs: 1 });
    await rejectsWith(
      new Promise((resolve, reject) => {
        denied.on("data", () => reject(new Error("data on a denied call")));
        denied.on("error", reject);
        denied.on("end", resolve);
      }),
      grpc.status.UNAUTHENTICATED,
      'missing bearer token: send "authorization: Bearer <token>" metadata',
    );

    const got: string[] = [];
    const watch = h.client("user-token").Watch({ message: "w", count: 3, intervalMs: 1 });
    await new Promise<void>((resolve, reject) => {
      watch.on("data", (m: EchoResponse__Output) => got.push(m.message));
      watch.on("error", reject);
      watch.on("end", resolve);
    });
    assert.deepEqual(got, ["w0", "w1", "w2"]);

    const collected = await new Promise<EchoResponse__Output>((resolve, reject) => {
      const call = h.client("user-token").Collect((e, r) => e ? reject(e) : resolve(r!));
      call.write({ message: "a" });
      call.write({ message: "b" });
      call.end();
    });
    assert.deepEqual(collected, { message: "a,b", caller: "bob" });

    const echoed = await new Promise<string[]>((resolve, reject) => {
      const out: string[] = [];
      const chat = h.client().Chat();
      chat.on("data", (m: EchoResponse__Output) => out.push(m.message));
      chat.on("error", reject);
      chat.on("end", () => resolve(out));
      chat.write({ message: "x" });
      chat.write({ message: "y" });
      chat.end();
    });
    assert.deepEqual(echoed, ["x", "y"]);
  } finally {
    await h.close();
  }
});

Deno.test("GrpcServer.listen() logs each call without metadata values", async () => {
  const h = await serve();
  try {
    await unary(h.client("user-token"), "Whoami");
    await unary(h.client("user-token"), "Admin").catch(() => {});
  } finally {
    await h.close();
  }
  const calls = h.lines.filter((l) => l.msg === "grpc call");
  assert.equal(calls.length, 2);
  assert.equal(calls[0].method, "/mcdsl.test.v1.Echo/Whoami");
  assert.equal(calls[0].status, "OK");
  assert.equal(calls[0].user, "bob");
  assert.equal(typeof calls[0].duration_ms, "number");
  assert.match(String(calls[0].peer), /^127\.0\.0\.1:\d+$/);
  assert.equal(calls[1].status, "PERMISSION_DENIED");
  assert.equal(calls[1].details, "method requires the admin role");
  assert.doesNotMatch(JSON.stringify(h.lines), /user-token/);
});

Deno.test("GrpcServer health reports SERVING while listening", async () => {
  const h = await serve();
  const { Health } = builtinProto().grpc.grpc.health.v1 as unknown as {
    Health: grpc.ServiceClientConstructor;
  };
  const health = createGrpcClient(Health, {
    target: `localhost:${h.listener.port}`,
    tls: { ca: pki.ca.cert },
  });
  const check = (service: string) =>
    new Promise<unknown>((resolve, reject) =>
      health.Check(
        { service },
        (e: grpc.ServiceError | null, r: unknown) => e ? reject(e) : resolve(r),
      )
    );
  try {
    assert.deepEqual(await check(""), { status: "SERVING" });
    assert.deepEqual(await check("mcdsl.test.v1.Echo"), { status: "SERVING" });
    await rejectsWith(
      check("nope.v1.Nope"),
      grpc.status.NOT_FOUND,
      'unknown service "nope.v1.Nope"',
    );
    const listed = await new Promise<unknown>((resolve, reject) =>
      health.List({}, (e: grpc.ServiceError | null, r: unknown) => e ? reject(e) : resolve(r))
    );
    assert.deepEqual(listed, {
      statuses: { "": { status: "SERVING" }, "mcdsl.test.v1.Echo": { status: "SERVING" } },
    });
  } finally {
    health.close();
    await h.close();
  }
});

Deno.test("GrpcServer health Watch sees NOT_SERVING at shutdown", async () => {
  const h = await serve();
  const { Health } = builtinProto().grpc.grpc.health.v1 as unknown as {
    Health: grpc.ServiceClientConstructor;
  };
  const health = createGrpcClient(Health, {
    target: `localhost:${h.listener.port}`,
    tls: { ca: pki.ca.cert },
  });
  const seen: string[] = [];
  const watch = health.Watch({ service: "" });
  const ended = new Promise<void>((resolve) => {
    watch.on("data", (r: { status: string }) => {
      seen.push(r.status);
      if (seen.length === 1) h.listener.shutdown(2000);
    });
    watch.on("error", () => resolve());
    watch.on("end", () => resolve());
  });
  await ended;
  health.close();
  await h.listener.shutdown(2000);
  assert.deepEqual(seen, ["SERVING", "NOT_SERVING"]);
});

Deno.test("GrpcServer reflection lists the services", async () => {
  const h = await serve();
  const { ServerReflection } = builtinProto().grpc.grpc.reflection.v1 as unknown as {
    ServerReflection: grpc.ServiceClientConstructor;
  };
  const reflection = createGrpcClient(ServerReflection, {
    target: `localhost:${h.listener.port}`,
    tls: { ca: pki.ca.cert },
  });
  try {
    const responses = await new Promise<Record<string, unknown>[]>((resolve, reject) => {
      const out: Record<string, unknown>[] = [];
      const call = reflection.ServerReflectionInfo();
      call.on("data", (r: Record<string, unknown>) => out.push(r));
      call.on("error", reject);
      call.on("end", () => resolve(out));
      call.write({ listServices: "" });
      call.write({ fileContainingSymbol: "mcdsl.test.v1.Echo" });
      call.end();
    });
    const names = (responses[0].listServicesResponse as { service: { name: string }[] }).service
      .map((s) => s.name).sort();
    assert.deepEqual(names, [
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection",
      "mcdsl.test.v1.Echo",
    ]);
    const files = (responses[1].fileDescriptorResponse as { fileDescriptorProto: unknown[] })
      .fileDescriptorProto;
    assert.equal(files.length, 1);
  } finally {
    reflection.close();
    await h.close();
  }
});

Deno.test("GrpcServer.listen() serves a unix socket with mode 0600 and removes it at shutdown", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/admin.sock`;
  try {
    const h = await serve(`unix://${path}`);
    try {
      assert.equal(h.listener.addr, `unix://${path}`);
      assert.equal(h.listener.port, undefined);
      assert.equal((await Deno.stat(path)).mode! & 0o777, 0o600);
      assert.deepEqual(await unary(h.client("admin-token"), "Admin"), {
        message: "hi",
        caller: "alice",
      });
      await assert.rejects(serve(`unix://${path}`), {
        name: "AddrInUse",
        message:
          `Cannot listen on "unix://${path}": another process is serving on it; stop it or choose another path`,
      });
    } finally {
      await h.close();
    }
    await assert.rejects(Deno.stat(path), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GrpcServer.listen() replaces a stale unix socket left by a dead process", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/admin.sock`;
  try {
    // A socket file nobody listens on, as a killed server leaves behind.
    const holder = new Deno.Command(Deno.execPath(), {
      args: [
        "eval",
        `const l = Deno.listen({ transport: "unix", path: ${
          JSON.stringify(path)
        } }); console.log("up"); await l.accept();`,
      ],
      stdout: "piped",
    }).spawn();
    const reader = holder.stdout.getReader();
    await reader.read();
    holder.kill("SIGKILL");
    await holder.status;
    await reader.cancel();
    assert.equal((await Deno.lstat(path)).isSocket, true);
    const h = await serve(`unix://${path}`);
    try {
      assert.deepEqual(await unary(h.client(), "Ping"), { message: "hi", caller: "" });
    } finally {
      await h.close();
    }
    await Deno.writeTextFile(path, "not a socket");
    await assert.rejects(serve(`unix://${path}`), {
      name: "AlreadyExists",
      message:
        `Cannot listen on "unix://${path}": the path exists and is not a socket; remove it or choose another path`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("GrpcServer.listen() refuses plaintext TCP, TLS on unix sockets and bad addresses", async () => {
  const server = () =>
    createGrpcServer({
      services: [echoService],
      access: ECHO_ACCESS,
      validator: new FakeValidator(),
    });
  await assert.rejects(server().listen({ addr: "127.0.0.1:0" }), {
    name: "TypeError",
    message:
      'Cannot listen on "127.0.0.1:0": TCP needs tls ({ cert, key }); use unix:///path for a local plaintext socket',
  });
  await assert.rejects(server().listen({ addr: "unix:///tmp/x.sock", tls: pki.server }), {
    name: "TypeError",
    message:
      'Cannot listen on "unix:///tmp/x.sock": unix sockets are plaintext, drop the tls option',
  });
  await assert.rejects(server().listen({ addr: "unix://relative.sock" }), {
    name: "RangeError",
    message:
      'Cannot listen on "unix://relative.sock": a unix socket address must be unix:///absolute/path',
  });
  await assert.rejects(server().listen({ addr: "localhost:99999", tls: pki.server }), {
    name: "RangeError",
    message:
      'Cannot listen on "localhost:99999": expected host:port (port 0-65535), :port or unix:///path',
  });
});

Deno.test("GrpcListener.shutdown() cancels calls still running after the grace period", async () => {
  const h = await serve();
  const watch = h.client("user-token").Watch({ message: "w", count: 100_000, intervalMs: 5 });
  const status = new Promise<grpc.status>((resolve) => {
    watch.on("data", () => {});
    watch.on("error", (e: grpc.ServiceError) => resolve(e.code));
    watch.on("end", () => resolve(grpc.status.OK));
  });
  await new Promise((r) => watch.once("data", r));
  const started = performance.now();
  await h.close();
  assert.ok(performance.now() - started >= 1900, "waited for the grace period");
  assert.notEqual(await status, grpc.status.OK);
});
