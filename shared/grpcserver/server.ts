/**
 * The mcdsl gRPC server: grpc-js with an access map checked at start-up,
 * bearer-token enforcement, per-call logs, health and reflection, served over
 * TLS 1.3 or a unix socket.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { Access, TokenValidator } from "../auth/types.ts";
import { createLogger, type Logger } from "../log/mod.ts";
import { HealthService, type ServingStatus } from "./_health.ts";
import { reflectionServices } from "./_reflection.ts";
import { type AccessMap, checkAccessMap } from "./access_map.ts";
import { createAccessInterceptor } from "./access_interceptor.ts";
import { serverCredentials, type ServerTlsOptions } from "./credentials.ts";
import { installHttp2Fix } from "./http2_fix.ts";

/** One service to serve: its definition and handlers. */
export interface GrpcService {
  /** The service definition, e.g. `proto.grpc.mcns.v1.RecordService.service`. */
  definition: grpc.ServiceDefinition;
  /** Handlers keyed by method name (the generated `<Service>Handlers` type). */
  implementation: grpc.UntypedServiceImplementation;
}

/** Options for {@linkcode createGrpcServer}. */
export interface GrpcServerOptions {
  /** The services to serve. */
  services: GrpcService[];
  /**
   * Access level of every method of every service, keyed by
   * `/pkg.v1.Service/Method`. Health and reflection are added as `public`.
   */
  access: AccessMap;
  /** Validates bearer tokens; required when any method is not `public`. */
  validator?: TokenValidator;
  /**
   * Receives one line per call and lifecycle events.
   * @default {createLogger()}
   */
  logger?: Logger;
  /**
   * Serve gRPC server reflection (v1 and v1alpha) for the services.
   * @default {true}
   */
  reflection?: boolean;
  /**
   * grpc-js server options (message sizes, keepalive); `interceptors` is
   * reserved for the access interceptor.
   * @default {{ "grpc.max_concurrent_streams": 100 }}
   */
  serverOptions?: Omit<grpc.ServerOptions, "interceptors">;
}

/** Options for {@linkcode GrpcServer.listen}. */
export interface GrpcListenOptions {
  /**
   * Where to listen: `host:port` (`:port` means every interface, port `0`
   * picks a free one) with `tls`, or `unix:///absolute/path.sock` without.
   */
  addr: string;
  /** Certificate and key; required for TCP, refused for unix sockets. */
  tls?: ServerTlsOptions;
  /**
   * Mode of the unix socket file. Put the socket in a directory only its
   * owner can enter: the mode is set right after binding.
   * @default {0o600}
   */
  socketMode?: number;
}

/** A server that is listening. */
export interface GrpcListener {
  /** The bound address: `127.0.0.1:43123`, `[::]:9443` or `unix:///path`. */
  readonly addr: string;
  /** The bound TCP port; `undefined` for a unix socket. */
  readonly port: number | undefined;
  /**
   * Stops accepting calls, reports NOT_SERVING, waits up to `graceMs` for
   * running calls and then cancels the rest. Removes the unix socket file.
   *
   * @param graceMs How long running calls may take to finish.
   */
  shutdown(graceMs?: number): Promise<void>;
  /** Same as `shutdown()` with the default grace. */
  [Symbol.asyncDispose](): Promise<void>;
}

const DEFAULT_SERVER_OPTIONS: grpc.ServerOptions = {
  "grpc.max_concurrent_streams": 100,
};

/** Built-in services' method paths, for the access map check. */
function methodPaths(definition: grpc.ServiceDefinition): string[] {
  return Object.values(definition).map((m) => m.path);
}

/** A gRPC server whose access map has been checked. */
export class GrpcServer {
  #server: grpc.Server;
  #health = new HealthService();
  #logger: Logger;
  #access: ReadonlyMap<string, Access>;
  #serviceNames: string[];
  #listening = false;

  /** Use {@linkcode createGrpcServer}. */
  constructor(options: GrpcServerOptions) {
    installHttp2Fix();
    const { services, access, validator, reflection = true, serverOptions = {} } = options;
    this.#logger = options.logger ?? createLogger();
    const builtins = [{
      definition: HealthService.definition,
      implementation: this.#health.implementation as grpc.UntypedServiceImplementation,
    }];
    if (reflection) {
      builtins.push(
        ...reflectionServices([
          ...services.map((s) => s.definition),
          HealthService.definition,
        ]),
      );
    }
    const registered = services.flatMap((s) => methodPaths(s.definition));
    const full = checkAccessMap(
      access,
      registered,
      builtins.flatMap((s) => methodPaths(s.definition)),
    );
    const protectedPaths = [...full].filter(([, level]) => level !== "public").map(([p]) => p);
    if (validator === undefined && protectedPaths.length > 0) {
      throw new TypeError(
        `Cannot create gRPC server: methods ${
          protectedPaths.map((p) => `"${p}"`).join(", ")
        } need a token validator; pass options.validator`,
      );
    }
    this.#access = full;
    this.#server = new grpc.Server({
      ...DEFAULT_SERVER_OPTIONS,
      ...serverOptions,
      interceptors: [createAccessInterceptor(full, validator, this.#logger)],
    });
    for (const s of [...services, ...builtins]) {
      this.#server.addService(s.definition, s.implementation);
    }
    this.#serviceNames = services.map((s) => serviceName(s.definition));
  }

  /** The effective access map, built-ins included, for audits and docs. */
  get access(): ReadonlyMap<string, Access> {
    return this.#access;
  }

  /**
   * Sets what health checks report for `service` (a full service name such
   * as `mcdsl.test.v1.Echo`, or `""` for the whole server).
   */
  setServingStatus(service: string, status: ServingStatus): void {
    this.#health.setStatus(service, status);
  }

  /**
   * Binds and starts serving; reports SERVING for the server and each service.
   *
   * @param options Address and TLS material.
   * @returns The listener, with its address and `shutdown()`.
   * @throws {TypeError} For TCP without `tls`, or `tls` on a unix socket.
   * @throws {RangeError} For an address that is neither `host:port` nor `unix:///absolute`.
   * @throws {Deno.errors.AddrInUse} When another process listens on the socket path.
   * @throws {Error} When binding fails; the cause is grpc-js's error.
   */
  async listen(options: GrpcListenOptions): Promise<GrpcListener> {
    if (this.#listening) throw new Error("Cannot listen: this gRPC server already listens");
    const { addr, tls, socketMode = 0o600 } = options;
    const unixPath = parseUnix(addr);
    let target: string;
    let credentials: grpc.ServerCredentials;
    if (unixPath !== undefined) {
      if (tls !== undefined) {
        throw new TypeError(
          `Cannot listen on "${addr}": unix sockets are plaintext, drop the tls option`,
        );
      }
      await removeStaleSocket(unixPath);
      target = `unix://${unixPath}`;
      credentials = grpc.ServerCredentials.createInsecure();
    } else {
      if (tls === undefined) {
        throw new TypeError(
          `Cannot listen on "${addr}": TCP needs tls ({ cert, key }); use unix:///path for a local plaintext socket`,
        );
      }
      target = parseHostPort(addr);
      credentials = serverCredentials(tls);
    }
    this.#listening = true;
    let port: number;
    try {
      port = await new Promise<number>((resolve, reject) => {
        this.#server.bindAsync(target, credentials, (err, p) => err ? reject(err) : resolve(p));
      });
    } catch (cause) {
      this.#listening = false;
      throw new Error(`Cannot listen on "${addr}": ${(cause as Error).message}`, { cause });
    }
    if (unixPath !== undefined) await Deno.chmod(unixPath, socketMode);
    this.#health.setStatus("", "SERVING");
    for (const name of this.#serviceNames) this.#health.setStatus(name, "SERVING");
    const bound = unixPath !== undefined ? target : target.replace(/:0$/, `:${port}`);
    this.#logger.info("grpc listening", {
      addr: bound,
      tls: unixPath === undefined,
      services: this.#serviceNames,
    });
    const shutdown = (graceMs = 10_000) => this.#shutdown(graceMs, unixPath);
    return {
      addr: bound,
      port: unixPath === undefined ? port : undefined,
      shutdown,
      [Symbol.asyncDispose]: () => shutdown(),
    };
  }

  async #shutdown(graceMs: number, unixPath: string | undefined): Promise<void> {
    this.#health.setAll("NOT_SERVING");
    this.#health.endWatches();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#logger.warn("grpc shutdown grace expired, cancelling calls", { grace_ms: graceMs });
        this.#server.forceShutdown();
        resolve();
      }, graceMs);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
    if (unixPath !== undefined) {
      await Deno.remove(unixPath).catch((e) => {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
      });
    }
    this.#logger.info("grpc stopped");
  }
}

/**
 * Checks the access map against the services and builds the server.
 *
 * @param options Services, access map, validator and logger.
 * @returns A server ready to {@linkcode GrpcServer.listen}.
 * @throws {AccessMapError} When a method is undeclared or an entry is stale, invalid or reserved.
 * @throws {TypeError} When a non-public method exists and no validator is given.
 *
 * @example Every method must be declared
 * ```ts
 * import assert from "node:assert/strict";
 * import { AccessMapError, createGrpcServer, loadProto } from "./mod.ts";
 * import { PROTO_JSON } from "./testdata/gen/descriptor.ts";
 * import type { ProtoGrpcType } from "./testdata/gen/echo.ts";
 *
 * const { Echo } = loadProto<ProtoGrpcType>(PROTO_JSON).grpc.mcdsl.test.v1;
 * // Echo has six methods; declaring only Ping stops the server.
 * assert.throws(
 *   () =>
 *     createGrpcServer({
 *       services: [{ definition: Echo.service, implementation: {} }],
 *       access: { "/mcdsl.test.v1.Echo/Ping": "public" },
 *     }),
 *   AccessMapError,
 * );
 * ```
 */
export function createGrpcServer(options: GrpcServerOptions): GrpcServer {
  return new GrpcServer(options);
}

function serviceName(definition: grpc.ServiceDefinition): string {
  const first = Object.values(definition)[0];
  return first === undefined ? "" : first.path.slice(1, first.path.lastIndexOf("/"));
}

function parseUnix(addr: string): string | undefined {
  if (!addr.startsWith("unix:")) return undefined;
  const path = addr.startsWith("unix://") ? addr.slice("unix://".length) : addr.slice(5);
  if (!path.startsWith("/")) {
    throw new RangeError(
      `Cannot listen on "${addr}": a unix socket address must be unix:///absolute/path`,
    );
  }
  return path;
}

function parseHostPort(addr: string): string {
  const match = /^(\[[0-9a-fA-F:.]+\]|[^:\[\]]*):(\d{1,5})$/.exec(addr);
  if (!match || Number(match[2]) > 65535) {
    throw new RangeError(
      `Cannot listen on "${addr}": expected host:port (port 0-65535), :port or unix:///path`,
    );
  }
  const host = match[1] === "" ? "0.0.0.0" : match[1];
  return `${host}:${match[2]}`;
}

/** Removes a socket file left by a process that died; refuses to steal a live one. */
async function removeStaleSocket(path: string): Promise<void> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!info.isSocket) {
    throw new Deno.errors.AlreadyExists(
      `Cannot listen on "unix://${path}": the path exists and is not a socket; remove it or choose another path`,
    );
  }
  try {
    const conn = await Deno.connect({ transport: "unix", path });
    conn.close();
  } catch (e) {
    if (e instanceof Deno.errors.ConnectionRefused || e instanceof Deno.errors.NotFound) {
      await Deno.remove(path);
      return;
    }
    throw e;
  }
  throw new Deno.errors.AddrInUse(
    `Cannot listen on "unix://${path}": another process is serving on it; stop it or choose another path`,
  );
}
