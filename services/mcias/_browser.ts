/**
 * Test helper: a real headless Chromium driven over the DevTools protocol
 * (CDP) with Deno's own WebSocket, for browser-side tests such as passkeys
 * with a virtual authenticator. Every wait is bounded; `close()` always
 * kills the process and removes its profile.
 *
 * @module
 */

/** Where Debian's `chromium` package installs the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** Options for {@linkcode launchChromium}. */
export interface LaunchOptions {
  /** Extra command-line switches. */
  args?: string[];
  /**
   * Longest wait for start-up and for each command, in milliseconds.
   * @default {20000}
   */
  timeoutMs?: number;
}

/** A CDP event. */
export interface CdpEvent {
  /** Event name, e.g. `"Page.loadEventFired"`. */
  method: string;
  /** Its parameters. */
  params: Record<string, unknown>;
  /** The page session it belongs to. */
  sessionId?: string;
}

/** A running Chromium. */
export interface Chromium extends AsyncDisposable {
  /** Sends a CDP command (to a page when `sessionId` is given) and returns its result. */
  send(
    method: string,
    params?: Record<string, unknown>,
    sessionId?: string,
  ): Promise<Record<string, unknown>>;
  /** Resolves with the first matching event from now on. */
  waitFor(method: string, sessionId?: string): Promise<CdpEvent>;
  /** Opens a page at `url` and waits for its load event; returns its session id. */
  openPage(url: string): Promise<string>;
  /** Evaluates an expression in the page (awaiting promises) and returns its JSON value. */
  evaluate(sessionId: string, expression: string): Promise<unknown>;
  /** Everything Chromium wrote to stderr, for failure messages. */
  stderr(): string;
  /** Closes the browser, kills the process and removes the profile. */
  close(): Promise<void>;
}

/**
 * Starts headless Chromium with a fresh profile and connects to it.
 *
 * @param options Extra switches and the time limit.
 * @returns The connected browser.
 * @throws {Error} If Chromium does not start or announce its DevTools endpoint in time.
 */
export async function launchChromium(options: LaunchOptions = {}): Promise<Chromium> {
  const { args = [], timeoutMs = 20_000 } = options;
  try {
    await Deno.stat(CHROMIUM);
  } catch (error) {
    throw new Error(
      `Cannot launch Chromium: ${CHROMIUM} is missing; install it with "apt-get install -y chromium"`,
      { cause: error },
    );
  }
  const profile = await Deno.makeTempDir({ prefix: "mcias_chromium_" });
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
      `--user-data-dir=${profile}`,
      "--remote-debugging-port=0",
      ...args,
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();

  let log = "";
  let announce: (url: string) => void = () => {};
  const announced = new Promise<string>((resolve) => announce = resolve);
  const drained = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) {
      log += decoder.decode(chunk, { stream: true });
      if (log.length > 1_000_000) log = log.slice(-500_000);
      const match = log.match(/DevTools listening on (ws:\/\/\S+)/);
      if (match) announce(match[1]);
    }
  })();

  let socket: WebSocket | undefined;
  let closed = false;
  async function close(): Promise<void> {
    if (closed) return;
    closed = true;
    try {
      socket?.close();
    } catch { /* already closed */ }
    try {
      child.kill("SIGKILL");
    } catch { /* already exited */ }
    await child.status;
    await drained;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }

  try {
    const wsUrl = await within(announced, timeoutMs, "Chromium to announce DevTools", () => log);
    socket = new WebSocket(wsUrl);
    const ws = socket;
    await within(
      new Promise<void>((resolve, reject) => {
        ws.onopen = () => resolve();
        ws.onerror = () => reject(new Error("DevTools WebSocket failed"));
      }),
      timeoutMs,
      "the DevTools WebSocket to open",
      () => log,
    );
    let nextId = 1;
    const pending = new Map<
      number,
      { resolve: (v: Record<string, unknown>) => void; reject: (e: Error) => void }
    >();
    const waiters: { method: string; sessionId?: string; resolve: (e: CdpEvent) => void }[] = [];
    ws.onmessage = (message) => {
      const data = JSON.parse(String(message.data));
      if (typeof data.id === "number") {
        const p = pending.get(data.id);
        pending.delete(data.id);
        if (data.error) p?.reject(new Error(`CDP error: ${JSON.stringify(data.error)}`));
        else p?.resolve(data.result ?? {});
        return;
      }
      for (let i = 0; i < waiters.length; i++) {
        const w = waiters[i];
        if (
          w.method === data.method && (w.sessionId === undefined || w.sessionId === data.sessionId)
        ) {
          waiters.splice(i, 1);
          w.resolve(data as CdpEvent);
          break;
        }
      }
    };
    ws.onclose = () => {
      for (const p of pending.values()) p.reject(new Error("DevTools connection closed"));
      pending.clear();
    };

    const send: Chromium["send"] = (method, params = {}, sessionId) => {
      const id = nextId++;
      const result = new Promise<Record<string, unknown>>((resolve, reject) => {
        pending.set(id, { resolve, reject });
      });
      ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      return within(result, timeoutMs, `CDP ${method}`, () => log);
    };
    const waitFor: Chromium["waitFor"] = (method, sessionId) =>
      within(
        new Promise<CdpEvent>((resolve) => waiters.push({ method, sessionId, resolve })),
        timeoutMs,
        `CDP event ${method}`,
        () => log,
      );

    return {
      send,
      waitFor,
      async openPage(url) {
        const { targetId } = await send("Target.createTarget", { url: "about:blank" });
        const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true }) as {
          sessionId: string;
        };
        await send("Page.enable", {}, sessionId);
        await send("Runtime.enable", {}, sessionId);
        const loaded = waitFor("Page.loadEventFired", sessionId);
        const nav = await send("Page.navigate", { url }, sessionId);
        if (typeof nav.errorText === "string") {
          loaded.catch(() => {});
          throw new Error(`Chromium could not load ${url}: ${nav.errorText}`);
        }
        await loaded;
        return sessionId;
      },
      async evaluate(sessionId, expression) {
        const result = await send(
          "Runtime.evaluate",
          { expression, awaitPromise: true, returnByValue: true },
          sessionId,
        ) as {
          result: { value?: unknown };
          exceptionDetails?: { exception?: { description?: string }; text?: string };
        };
        if (result.exceptionDetails) {
          const d = result.exceptionDetails;
          throw new Error(`Page threw: ${d.exception?.description ?? d.text}`);
        }
        return result.result.value;
      },
      stderr: () => log,
      close,
      [Symbol.asyncDispose]: close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function within<T>(
  promise: Promise<T>,
  ms: number,
  what: string,
  log: () => string,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new Error(`Timed out after ${ms} ms waiting for ${what}; stderr:\n${log().slice(-2000)}`),
        ),
      ms,
    );
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
