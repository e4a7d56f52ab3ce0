/**
 * Marks middleware that `secureApp` may run for requests no declared route
 * matches: middleware that observes but never answers, such as the request
 * log. Other middleware is skipped for those requests, so a middleware that
 * answers by itself (a mounted app, static files) cannot serve a path the
 * access map does not declare.
 *
 * @module
 */

/** Property set to `true` on middleware that never answers a request itself. */
export const RUNS_ON_UNMATCHED: unique symbol = Symbol("mcdsl.httpserver.runsOnUnmatched");
