/**
 * The web UI on the real core and second factors (createMcIas, createMfa
 * on a SQLite file): TOTP enrolment and two-step sign-in, replay refusal,
 * throttling, admin pages and MCAT against the seeded rule.
 */

import assert from "node:assert/strict";
import * as OTPAuth from "otpauth";
import { createLogger } from "@mc/mcdsl/log";
import { createSso } from "../core/sso.ts";
import { SESSION_COOKIE } from "./_page.ts";
import { makeRealMcIas, TestBrowser } from "./_testing.ts";
import { createWebApp } from "./web_app.ts";

function totpAt(secret: string, ms: number): string {
  return new OTPAuth.TOTP({
    secret: OTPAuth.Secret.fromBase32(secret),
    algorithm: "SHA1",
    digits: 6,
    period: 30,
  }).generate({ timestamp: ms });
}

async function setup() {
  const clock = { now: Date.UTC(2026, 0, 1, 12, 0, 0) };
  const now = () => new Date(clock.now);
  const real = await makeRealMcIas({ now });
  const lines: string[] = [];
  const logger = createLogger({ write: (line) => lines.push(line) });
  const sso = createSso({
    clients: [{
      clientId: "mcr",
      redirectUri: "https://mcr.test/sso/callback",
      serviceName: "mcr",
      tags: [],
    }],
    mcias: real.mcias,
    now,
  });
  const app = createWebApp({ mcias: real.mcias, mfa: real.mfa, sso, logger, now });
  return { real, app, clock, lines };
}

Deno.test("web on the real core: TOTP enrolment, then password + code sign-in; a replayed code fails", async () => {
  const { real, app, clock, lines } = await setup();
  await using _real = real;
  const ada = new TestBrowser(app);
  await ada.page("/login");
  assert.equal(
    (await ada.post("/login", { username: "ada", password: "ada-password-123" })).res.status,
    303,
  );

  await ada.page("/account");
  const begin = await ada.post("/account/totp/begin");
  const secret = /<code class="secret">([A-Z2-7]+)<\/code>/.exec(begin.text)?.[1];
  assert.ok(secret, "the enrolment page shows the secret");
  const confirm = await ada.post("/account/totp/confirm", { code: totpAt(secret, clock.now) });
  assert.equal(confirm.res.status, 200, confirm.text);
  assert.match(confirm.text, /Recovery codes/);
  assert.equal(real.mcias.getAccount("ada").totpEnabled, true);
  await ada.post("/logout");

  clock.now += 30_000;
  const code = totpAt(secret, clock.now);
  const browser = new TestBrowser(app);
  await browser.page("/login");
  const first = await browser.post("/login", { username: "ada", password: "ada-password-123" });
  assert.equal(first.res.status, 401);
  assert.match(first.text, /name="totp_code"/);
  assert.equal(browser.cookie(SESSION_COOKIE), undefined);
  const second = await browser.post("/login", {
    username: "ada",
    password: "ada-password-123",
    totp_code: code,
  });
  assert.equal(second.res.status, 303);
  assert.equal((await real.mcias.validate(browser.cookie(SESSION_COOKIE)!)).username, "ada");

  const replay = new TestBrowser(app);
  await replay.page("/login");
  const again = await replay.post("/login", {
    username: "ada",
    password: "ada-password-123",
    totp_code: code,
  });
  assert.equal(again.res.status, 401);
  assert.equal(replay.cookie(SESSION_COOKIE), undefined);

  for (const secretValue of ["ada-password-123", secret, code]) {
    assert.ok(!lines.some((l) => l.includes(secretValue)), "a secret reached the log");
  }
});

Deno.test("web on the real core: repeated failures are throttled with 429", async () => {
  const { real, app } = await setup();
  await using _real = real;
  const browser = new TestBrowser(app);
  await browser.page("/login");
  let throttled: { res: Response; text: string } | undefined;
  for (let i = 0; i < 15 && throttled === undefined; i++) {
    const attempt = await browser.post("/login", { username: "root", password: `wrong-${i}` });
    if (attempt.res.status === 429) throttled = attempt;
    else assert.equal(attempt.res.status, 401);
  }
  assert.ok(throttled, "no 429 after 15 failures");
  assert.match(throttled.text, /Too many failed sign-ins/);
  // Even the right password waits out the lockout.
  const right = await browser.post("/login", { username: "root", password: "root-password-123" });
  assert.equal(right.res.status, 429);
});

Deno.test("web on the real core: admin creates a guest, MCAT names the seeded rule and the default deny", async () => {
  const { real, app } = await setup();
  await using _real = real;
  const root = new TestBrowser(app);
  await root.page("/login");
  await root.post("/login", { username: "root", password: "root-password-123" });
  await root.page("/admin/accounts");
  const created = await root.post("/admin/accounts", {
    username: "gus",
    type: "human",
    password: "gus-password-123",
    roles: ["guest"],
  });
  assert.equal(created.res.status, 200, created.text);
  assert.deepEqual(real.mcias.getAccount("gus").roles, ["guest"]);

  const seeded = real.mcias.listRules()[0]!;
  await root.page("/mcat");
  const ada = await root.post("/mcat", { username: "ada", service_name: "mcr", tags: "prod" });
  assert.match(ada.text, /data-decision="allowed"/);
  assert.match(ada.text, new RegExp(`<table data-rule="${seeded.id}">`));
  const gus = await root.post("/mcat", { username: "gus", service_name: "mcr" });
  assert.match(gus.text, /data-decision="denied"/);
  assert.match(gus.text, /Deciding rule: none/);

  // The guest cannot use MCIAS's own UI either: policy denies it.
  const guest = new TestBrowser(app);
  await guest.page("/login");
  const refused = await guest.post("/login", { username: "gus", password: "gus-password-123" });
  assert.equal(refused.res.status, 403);

  const rule = await root.post("/admin/policy", {
    priority: "10",
    effect: "allow",
    roles: ["guest"],
    service_names: "mcias",
    description: "guests may manage their account",
  });
  assert.equal(rule.res.status, 200, rule.text);
  const allowed = await guest.post("/login", { username: "gus", password: "gus-password-123" });
  assert.equal(allowed.res.status, 303);
});
