/**
 * Restarts a child process when it dies. This is the containment for crashes
 * inside Deno's native HTTP/2 code that no JavaScript can catch (CHURN.md):
 * the serving process dies, the supervisor starts it again.
 *
 * @module
 */

import type { Logger } from "../log/mod.ts";

/** Options for {@linkcode supervise}. */
export interface SuperviseOptions {
  /** Arguments to the command, e.g. `["run", "--allow-net=...", "main.ts"]`. */
  args: string[];
  /**
   * The program to run.
   * @default {Deno.execPath()}
   */
  command?: string;
  /** Environment for the child; with `clearEnv`, the only variables it gets. */
  env?: Record<string, string>;
  /**
   * Start the child with only `env`.
   * @default {false}
   */
  clearEnv?: boolean;
  /**
   * First restart delay; doubles after each quick death.
   * @default {100}
   */
  minBackoffMs?: number;
  /**
   * Longest restart delay.
   * @default {30_000}
   */
  maxBackoffMs?: number;
  /**
   * A child that ran this long resets the delay to `minBackoffMs`.
   * @default {60_000}
   */
  resetAfterMs?: number;
  /**
   * Where the child's output goes.
   * @default {"inherit"}
   */
  stdout?: "inherit" | "null";
  /**
   * Where the child's error output goes.
   * @default {"inherit"}
   */
  stderr?: "inherit" | "null";
  /** Stops supervising: the child gets SIGTERM and is not restarted. */
  signal?: AbortSignal;
  /** Receives start, exit and restart records. */
  logger?: Logger;
  /** Called with each child right after it starts. */
  onStart?: (child: Deno.ChildProcess) => void;
}

/** A running supervisor. */
export interface Supervisor {
  /** How many times the child was restarted after dying. */
  readonly restarts: number;
  /** The current child, if one is running. */
  readonly child: Deno.ChildProcess | undefined;
  /**
   * Settles when supervision ends: the child exited 0, or `signal` aborted
   * and the child exited. Resolves with the last exit status.
   */
  readonly done: Promise<Deno.CommandStatus>;
}

/**
 * Runs a child and starts it again, with exponential backoff, whenever it
 * exits with a non-zero code or a signal. Exit code 0 ends supervision.
 *
 * The supervising process needs `--allow-run` for the command. Note that a
 * process allowed to run `deno` can grant its child any permission: give
 * the supervisor nothing else, and put the narrow flags in `args`.
 *
 * @param options Command, arguments and backoff.
 * @returns The supervisor.
 * @throws {RangeError} When a backoff value is negative or min exceeds max.
 *
 * @example
 * ```ts ignore
 * const sup = supervise({ args: ["run", "--allow-net=0.0.0.0:9443", "--allow-read=/srv/mcns", "main.ts"] });
 * await sup.done;
 * ```
 */
export function supervise(options: SuperviseOptions): Supervisor {
  const {
    args,
    command = Deno.execPath(),
    env,
    clearEnv = false,
    minBackoffMs = 100,
    maxBackoffMs = 30_000,
    resetAfterMs = 60_000,
    signal,
    logger,
    onStart,
    stdout = "inherit",
    stderr = "inherit",
  } = options;
  if (minBackoffMs < 0 || maxBackoffMs < minBackoffMs || resetAfterMs < 0) {
    throw new RangeError(
      `Cannot supervise: need 0 <= minBackoffMs <= maxBackoffMs and resetAfterMs >= 0, got ${minBackoffMs}, ${maxBackoffMs}, ${resetAfterMs}`,
    );
  }
  const state = { restarts: 0, child: undefined as Deno.ChildProcess | undefined };
  const stopped = () => signal?.aborted === true;
  const onAbort = () => {
    try {
      state.child?.kill("SIGTERM");
    } catch {
      // Already gone.
    }
  };
  signal?.addEventListener("abort", onAbort, { once: true });

  async function run(): Promise<Deno.CommandStatus> {
    let delay = minBackoffMs;
    while (true) {
      const started = performance.now();
      const child = new Deno.Command(command, {
        args,
        env,
        clearEnv,
        stdin: "null",
        stdout,
        stderr,
      }).spawn();
      state.child = child;
      logger?.info("supervisor started child", { pid: child.pid, restarts: state.restarts });
      onStart?.(child);
      if (stopped()) onAbort();
      const status = await child.status;
      state.child = undefined;
      const ranMs = performance.now() - started;
      if (status.success || stopped()) {
        logger?.info("supervisor child exited", { code: status.code, signal: status.signal });
        return status;
      }
      if (ranMs >= resetAfterMs) delay = minBackoffMs;
      logger?.error("supervisor child died, restarting", {
        code: status.code,
        signal: status.signal,
        ran_ms: Math.round(ranMs),
        restart_in_ms: delay,
      });
      const aborted = await sleep(delay, signal);
      if (aborted) return status;
      state.restarts++;
      delay = Math.min(Math.max(delay * 2, 1), maxBackoffMs);
    }
  }

  const done = run().finally(() => signal?.removeEventListener("abort", onAbort));
  return {
    get restarts() {
      return state.restarts;
    },
    get child() {
      return state.child;
    },
    done,
  };
}

/** Waits `ms`; resolves `true` early when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(true);
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve(false);
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
