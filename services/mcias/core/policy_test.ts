import assert from "node:assert/strict";
import { checkRule, evaluatePolicy } from "./policy.ts";
import type { McIasError, PolicyInput, PolicyRule } from "./types.ts";

function rule(id: number, r: Partial<PolicyRule>): PolicyRule {
  return {
    id,
    priority: 100,
    effect: "allow",
    roles: [],
    accountTypes: [],
    serviceNames: [],
    tags: [],
    description: "",
    ...r,
  };
}

const RULES: PolicyRule[] = [
  rule(1, { priority: 1000, roles: ["user"], description: "users everywhere" }),
  rule(2, {
    priority: 10,
    effect: "deny",
    tags: ["env:restricted"],
    description: "nobody into restricted",
  }),
  rule(3, {
    priority: 20,
    roles: ["guest"],
    serviceNames: ["mcdoc"],
    description: "guests read docs",
  }),
  rule(4, { priority: 30, accountTypes: ["system"], serviceNames: ["mcp"] }),
  rule(5, { priority: 20, effect: "deny", roles: ["user"], serviceNames: ["metacrypt"] }),
];

const input = (p: Partial<PolicyInput>): PolicyInput => ({
  roles: [],
  accountType: "human",
  serviceName: "",
  tags: [],
  ...p,
});

Deno.test("evaluatePolicy(): first match wins, admin bypasses, default deny", () => {
  const cases: [string, PolicyInput, boolean, number | undefined][] = [
    ["user anywhere", input({ roles: ["user"], serviceName: "mcr" }), true, 1],
    ["user on mcias itself", input({ roles: ["user"] }), true, 1],
    [
      "guest on a restricted service",
      input({ roles: ["guest"], serviceName: "mcr", tags: ["env:restricted", "x"] }),
      false,
      2,
    ],
    [
      "guest elsewhere: default deny",
      input({ roles: ["guest"], serviceName: "mcr" }),
      false,
      undefined,
    ],
    ["guest on mcdoc", input({ roles: ["guest"], serviceName: "mcdoc" }), true, 3],
    [
      "admin on a restricted service",
      input({ roles: ["admin", "guest"], serviceName: "mcr", tags: ["env:restricted"] }),
      true,
      undefined,
    ],
    [
      "user on metacrypt: deny before the allow",
      input({ roles: ["user"], serviceName: "metacrypt" }),
      false,
      5,
    ],
    ["system account on mcp", input({ accountType: "system", serviceName: "mcp" }), true, 4],
    [
      "system account elsewhere",
      input({ accountType: "system", serviceName: "mcr" }),
      false,
      undefined,
    ],
    ["tags need all of the rule's", input({ roles: ["guest"], tags: ["env"] }), false, undefined],
  ];
  for (const [name, i, allowed, ruleId] of cases) {
    const d = evaluatePolicy(RULES, i);
    assert.equal(d.allowed, allowed, name);
    assert.equal(d.rule?.id, ruleId, name);
  }
  assert.equal(
    evaluatePolicy(RULES, input({ roles: ["admin"] })).reason,
    "admin bypasses policy",
  );
  assert.equal(
    evaluatePolicy([], input({ roles: ["user"] })).reason,
    "no rule matched: default deny",
  );
  assert.equal(
    evaluatePolicy(RULES, input({ roles: ["guest"], tags: ["env:restricted"] })).reason,
    "rule 2 (nobody into restricted)",
  );
});

Deno.test("evaluatePolicy(): equal priorities go by id", () => {
  const d = evaluatePolicy([
    rule(7, { priority: 5, effect: "deny" }),
    rule(6, { priority: 5, effect: "allow" }),
  ], input({}));
  assert.equal(d.rule?.id, 6);
});

Deno.test("checkRule() names the field that is wrong", () => {
  assert.throws(() => checkRule({ priority: -1, effect: "allow" }), /priority/);
  assert.throws(() => checkRule({ priority: 1, effect: "maybe" }), /effect/);
  assert.throws(
    () => checkRule({ priority: 1, effect: "allow", roles: ["root"] }),
    (e: McIasError) => e.status === 400 && /roles has "root"/.test(e.message),
  );
  assert.throws(
    () => checkRule({ priority: 1, effect: "allow", accountTypes: ["robot"] }),
    /account_types/,
  );
  assert.throws(() => checkRule({ priority: 1, effect: "allow", tags: [""] }), /tags/);
  assert.deepEqual(checkRule({ priority: 1, effect: "deny", tags: ["a", "a"] }), {
    priority: 1,
    effect: "deny",
    roles: [],
    accountTypes: [],
    serviceNames: [],
    tags: ["a"],
    description: "",
  });
});
