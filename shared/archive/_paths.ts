/**
 * Path rules shared by snapshot and restore: which entry names are safe and
 * where a symlink really points.
 *
 * @module
 */

/** The most symlinks followed while resolving one path, as Linux does. */
const MAX_HOPS = 40;

/** A safe relative entry name split into components, or why it is unsafe. */
export type SplitName = { parts: string[] } | { problem: string };

/**
 * Splits an archive entry name into components, dropping `.` and empty
 * ones (so `./a//b/` is `a/b`); `[]` is the archive root. Absolute names
 * and `..` components are refused rather than stripped, as GNU tar does by
 * default, because a snapshot never contains them: one that does was made
 * by something else and is not to be trusted.
 */
export function splitEntryName(name: string): SplitName {
  if (name === "") return { problem: "has an empty name" };
  if (name.startsWith("/")) return { problem: "has an absolute path" };
  if (name.includes("\0")) return { problem: "has a NUL byte in its name" };
  const parts = name.split("/").filter((part) => part !== "" && part !== ".");
  if (parts.includes("..")) return { problem: 'has a ".." component' };
  return { parts };
}

/**
 * Resolves symlink `linkPath` (relative to the root, its parent directories
 * real) to `target` as the kernel would, following the other symlinks in
 * `links`, and tells why the result is unsafe: it is absolute, it climbs
 * above the root, or it loops. `undefined` when it stays inside.
 *
 * A lexical check alone is not enough: with `a -> .`, the link `b -> a/..`
 * looks like it names the root but really names the root's parent.
 */
export function symlinkProblem(
  linkPath: string,
  target: string,
  links: ReadonlyMap<string, string>,
): string | undefined {
  if (target === "") return "is empty";
  if (target.startsWith("/")) return "is absolute";
  const stack = linkPath.split("/").slice(0, -1);
  const queue = target.split("/");
  let hops = 0;
  while (queue.length > 0) {
    const part = queue.shift()!;
    if (part === "" || part === ".") continue;
    if (part === "..") {
      if (stack.length === 0) return "climbs out of the directory";
      stack.pop();
      continue;
    }
    stack.push(part);
    const next = links.get(stack.join("/"));
    if (next === undefined) continue;
    if (++hops > MAX_HOPS) return "loops through too many symlinks";
    if (next.startsWith("/")) return "leads through an absolute symlink";
    stack.pop();
    queue.unshift(...next.split("/"));
  }
  return undefined;
}
