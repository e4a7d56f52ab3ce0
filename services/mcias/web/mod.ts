/**
 * The MCIAS web UI (sign-in, SSO provider pages, account self-service,
 * admin pages, MCAT) and the REST route that completes SSO.
 *
 * ```ts ignore
 * import { createSsoTokenRoutes, createWebApp, SSO_REST_ACCESS } from "./web/mod.ts";
 * const web = createWebApp({ mcias, mfa, sso, logger });
 * api.route("/", createSsoTokenRoutes({ sso, logger })); // REST app, with SSO_REST_ACCESS in its map
 * ```
 *
 * @module
 */
export { createWebApp, WEB_ACCESS, type WebAppOptions } from "./web_app.ts";
export {
  createSsoTokenRoutes,
  SSO_REST_ACCESS,
  type SsoTokenRoutesOptions,
} from "./sso_token_routes.ts";
export { CSRF_COOKIE, SESSION_COOKIE } from "./_page.ts";
export { type RestAndWebOptions, routeRestAndWeb } from "./same_origin.ts";
