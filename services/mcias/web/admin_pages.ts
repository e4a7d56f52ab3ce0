/**
 * Admin pages: accounts (list, create, enable/disable, delete) and login
 * policy rules (list, add, delete). Forms post with htmx, which swaps the
 * page's `<main>`; without JavaScript they post as plain forms.
 *
 * @module
 */

import type { Hono } from "hono";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import type { AccountType } from "@mc/mcdsl/auth/types";
import type { Logger } from "@mc/mcdsl/log";
import { csrfInput } from "@mc/mcdsl/web";
import {
  type Account,
  type McIas,
  McIasError,
  type NewPolicyRule,
  type PolicyRule,
  type Role,
  ROLES,
} from "../core/types.ts";
import {
  formStatus,
  message,
  page,
  readForm,
  sessionOf,
  splitList,
  type WebContext,
  type WebEnv,
} from "./_page.ts";

/** What the admin pages need. */
export interface AdminPagesOptions {
  /** The core. */
  mcias: McIas;
  /** Audit lines for every change. */
  logger: Logger;
}

const ACCOUNT_TYPES: readonly AccountType[] = ["human", "system"];

/** Hooks every form up to htmx: post, then swap `<main>` with the answer's. */
const HX_FORM = html`hx-target="#main" hx-select="#main" hx-swap="outerHTML"`;

/**
 * Registers `/admin/accounts…` and `/admin/policy…` on `routes`.
 *
 * @param routes The app's route table.
 * @param options Core and logger.
 */
export function registerAdminPages(routes: Hono<WebEnv>, options: AdminPagesOptions): void {
  const { mcias, logger } = options;

  routes.get("/admin/accounts", (c) => accountsPage(c));

  routes.post("/admin/accounts", async (c) => {
    const form = await readForm(c);
    const username = form.field("username");
    const type = form.field("type") as AccountType;
    const password = form.field("password", true);
    const roles = form.all("roles").filter((r): r is Role => (ROLES as string[]).includes(r));
    if (!ACCOUNT_TYPES.includes(type)) {
      return accountsPage(c, { error: 'Choose an account type: "human" or "system".' }, 400);
    }
    try {
      await mcias.createAccount({
        username,
        type,
        ...(type === "human" ? { password, roles } : {}),
      });
    } catch (error) {
      return accountsPage(c, { error: callerError(error) }, statusOf(error));
    }
    audit(c, "account created", { account: username, type, roles: type === "human" ? roles : [] });
    return accountsPage(c, { ok: `Account "${username}" created.` });
  });

  routes.post("/admin/accounts/:username/disabled", async (c) => {
    const username = c.req.param("username");
    const form = await readForm(c);
    const disabled = form.field("disabled") === "true";
    if (disabled && isSelf(c, username)) {
      return accountsPage(c, {
        error: "You cannot disable your own account: ask another administrator.",
      }, 400);
    }
    try {
      await mcias.updateAccount(username, { disabled });
    } catch (error) {
      return accountsPage(c, { error: callerError(error) }, statusOf(error));
    }
    audit(c, disabled ? "account disabled" : "account enabled", { account: username });
    return accountsPage(c, {
      ok: `Account "${username}" ${disabled ? "disabled" : "enabled"}.`,
    });
  });

  routes.post("/admin/accounts/:username/delete", (c) => {
    const username = c.req.param("username");
    if (isSelf(c, username)) {
      return accountsPage(c, {
        error: "You cannot delete your own account: ask another administrator.",
      }, 400);
    }
    try {
      mcias.deleteAccount(username);
    } catch (error) {
      return accountsPage(c, { error: callerError(error) }, statusOf(error));
    }
    audit(c, "account deleted", { account: username });
    return accountsPage(c, { ok: `Account "${username}" deleted.` });
  });

  routes.get("/admin/policy", (c) => policyPage(c));

  routes.post("/admin/policy", async (c) => {
    const form = await readForm(c);
    let rule: NewPolicyRule;
    try {
      rule = ruleFromForm(form);
    } catch (error) {
      if (!(error instanceof RangeError)) throw error;
      return policyPage(c, { error: error.message }, 400);
    }
    let created: PolicyRule;
    try {
      created = mcias.createRule(rule);
    } catch (error) {
      return policyPage(c, { error: callerError(error) }, statusOf(error));
    }
    audit(c, "policy rule created", { rule: created });
    return policyPage(c, { ok: `Rule ${created.id} added.` });
  });

  routes.post("/admin/policy/:id/delete", (c) => {
    const id = Number(c.req.param("id"));
    if (!Number.isSafeInteger(id) || id <= 0) {
      return policyPage(c, { error: "No such rule." }, 404);
    }
    try {
      mcias.deleteRule(id);
    } catch (error) {
      return policyPage(c, { error: callerError(error) }, statusOf(error));
    }
    audit(c, "policy rule deleted", { ruleId: id });
    return policyPage(c, { ok: `Rule ${id} deleted.` });
  });

  function audit(c: WebContext, msg: string, fields: Record<string, unknown>): void {
    logger.info(msg, { ...fields, by: sessionOf(c).username });
  }

  function callerError(error: unknown): string {
    if (error instanceof McIasError) return error.message;
    throw error;
  }

  function accountsPage(
    c: WebContext,
    notice: Notice = {},
    status: 200 | 400 | 404 | 409 = 200,
  ): Response | Promise<Response> {
    const accounts = mcias.listAccounts();
    const self = sessionOf(c).username;
    return page(c, {
      title: "Accounts",
      status: formStatus(c, status),
      body: html`
        <h1>Accounts</h1>
        ${message("error", notice.error)}${message("ok", notice.ok)}
        <table id="accounts">
          <thead>
            <tr>
              <th>Username</th>
              <th>Type</th>
              <th>Roles</th>
              <th>TOTP</th>
              <th>Passkeys</th>
              <th>Status</th>
              <th>Created</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
        ${accounts.map((a) => accountRow(c, a, a.username.toLowerCase() === self.toLowerCase()))}
          </tbody>
        </table>
        <h2>New account</h2>
        <form method="post" action="/admin/accounts" hx-post="/admin/accounts" ${HX_FORM}>
        ${csrfInput(c.var.csrfToken)}
        <label>Username <input type="text" name="username" required maxlength="64" pattern="[A-Za-z0-9][A-Za-z0-9._\\-]*"></label>
        <label>Type <select name="type">
        <option value="human">human</option>
        <option value="system">system (no password, no roles)</option>
        </select></label>
        <label>Password (human accounts) <input type="password" name="password" autocomplete="new-password"></label>
        <fieldset><legend>Roles (human accounts)</legend>
        ${ROLES.map((role) =>
          html`<label><input type="checkbox" name="roles" value="${role}" ${
            role === "user" ? "checked" : ""
          }> ${role}</label>`
        )}
        </fieldset>
        <button type="submit">Create account</button>
        </form>
      `,
    });
  }

  function policyPage(
    c: WebContext,
    notice: Notice = {},
    status: 200 | 400 | 404 | 409 = 200,
  ): Response | Promise<Response> {
    const rules = mcias.listRules();
    return page(c, {
      title: "Login policy",
      status: formStatus(c, status),
      body: html`
        <h1>Login policy</h1>
        <p>Rules are tried in priority order (lowest first); the first that matches decides. No match denies. Administrators bypass policy. Test a login with <a href="/mcat">MCAT</a>.</p>
        ${message("error", notice.error)}${message("ok", notice.ok)}
        <table id="rules">
          <thead>
            <tr>
              <th>Id</th>
              <th>Priority</th>
              <th>Effect</th>
              <th>Roles</th>
              <th>Account types</th>
              <th>Services</th>
              <th>Tags</th>
              <th>Description</th>
              <th></th>
            </tr>
          </thead>
          <tbody>
        ${rules.map((rule) =>
          html`
            <tr>
              <td>${rule.id}</td>
              <td>${rule.priority}</td>
              <td>${rule.effect}</td>
              <td>${anyOf(rule.roles)}</td>
              <td>${anyOf(rule.accountTypes)}</td>
              <td>${anyOf(rule.serviceNames)}</td>
              <td>${anyOf(rule.tags)}</td>
              <td>${rule.description}</td>
              <td>
                <form method="post" action="/admin/policy/${rule.id}/delete"
                  hx-post="/admin/policy/${rule.id}/delete" hx-confirm="Delete rule ${rule
                    .id}?" ${HX_FORM}>
            ${csrfInput(c.var.csrfToken)}<button type="submit">Delete</button></form>
              </td>
            </tr>
          `
        )}
          </tbody>
        </table>
        <h2>New rule</h2>
        <form method="post" action="/admin/policy" hx-post="/admin/policy" ${HX_FORM}>
        ${csrfInput(c.var.csrfToken)}
        <label>Priority <input type="number" name="priority" required min="0" max="1000000" value="100"></label>
        <label>Effect <select name="effect"><option value="allow">allow</option><option value="deny">deny</option></select></label>
        <fieldset><legend>Roles (none = any)</legend>
        ${ROLES.map((role) =>
          html`<label><input type="checkbox" name="roles" value="${role}"> ${role}</label>`
        )}
        </fieldset>
        <fieldset><legend>Account types (none = any)</legend>
        ${ACCOUNT_TYPES.map((type) =>
          html`<label><input type="checkbox" name="account_types" value="${type}"> ${type}</label>`
        )}
        </fieldset>
        <label>Service names, comma-separated (empty = any) <input type="text" name="service_names"></label>
        <label>Tags, comma-separated, all required (empty = any) <input type="text" name="tags"></label>
        <label>Description <input type="text" name="description" maxlength="200"></label>
        <button type="submit">Add rule</button>
        </form>
      `,
    });
  }
}

interface Notice {
  error?: string;
  ok?: string;
}

function accountRow(c: WebContext, a: Account, self: boolean): HtmlEscapedString {
  const path = `/admin/accounts/${encodeURIComponent(a.username)}`;
  return html`
    <tr>
      <td>${a.username}</td>
      <td>${a.type}</td>
      <td>${a.roles.join(", ") || "—"}</td>
      <td>${a.totpEnabled ? "on" : "off"}</td>
      <td>${a.passkeys}</td>
      <td>${a.disabled ? "disabled" : "active"}</td>
      <td>${a.createdAt.toISOString().slice(0, 10)}</td>
      <td>${self ? "(you)" : html`
        <form method="post" action="${path}/disabled" hx-post="${path}/disabled" ${HX_FORM}>
        ${csrfInput(c.var.csrfToken)}<input type="hidden" name="disabled" value="${a.disabled
          ? "false"
          : "true"}">
        <button type="submit">${a.disabled ? "Enable" : "Disable"}</button></form>
        <form method="post" action="${path}/delete" hx-post="${path}/delete"
          hx-confirm="Delete account ${a.username} and all its tokens and keys?" ${HX_FORM}>
        ${csrfInput(c.var.csrfToken)}<button type="submit">Delete</button></form>
      `}</td>
    </tr>
  ` as HtmlEscapedString;
}

function anyOf(items: readonly string[]): string {
  return items.length === 0 ? "any" : items.join(", ");
}

function isSelf(c: WebContext, username: string): boolean {
  return sessionOf(c).username.toLowerCase() === username.toLowerCase();
}

function statusOf(error: unknown): 400 | 404 | 409 {
  return error instanceof McIasError ? error.status : 400;
}

function ruleFromForm(form: Awaited<ReturnType<typeof readForm>>): NewPolicyRule {
  const priorityText = form.field("priority");
  const priority = Number(priorityText);
  if (priorityText === "" || !Number.isSafeInteger(priority) || priority < 0) {
    throw new RangeError("Priority must be a whole number, 0 or more.");
  }
  const effect = form.field("effect");
  if (effect !== "allow" && effect !== "deny") {
    throw new RangeError('Effect must be "allow" or "deny".');
  }
  const roles = form.all("roles");
  const badRole = roles.find((r) => !(ROLES as string[]).includes(r));
  if (badRole !== undefined) throw new RangeError(`Unknown role ${JSON.stringify(badRole)}.`);
  const accountTypes = form.all("account_types");
  const badType = accountTypes.find((t) => !(ACCOUNT_TYPES as string[]).includes(t));
  if (badType !== undefined) {
    throw new RangeError(`Unknown account type ${JSON.stringify(badType)}.`);
  }
  return {
    priority,
    effect,
    roles: roles as Role[],
    accountTypes: accountTypes as AccountType[],
    serviceNames: splitList(form.field("service_names")),
    tags: splitList(form.field("tags")),
    description: form.field("description"),
  };
}
