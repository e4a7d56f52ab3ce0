/**
 * Runs MCIAS: config → database and keys → the core → REST over TLS 1.3,
 * plus whatever else is plugged in through {@linkcode StartMcIasOptions}
 * (the gRPC server, the second factors, SSO, the web UI), until SIGINT or
 * SIGTERM.
 *
 * @module
 */

import type { DatabaseSync } from "node:sqlite";
import { type Fetchable, serveHttps } from "@mc/mcdsl/httpserver";
import type { Logger } from "@mc/mcdsl/log";
import type { McIasConfig } from "./config.ts";
import { createMcIas, dataDirOf, openMcIasDatabase } from "./core/mcias.ts";
import { loadMasterKey, type MasterKey } from "./core/secrets.ts";
import type { LoginCompleter, McIas, McIasMfa, McIasSso, SecondFactorCheck } from "./core/types.ts";
import { createMfa } from "./core/mfa.ts";
import { createSso, ssoClientsFromConfig } from "./core/sso.ts";
import { createMcIasGrpcServer } from "./grpc/server.ts";
import { createMfaRoutes, MFA_ACCESS } from "./rest/mfa_routes.ts";
import { createSsoTokenRoutes, SSO_REST_ACCESS } from "./web/sso_token_routes.ts";
import { routeRestAndWeb } from "./web/same_origin.ts";
import { createWebApp } from "./web/web_app.ts";
import { createRestApp, type RestExtension } from "./rest/app.ts";

/** What the core is built from; handed to the parts that plug in. */
export interface McIasBase {
  /** The loaded config. */
  config: McIasConfig;
  /** Where logs go. */
  logger: Logger;
  /** The open, migrated database (shared by every part). */
  db: DatabaseSync;
  /** The master key (seals secrets at rest). */
  masterKey: MasterKey;
  /** The data directory. */
  dataDir: string;
}

/** Everything a plugged-in part may need once the core exists. */
export interface McIasParts extends McIasBase {
  /** The domain. */
  mcias: McIas;
  /** PEM text of `server.tls_cert` and `server.tls_key`. */
  tls: { cert: string; key: string };
}

/** A running part started by a {@linkcode McIasStarter}. */
export interface RunningPart {
  /** For logs: `grpc`, `web`… */
  name: string;
  /** The port it listens on, if any. */
  port?: number;
  /** Stops it gracefully. */
  close(): Promise<void>;
}

/** Starts one more part (e.g. the gRPC server on `server.grpc_addr`). */
export type McIasStarter = (parts: McIasParts) => Promise<RunningPart | undefined>;

/** What to plug into the core. */
export interface StartMcIasOptions {
  /**
   * Builds the second factor the core checks during password login (core/mfa.ts).
   * `completer` is the core's own {@linkcode LoginCompleter}, usable once
   * start-up is done.
   */
  secondFactor?: (base: McIasBase & { completer: LoginCompleter }) => SecondFactorCheck;
  /** REST routes other parts add (TOTP/WebAuthn self-service, SSO token exchange). */
  restRoutes?: ((parts: McIasParts) => RestExtension[])[];
  /**
   * The web UI, served on the REST origin: `/v1/…` and `/.well-known/…` go
   * to REST, every other path here (web/same_origin.ts).
   */
  webApp?: (parts: McIasParts) => Fetchable;
  /** Other servers (gRPC). Started in order after HTTPS, stopped in reverse. */
  starters?: McIasStarter[];
}

/**
 * Starts the gRPC API (grpc/server.ts) on `server.grpc_addr` with the same
 * certificate, when that address is set.
 */
export const grpcStarter: McIasStarter = async (parts) => {
  const addr = parts.config.server.grpc_addr;
  if (addr === undefined) return undefined;
  const listener = await createMcIasGrpcServer({ mcias: parts.mcias, logger: parts.logger })
    .listen({ addr, tls: parts.tls });
  return { name: "grpc_port", port: listener.port, close: () => listener.shutdown() };
};

/**
 * The parts `mciasctl server` plugs in: second factors (core/mfa.ts, TOTP
 * secrets sealed with the master key) and their REST routes, SSO (core/sso.ts)
 * and its token route, the web UI on the same origin, and gRPC.
 */
export function defaultStartOptions(): StartMcIasOptions {
  let mfa: McIasMfa | undefined;
  let sso: McIasSso | undefined;
  const ssoOf = (parts: McIasParts) =>
    sso ??= createSso({
      clients: ssoClientsFromConfig(parts.config.sso_clients),
      mcias: parts.mcias,
    });
  return {
    secondFactor(base) {
      const { config, masterKey } = base;
      const webauthn = config.webauthn;
      mfa = createMfa({
        db: base.db,
        seal: (plain) => Promise.resolve(masterKey.seal(plain, "totp")),
        unseal: (sealed) => Promise.resolve(masterKey.open(sealed, "totp")),
        issuer: webauthn?.rp_name ?? "Metacircular",
        webauthn: webauthn === undefined
          ? undefined
          : { rpId: webauthn.rp_id, rpName: webauthn.rp_name, origins: webauthn.origins },
        completer: base.completer,
      });
      return mfa;
    },
    restRoutes: [
      () => mfa === undefined ? [] : [{ app: createMfaRoutes({ mfa }), access: MFA_ACCESS }],
      (parts) => [{
        app: createSsoTokenRoutes({ sso: ssoOf(parts), logger: parts.logger }),
        access: SSO_REST_ACCESS,
      }],
    ],
    webApp: (parts) =>
      createWebApp({ mcias: parts.mcias, mfa, sso: ssoOf(parts), logger: parts.logger }),
    starters: [grpcStarter],
  };
}

/** A running MCIAS. */
export interface RunningMcIas extends AsyncDisposable {
  /** The HTTPS port. */
  httpsPort: number;
  /** Ports of the other parts, by name. */
  ports: Record<string, number>;
  /** The domain. */
  mcias: McIas;
  /** Stops every server and closes the database. */
  close(): Promise<void>;
}

/**
 * Starts MCIAS.
 *
 * @param config The loaded config.
 * @param logger Where logs go.
 * @param options Parts to plug in.
 * @returns The running servers.
 */
export async function startMcIas(
  config: McIasConfig,
  logger: Logger,
  options: StartMcIasOptions = defaultStartOptions(),
): Promise<RunningMcIas> {
  const dataDir = dataDirOf(config);
  const db = openMcIasDatabase(config.database.path);
  const stack: (() => void | Promise<void>)[] = [() => db.close()];
  const close = async () => {
    for (const f of stack.splice(0).reverse()) await f();
  };
  try {
    const masterKey = loadMasterKey(dataDir);
    const base: McIasBase = { config, logger, db, masterKey, dataDir };
    const ref: { core?: McIas } = {};
    const completer: LoginCompleter = {
      completeLogin: (username, context) => ref.core!.completeLogin(username, context),
      checkThrottle: (username, remoteAddr) => ref.core!.checkThrottle(username, remoteAddr),
      recordFailure: (username, remoteAddr) => ref.core!.recordFailure(username, remoteAddr),
      verifyPassword: (username, password) => ref.core!.verifyPassword!(username, password),
    };
    const secondFactor = options.secondFactor?.({ ...base, completer });
    // The core's close() would close the shared database: the stack does that.
    const mcias = createMcIas({ db, dataDir, config, masterKey, secondFactor, logger });
    ref.core = mcias;
    mcias.jwks(); // creates the first signing key now rather than on the first login
    const tls = {
      cert: await Deno.readTextFile(config.server.tls_cert),
      key: await Deno.readTextFile(config.server.tls_key),
    };
    const parts: McIasParts = { ...base, mcias, tls };
    const extraRoutes = (options.restRoutes ?? []).flatMap((f) => f(parts));
    const restApp = createRestApp({ mcias, logger, extraRoutes });
    const handler = options.webApp === undefined
      ? restApp
      : routeRestAndWeb({ rest: restApp, web: options.webApp(parts) });
    const rest = await serveHttps(handler, {
      listenAddr: config.server.listen_addr,
      tlsCert: config.server.tls_cert,
      tlsKey: config.server.tls_key,
      logger,
    });
    stack.push(() => rest.shutdown());
    const ports: Record<string, number> = {};
    for (const start of options.starters ?? []) {
      const part = await start(parts);
      if (part === undefined) continue;
      stack.push(() => part.close());
      if (part.port !== undefined) ports[part.name] = part.port;
    }
    return { httpsPort: rest.addr.port, ports, mcias, close, [Symbol.asyncDispose]: close };
  } catch (e) {
    await close();
    throw e;
  }
}

/**
 * Runs until SIGINT or SIGTERM, then shuts down gracefully.
 *
 * @param config The loaded config.
 * @param logger Where logs go.
 * @param options Parts to plug in.
 */
export async function runServer(
  config: McIasConfig,
  logger: Logger,
  options: StartMcIasOptions = defaultStartOptions(),
): Promise<void> {
  const running = await startMcIas(config, logger, options);
  logger.info("mcias ready", { https_port: running.httpsPort, ...running.ports });
  await new Promise<void>((resolve) => {
    const stop = () => {
      Deno.removeSignalListener("SIGINT", stop);
      Deno.removeSignalListener("SIGTERM", stop);
      resolve();
    };
    Deno.addSignalListener("SIGINT", stop);
    Deno.addSignalListener("SIGTERM", stop);
  });
  logger.info("mcias stopping");
  await running.close();
  logger.info("mcias stopped");
}
