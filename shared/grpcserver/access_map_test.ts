import assert from "node:assert/strict";
import { AccessMapError, checkAccessMap } from "./access_map.ts";

Deno.test("checkAccessMap() returns the map with built-ins added as public", () => {
  const full = checkAccessMap(
    { "/a.v1.A/Get": "authenticated", "/a.v1.A/Set": "admin" },
    ["/a.v1.A/Get", "/a.v1.A/Set"],
    ["/grpc.health.v1.Health/Check"],
  );
  assert.deepEqual([...full], [
    ["/a.v1.A/Get", "authenticated"],
    ["/a.v1.A/Set", "admin"],
    ["/grpc.health.v1.Health/Check", "public"],
  ]);
});

Deno.test("checkAccessMap() throws AccessMapError naming every problem", () => {
  assert.throws(
    () =>
      checkAccessMap(
        {
          "/a.v1.A/Get": "public",
          "/a.v1.A/Old": "admin",
          "/a.v1.A/Set": "owner" as "admin",
          "/grpc.health.v1.Health/Check": "public",
        },
        ["/a.v1.A/Get", "/a.v1.A/Set", "/a.v1.A/New"],
        ["/grpc.health.v1.Health/Check"],
      ),
    (e: unknown) => {
      assert.ok(e instanceof AccessMapError);
      assert.equal(e.name, "AccessMapError");
      assert.deepEqual(e.undeclared, ["/a.v1.A/New"]);
      assert.deepEqual(e.stale, ["/a.v1.A/Old"]);
      assert.deepEqual(e.invalid, ["/a.v1.A/Set"]);
      assert.deepEqual(e.reserved, ["/grpc.health.v1.Health/Check"]);
      assert.equal(
        e.message,
        'Cannot start gRPC server: the access map does not match the services: undeclared methods "/a.v1.A/New" (declare each as "public", "authenticated", "admin"); stale entries "/a.v1.A/Old" (no registered service has them: remove them); invalid levels for "/a.v1.A/Set" (expected "public", "authenticated", "admin"); entries for built-in services "/grpc.health.v1.Health/Check" (declared public automatically: remove them)',
      );
      return true;
    },
  );
});

Deno.test("checkAccessMap() ignores inherited properties of the map", () => {
  const access = Object.create({ "/a.v1.A/Get": "public" });
  assert.throws(() => checkAccessMap(access, ["/a.v1.A/Get"], []), AccessMapError);
});
