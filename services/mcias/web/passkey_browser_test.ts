/**
 * Passkeys in the web UI, in headless Chromium with a virtual
 * authenticator: sign in with a password, register a passkey on the
 * account page, sign out, sign in with the passkey alone. The real core and
 * the real second-factor service on a SQLite file, real TLS.
 *
 * Chromium refuses WebAuthn on pages with certificate errors, so the dev
 * certificate is trusted by its SPKI hash rather than by ignoring errors.
 */

import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { serveHttps } from "@mc/mcdsl/httpserver";
import { createLogger } from "@mc/mcdsl/log";
import { createDevPki, writeDevPki } from "@mc/mcdsl/tls";
import { launchChromium } from "../_browser.ts";
import { createSso } from "../core/sso.ts";
import { makeRealMcIas } from "./_testing.ts";
import { createWebApp } from "./web_app.ts";

type Fetch = (request: Request, env: unknown) => Response | Promise<Response>;

/** Polls `check` every 100 ms until it returns a value, for at most `ms`. */
async function until<T>(ms: number, what: string, check: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown;
  for (let i = 0; i < Math.ceil(ms / 100) + 1 && Date.now() < deadline; i++) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (error) {
      last = error; // a page mid-navigation has no execution context yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`Timed out after ${ms} ms waiting for ${what}`, { cause: last });
}

/** Base64 SHA-256 of the certificate's SubjectPublicKeyInfo, for Chromium's SPKI allow-list. */
async function spkiHash(certPem: string): Promise<string> {
  const spki = new X509Certificate(certPem).publicKey.export({ type: "spki", format: "der" });
  const digest = await crypto.subtle.digest("SHA-256", new Uint8Array(spki));
  return new Uint8Array(digest).toBase64();
}

Deno.test({
  name: "web passkeys in headless Chromium: register on the account page, then sign in with it",
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "mcias_web_passkey_" });
    await using _dir = { [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }) };
    const pki = await createDevPki({ hosts: ["localhost", "127.0.0.1"] });
    const paths = await writeDevPki(dir, pki);
    const lines: string[] = [];
    const logger = createLogger({ write: (line) => lines.push(line) });

    const late: { fetch?: Fetch } = {};
    const server = await serveHttps(
      (request, env) => late.fetch?.(request, env) ?? new Response("starting", { status: 503 }),
      { listenAddr: "127.0.0.1:0", tlsCert: paths.cert, tlsKey: paths.key, logger },
    );
    await using _s = { [Symbol.asyncDispose]: () => server.shutdown(1000) };
    const origin = `https://localhost:${server.addr.port}`;

    await using real = await makeRealMcIas({ origin });
    const { mcias, mfa } = real;
    const web = createWebApp({ mcias, mfa, sso: createSso({ clients: [], mcias }), logger });
    late.fetch = (request, env) => web.fetch(request, env);

    await using browser = await launchChromium({
      args: [`--ignore-certificate-errors-spki-list=${await spkiHash(pki.server.cert)}`],
    });
    const tab = await browser.openPage(`${origin}/login`);
    const evaluate = (expression: string) => browser.evaluate(tab, expression);
    assert.equal(await evaluate("window.isSecureContext"), true);

    // Password sign-in.
    await evaluate(`(() => {
      document.querySelector("input[name=username]").value = "ada";
      document.querySelector("input[name=password]").value = "ada-password-123";
      document.querySelector("form[action='/login'] button[type=submit]").click();
    })()`);
    await until(
      10_000,
      "the account page",
      async () =>
        (await evaluate(
            `location.pathname === "/account" && document.documentElement.dataset.passkeys === "ready"`,
          ))
          ? true
          : undefined,
    );
    assert.match(
      String(await evaluate(`document.getElementById("passkeys").textContent`)),
      /: 0\./,
    );

    // Register a passkey on a virtual authenticator.
    await browser.send("WebAuthn.enable", { enableUI: false }, tab);
    const { authenticatorId } = await browser.send("WebAuthn.addVirtualAuthenticator", {
      options: {
        protocol: "ctap2",
        transport: "internal",
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
      },
    }, tab);
    await evaluate(`(() => {
      document.getElementById("passkey-name").value = "laptop";
      document.getElementById("passkey-password").value = "ada-password-123";
      document.getElementById("passkey-register").click();
    })()`);
    const count = await until(10_000, "the passkey to be registered", async () => {
      const message = await evaluate(`document.getElementById("passkey-message")?.textContent`);
      if (typeof message === "string" && message !== "") throw new Error(message);
      const text = String(await evaluate(`document.getElementById("passkeys")?.textContent`));
      return /: 1\./.test(text) ? text : undefined;
    });
    assert.match(count, /Registered passkeys: 1\./);
    const { credentials } = await browser.send(
      "WebAuthn.getCredentials",
      { authenticatorId },
      tab,
    ) as {
      credentials: unknown[];
    };
    assert.equal(credentials.length, 1);

    // Sign out, then sign in with the passkey alone.
    await evaluate(`document.querySelector("form[action='/logout'] button").click()`);
    await until(10_000, "the sign-in page", async () =>
      (await evaluate(
          `location.pathname === "/login" && document.getElementById("passkey-login")?.hidden === false`,
        ))
        ? true
        : undefined);
    await evaluate(`document.getElementById("passkey-login").click()`);
    const who = await until(10_000, "the passkey sign-in", async () => {
      const message = await evaluate(`document.getElementById("passkey-message")?.textContent`);
      if (typeof message === "string" && message !== "") throw new Error(message);
      return (await evaluate(`location.pathname === "/account"`))
        ? String(await evaluate(`document.querySelector(".who").textContent`))
        : undefined;
    });
    assert.equal(who, "ada");
    assert.ok(!lines.some((l) => l.includes("ada-password-123")), "a password reached the log");
  },
});
