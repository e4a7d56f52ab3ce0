/**
 * The permission sandbox: permission sets, their flags, and the manifest
 * each service declares in its `deno.json`.
 *
 * ```ts
 * import { resolveManifest, toFlags } from "@mc/mcdsl/sandbox";
 * const flags = toFlags(resolveManifest({ default: { read: ["${config}"] } }, "server", () => "/srv/x/x.toml"));
 * ```
 *
 * @module
 */
export * from "./manifest.ts";
export * from "./permission_set.ts";
export * from "./audit.ts";
