/**
 * TLS helpers: a development PKI for `deno task up` and tests.
 *
 * ```ts
 * import { createDevPki, writeDevPki } from "@mc/mcdsl/tls";
 * const dir = await Deno.makeTempDir();
 * const paths = await writeDevPki(dir, await createDevPki());
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */
export * from "./dev_pki.ts";
