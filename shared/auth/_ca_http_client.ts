/**
 * The one place that turns a private CA certificate into a Deno HTTP client,
 * so every MCIAS request trusts the same roots.
 *
 * @module
 */

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/;

/**
 * Creates an HTTP client, for `fetch(url, { client })`, that trusts `caCert`
 * in addition to the default roots. It needs no permission beyond network
 * access to the hosts fetched. Close it when done.
 *
 * @param caCert PEM text of the CA certificate (not a path).
 * @param configKey Config key to name in errors, e.g. `[mcias] ca_cert`.
 * @returns The client.
 * @throws {TypeError} When `caCert` is not PEM certificate text.
 */
export function createCaHttpClient(caCert: string, configKey: string): Deno.HttpClient {
  if (!PEM_CERTIFICATE.test(caCert)) {
    const looksLikePath = !caCert.includes("\n") && caCert.length < 4096;
    throw new TypeError(
      `Cannot use CA certificate from ${configKey}: expected PEM text starting with ` +
        `"-----BEGIN CERTIFICATE-----"` +
        (looksLikePath
          ? `, got ${JSON.stringify(caCert)}; read the file and pass its contents`
          : ", got other text"),
    );
  }
  try {
    return Deno.createHttpClient({ caCerts: [caCert] });
  } catch (cause) {
    throw new TypeError(
      `Cannot use CA certificate from ${configKey}: ${(cause as Error).message}; ` +
        "check that the file holds a valid PEM certificate",
      { cause },
    );
  }
}
