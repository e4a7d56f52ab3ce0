/**
 * The error thrown for archive content that cannot be written or restored
 * safely.
 *
 * @module
 */

/** Options for {@linkcode ArchiveError}. */
export interface ArchiveErrorOptions {
  /** The archive entry (or data directory path) concerned, if any. */
  entry?: string;
  /** The underlying error. */
  cause?: unknown;
}

/**
 * Thrown when an archive is unreadable or holds an entry that would escape
 * the destination (absolute path, `..` component, link pointing outside,
 * path beneath a symlink), is duplicated or has an unsupported type; and
 * when a data directory holds a symlink that cannot be archived safely.
 * The message names the entry; so does {@linkcode ArchiveError.entry}.
 *
 * @example Branch on a refused entry
 * ```ts
 * import { ArchiveError } from "@mc/mcdsl/archive";
 * import assert from "node:assert/strict";
 *
 * const error = new ArchiveError('entry "../x" has a ".." component', { entry: "../x" });
 * assert.equal(error.name, "ArchiveError");
 * assert.equal(error.entry, "../x");
 * ```
 */
export class ArchiveError extends Error {
  /** The archive entry (or data directory path) concerned, if any. */
  readonly entry?: string;

  /**
   * @param message What went wrong, naming the entry.
   * @param options The entry and the cause.
   */
  constructor(message: string, options: ArchiveErrorOptions = {}) {
    super(message, { cause: options.cause });
    this.name = "ArchiveError";
    this.entry = options.entry;
  }
}
