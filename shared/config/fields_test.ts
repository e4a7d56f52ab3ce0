import assert from "node:assert/strict";
import * as field from "./fields.ts";
import type { Field, InferConfig } from "./schema.ts";

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true
  : false;
function assertType<T extends true>(_: T): void {}

Deno.test("field builders infer required, optional and defaulted types", () => {
  const schema = {
    a: field.string(),
    b: field.string({ optional: true }),
    c: field.int({ default: 3 }),
    d: field.oneOf(["x", "y"]),
    e: field.oneOf(["x", "y"], { optional: true }),
    f: field.stringArray({ default: [] }),
    g: field.table({ h: field.bool() }, { optional: true }),
    i: field.tables({ j: field.duration() }),
    k: field.map(field.path()),
  };
  type Config = InferConfig<typeof schema>;
  assertType<
    Equal<Config, {
      a: string;
      b: string | undefined;
      c: number;
      d: "x" | "y";
      e: "x" | "y" | undefined;
      f: string[];
      g: { h: boolean } | undefined;
      i: { j: number }[];
      k: Record<string, string>;
    }>
  >(true);
  const maybe: boolean = Math.random() < 2;
  const maybeOptional = field.string({ optional: maybe });
  assertType<Equal<typeof maybeOptional, Field<string | undefined>>>(true);
  assert.equal(maybeOptional.presence, "optional");
});

Deno.test("field builders record presence, expectation and example", () => {
  assert.equal(field.string().presence, "required");
  assert.equal(field.string({ optional: true }).presence, "optional");
  assert.equal(field.int({ default: 1 }).presence, "default");
  assert.equal(field.table({}).presence, "default");
  assert.equal(field.tables({}, { min: 1 }).presence, "required");
  assert.equal(field.int({ min: 1, max: 65535 }).expected, "an integer from 1 to 65535");
  assert.equal(field.int({ min: 1 }).expected, "an integer of at least 1");
  assert.equal(field.oneOf(["only"]).expected, `"only"`);
  assert.equal(field.url({ protocols: ["https:"] }).expected, "an https:// URL");
  assert.equal(field.path({ example: `"/srv/x.db"` }).example, `"/srv/x.db"`);
  assert.equal(field.string({ secret: true }).secret, true);
});

Deno.test("field builders throw TypeError when both optional and default are set", () => {
  assert.throws(() => field.string({ optional: true, default: "x" }), {
    name: "TypeError",
    message: `Cannot build string field: both "optional" and "default" are set; keep one`,
  });
});

Deno.test("field builders throw TypeError for a default that does not fit the field", () => {
  assert.throws(() => field.duration({ default: "10" }), {
    name: "TypeError",
    message: `Cannot build duration field: default "10" is not a duration such as "500ms", ` +
      `"10s", "5m" or "1h30m" ("10" is missing a unit (h, m, s or ms))`,
  });
  assert.throws(() => field.int({ default: 0, min: 1 }), {
    name: "TypeError",
    message: "Cannot build int field: default 0 is not an integer of at least 1 (below 1)",
  });
  assert.throws(() => field.listenAddr({ default: "8443" }), TypeError);
  assert.throws(
    () => field.string({ default: "x", validate: (v) => v === "x" ? "x is reserved" : undefined }),
    {
      name: "TypeError",
      message: `Cannot build string field: default "x" is not a string (x is reserved)`,
    },
  );
});

Deno.test("field.stringArray() gives each config its own copy of the default", () => {
  const tags = field.stringArray({ default: ["a"] });
  const first = tags.defaultValue!({}) as string[];
  first.push("b");
  assert.deepEqual(tags.defaultValue!({}), ["a"]);
});
