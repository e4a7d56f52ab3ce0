/**
 * Loading protobuf definitions without reading `.proto` files at run time.
 *
 * Services commit a generated `descriptor.ts` (see `gen_proto.ts`) holding
 * the protos as protobufjs JSON; {@linkcode loadProto} turns it into the
 * grpc-js objects. Reading `.proto` files at run time would need read access
 * to the source tree and, in Deno's `node:fs`, `--allow-sys=uid` as well.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";

/**
 * The proto-loader options every mcdsl service uses. `gen_proto.ts` passes the
 * matching flags to `proto-loader-gen-types`, so generated types describe what
 * handlers actually receive: camelCase fields, 64-bit integers and enums as
 * strings, defaults filled in, and a virtual field naming each set oneof.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
});

/** What {@linkcode loadProto} returns. */
export interface LoadedProto<T> {
  /** The proto-loader package definition (feeds reflection). */
  packageDefinition: protoLoader.PackageDefinition;
  /** The grpc-js object tree: `proto.grpc.pkg.v1.Service.service` is a service definition. */
  grpc: T;
}

/**
 * Loads the protobufjs JSON that `gen_proto.ts` writes to `descriptor.ts`.
 *
 * JSON rather than a serialized `FileDescriptorSet`: protobufjs turns map
 * fields read from descriptors into repeated entry messages, which would not
 * match the generated types.
 *
 * @typeParam T The generated `ProtoGrpcType` for the same protos.
 * @param json The `PROTO_JSON` export of a generated `descriptor.ts`.
 * @returns The package definition and the typed grpc-js object tree.
 * @throws {SyntaxError} When `json` is not a protobufjs namespace.
 *
 * @example Load the test service
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadProto } from "./proto.ts";
 * import { PROTO_JSON } from "./testdata/gen/descriptor.ts";
 * import type { ProtoGrpcType } from "./testdata/gen/echo.ts";
 * const proto = loadProto<ProtoGrpcType>(PROTO_JSON);
 * assert.equal(proto.grpc.mcdsl.test.v1.Echo.service.Ping.path, "/mcdsl.test.v1.Echo/Ping");
 * ```
 */
export function loadProto<T>(json: Record<string, unknown>): LoadedProto<T> {
  let packageDefinition: protoLoader.PackageDefinition;
  try {
    packageDefinition = protoLoader.fromJSON(json, PROTO_LOADER_OPTIONS);
  } catch (cause) {
    throw new SyntaxError(
      `Cannot load proto JSON: ${(cause as Error).message}; regenerate it with gen_proto.ts`,
      { cause },
    );
  }
  return {
    packageDefinition,
    grpc: grpc.loadPackageDefinition(packageDefinition) as T,
  };
}
