import assert from "node:assert/strict";
import { splitEntryName, symlinkProblem } from "./_paths.ts";

Deno.test("splitEntryName() drops . and empty components", () => {
  assert.deepEqual(splitEntryName("./a//b/./c/"), { parts: ["a", "b", "c"] });
  assert.deepEqual(splitEntryName("./"), { parts: [] });
  assert.deepEqual(splitEntryName("a..b/..c"), { parts: ["a..b", "..c"] });
});

Deno.test("splitEntryName() refuses absolute, .. and empty names", () => {
  assert.deepEqual(splitEntryName("/etc/passwd"), { problem: "has an absolute path" });
  assert.deepEqual(splitEntryName("a/../../x"), { problem: 'has a ".." component' });
  assert.deepEqual(splitEntryName(".."), { problem: 'has a ".." component' });
  assert.deepEqual(splitEntryName(""), { problem: "has an empty name" });
});

Deno.test("symlinkProblem() accepts links that stay inside", () => {
  const links = new Map([["certs/current", "../pki/v2"]]);
  assert.equal(symlinkProblem("certs/current", "../pki/v2", links), undefined);
  assert.equal(symlinkProblem("a/b/c", "../../x", new Map()), undefined);
  assert.equal(symlinkProblem("self", ".", new Map()), undefined);
});

Deno.test("symlinkProblem() refuses absolute, climbing and empty targets", () => {
  assert.equal(symlinkProblem("x", "/etc", new Map()), "is absolute");
  assert.equal(symlinkProblem("a/x", "../../etc", new Map()), "climbs out of the directory");
  assert.equal(symlinkProblem("x", "", new Map()), "is empty");
});

Deno.test("symlinkProblem() follows other links as the kernel would", () => {
  // a -> . makes b -> a/.. name the root's parent, though it reads as the root.
  const links = new Map([["a", "."], ["b", "a/.."]]);
  assert.equal(symlinkProblem("a", ".", links), undefined);
  assert.equal(symlinkProblem("b", "a/..", links), "climbs out of the directory");
  const deep = new Map([["d/up", "../.."], ["x", "d/up"]]);
  assert.equal(symlinkProblem("x", "d/up", deep), "climbs out of the directory");
});

Deno.test("symlinkProblem() refuses loops", () => {
  const links = new Map([["a", "b"], ["b", "a"]]);
  assert.equal(symlinkProblem("a", "b", links), "loops through too many symlinks");
});
