/**
 * MCAT, the policy tester: would this account be let in to this service
 * with these tags, and which rule decides? A dry run: no token is issued.
 *
 * @module
 */

import type { Hono } from "hono";
import { html } from "hono/html";
import type { HtmlEscapedString } from "hono/utils/html";
import { csrfInput } from "@mc/mcdsl/web";
import { type McIas, McIasError, type PolicyTestResult } from "../core/types.ts";
import {
  formStatus,
  message,
  page,
  readForm,
  splitList,
  type WebContext,
  type WebEnv,
} from "./_page.ts";

/** What MCAT needs. */
export interface McatPageOptions {
  /** The core (`testPolicy`). */
  mcias: Pick<McIas, "testPolicy">;
}

interface McatQuery {
  username: string;
  serviceName: string;
  tags: string;
}

/**
 * Registers `GET /mcat` and `POST /mcat` on `routes`.
 *
 * @param routes The app's route table.
 * @param options The core.
 */
export function registerMcatPage(routes: Hono<WebEnv>, options: McatPageOptions): void {
  const { mcias } = options;

  routes.get("/mcat", (c) => mcatPage(c, { username: "", serviceName: "", tags: "" }));

  routes.post("/mcat", async (c) => {
    const form = await readForm(c);
    const query = {
      username: form.field("username"),
      serviceName: form.field("service_name"),
      tags: form.field("tags"),
    };
    if (query.username === "") {
      return mcatPage(c, query, { error: "Enter the username to test." }, 400);
    }
    let result: PolicyTestResult;
    try {
      result = mcias.testPolicy(query.username, query.serviceName, splitList(query.tags));
    } catch (error) {
      if (!(error instanceof McIasError)) throw error;
      return mcatPage(c, query, { error: error.message }, error.status);
    }
    return mcatPage(c, query, { result });
  });
}

function mcatPage(
  c: WebContext,
  query: McatQuery,
  outcome: { error?: string; result?: PolicyTestResult } = {},
  status: 200 | 400 | 404 | 409 = 200,
): Response | Promise<Response> {
  return page(c, {
    title: "MCAT",
    status: formStatus(c, status),
    body: html`
      <h1>MCAT: policy tester</h1>
      <p>Checks what MCIAS login policy decides for an account signing in to a service. Nothing is issued or logged in.</p>
      <form method="post" action="/mcat" hx-post="/mcat" hx-target="#main" hx-select="#main"
        hx-swap="outerHTML">
      ${csrfInput(c.var.csrfToken)}
      <label>Username <input type="text" name="username" value="${query.username}" required></label>
      <label>Service name (empty for MCIAS itself) <input type="text" name="service_name" value="${query
        .serviceName}"></label>
      <label>Tags, comma-separated <input type="text" name="tags" value="${query.tags}"></label>
      <button type="submit">Test</button>
      </form>
      <section id="result">
      ${message("error", outcome.error)}
      ${outcome.result === undefined ? "" : resultView(outcome.result)}
      </section>
    `,
  });
}

function resultView(result: PolicyTestResult): HtmlEscapedString {
  const rule = result.rule;
  return html`<h2>Result</h2>
<p>Login of <strong>${result.username}</strong>: <span class="${
    result.allowed ? "allowed" : "denied"
  }" data-decision="${result.allowed ? "allowed" : "denied"}">${
    result.allowed ? "allowed" : "denied"
  }</span></p>
<p>Reason: <span data-reason>${result.reason}</span></p>
${
    rule === undefined ? html`<p>Deciding rule: none</p>` : html`
      <table data-rule="${rule.id}">
        <caption>Deciding rule</caption>
        <tr>
          <th>Id</th>
          <td>${rule.id}</td>
        </tr>
        <tr>
          <th>Priority</th>
          <td>${rule.priority}</td>
        </tr>
        <tr>
          <th>Effect</th>
          <td>${rule.effect}</td>
        </tr>
        <tr>
          <th>Roles</th>
          <td>${anyOf(rule.roles)}</td>
        </tr>
        <tr>
          <th>Account types</th>
          <td>${anyOf(rule.accountTypes)}</td>
        </tr>
        <tr>
          <th>Services</th>
          <td>${anyOf(rule.serviceNames)}</td>
        </tr>
        <tr>
          <th>Tags</th>
          <td>${anyOf(rule.tags)}</td>
        </tr>
        <tr>
          <th>Description</th>
          <td>${rule.description}</td>
        </tr>
      </table>
    `
  }` as HtmlEscapedString;
}

function anyOf(items: readonly string[]): string {
  return items.length === 0 ? "any" : items.join(", ");
}
