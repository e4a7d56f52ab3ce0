/**
 * The secondary's refresh state machine (RFC 1034 §4.3.5, RFC 1996): for
 * each secondary zone, check the primary's SOA on start, on NOTIFY and on
 * the SOA refresh timer (retry timer after a failure); when the primary's
 * serial is newer (RFC 1982) pull the zone by AXFR and replace the local
 * copy in one transaction. A zone whose last successful check (stored as
 * `last_refresh`, so the clock survives restarts) is more than `expire`
 * seconds old is expired and the server stops answering it; so is a zone
 * still marked secondary in the store but no longer configured.
 *
 * @module
 */

import type { Logger } from "@mc/mcdsl/log";
import { NotFoundError, type Zone, type ZoneStore } from "./store.ts";
import { fetchAxfr, querySoa, serialLess, type XfrClientOptions } from "./xfr.ts";

/** Options for {@linkcode startSecondary}. */
export interface SecondaryOptions {
  /** Zones kept as copies. */
  zones: readonly string[];
  /** Their primary, `host:port`. */
  primary: string;
  /** The local store. */
  store: ZoneStore;
  /** Logger. */
  logger: Logger;
  /** Called after a zone was replaced, expired or came back (the server recompiles). */
  onChange?(zone: string): void;
  /** How often due checks are looked for, ms. @default {1000} */
  tickMs?: number;
  /** SOA query timeout, ms. @default {5000} */
  soaTimeoutMs?: number;
  /** AXFR limits. */
  transfer?: XfrClientOptions;
  /**
   * Shortest refresh and retry interval, ms, whatever the primary's SOA
   * says (a primary cannot make its secondaries pull every second).
   * @default {60000}
   */
  minIntervalMs?: number;
  /**
   * Shortest time between two NOTIFY-triggered checks of one zone, ms: a
   * NOTIFY flood (spoofed from the primary's address) costs one SOA query
   * per zone per interval. @default {5000}
   */
  notifyIntervalMs?: number;
  /** Clock, ms. @default {Date.now} */
  now?: () => number;
}

/** What a check did. */
export type CheckResult = "transferred" | "current" | "failed";

/** One zone's refresh state. */
export interface ZoneState {
  /** When the next timer check is due, ms since the epoch. */
  nextAt: number;
  /** Last successful check, ms since the epoch (from the store), if any. */
  lastOk?: number;
  /** No successful check for `expire` seconds: not served. */
  expired: boolean;
  /** A NOTIFY arrived and its check has not started yet. */
  notifyPending: boolean;
  /** When the last NOTIFY-triggered check started, ms since the epoch. */
  lastNotifyCheck: number;
  /** Last error, if the last check failed. */
  error?: string;
}

/** The running refresher. */
export interface Secondary extends AsyncDisposable {
  /**
   * A NOTIFY arrived for `zone`: check it as soon as no check is running
   * and the last NOTIFY-triggered check is `notifyIntervalMs` old. Repeated
   * NOTIFYs before then are merged into one check.
   */
  notify(zone: string): void;
  /** Checks `zone` now (unless a check is running) and waits for it. */
  check(zone: string): Promise<CheckResult>;
  /**
   * Zones the server must not answer: expired copies and zones marked
   * secondary but no longer configured ({@linkcode hiddenSecondaryZones}).
   */
  expired(): ReadonlySet<string>;
  /** A zone's state, for logs and tests. */
  state(zone: string): ZoneState | undefined;
  /** Stops the timer, cuts running transfers short and waits for them. */
  close(): Promise<void>;
}

const MAX_INTERVAL_MS = 86_400_000;

// Unconfigured secondary zones already logged, per store (logged once).
const reported = new WeakMap<ZoneStore, Set<string>>();

/**
 * The zones marked secondary in `store` that must not be served: those not
 * in `configured` (dropped from `[dns] secondary_zones`: kept in the store,
 * deletable with `mcns zone delete`, logged once) and those whose last
 * successful refresh is more than their SOA `expire` ago.
 *
 * @param store The store.
 * @param configured The configured secondary zones.
 * @param now The time, ms since the epoch.
 * @param logger Where to log unconfigured zones.
 * @returns The zone names.
 */
export function hiddenSecondaryZones(
  store: ZoneStore,
  configured: readonly string[],
  now: number = Date.now(),
  logger?: Logger,
): Set<string> {
  const wanted = new Set(configured);
  const out = new Set<string>();
  for (const z of store.listZones()) {
    if (z.primary === undefined) continue;
    if (!wanted.has(z.name)) {
      out.add(z.name);
      let seen = reported.get(store);
      if (seen === undefined) reported.set(store, seen = new Set());
      if (!seen.has(z.name)) {
        seen.add(z.name);
        logger?.warn(
          "zone is a secondary copy but not in [dns] secondary_zones: not served; delete it with `mcns zone delete` or list it again",
          { zone: z.name, primary: z.primary },
        );
      }
      continue;
    }
    if (isExpired(z, store.lastRefresh(z.name), now)) out.add(z.name);
  }
  return out;
}

function isExpired(zone: Zone, lastRefresh: number | undefined, now: number): boolean {
  return zone.primary !== undefined &&
    (lastRefresh === undefined || now - lastRefresh > zone.expire * 1000);
}

/**
 * Starts refreshing `zones` from `primary`: a first check of every zone
 * right away, then by the SOA timers.
 *
 * @returns The refresher.
 */
export function startSecondary(options: SecondaryOptions): Secondary {
  const {
    zones,
    primary,
    store,
    logger,
    onChange,
    tickMs = 1000,
    soaTimeoutMs = 5000,
    transfer,
    minIntervalMs = 60_000,
    notifyIntervalMs = 5000,
    now = Date.now,
  } = options;
  const clamp = (seconds: number) =>
    Math.min(Math.max(seconds * 1000, minIntervalMs), MAX_INTERVAL_MS);
  const stop = new AbortController();
  const { signal } = stop;

  const local = (zone: string): Zone | undefined => {
    try {
      return store.getZone(zone);
    } catch (e) {
      if (e instanceof NotFoundError) return undefined;
      throw e;
    }
  };
  // Whether the stored copy is past its expire time.
  const expiredNow = (zone: string): boolean => {
    const have = local(zone);
    return have !== undefined && isExpired(have, store.lastRefresh(zone), now());
  };
  // onChange recompiles, which reads the store: an error there is logged,
  // never thrown into a timer or a voided promise (which would end the process).
  const changed = (zone: string) => {
    try {
      onChange?.(zone);
    } catch (e) {
      logger.error("zone reload after a refresh failed", {
        zone,
        error: (e as Error).message,
      });
    }
  };

  const started = now();
  hiddenSecondaryZones(store, zones, started, logger); // logs unconfigured copies once
  const states = new Map<string, ZoneState>(zones.map((z) => {
    let expired = false;
    let lastOk: number | undefined;
    try {
      lastOk = store.lastRefresh(z);
      expired = expiredNow(z);
    } catch (e) {
      logger.error("cannot read secondary zone state", { zone: z, error: (e as Error).message });
    }
    if (expired) logger.warn("zone expired: not served until the primary answers", { zone: z });
    return [z, {
      nextAt: started,
      lastOk,
      expired,
      notifyPending: false,
      lastNotifyCheck: -Infinity,
    }];
  }));
  const running = new Map<string, Promise<CheckResult>>();

  const run = async (zone: string, st: ZoneState): Promise<CheckResult> => {
    try {
      const have = local(zone);
      const soa = await querySoa(primary, zone, soaTimeoutMs, signal);
      if (signal.aborted) return "failed";
      let result: CheckResult = "current";
      // A zone held locally as a primary zone (seeded before it was made
      // a secondary), or from another primary, is replaced whatever its serial.
      const foreign = have === undefined || have.primary !== primary;
      const at = now();
      if (foreign || serialLess(have.serial, soa.serial)) {
        const got = await fetchAxfr(primary, zone, { ...transfer, signal });
        if (signal.aborted) return "failed";
        // The copy delivered must be newer than ours too: the primary may
        // have changed between the SOA query and the transfer.
        if (!foreign && !serialLess(have.serial, got.soa.serial)) {
          logger.warn("transferred copy is not newer than ours; keeping our copy", {
            zone,
            primary,
            ours: have.serial,
            theirs: got.soa.serial,
          });
          store.markRefreshed(zone, at);
        } else {
          let skipped = got.skipped;
          store.replaceZone(got.soa, got.records, primary, {
            at,
            onSkip: (r, reason) => {
              skipped++;
              logger.warn("transferred record skipped", {
                zone,
                name: r.name,
                type: r.type,
                reason,
              });
            },
          });
          logger.info("zone transferred", {
            zone,
            primary,
            serial: got.soa.serial,
            records: got.records.length,
            skipped,
            messages: got.messages,
          });
          result = "transferred";
        }
      } else {
        if (serialLess(soa.serial, have.serial)) {
          logger.warn("primary serial is older than ours; keeping our copy", {
            zone,
            primary,
            ours: have.serial,
            theirs: soa.serial,
          });
        }
        store.markRefreshed(zone, at);
      }
      const wasExpired = st.expired;
      st.lastOk = at;
      st.expired = false;
      st.error = undefined;
      st.nextAt = at + clamp(soa.refresh);
      if (result === "transferred" || wasExpired) changed(zone);
      return result;
    } catch (e) {
      st.error = (e as Error).message;
      let timers = { retry: 60, expire: 604800 };
      let expired = st.expired;
      try {
        timers = local(zone) ?? timers;
        expired = expiredNow(zone);
      } catch (e2) {
        logger.error("cannot read secondary zone state", {
          zone,
          error: (e2 as Error).message,
        });
      }
      st.nextAt = now() + clamp(timers.retry);
      if (!signal.aborted) logger.warn("zone refresh failed", { zone, primary, error: st.error });
      if (!st.expired && expired) {
        st.expired = true;
        logger.error("zone expired: not served until the primary answers", { zone, primary });
        changed(zone);
      }
      return "failed";
    }
  };

  const check = (zone: string): Promise<CheckResult> => {
    const st = states.get(zone);
    if (st === undefined || signal.aborted) return Promise.resolve("failed");
    let p = running.get(zone);
    if (p === undefined) {
      p = run(zone, st)
        .catch((e) => {
          logger.error("zone refresh crashed", { zone, error: (e as Error).message });
          return "failed" as const;
        })
        .finally(() => running.delete(zone));
      running.set(zone, p);
    }
    return p;
  };

  const due = (zone: string, st: ZoneState, t: number) => {
    if (running.has(zone) || signal.aborted) return;
    if (st.notifyPending && t >= st.lastNotifyCheck + notifyIntervalMs) {
      st.notifyPending = false;
      st.lastNotifyCheck = t;
      void check(zone);
    } else if (st.nextAt <= t) {
      void check(zone);
    }
  };
  const tick = () => {
    const t = now();
    for (const [zone, st] of states) due(zone, st, t);
  };
  const timer = setInterval(tick, tickMs);
  tick();

  const close = async () => {
    stop.abort();
    clearInterval(timer);
    await Promise.allSettled(running.values());
  };
  return {
    notify(zone) {
      const st = states.get(zone);
      if (st === undefined || signal.aborted) return;
      // One pending flag per zone, no queue: a check already running may
      // have read the old serial, so the flag makes the next tick check again.
      st.notifyPending = true;
      due(zone, st, now());
    },
    check,
    expired: () => hiddenSecondaryZones(store, zones, now(), logger),
    state: (zone) => states.get(zone),
    close,
    [Symbol.asyncDispose]: close,
  };
}
