/**
 * The global firewall every listener shares: blocked IPs, CIDR prefixes (v4
 * and v6), GeoIP countries (a MaxMind `.mmdb` read with mmdb-lib), a per-IP
 * connection rate limit with bounded memory, and the user-agent substrings
 * the L7 side answers 403 for. Rules are swapped at run time
 * ({@linkcode Firewall.setRules}) when the store changes.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import { type CountryResponse, Reader } from "mmdb-lib";
import { type Cidr, cidrContains, formatIp, parseCidr, parseIp } from "./ip.ts";
import type { BlockReason, FirewallRule, RateLimit } from "./types.ts";

/** Default cap on the IPs the rate limiter tracks at once. */
export const DEFAULT_MAX_TRACKED_IPS = 100_000;

/** Options for {@linkcode Firewall}. */
export interface FirewallOptions {
  /** Contents of a MaxMind country database; without it country rules match nothing. */
  geoipDb?: Uint8Array;
  /** Per-IP connection rate limit; `limit: 0` turns it off. */
  rateLimit?: RateLimit;
  /**
   * Most IPs tracked by the rate limiter; past it the least recently
   * (re)started window is forgotten.
   * @default {100_000}
   */
  maxTrackedIps?: number;
  /** Clock, ms. @default {Date.now} */
  now?: () => number;
}

interface Window {
  start: number;
  count: number;
}

/** Rules a {@linkcode Firewall} could not use (bad values), for a warning. */
export interface RejectedRule {
  rule: FirewallRule;
  reason: string;
}

/** The firewall. */
export class Firewall {
  #ips = new Set<string>();
  #cidrs4: Cidr[] = [];
  #cidrs6: Cidr[] = [];
  #countries = new Set<string>();
  #userAgents: string[] = [];
  #geo?: Reader<CountryResponse>;
  #rate: RateLimit;
  #maxTracked: number;
  #now: () => number;
  #windows = new Map<string, Window>();

  /**
   * @param options GeoIP database, rate limit, tracking cap, clock.
   * @throws {Error} When `geoipDb` is not a MaxMind database.
   */
  constructor(options: FirewallOptions = {}) {
    if (options.geoipDb !== undefined) {
      this.#geo = new Reader<CountryResponse>(Buffer.from(options.geoipDb));
    }
    this.#rate = options.rateLimit ?? { limit: 0, windowMs: 1000 };
    this.#maxTracked = options.maxTrackedIps ?? DEFAULT_MAX_TRACKED_IPS;
    this.#now = options.now ?? Date.now;
  }

  /** Whether a GeoIP database is loaded. */
  get hasGeoip(): boolean {
    return this.#geo !== undefined;
  }

  /** IPs the rate limiter tracks now (at most `maxTrackedIps`). */
  get trackedIps(): number {
    return this.#windows.size;
  }

  /**
   * Replaces the rules (ip, cidr, country, user_agent).
   *
   * @param rules Every rule.
   * @returns The rules that could not be used (bad addresses or prefixes).
   */
  setRules(rules: readonly FirewallRule[]): RejectedRule[] {
    const rejected: RejectedRule[] = [];
    const ips = new Set<string>();
    const cidrs4: Cidr[] = [];
    const cidrs6: Cidr[] = [];
    const countries = new Set<string>();
    const userAgents: string[] = [];
    for (const rule of rules) {
      switch (rule.kind) {
        case "ip": {
          const b = parseIp(rule.value);
          if (b === undefined) rejected.push({ rule, reason: "not an IP address" });
          else ips.add(formatIp(b));
          break;
        }
        case "cidr": {
          const c = parseCidr(rule.value);
          if (c === undefined) rejected.push({ rule, reason: "not a CIDR prefix" });
          else (c.net.length === 4 ? cidrs4 : cidrs6).push(c);
          break;
        }
        case "country":
          if (!/^[A-Za-z]{2}$/.test(rule.value)) {
            rejected.push({ rule, reason: "not an ISO 3166-1 alpha-2 code" });
          } else countries.add(rule.value.toUpperCase());
          break;
        case "user_agent":
          if (rule.value !== "") userAgents.push(rule.value.toLowerCase());
          break;
        default:
          rejected.push({ rule, reason: "unknown kind" });
      }
    }
    this.#ips = ips;
    this.#cidrs4 = cidrs4;
    this.#cidrs6 = cidrs6;
    this.#countries = countries;
    this.#userAgents = userAgents;
    return rejected;
  }

  /**
   * Country of `ip` per the GeoIP database.
   *
   * @param ip An address.
   * @returns The ISO code, or `undefined` (no database, unknown address).
   */
  country(ip: string): string | undefined {
    if (this.#geo === undefined) return undefined;
    try {
      const r = this.#geo.get(ip);
      return r?.country?.iso_code ?? r?.registered_country?.iso_code;
    } catch {
      return undefined;
    }
  }

  /**
   * Checks one new connection from `ip` and counts it against the rate limit
   * (blocked connections by ip/cidr/country are not counted).
   *
   * @param ip The real client address (after a trusted PROXY header).
   * @returns Why it is blocked, or `undefined` to let it through.
   */
  check(ip: string): BlockReason | undefined {
    const b = parseIp(ip);
    if (b === undefined) return "ip";
    const canonical = formatIp(b);
    if (this.#ips.has(canonical)) return "ip";
    for (const c of b.length === 4 ? this.#cidrs4 : this.#cidrs6) {
      if (cidrContains(c, b)) return "cidr";
    }
    if (this.#countries.size > 0) {
      const cc = this.country(canonical);
      if (cc !== undefined && this.#countries.has(cc)) return "country";
    }
    if (this.#rate.limit > 0 && !this.#admit(canonical)) return "rate_limit";
    return undefined;
  }

  /**
   * Whether an L7 request's `User-Agent` matches a blocked substring
   * (case-insensitive).
   *
   * @param ua The header value (absent: not blocked).
   * @returns True to answer 403.
   */
  blockedUserAgent(ua: string | undefined | null): boolean {
    if (ua === undefined || ua === null || this.#userAgents.length === 0) return false;
    const lower = ua.toLowerCase();
    return this.#userAgents.some((s) => lower.includes(s));
  }

  #admit(ip: string): boolean {
    const now = this.#now();
    const w = this.#windows.get(ip);
    if (w !== undefined && now - w.start < this.#rate.windowMs) {
      w.count++;
      return w.count <= this.#rate.limit;
    }
    // A new window goes to the end of the map, so the first entries are the
    // oldest windows: forget expired ones, and past the cap the oldest.
    if (w !== undefined) this.#windows.delete(ip);
    let sweep = 8;
    for (const [k, v] of this.#windows) {
      if (sweep-- === 0) break;
      if (now - v.start >= this.#rate.windowMs || this.#windows.size >= this.#maxTracked) {
        this.#windows.delete(k);
      } else break;
    }
    this.#windows.set(ip, { start: now, count: 1 });
    return this.#rate.limit >= 1;
  }
}
