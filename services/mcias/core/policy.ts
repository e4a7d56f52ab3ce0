/**
 * Login policy: rules in priority order, first match wins, no match denies,
 * and the `admin` role bypasses policy.
 *
 * @module
 */

import type { AccountType } from "@mc/mcdsl/auth/types";
import {
  McIasError,
  type NewPolicyRule,
  type PolicyDecision,
  type PolicyInput,
  type PolicyRule,
  type Role,
  ROLES,
} from "./types.ts";

const ACCOUNT_TYPES: readonly AccountType[] = ["human", "system"];
const MAX_ITEMS = 64;
const MAX_ITEM_LENGTH = 128;
const MAX_DESCRIPTION = 500;

/**
 * Whether `rule` matches `input`: each non-empty criterion must match
 * (roles: any shared; account types and service names: contains; tags:
 * every one of the rule's tags present).
 */
export function ruleMatches(rule: PolicyRule, input: PolicyInput): boolean {
  if (rule.roles.length > 0 && !rule.roles.some((r) => input.roles.includes(r))) return false;
  if (rule.accountTypes.length > 0 && !rule.accountTypes.includes(input.accountType)) return false;
  if (rule.serviceNames.length > 0 && !rule.serviceNames.includes(input.serviceName)) return false;
  if (rule.tags.length > 0 && !rule.tags.every((t) => input.tags.includes(t))) return false;
  return true;
}

/** One line naming a rule: `rule 3 (deny guests on restricted)`. */
export function describeRule(rule: PolicyRule): string {
  return rule.description === "" ? `rule ${rule.id}` : `rule ${rule.id} (${rule.description})`;
}

/**
 * Evaluates `rules` for `input`.
 *
 * @param rules Every rule; sorted here by priority, then id.
 * @param input Who, and where to.
 * @returns The decision and the rule that made it.
 */
export function evaluatePolicy(rules: readonly PolicyRule[], input: PolicyInput): PolicyDecision {
  if (input.roles.includes("admin")) return { allowed: true, reason: "admin bypasses policy" };
  const ordered = [...rules].sort((a, b) => a.priority - b.priority || a.id - b.id);
  for (const rule of ordered) {
    if (ruleMatches(rule, input)) {
      return { allowed: rule.effect === "allow", rule, reason: describeRule(rule) };
    }
  }
  return { allowed: false, reason: "no rule matched: default deny" };
}

function stringList(value: unknown, field: string, allowed?: readonly string[]): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.length > MAX_ITEMS) {
    throw new McIasError(400, `${field} must be an array of at most ${MAX_ITEMS} strings`);
  }
  for (const item of value) {
    if (typeof item !== "string" || item === "" || item.length > MAX_ITEM_LENGTH) {
      throw new McIasError(
        400,
        `${field} must hold non-empty strings of at most ${MAX_ITEM_LENGTH} characters`,
      );
    }
    if (allowed !== undefined && !allowed.includes(item)) {
      throw new McIasError(
        400,
        `${field} has ${JSON.stringify(item)}: expected one of ${
          allowed.map((a) => JSON.stringify(a)).join(", ")
        }`,
      );
    }
  }
  return [...new Set(value as string[])];
}

/**
 * Checks and normalises a rule from a caller.
 *
 * @throws {McIasError} 400 naming the field that is wrong.
 */
export function checkRule(rule: Partial<Record<keyof NewPolicyRule, unknown>>): NewPolicyRule {
  const { priority, effect, description = "" } = rule;
  if (typeof priority !== "number" || !Number.isSafeInteger(priority) || priority < 0) {
    throw new McIasError(400, "priority must be a non-negative integer (lower runs first)");
  }
  if (effect !== "allow" && effect !== "deny") {
    throw new McIasError(400, `effect must be "allow" or "deny"`);
  }
  if (typeof description !== "string" || description.length > MAX_DESCRIPTION) {
    throw new McIasError(
      400,
      `description must be a string of at most ${MAX_DESCRIPTION} characters`,
    );
  }
  return {
    priority,
    effect,
    roles: stringList(rule.roles, "roles", ROLES) as Role[],
    accountTypes: stringList(rule.accountTypes, "account_types", ACCOUNT_TYPES) as AccountType[],
    serviceNames: stringList(rule.serviceNames, "service_names"),
    tags: stringList(rule.tags, "tags"),
    description,
  };
}
