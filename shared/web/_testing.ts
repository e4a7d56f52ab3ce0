/**
 * Test helper: a minimal cookie jar, so tests can carry cookies between
 * requests the way a browser would. Package-private; not for services.
 *
 * @module
 */

/** Cookies a test browser holds, by name. */
export class CookieJar {
  #cookies = new Map<string, string>();

  /** Stores the cookies a response sets and drops those it expires. */
  store(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair = "", ...attributes] = line.split(";").map((part) => part.trim());
      const eq = pair.indexOf("=");
      const name = pair.slice(0, eq);
      const value = decodeURIComponent(pair.slice(eq + 1));
      if (attributes.some((a) => a.toLowerCase() === "max-age=0")) this.#cookies.delete(name);
      else this.#cookies.set(name, value);
    }
  }

  /** The value of cookie `name`, if held. */
  get(name: string): string | undefined {
    return this.#cookies.get(name);
  }

  /** Sets a cookie by hand, e.g. to tamper with it. */
  set(name: string, value: string): void {
    this.#cookies.set(name, value);
  }

  /** The `Cookie` request header for everything held. */
  header(): string {
    return [...this.#cookies].map(([name, value]) => `${name}=${encodeURIComponent(value)}`).join(
      "; ",
    );
  }
}
