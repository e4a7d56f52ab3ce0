/**
 * gRPC server reflection (v1 and v1alpha) for the registered services.
 *
 * The request handling is @grpc/reflection's; only the registration is ours,
 * because its `addToServer` reads `reflection.proto` from the npm cache.
 *
 * @module
 */

import type * as grpc from "@grpc/grpc-js";
import type { MethodDefinition, PackageDefinition } from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { builtinProto } from "./_builtin_proto.ts";

interface ReflectionHandler {
  handleServerReflectionRequest(request: unknown): unknown;
}

/** A service definition and its handlers. */
export interface ServicePart {
  /** What to register. */
  definition: grpc.ServiceDefinition;
  /** Its handlers. */
  implementation: grpc.UntypedServiceImplementation;
}

/**
 * Reflection services describing `definitions` (and themselves).
 *
 * @param definitions Every service the server registers.
 * @returns The v1 and v1alpha reflection services, ready to register.
 */
export function reflectionServices(definitions: grpc.ServiceDefinition[]): ServicePart[] {
  const { v1, v1alpha } = builtinProto().grpc.grpc.reflection;
  // ReflectionService only reads `fileDescriptorProtos` from each entry, and
  // every message type of a method carries those of its file and imports.
  const root: Record<string, unknown> = {};
  let n = 0;
  for (const definition of [...definitions, v1.ServerReflection.service]) {
    for (const m of Object.values(definition)) {
      const method = m as unknown as MethodDefinition<unknown, unknown>;
      root[`m${n++}`] = method.requestType;
      root[`m${n++}`] = method.responseType;
    }
  }
  const reflection = new ReflectionService(root as PackageDefinition);
  // v1 is a private field in the typings of the pinned 1.0.4; the reflection
  // tests fail if a new version moves it.
  const handler = (reflection as unknown as { v1: ReflectionHandler }).v1;
  const implementation: grpc.UntypedServiceImplementation = {
    ServerReflectionInfo(stream: grpc.ServerDuplexStream<unknown, unknown>) {
      stream.on("end", () => stream.end());
      stream.on("data", (request) => stream.write(handler.handleServerReflectionRequest(request)));
    },
  };
  return [
    { definition: v1.ServerReflection.service, implementation },
    { definition: v1alpha.ServerReflection.service, implementation },
  ];
}
