/**
 * `grpc.health.v1.Health` (Check, Watch, List) from the descriptors in
 * `_builtin/`, so that no `.proto` file is read at run time. grpc-health-check
 * loads its proto from the npm cache when imported, which needs read access
 * to that cache and `--allow-sys=uid` in every service.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { HealthHandlers } from "./_builtin/grpc/health/v1/Health.ts";
import type {
  HealthCheckResponse,
  HealthCheckResponse__Output,
} from "./_builtin/grpc/health/v1/HealthCheckResponse.ts";
import { builtinProto } from "./_builtin_proto.ts";

/** What a health check reports for a service. */
export type ServingStatus = "SERVING" | "NOT_SERVING";

type WireStatus = HealthCheckResponse__Output["status"];

/** Health state of one server, served over `grpc.health.v1.Health`. */
export class HealthService {
  #statuses = new Map<string, ServingStatus>();
  #watchers = new Map<string, Set<grpc.ServerWritableStream<unknown, HealthCheckResponse>>>();

  /** The service definition to register. */
  static get definition(): grpc.ServiceDefinition {
    return builtinProto().grpc.grpc.health.v1.Health.service;
  }

  /** Sets the status of `service` (`""` is the whole server) and tells its watchers. */
  setStatus(service: string, status: ServingStatus): void {
    this.#statuses.set(service, status);
    for (const call of this.#watchers.get(service) ?? []) call.write({ status });
  }

  /** Sets every known service to `status`. */
  setAll(status: ServingStatus): void {
    for (const service of [...this.#statuses.keys()]) this.setStatus(service, status);
  }

  /** Ends every Watch stream, so that a graceful shutdown does not wait for them. */
  endWatches(): void {
    for (const calls of this.#watchers.values()) {
      for (const call of calls) call.end();
    }
    this.#watchers.clear();
  }

  /** How many services have Watch streams open, for tests. */
  get watchedServiceCount(): number {
    return this.#watchers.size;
  }

  /** Handlers for {@linkcode HealthService.definition}. */
  get implementation(): HealthHandlers {
    return {
      Check: (call, callback) => {
        const status = this.#statuses.get(call.request.service);
        if (status === undefined) {
          callback({
            code: grpc.status.NOT_FOUND,
            details: `unknown service "${call.request.service}"`,
          });
          return;
        }
        callback(null, { status });
      },
      Watch: (call) => {
        const service = call.request.service;
        const status: WireStatus = this.#statuses.get(service) ?? "SERVICE_UNKNOWN";
        call.write({ status });
        // Watch is public and the name is the client's: only names this
        // server knows (and "", the whole server) are worth a stream, so
        // memory stays bounded by what the server registered.
        if (status === "SERVICE_UNKNOWN" && service !== "") {
          call.end();
          return;
        }
        let calls = this.#watchers.get(service);
        if (calls === undefined) this.#watchers.set(service, calls = new Set());
        calls.add(call);
        call.on("cancelled", () => {
          calls.delete(call);
          if (calls.size === 0 && this.#watchers.get(service) === calls) {
            this.#watchers.delete(service);
          }
        });
      },
      List: (_call, callback) => {
        const statuses: Record<string, HealthCheckResponse> = {};
        for (const [service, status] of this.#statuses) statuses[service] = { status };
        callback(null, { statuses });
      },
    };
  }
}
