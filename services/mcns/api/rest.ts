/**
 * MCNS's REST API over HTTPS: zones and records, every route in the access
 * map, the per-name rules of `authz.ts` inside the record handlers.
 *
 * @module
 */

import { type Context, Hono } from "hono";
import type { TokenInfo, TokenValidator } from "@mc/mcdsl/auth/types";
import {
  type AccessMap,
  type AccessVariables,
  HttpError,
  jsonErrorHandler,
  jsonNotFound,
  readJson,
  requestLog,
  secureApp,
} from "@mc/mcdsl/httpserver";
import type { Logger } from "@mc/mcdsl/log";
import type { RecordInput, ZoneInput } from "../store.ts";
import { checkMayWriteRecords } from "./authz.ts";
import {
  type ApiContext,
  createRecord,
  createZone,
  deleteRecord,
  deleteZone,
  errorStatus,
  getRecord,
  getZone,
  listRecords,
  listZones,
  parseRecordId,
  updateRecord,
} from "./operations.ts";

/** Who may call each route; per-name rules for writes live in `authz.ts`. */
export const REST_ACCESS: AccessMap = Object.freeze({
  "GET /v1/health": "public",
  "GET /v1/zones": "authenticated",
  "POST /v1/zones": "admin",
  "GET /v1/zones/:zone": "authenticated",
  "DELETE /v1/zones/:zone": "admin",
  "GET /v1/zones/:zone/records": "authenticated",
  // Writers are admins and system accounts; authz.ts checks the name.
  "POST /v1/zones/:zone/records": "authenticated",
  "GET /v1/zones/:zone/records/:id": "authenticated",
  "PUT /v1/zones/:zone/records/:id": "authenticated",
  "DELETE /v1/zones/:zone/records/:id": "authenticated",
});

/** Options for {@linkcode createRestApp}. */
export interface RestAppOptions extends ApiContext {
  /** Validates bearer tokens (the MCIAS client). */
  validator: TokenValidator;
  /** Request and error log. */
  logger: Logger;
  /** The access map; only tests pass another. */
  access?: AccessMap;
}

const STATUS = { invalid: 400, forbidden: 403, not_found: 404, conflict: 409 } as const;

/** Runs an operation, turning its client errors into {@linkcode HttpError}. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (e) {
    const kind = errorStatus(e);
    if (kind === undefined) throw e;
    throw new HttpError(STATUS[kind], (e as Error).message);
  }
}

function caller(c: Context<{ Variables: AccessVariables }>): TokenInfo {
  const info = c.var.tokenInfo;
  // secureApp sets it on every non-public route; its absence is a bug.
  if (info === undefined) throw new Error("token info missing on an authenticated route");
  return info;
}

function recordId(c: Context): number {
  return call(() => parseRecordId(c.req.param("id") ?? ""));
}

const RECORD_KEYS = ["name", "type", "ttl", "value"] as const;

function recordInput(body: Record<string, unknown>): RecordInput {
  for (const key of ["name", "type", "value"] as const) {
    if (typeof body[key] !== "string") {
      throw new TypeError(`field "${key}" must be a string`);
    }
  }
  const { ttl } = body;
  if (ttl !== undefined && !Number.isInteger(ttl)) {
    throw new TypeError(`field "ttl" must be an integer number of seconds`);
  }
  return {
    name: body.name as string,
    type: body.type as string,
    ttl: ttl as number | undefined,
    value: body.value as string,
  };
}

const ZONE_NUMBERS = ["refresh", "retry", "expire", "minimum", "ttl"] as const;

function zoneInput(body: Record<string, unknown>): ZoneInput {
  for (const key of ["name", "mname", "rname"] as const) {
    if (typeof body[key] !== "string") throw new TypeError(`field "${key}" must be a string`);
  }
  const input: ZoneInput = {
    name: body.name as string,
    mname: body.mname as string,
    rname: body.rname as string,
  };
  for (const key of ZONE_NUMBERS) {
    const value = body[key];
    if (value === undefined) continue;
    if (!Number.isInteger(value)) throw new TypeError(`field "${key}" must be an integer`);
    input[key] = value as number;
  }
  return input;
}

/**
 * Builds the REST app.
 *
 * Routes: `GET /v1/health`; `GET, POST /v1/zones`; `GET, DELETE
 * /v1/zones/{zone}`; `GET, POST /v1/zones/{zone}/records`; `GET, PUT,
 * DELETE /v1/zones/{zone}/records/{id}`. Bodies are JSON objects with only
 * the documented fields; errors are `{"error": "..."}`.
 *
 * @throws {AccessMapError} When a route is missing from the access map.
 */
export function createRestApp(options: RestAppOptions): Hono<{ Variables: AccessVariables }> {
  const { validator, logger, access = REST_ACCESS } = options;
  const { store, onChange, serviceZone } = options;
  const ctx: ApiContext = { store, onChange, serviceZone, logger };
  const api = new Hono<{ Variables: AccessVariables }>()
    .get("/v1/health", (c) => c.json({ status: "ok" }))
    .get("/v1/zones", (c) => c.json({ zones: call(() => listZones(ctx)) }))
    .post("/v1/zones", async (c) => {
      const who = caller(c);
      const input = await readJson(c, {
        allowedKeys: ["name", "mname", "rname", ...ZONE_NUMBERS],
        validate: zoneInput,
      });
      return c.json({ zone: call(() => createZone(ctx, who, input)) }, 201);
    })
    .get("/v1/zones/:zone", (c) => c.json({ zone: call(() => getZone(ctx, c.req.param("zone"))) }))
    .delete("/v1/zones/:zone", (c) => {
      call(() => deleteZone(ctx, caller(c), c.req.param("zone")));
      return c.body(null, 204);
    })
    .get(
      "/v1/zones/:zone/records",
      (c) => c.json({ records: call(() => listRecords(ctx, c.req.param("zone"))) }),
    )
    .post("/v1/zones/:zone/records", async (c) => {
      const who = caller(c);
      // Readers are refused before their body is read.
      call(() => checkMayWriteRecords(who));
      const input = await readJson(c, { allowedKeys: RECORD_KEYS, validate: recordInput });
      const record = call(() => createRecord(ctx, who, c.req.param("zone"), input));
      return c.json({ record }, 201);
    })
    .get("/v1/zones/:zone/records/:id", (c) => {
      const id = recordId(c);
      return c.json({ record: call(() => getRecord(ctx, c.req.param("zone"), id)) });
    })
    .put("/v1/zones/:zone/records/:id", async (c) => {
      const who = caller(c);
      // Readers are refused before anything else about the request is looked at.
      call(() => checkMayWriteRecords(who));
      const id = recordId(c);
      const input = await readJson(c, { allowedKeys: RECORD_KEYS, validate: recordInput });
      const record = call(() => updateRecord(ctx, who, c.req.param("zone"), id, input));
      return c.json({ record });
    })
    .delete("/v1/zones/:zone/records/:id", (c) => {
      const who = caller(c);
      const id = recordId(c);
      call(() => deleteRecord(ctx, who, c.req.param("zone"), id));
      return c.body(null, 204);
    });
  const app = new Hono<{ Variables: AccessVariables }>();
  app.use(requestLog({ logger }));
  app.onError(jsonErrorHandler({ logger }));
  app.notFound(jsonNotFound);
  app.route("/", secureApp(api, access, { validator, logger, realm: "mcns" }));
  return app;
}
