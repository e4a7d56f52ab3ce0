/**
 * The descriptors of the built-in services (health, reflection), loaded once.
 *
 * Regenerate `_builtin/` with:
 * `deno task proto --out shared/grpcserver/_builtin -I shared/grpcserver/proto grpc/health/v1/health.proto grpc/reflection/v1/reflection.proto grpc/reflection/v1alpha/reflection.proto`
 *
 * @module
 */

import type * as grpc from "@grpc/grpc-js";
import { PROTO_JSON } from "./_builtin/descriptor.ts";
import { type LoadedProto, loadProto } from "./proto.ts";

/** The parts of the built-in object tree mcdsl uses. */
export interface BuiltinGrpc {
  grpc: {
    health: { v1: { Health: { service: grpc.ServiceDefinition } } };
    reflection: {
      v1: { ServerReflection: { service: grpc.ServiceDefinition } };
      v1alpha: { ServerReflection: { service: grpc.ServiceDefinition } };
    };
  };
}

let cached: LoadedProto<BuiltinGrpc> | undefined;

/** The built-in services' descriptors, loaded on first use. */
export function builtinProto(): LoadedProto<BuiltinGrpc> {
  cached ??= loadProto<BuiltinGrpc>(PROTO_JSON);
  return cached;
}
