/**
 * The browser side of passkeys, served as `/static/passkey.js` (the CSP
 * allows only same-origin scripts, no inline ones). It uses the browser's
 * own WebAuthn JSON helpers (`PublicKeyCredential.parse…OptionsFromJSON`,
 * `credential.toJSON()`), so no library is shipped.
 *
 * @module
 */

/** Path the script is served at. */
export const PASSKEY_SCRIPT_PATH = "/static/passkey.js";

/**
 * The script. It wires `#passkey-login` (sign-in page) and
 * `#passkey-register` (account page) when they are present, sends the CSRF
 * token from `<meta name="csrf-token">` in `X-CSRF-Token`, and shows errors
 * in `#passkey-message`.
 */
export const PASSKEY_SCRIPT = `"use strict";
(() => {
  const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? "";
  const show = (text) => {
    const box = document.getElementById("passkey-message");
    if (box) { box.textContent = text; box.hidden = text === ""; }
  };
  const supported = () =>
    typeof PublicKeyCredential !== "undefined" &&
    typeof PublicKeyCredential.parseCreationOptionsFromJSON === "function" &&
    typeof PublicKeyCredential.parseRequestOptionsFromJSON === "function";
  const post = async (path, body) => {
    const response = await fetch(path, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body ?? {}),
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error ?? ("HTTP " + response.status));
    return data;
  };
  const failed = (error) => {
    if (error && (error.name === "NotAllowedError" || error.name === "AbortError")) {
      show("The passkey prompt was cancelled or timed out: try again.");
    } else {
      show(error && error.message ? error.message : String(error));
    }
  };

  const login = document.getElementById("passkey-login");
  if (login) {
    login.hidden = !supported();
    login.addEventListener("click", async () => {
      show("");
      login.disabled = true;
      try {
        const options = await post("/login/passkey/options");
        const credential = await navigator.credentials.get({
          publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options),
        });
        const result = await post("/login/passkey", {
          response: credential.toJSON(),
          next: login.dataset.next ?? "",
        });
        location.assign(result.next);
      } catch (error) {
        failed(error);
      } finally {
        login.disabled = false;
      }
    });
  }

  const register = document.getElementById("passkey-register");
  if (register) {
    if (!supported()) {
      register.disabled = true;
      show("This browser cannot register passkeys.");
    }
    register.addEventListener("click", async () => {
      show("");
      register.disabled = true;
      try {
        const options = await post("/account/passkeys/options", {
          password: document.getElementById("passkey-password")?.value ?? "",
          code: document.getElementById("passkey-code")?.value ?? "",
        });
        const credential = await navigator.credentials.create({
          publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options),
        });
        const name = document.getElementById("passkey-name")?.value ?? "";
        await post("/account/passkeys", { response: credential.toJSON(), name });
        location.assign("/account");
      } catch (error) {
        failed(error);
      } finally {
        register.disabled = false;
      }
    });
  }
  // Lets tests (and curious users) see that the handlers are in place.
  document.documentElement.dataset.passkeys = supported() ? "ready" : "unsupported";
})();
`;
