import assert from "node:assert/strict";
import { safeNextPath } from "./safe_next_path.ts";

Deno.test("safeNextPath() keeps local paths with query and fragment", () => {
  for (const path of ["/", "/repos", "/repos/a%2Fb?page=2&x=%2F%2F", "/a/b#frag", "/a//b"]) {
    assert.equal(safeNextPath(path), path);
  }
});

Deno.test("safeNextPath() refuses open-redirect attempts", () => {
  const attempts = [
    "//evil.com",
    "/\\evil.com",
    "\\/evil.com",
    "https://evil.com",
    "http:evil.com",
    "javascript:alert(1)",
    "evil.com",
    "/\t/evil.com",
    "/\n/evil.com",
    "/%0a",
    "/" + "a".repeat(2048),
    "",
  ];
  for (const attempt of attempts) {
    const expected = attempt === "/%0a" ? attempt : "/fallback";
    assert.equal(safeNextPath(attempt, "/fallback"), expected, JSON.stringify(attempt));
  }
  assert.equal(safeNextPath(undefined), "/");
  assert.equal(safeNextPath(null), "/");
});
