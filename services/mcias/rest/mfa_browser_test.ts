import assert from "node:assert/strict";
import { dirname, join, normalize } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { createLogger } from "@mc/mcdsl/log";
import { serveHttps } from "@mc/mcdsl/httpserver";
import { createDevPki, writeDevPki } from "@mc/mcdsl/tls";
import { launchChromium } from "../_browser.ts";
import { makeMfaTestEnv, type MfaTestEnv } from "./_mfa_test_app.ts";

const TESTDATA = fromFileUrl(new URL("../testdata/", import.meta.url));
// The ESM build of @simplewebauthn/browser, from the npm package bytes in Deno's cache.
const SIMPLEWEBAUTHN_ESM = dirname(fromFileUrl(import.meta.resolve("@simplewebauthn/browser")));

/** SHA-256 of the server key's SubjectPublicKeyInfo, base64: what Chromium's SPKI allow-list takes. */
async function spkiHash(keyPem: string): Promise<string> {
  const der = Uint8Array.from(
    atob(keyPem.replace(/-----[^-]+-----/g, "").replace(/\s/g, "")),
    (c) => c.charCodeAt(0),
  );
  const key = await crypto.subtle.importKey(
    "pkcs8",
    der,
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["sign"],
  );
  const { d: _d, key_ops: _ops, ...publicJwk } = await crypto.subtle.exportKey("jwk", key);
  const pub = await crypto.subtle.importKey(
    "jwk",
    publicJwk,
    { name: "ECDSA", namedCurve: "P-256" },
    true,
    ["verify"],
  );
  const spki = new Uint8Array(await crypto.subtle.exportKey("spki", pub));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", spki));
  return btoa(String.fromCharCode(...digest));
}

function testPageRoutes(api: MfaTestEnv["app"]): void {
  api.get("/", async (c) => c.html(await Deno.readTextFile(join(TESTDATA, "webauthn_page.html"))))
    .get(
      "/webauthn_page.js",
      async (c) =>
        c.body(await Deno.readTextFile(join(TESTDATA, "webauthn_page.js")), 200, {
          "content-type": "text/javascript; charset=utf-8",
        }),
    )
    .get("/vendor/simplewebauthn/*", async (c) => {
      const rel = normalize(c.req.path.slice("/vendor/simplewebauthn/".length));
      if (rel.startsWith("..") || rel.startsWith("/") || !rel.endsWith(".js")) {
        return c.json({ error: "not found" }, 404);
      }
      const bytes = await Deno.readFile(join(SIMPLEWEBAUTHN_ESM, rel)).catch(() => undefined);
      if (bytes === undefined) return c.json({ error: "not found" }, 404);
      return c.body(bytes, 200, { "content-type": "text/javascript; charset=utf-8" });
    });
}

const TEST_PAGE_ACCESS = {
  "GET /": "public",
  "GET /webauthn_page.js": "public",
  "GET /vendor/simplewebauthn/*": "public",
} as const;

Deno.test({
  name:
    "MFA routes in headless Chromium: register a passkey, then log in passwordless and username-bound",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mcias_webauthn_" });
    const pki = await createDevPki({ hosts: ["localhost", "127.0.0.1"] });
    const paths = await writeDevPki(dir, pki);
    // The origin needs the port, known only once listening: the app is built after.
    const late: { fetch?: (request: Request, env: unknown) => Response | Promise<Response> } = {};
    const server = await serveHttps(
      (request, env) => late.fetch?.(request, env) ?? new Response("starting", { status: 503 }),
      {
        listenAddr: "127.0.0.1:0",
        tlsCert: paths.cert,
        tlsKey: paths.key,
        logger: createLogger({ write: () => {} }),
        graceMs: 1000,
      },
    );
    const origin = `https://localhost:${server.addr.port}`;
    const env = await makeMfaTestEnv({
      webauthn: { rpId: "localhost", rpName: "Metacircular", origins: [origin] },
      extra: testPageRoutes,
      extraAccess: TEST_PAGE_ACCESS,
    });
    late.fetch = (request, bindings) => env.app.fetch(request, bindings);
    const browser = await launchChromium({
      args: [`--ignore-certificate-errors-spki-list=${await spkiHash(pki.server.key)}`],
      timeoutMs: 20_000,
    }).catch(async (error) => {
      await env[Symbol.asyncDispose]();
      await server.shutdown(0);
      await Deno.remove(dir, { recursive: true });
      throw error;
    });
    try {
      const page = await browser.openPage(`${origin}/`);
      assert.equal(await browser.evaluate(page, "window.isSecureContext"), true);
      // Wait (bounded) for the module script to have run.
      for (let i = 0; i < 100 && (await browser.evaluate(page, "window.mcReady")) !== true; i++) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.equal(await browser.evaluate(page, "window.mcReady"), true, browser.stderr());
      await browser.send("WebAuthn.enable", { enableUI: false }, page);
      const { authenticatorId } = await browser.send("WebAuthn.addVirtualAuthenticator", {
        options: {
          protocol: "ctap2",
          transport: "internal",
          hasResidentKey: true,
          hasUserVerification: true,
          isUserVerified: true,
        },
      }, page);

      // Register: options from the server, create() on the virtual authenticator, verify, store.
      const registered = await browser.evaluate(
        page,
        `window.mcRegister("fake-bearer-alice", "virtual key", "fake-password-alice")`,
      ) as { step: string; status: number; json: { passkeys?: number; error?: string } };
      assert.deepEqual(registered, { step: "register", status: 201, json: { passkeys: 1 } });
      const { credentials } = await browser.send(
        "WebAuthn.getCredentials",
        { authenticatorId },
        page,
      ) as {
        credentials: { credentialId: string; isResidentCredential: boolean; signCount: number }[];
      };
      assert.equal(credentials.length, 1);
      assert.equal(credentials[0].isResidentCredential, true);
      const stored = env.db.prepare(
        "SELECT id, counter, name, account_id FROM webauthn_credentials",
      ).all() as unknown as { id: string; counter: number; name: string; account_id: number }[];
      assert.equal(stored.length, 1);
      assert.equal(stored[0].name, "virtual key");
      assert.equal(stored[0].account_id, 1);
      const counterAfterRegistration = stored[0].counter;

      // Without a token, registration is refused by the access map.
      const anonymous = await browser.evaluate(page, `window.mcRegister("", "x")`) as {
        status: number;
      };
      assert.equal(anonymous.status, 401);

      // Passwordless: no username, the discoverable credential names the account.
      const login = await browser.evaluate(page, "window.mcLogin()") as {
        step: string;
        status: number;
        allowCredentials: string[];
        json: { token: string; expires_at: string };
      };
      assert.equal(login.step, "login");
      assert.equal(login.status, 200, JSON.stringify(login.json));
      assert.deepEqual(login.allowCredentials, []);
      assert.match(login.json.token, /^fake-session-alice-\d+$/);
      assert.equal(login.json.expires_at, "2030-01-01T00:00:00.000Z");
      const counterAfterLogin = env.db.prepare(
        "SELECT counter, last_used_at FROM webauthn_credentials",
      )
        .get() as { counter: number; last_used_at: string | null };
      assert.ok(
        counterAfterLogin.counter > counterAfterRegistration,
        `counter ${counterAfterRegistration} -> ${counterAfterLogin.counter}`,
      );
      assert.ok(counterAfterLogin.last_used_at !== null);

      // Naming the account changes nothing: the options are discoverable
      // (no credential ids, so no enumeration); the passkey decides who logs in.
      const bound = await browser.evaluate(page, `window.mcLogin("alice")`) as {
        status: number;
        allowCredentials: string[];
        json: { token: string };
      };
      assert.equal(bound.status, 200, JSON.stringify(bound.json));
      assert.deepEqual(bound.allowCredentials ?? [], []);
      assert.match(bound.json.token, /^fake-session-alice-\d+$/);
      const counterAfterSecond = (env.db.prepare("SELECT counter FROM webauthn_credentials")
        .get() as { counter: number }).counter;
      assert.ok(counterAfterSecond > counterAfterLogin.counter);

      // A disabled account's passkey gets the same 401 as a bad one, counted as a failure.
      env.db.exec("UPDATE accounts SET disabled = 1 WHERE username = 'alice'");
      const disabled = await browser.evaluate(page, "window.mcLogin()") as {
        status: number;
        json: { error: string };
      };
      assert.deepEqual([disabled.status, disabled.json], [401, { error: "invalid credentials" }]);
      assert.ok(env.completer.calls.some((c) => c.startsWith("failure alice ")));

      assert.deepEqual(
        env.completer.calls.filter((c) => c.startsWith("complete")),
        ["complete alice mcr env:test", "complete alice mcr env:test"],
      );
      assert.ok(env.completer.calls.some((c) => c.startsWith("throttle alice ")));
      assert.equal(env.mfa.passkeyCount("alice"), 1);
    } finally {
      await browser.close();
      await env[Symbol.asyncDispose]();
      await server.shutdown(1000);
      await Deno.remove(dir, { recursive: true });
    }
  },
});
