import assert from "node:assert/strict";
import { test } from "node:test";
import { describeServerStatus } from "../src/serverStatus";

test("a failing static analysis is a warning, with its reason", () => {
  const described = describeServerStatus({
    model: { state: "ready", path: "/m" },
    staticAnalysis: { state: "failing", reason: "EOFError: Ran out of input", failed: 3, answers: 5 },
  });
  assert.equal(described.warning, true);
  assert.ok(
    described.lines.includes("Static analysis (jedi) is failing: EOFError: Ran out of input (3 of the last 5 answers failed)"),
    described.lines.join("|"),
  );
});

test("a working server is no warning", () => {
  const described = describeServerStatus({
    model: { state: "ready" },
    staticAnalysis: { state: "ok", failed: 0, answers: 4 },
  });
  assert.equal(described.warning, false);
  assert.deepEqual(described.lines, [
    "Ready: the model is loaded.",
    "Static analysis (jedi) works (0 of the last 4 answers failed).",
  ]);
});

test("a model that did not load is a warning", () => {
  const described = describeServerStatus({ model: { state: "failed", reason: "no config.json" } });
  assert.equal(described.warning, true);
  assert.equal(described.lines[0], "The model did not load: no config.json");
});
