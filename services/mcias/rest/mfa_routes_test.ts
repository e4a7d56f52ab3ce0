import assert from "node:assert/strict";
import { Hono } from "hono";
import { secureApp } from "@mc/mcdsl/httpserver";
import { createLogger } from "@mc/mcdsl/log";
import { createMfaRoutes, MFA_ACCESS } from "./mfa_routes.ts";
import { FAKE_PASSWORD, FAKE_VALIDATOR, makeMfaTestEnv } from "./_mfa_test_app.ts";

async function oathtool(base32: string, at: Date): Promise<string> {
  const { code, stdout } = await new Deno.Command("oathtool", {
    args: ["--totp", "-b", base32, "--now", at.toISOString()],
  }).output();
  assert.equal(code, 0);
  return new TextDecoder().decode(stdout).trim();
}

function request(
  method: string,
  body?: unknown,
  user: string | null = "alice",
): RequestInit {
  const headers: Record<string, string> = {};
  if (user !== null) headers.authorization = `Bearer fake-bearer-${user}`;
  if (body !== undefined) headers["content-type"] = "application/json";
  return { method, headers, body: body === undefined ? undefined : JSON.stringify(body) };
}

Deno.test("MFA_ACCESS declares exactly the routes createMfaRoutes() registers", async () => {
  await using env = await makeMfaTestEnv();
  const logger = createLogger({ write: () => {} });
  // secureApp throws AccessMapError on any missing or stale entry.
  secureApp(createMfaRoutes({ mfa: env.mfa }), MFA_ACCESS, { validator: FAKE_VALIDATOR, logger });
  const { "POST /v1/auth/webauthn/login": _drop, ...partial } = MFA_ACCESS;
  assert.throws(() =>
    secureApp(new Hono().route("/", createMfaRoutes({ mfa: env.mfa })), partial, {
      validator: FAKE_VALIDATOR,
      logger,
    })
  );
  for (const [route, access] of Object.entries(MFA_ACCESS)) {
    assert.equal(access, route.includes("/v1/auth/") ? "public" : "authenticated", route);
  }
});

Deno.test("TOTP routes: enrol, confirm with an oathtool code, disable with a code", async () => {
  await using env = await makeMfaTestEnv();
  const enrol = await env.app.request("/v1/account/totp/enrol", request("POST"));
  assert.equal(enrol.status, 201);
  assert.equal(enrol.headers.get("cache-control"), "no-store");
  const { secret, uri } = await enrol.json();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  assert.ok(uri.startsWith("otpauth://totp/Metacircular:alice?"));

  const wrong = await env.app.request(
    "/v1/account/totp/confirm",
    request("POST", { code: "12345" }),
  );
  assert.equal(wrong.status, 400);
  assert.match((await wrong.json()).error, /does not match/);

  const confirm = await env.app.request(
    "/v1/account/totp/confirm",
    request("POST", { code: await oathtool(secret, env.clock.now) }),
  );
  assert.equal(confirm.status, 200);
  const { recovery_codes } = await confirm.json();
  assert.equal(recovery_codes.length, 10);
  assert.equal(env.mfa.totpEnabled("alice"), true);

  const again = await env.app.request("/v1/account/totp/enrol", request("POST"));
  assert.equal(again.status, 409);
  await again.body?.cancel();

  env.completer.calls = [];
  const noCode = await env.app.request("/v1/account/totp", request("DELETE", { code: "000000x" }));
  assert.equal(noCode.status, 403);
  await noCode.body?.cancel();
  assert.equal(env.mfa.totpEnabled("alice"), true);
  // Guessing is throttled and counted like a login.
  assert.ok(
    env.completer.calls.some((c) => c.startsWith("throttle alice ")),
    env.completer.calls.join(),
  );
  assert.ok(
    env.completer.calls.some((c) => c.startsWith("failure alice ")),
    env.completer.calls.join(),
  );

  const disable = await env.app.request(
    "/v1/account/totp",
    request("DELETE", { code: recovery_codes[0] }),
  );
  assert.equal(disable.status, 204);
  assert.equal(env.mfa.totpEnabled("alice"), false);

  const notEnabled = await env.app.request(
    "/v1/account/totp",
    request("DELETE", { code: recovery_codes[1] }),
  );
  assert.equal(notEnabled.status, 409);
  await notEnabled.body?.cancel();
});

Deno.test("self-service routes need a valid token; system accounts get 400", async () => {
  await using env = await makeMfaTestEnv();
  for (
    const [method, path] of [
      ["POST", "/v1/account/totp/enrol"],
      ["POST", "/v1/account/totp/confirm"],
      ["DELETE", "/v1/account/totp"],
      ["POST", "/v1/account/webauthn/register/options"],
      ["POST", "/v1/account/webauthn/register"],
    ]
  ) {
    const response = await env.app.request(path, request(method, {}, null));
    assert.equal(response.status, 401, `${method} ${path}`);
    await response.body?.cancel();
  }
  const svc = await env.app.request("/v1/account/totp/enrol", request("POST", undefined, "svc"));
  assert.equal(svc.status, 400);
  assert.match((await svc.json()).error, /system account/);
});

Deno.test("passkey routes: options for the caller and for login; bad bodies are 400", async () => {
  await using env = await makeMfaTestEnv();
  // A session alone cannot add a passkey: re-authenticate (throttled, counted).
  for (const body of [undefined, {}, { password: "wrong password here" }, { code: "123456" }]) {
    env.completer.calls = [];
    const refused = await env.app.request(
      "/v1/account/webauthn/register/options",
      request("POST", body),
    );
    assert.equal(refused.status, 403, JSON.stringify(body));
    await refused.body?.cancel();
    if (body !== undefined) {
      assert.ok(env.completer.calls.some((c) => c.startsWith("failure alice ")), String(body));
    }
  }
  const reg = await env.app.request(
    "/v1/account/webauthn/register/options",
    request("POST", { password: FAKE_PASSWORD("alice") }),
  );
  assert.equal(reg.status, 200);
  const regOptions = await reg.json();
  assert.equal(regOptions.rp.id, "localhost");
  assert.equal(regOptions.user.name, "alice");
  assert.equal(typeof regOptions.challenge, "string");

  const bad = await env.app.request(
    "/v1/account/webauthn/register",
    request("POST", { response: "nope" }),
  );
  assert.equal(bad.status, 400);
  assert.match((await bad.json()).error, /startRegistration/);

  const forged = await env.app.request(
    "/v1/account/webauthn/register",
    request("POST", {
      response: { id: "AAAA", rawId: "AAAA", type: "public-key", response: {} },
    }),
  );
  assert.equal(forged.status, 400);
  assert.match((await forged.json()).error, /Passkey registration failed/);

  // Public login options: with no body (passwordless) and with a username:
  // the same discoverable options either way (no enumeration).
  const open = await env.app.request("/v1/auth/webauthn/options", { method: "POST" });
  assert.equal(open.status, 200);
  const openOptions = await open.json();
  assert.equal(openOptions.allowCredentials, undefined);
  const named = await env.app.request(
    "/v1/auth/webauthn/options",
    request("POST", { username: "alice" }, null),
  );
  assert.equal(named.status, 200);
  // No passkeys: nothing to list (the library omits an empty list).
  assert.deepEqual((await named.json()).allowCredentials ?? [], []);

  const login = await env.app.request(
    "/v1/auth/webauthn/login",
    request("POST", {
      response: { id: "AAAA", rawId: "AAAA", type: "public-key", response: {} },
    }, null),
  );
  assert.equal(login.status, 401);
  assert.match((await login.json()).error, /request new login options/);

  const extra = await env.app.request(
    "/v1/auth/webauthn/login",
    request("POST", { response: {}, password: "x" }, null),
  );
  assert.equal(extra.status, 400);
  await extra.body?.cancel();
});
