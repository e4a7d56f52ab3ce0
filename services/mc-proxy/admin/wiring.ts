/**
 * Plugs metrics and the admin API into `runServer` (server.ts): the
 * prom-client observer, and an `extras` hook that starts the admin socket
 * and the loopback metrics listener after the listeners, and stops them at
 * shutdown (after the drain, so `status` answers while draining).
 *
 * @module
 */

import type { Logger } from "@mc/mcdsl/log";
import type { McProxyConfig } from "../config.ts";
import { createMetrics, type Metrics, type MetricsListener, parseMetricsAddr } from "../metrics.ts";
import { adminSocketPath, backendCheck, type RunServerParts } from "../server.ts";
import { type AdminServer, startAdminServer } from "./server.ts";

/** The service version `GetStatus` reports (the workspace member's). */
export const VERSION = "0.1.0";

/**
 * Builds the metrics observer and the admin/metrics start-up hook.
 *
 * @param config The loaded config.
 * @param logger The service logger.
 * @returns `observer` and `extras` for {@linkcode RunServerParts}, and the metrics.
 * @throws {RangeError} When `[metrics] listen_addr` is not loopback (checked before anything starts).
 */
export function adminParts(
  config: McProxyConfig,
  logger: Logger,
): Required<Pick<RunServerParts, "observer" | "extras">> & { metrics: Metrics } {
  const metricsAddr = config.metrics.listen_addr;
  if (metricsAddr !== undefined) parseMetricsAddr(metricsAddr);
  const metrics = createMetrics();
  return {
    metrics,
    observer: metrics.observer,
    async extras({ store, proxy }) {
      let admin: AdminServer | undefined;
      let listener: MetricsListener | undefined;
      const socket = adminSocketPath(config);
      try {
        if (socket === undefined) {
          logger.info("admin API off: [admin] socket is not set");
        } else {
          admin = await startAdminServer({
            socket,
            store,
            status: proxy,
            logger,
            version: VERSION,
            checkBackend: backendCheck(config),
          });
          logger.info("admin API listening", { socket: admin.addr });
        }
        if (metricsAddr !== undefined) {
          listener = await metrics.serve(metricsAddr);
          logger.info("metrics listening", { addr: metricsAddr, port: listener.port });
        }
      } catch (e) {
        await admin?.shutdown(0);
        throw e;
      }
      return async () => {
        await admin?.shutdown(2_000);
        await listener?.close();
      };
    },
  };
}
