// Test page script: the browser side of passkey registration and login,
// with @simplewebauthn/browser served from its npm package bytes.
import {
  browserSupportsWebAuthn,
  startAuthentication,
  startRegistration,
} from "/vendor/simplewebauthn/index.js";

async function post(path, body, token) {
  const headers = { "content-type": "application/json" };
  if (token) headers.authorization = `Bearer ${token}`;
  const response = await fetch(path, {
    method: "POST",
    headers,
    body: JSON.stringify(body ?? {}),
  });
  const json = await response.json().catch(() => ({}));
  return { status: response.status, json };
}

// Registers a passkey for the account behind `token`.
globalThis.mcRegister = async (token, name, password) => {
  const options = await post("/v1/account/webauthn/register/options", { password }, token);
  if (options.status !== 200) return { step: "options", ...options };
  const response = await startRegistration({ optionsJSON: options.json });
  return { step: "register", ...(await post("/v1/account/webauthn/register", { response, name }, token)) };
};

// Logs in with a passkey: passwordless (no username, discoverable) or username-bound.
globalThis.mcLogin = async (username) => {
  const options = await post("/v1/auth/webauthn/options", username ? { username } : {});
  if (options.status !== 200) return { step: "options", ...options };
  const response = await startAuthentication({ optionsJSON: options.json });
  return {
    step: "login",
    allowCredentials: (options.json.allowCredentials ?? []).map((c) => c.id),
    ...(await post("/v1/auth/webauthn/login", { response, service_name: "mcr", tags: ["env:test"] })),
  };
};

globalThis.mcReady = browserSupportsWebAuthn() && globalThis.isSecureContext;
