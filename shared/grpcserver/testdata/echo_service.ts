// Test fixture: the Echo service, its access map and a fake token validator.
import type * as grpc from "@grpc/grpc-js";
import type { TokenInfo, TokenValidator } from "../../auth/types.ts";
import { tokenInfo } from "../access_interceptor.ts";
import { loadProto } from "../proto.ts";
import type { AccessMap } from "../access_map.ts";
import { PROTO_JSON } from "./gen/descriptor.ts";
import type { ProtoGrpcType } from "./gen/echo.ts";
import type { EchoHandlers } from "./gen/mcdsl/test/v1/Echo.ts";

export const proto = loadProto<ProtoGrpcType>(PROTO_JSON);
export const Echo = proto.grpc.mcdsl.test.v1.Echo;

export const ECHO_ACCESS: AccessMap = {
  "/mcdsl.test.v1.Echo/Ping": "public",
  "/mcdsl.test.v1.Echo/Whoami": "authenticated",
  "/mcdsl.test.v1.Echo/Admin": "admin",
  "/mcdsl.test.v1.Echo/Watch": "authenticated",
  "/mcdsl.test.v1.Echo/Collect": "authenticated",
  "/mcdsl.test.v1.Echo/Chat": "public",
};

const FAR = new Date(Date.now() + 3_600_000);

function info(username: string, roles: string[]): TokenInfo {
  return { valid: true, username, accountType: "human", roles, expiresAt: FAR };
}

/** Tokens: "admin-token", "user-token", "expired-token" (invalid), "broken-token" (throws). */
export class FakeValidator implements TokenValidator {
  calls: string[] = [];
  validate(token: string): Promise<TokenInfo> {
    this.calls.push(token);
    if (token === "admin-token") return Promise.resolve(info("alice", ["admin", "user"]));
    if (token === "user-token") return Promise.resolve(info("bob", ["user"]));
    if (token === "broken-token") return Promise.reject(new Error("mcias unreachable"));
    return Promise.resolve({
      valid: false,
      username: "",
      accountType: "human",
      roles: [],
      expiresAt: new Date(0),
    });
  }
}

/** Handlers; Watch sends `count` replies `intervalMs` apart and stops when cancelled. */
export const echoHandlers: EchoHandlers = {
  Ping(call, callback) {
    callback(null, { message: call.request.message });
  },
  Whoami(call, callback) {
    callback(null, { message: call.request.message, caller: tokenInfo(call)?.username ?? "" });
  },
  Admin(call, callback) {
    callback(null, { message: call.request.message, caller: tokenInfo(call)?.username ?? "" });
  },
  Watch(call) {
    let sent = 0;
    const count = call.request.count || 1;
    const tick = () => {
      if (call.cancelled) return;
      if (sent >= count) {
        call.end();
        return;
      }
      call.write({ message: `${call.request.message}${sent++}` });
      timer = setTimeout(tick, call.request.intervalMs);
    };
    let timer = setTimeout(tick, 0);
    call.on("cancelled", () => clearTimeout(timer));
  },
  Collect(call, callback) {
    const parts: string[] = [];
    call.on("data", (m) => parts.push(m.message));
    call.on("end", () => callback(null, { message: parts.join(","), caller: tokenInfo(call)?.username ?? "" }));
    call.on("error", () => {});
  },
  Chat(call) {
    call.on("data", (m) => call.write({ message: m.message }));
    call.on("end", () => call.end());
    call.on("error", () => {});
  },
};

export const echoService = {
  definition: Echo.service,
  implementation: echoHandlers as unknown as grpc.UntypedServiceImplementation,
};
