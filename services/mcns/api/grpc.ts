/**
 * MCNS's gRPC API (`proto/mcns/v1/mcns.proto`): `ZoneService` and
 * `RecordService`, every method in the access map, the per-name rules of
 * `authz.ts` inside the record handlers.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import type { TokenInfo, TokenValidator } from "@mc/mcdsl/auth/types";
import {
  type AccessMap,
  createGrpcServer,
  type GrpcServer,
  loadProto,
  tokenInfo,
} from "@mc/mcdsl/grpcserver";
import type { Logger } from "@mc/mcdsl/log";
import { PROTO_JSON } from "../../../proto/mcns/v1/gen/descriptor.ts";
import type { ProtoGrpcType } from "../../../proto/mcns/v1/gen/mcns.ts";
import type { Record as RecordMessage } from "../../../proto/mcns/v1/gen/mcns/v1/Record.ts";
import type { RecordServiceHandlers } from "../../../proto/mcns/v1/gen/mcns/v1/RecordService.ts";
import type { ZoneServiceHandlers } from "../../../proto/mcns/v1/gen/mcns/v1/ZoneService.ts";
import type { ZoneInput, ZoneRecord } from "../store.ts";
import {
  type ApiContext,
  createRecord,
  createZone,
  deleteRecord,
  deleteZone,
  type ErrorKind,
  errorStatus,
  getRecord,
  getZone,
  listRecords,
  listZones,
  parseRecordId,
  updateRecord,
} from "./operations.ts";

/** The loaded `mcns.v1` package: service definitions and client classes. */
export const PROTO: ProtoGrpcType["mcns"]["v1"] = loadProto<ProtoGrpcType>(PROTO_JSON).grpc.mcns.v1;

/** Who may call each method; per-name rules for writes live in `authz.ts`. */
export const GRPC_ACCESS: AccessMap = Object.freeze({
  "/mcns.v1.ZoneService/ListZones": "authenticated",
  "/mcns.v1.ZoneService/GetZone": "authenticated",
  "/mcns.v1.ZoneService/CreateZone": "admin",
  "/mcns.v1.ZoneService/DeleteZone": "admin",
  "/mcns.v1.RecordService/ListRecords": "authenticated",
  "/mcns.v1.RecordService/GetRecord": "authenticated",
  // Writers are admins and system accounts; authz.ts checks the name.
  "/mcns.v1.RecordService/CreateRecord": "authenticated",
  "/mcns.v1.RecordService/UpdateRecord": "authenticated",
  "/mcns.v1.RecordService/DeleteRecord": "authenticated",
});

/** Options for {@linkcode createMcnsGrpcServer}. */
export interface McnsGrpcOptions extends ApiContext {
  /** Validates bearer tokens (the MCIAS client). */
  validator: TokenValidator;
  /** Call log and unexpected errors. */
  logger: Logger;
  /** The access map; only tests pass another. */
  access?: AccessMap;
}

/** Largest request message accepted, bytes (REST's body limit). */
export const MAX_MESSAGE_BYTES = 64 * 1024;

const CODES: Record<ErrorKind, grpc.status> = {
  invalid: grpc.status.INVALID_ARGUMENT,
  forbidden: grpc.status.PERMISSION_DENIED,
  not_found: grpc.status.NOT_FOUND,
  conflict: grpc.status.ALREADY_EXISTS,
};

function toMessage(r: ZoneRecord): RecordMessage {
  return { id: String(r.id), zone: r.zone, name: r.name, type: r.type, ttl: r.ttl, value: r.value };
}

/**
 * Builds the gRPC server.
 *
 * @throws {AccessMapError} When a method is missing from the access map.
 */
export function createMcnsGrpcServer(options: McnsGrpcOptions): GrpcServer {
  const { validator, logger, access = GRPC_ACCESS } = options;
  const { store, onChange, serviceZone } = options;
  const ctx: ApiContext = { store, onChange, serviceZone, logger };

  /** Runs `fn` with the caller and answers its result or the mapped error. */
  function unary<Req, Res>(
    fn: (call: grpc.ServerUnaryCall<Req, Res>, caller: TokenInfo) => Res,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      try {
        const caller = tokenInfo(call);
        // The interceptor sets it for every authenticated method; absence is a bug.
        if (caller === undefined) throw new Error("token info missing on an authenticated RPC");
        callback(null, fn(call, caller));
      } catch (e) {
        const kind = errorStatus(e);
        if (kind === undefined) {
          logger.error("rpc failed", { method: call.getPath(), error: (e as Error).message });
          callback({ code: grpc.status.INTERNAL, details: "internal error" });
        } else {
          callback({ code: CODES[kind], details: (e as Error).message });
        }
      }
    };
  }

  const zones: ZoneServiceHandlers = {
    ListZones: unary(() => ({ zones: listZones(ctx) })),
    GetZone: unary((call) => ({ zone: getZone(ctx, call.request.name) })),
    CreateZone: unary((call, caller) => {
      const { name, mname, rname, refresh, retry, expire, minimum, ttl } = call.request;
      const input: ZoneInput = { name, mname, rname, refresh, retry, expire, minimum, ttl };
      return { zone: createZone(ctx, caller, input) };
    }),
    DeleteZone: unary((call, caller) => {
      deleteZone(ctx, caller, call.request.name);
      return {};
    }),
  };
  const records: RecordServiceHandlers = {
    ListRecords: unary((call) => ({ records: listRecords(ctx, call.request.zone).map(toMessage) })),
    GetRecord: unary((call) => ({
      record: toMessage(getRecord(ctx, call.request.zone, parseRecordId(call.request.id))),
    })),
    CreateRecord: unary((call, caller) => {
      const { zone, name, type, ttl, value } = call.request;
      return { record: toMessage(createRecord(ctx, caller, zone, { name, type, ttl, value })) };
    }),
    UpdateRecord: unary((call, caller) => {
      const { zone, id, name, type, ttl, value } = call.request;
      const record = updateRecord(ctx, caller, zone, parseRecordId(id), {
        name,
        type,
        ttl,
        value,
      });
      return { record: toMessage(record) };
    }),
    DeleteRecord: unary((call, caller) => {
      deleteRecord(ctx, caller, call.request.zone, parseRecordId(call.request.id));
      return {};
    }),
  };
  return createGrpcServer({
    services: [
      {
        definition: PROTO.ZoneService.service,
        implementation: zones as unknown as grpc.UntypedServiceImplementation,
      },
      {
        definition: PROTO.RecordService.service,
        implementation: records as unknown as grpc.UntypedServiceImplementation,
      },
    ],
    access,
    validator,
    logger,
    // Requests are small; as REST bounds bodies to 64 KiB, so does gRPC.
    serverOptions: { "grpc.max_receive_message_length": MAX_MESSAGE_BYTES },
  });
}
