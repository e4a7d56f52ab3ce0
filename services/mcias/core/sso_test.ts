import assert from "node:assert/strict";
import { FakeMcIas } from "../web/_fake_mcias.ts";
import { createSso, SSO_CODE_TTL_MS, ssoClientsFromConfig, SsoError } from "./sso.ts";
import { LoginFailedError, type SsoClient } from "./types.ts";

const REDIRECT = "https://mcr.test/sso/callback";
const CLIENTS: SsoClient[] = [
  { clientId: "mcr", redirectUri: REDIRECT, serviceName: "mcr", tags: ["prod"] },
  {
    clientId: "other",
    redirectUri: "https://other.test/sso/callback",
    serviceName: "other",
    tags: [],
  },
];

function setup() {
  let clock = new Date("2026-01-01T00:00:00Z").getTime();
  const now = () => new Date(clock);
  // TEST SCAFFOLDING: in-memory McIas, not the real core.
  const mcias = new FakeMcIas({ now });
  mcias.addUser("ada", "pw");
  mcias.addUser("gus", "pw", ["guest"]);
  mcias.createRule({
    priority: 10,
    effect: "deny",
    roles: ["guest"],
    accountTypes: [],
    serviceNames: ["mcr"],
    tags: [],
    description: "no guests on mcr",
  });
  mcias.createRule({
    priority: 1000,
    effect: "allow",
    roles: ["user"],
    accountTypes: [],
    serviceNames: [],
    tags: [],
    description: "users everywhere",
  });
  const sso = createSso({ clients: CLIENTS, mcias, now });
  return {
    mcias,
    sso,
    advance(ms: number) {
      clock += ms;
    },
  };
}

async function pkcePair(): Promise<{ verifier: string; challenge: string }> {
  const verifier = crypto.getRandomValues(new Uint8Array(32)).toBase64({
    alphabet: "base64url",
    omitPadding: true,
  });
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", new TextEncoder().encode(verifier)),
  );
  return { verifier, challenge: digest.toBase64({ alphabet: "base64url", omitPadding: true }) };
}

async function assertSsoError(promise: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof SsoError, `expected SsoError, got ${error}`);
    assert.equal(error.code, code);
    return true;
  });
}

Deno.test("createSso() issues a code that exchanges once for a token for the client's service", async () => {
  const { mcias, sso } = setup();
  const { verifier, challenge } = await pkcePair();
  const code = await sso.authorizeSso({
    token: mcias.tokenFor("ada"),
    clientId: "mcr",
    redirectUri: REDIRECT,
    codeChallenge: challenge,
    codeChallengeMethod: "S256",
    remoteAddr: "192.0.2.7",
  });
  assert.match(code, /^[A-Za-z0-9_-]{43}$/);
  const grant = await sso.exchangeSsoCode({
    code,
    clientId: "mcr",
    redirectUri: REDIRECT,
    codeVerifier: verifier,
  });
  const info = await mcias.validate(grant.token);
  assert.equal(info.username, "ada");
  assert.equal(mcias.serviceOf(grant.token), "mcr");
  const completed = mcias.calls.find((c) => c.method === "completeLogin");
  assert.deepEqual(completed?.args, [
    "ada",
    { serviceName: "mcr", tags: ["prod"], remoteAddr: "192.0.2.7" },
  ]);

  await assertSsoError(
    sso.exchangeSsoCode({ code, clientId: "mcr", redirectUri: REDIRECT, codeVerifier: verifier }),
    "invalid_grant",
  );
});

Deno.test("createSso() authorizeSso refuses an unknown client and an inexact redirect_uri", async () => {
  const { mcias, sso } = setup();
  const token = mcias.tokenFor("ada");
  await assertSsoError(
    sso.authorizeSso({ token, clientId: "nope", redirectUri: REDIRECT }),
    "invalid_client",
  );
  for (
    const redirectUri of [
      `${REDIRECT}/`,
      `${REDIRECT}?x=1`,
      "https://MCR.test/sso/callback",
      "https://mcr.test:443/sso/callback/..",
      "https://other.test/sso/callback",
      "",
    ]
  ) {
    await assertSsoError(
      sso.authorizeSso({ token, clientId: "mcr", redirectUri }),
      "invalid_request",
    );
  }
});

Deno.test("createSso() authorizeSso needs a valid MCIAS session", async () => {
  const { mcias, sso } = setup();
  await assertSsoError(
    sso.authorizeSso({ token: "fake.bogus.tok", clientId: "mcr", redirectUri: REDIRECT }),
    "login_required",
  );
  const token = mcias.tokenFor("ada");
  await mcias.logout(token);
  await assertSsoError(
    sso.authorizeSso({ token, clientId: "mcr", redirectUri: REDIRECT }),
    "login_required",
  );
});

Deno.test("createSso() authorizeSso applies policy for the client's service and tags", async () => {
  const { mcias, sso } = setup();
  await assert.rejects(
    sso.authorizeSso({ token: mcias.tokenFor("gus"), clientId: "mcr", redirectUri: REDIRECT }),
    (error: unknown) => {
      assert.ok(error instanceof SsoError);
      assert.equal(error.code, "access_denied");
      assert.equal(error.status, 403);
      assert.match(error.message, /policy does not let "gus" sign in to "mcr"/);
      return true;
    },
  );
  const policyCall = mcias.calls.find((c) => c.method === "testPolicy");
  assert.deepEqual(policyCall?.args, ["gus", "mcr", ["prod"]]);
});

Deno.test("createSso() exchangeSsoCode re-applies policy and passes the core's 403 on", async () => {
  const { mcias, sso } = setup();
  const code = await sso.authorizeSso({
    token: mcias.tokenFor("ada"),
    clientId: "mcr",
    redirectUri: REDIRECT,
  });
  // Policy changes between authorize and exchange.
  await mcias.updateAccount("ada", { roles: ["guest"] });
  await assert.rejects(
    sso.exchangeSsoCode({ code, clientId: "mcr", redirectUri: REDIRECT }),
    (error: unknown) => error instanceof LoginFailedError && error.status === 403,
  );
  // ... and the code is gone.
  await mcias.updateAccount("ada", { roles: ["user"] });
  await assertSsoError(
    sso.exchangeSsoCode({ code, clientId: "mcr", redirectUri: REDIRECT }),
    "invalid_grant",
  );
});

Deno.test("createSso() exchangeSsoCode burns the code on a wrong redirect_uri or client", async () => {
  const { mcias, sso } = setup();
  const token = mcias.tokenFor("ada");
  const code1 = await sso.authorizeSso({ token, clientId: "mcr", redirectUri: REDIRECT });
  await assertSsoError(
    sso.exchangeSsoCode({ code: code1, clientId: "mcr", redirectUri: `${REDIRECT}x` }),
    "invalid_grant",
  );
  await assertSsoError(
    sso.exchangeSsoCode({ code: code1, clientId: "mcr", redirectUri: REDIRECT }),
    "invalid_grant",
  );

  const code2 = await sso.authorizeSso({ token, clientId: "mcr", redirectUri: REDIRECT });
  await assertSsoError(
    sso.exchangeSsoCode({
      code: code2,
      clientId: "other",
      redirectUri: "https://other.test/sso/callback",
    }),
    "invalid_grant",
  );
  await assertSsoError(
    sso.exchangeSsoCode({ code: code2, clientId: "mcr", redirectUri: REDIRECT }),
    "invalid_grant",
  );
  await assertSsoError(
    sso.exchangeSsoCode({ code: "", clientId: "mcr", redirectUri: REDIRECT }),
    "invalid_grant",
  );
});

Deno.test("createSso() codes expire after 60 s", async () => {
  const { mcias, sso, advance } = setup();
  const token = mcias.tokenFor("ada");
  const fresh = await sso.authorizeSso({ token, clientId: "mcr", redirectUri: REDIRECT });
  advance(SSO_CODE_TTL_MS - 1);
  const grant = await sso.exchangeSsoCode({ code: fresh, clientId: "mcr", redirectUri: REDIRECT });
  assert.ok(grant.token);

  const stale = await sso.authorizeSso({
    token: mcias.tokenFor("ada"),
    clientId: "mcr",
    redirectUri: REDIRECT,
  });
  advance(SSO_CODE_TTL_MS);
  await assertSsoError(
    sso.exchangeSsoCode({ code: stale, clientId: "mcr", redirectUri: REDIRECT }),
    "invalid_grant",
  );
});

Deno.test("createSso() PKCE: S256 only, verifier required and checked, no downgrade", async () => {
  const { mcias, sso } = setup();
  const token = mcias.tokenFor("ada");
  const { verifier, challenge } = await pkcePair();
  const base = { token, clientId: "mcr", redirectUri: REDIRECT };

  await assertSsoError(
    sso.authorizeSso({ ...base, codeChallenge: challenge, codeChallengeMethod: "plain" }),
    "invalid_request",
  );
  await assertSsoError(sso.authorizeSso({ ...base, codeChallenge: challenge }), "invalid_request");
  await assertSsoError(
    sso.authorizeSso({ ...base, codeChallengeMethod: "S256" }),
    "invalid_request",
  );
  await assertSsoError(
    sso.authorizeSso({ ...base, codeChallenge: "short", codeChallengeMethod: "S256" }),
    "invalid_request",
  );

  const exchange = { clientId: "mcr", redirectUri: REDIRECT };
  const withPkce = { ...base, codeChallenge: challenge, codeChallengeMethod: "S256" };
  const noVerifier = await sso.authorizeSso(withPkce);
  await assertSsoError(sso.exchangeSsoCode({ ...exchange, code: noVerifier }), "invalid_grant");

  const wrongVerifier = await sso.authorizeSso(withPkce);
  const other = await pkcePair();
  await assertSsoError(
    sso.exchangeSsoCode({ ...exchange, code: wrongVerifier, codeVerifier: other.verifier }),
    "invalid_grant",
  );
  // The right verifier cannot revive a code burnt by a wrong one.
  await assertSsoError(
    sso.exchangeSsoCode({ ...exchange, code: wrongVerifier, codeVerifier: verifier }),
    "invalid_grant",
  );

  const noChallenge = await sso.authorizeSso(base);
  await assertSsoError(
    sso.exchangeSsoCode({ ...exchange, code: noChallenge, codeVerifier: verifier }),
    "invalid_grant",
  );

  const good = await sso.authorizeSso(withPkce);
  const grant = await sso.exchangeSsoCode({ ...exchange, code: good, codeVerifier: verifier });
  assert.equal((await mcias.validate(grant.token)).username, "ada");
});

Deno.test("createSso() checks its clients and ssoClient() returns copies", () => {
  const mcias = new FakeMcIas();
  assert.throws(
    () => createSso({ clients: [CLIENTS[0]!, CLIENTS[0]!], mcias }),
    /SSO client "mcr": the id is used twice/,
  );
  assert.throws(
    () =>
      createSso({
        clients: [{ ...CLIENTS[0]!, redirectUri: "http://mcr.test/sso/callback" }],
        mcias,
      }),
    /redirect_uri "http:\/\/mcr.test\/sso\/callback" is not an https URL/,
  );
  const sso = createSso({ clients: CLIENTS, mcias });
  const client = sso.ssoClient("mcr");
  assert.deepEqual(client, CLIENTS[0]);
  client!.tags.push("x");
  assert.deepEqual(sso.ssoClient("mcr")?.tags, ["prod"]);
  assert.equal(sso.ssoClient("nope"), undefined);
});

Deno.test("ssoClientsFromConfig() maps the config tables", () => {
  assert.deepEqual(
    ssoClientsFromConfig([{
      client_id: "mcr",
      redirect_uri: REDIRECT,
      service_name: "mcr",
      tags: ["a"],
    }]),
    [{ clientId: "mcr", redirectUri: REDIRECT, serviceName: "mcr", tags: ["a"] }],
  );
});

Deno.test("createSso() refuses a code whose account was deleted meanwhile", async () => {
  const { mcias, sso } = setup();
  const code = await sso.authorizeSso({
    token: mcias.tokenFor("ada"),
    clientId: "mcr",
    redirectUri: REDIRECT,
  });
  mcias.deleteAccount("ada");
  await assertSsoError(
    sso.exchangeSsoCode({ code, clientId: "mcr", redirectUri: REDIRECT }),
    "invalid_grant",
  );
});
