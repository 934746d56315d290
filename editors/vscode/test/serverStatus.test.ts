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

test("the tooltip says what was fitted to the machine and how large the workspace memory is", () => {
  const described = describeServerStatus({
    model: { state: "ready" },
    machineFit: {
      fitted: true,
      beam_width: 5,
      line_max_tokens: 16,
      context_tokens: 512,
      predicted_keystroke_ms: 41.5,
      predicted_jump_ms: 110.2,
    },
    workspaceMemory: { state: "ready", files: 12, entries: 3400, memoryMB: 0.3 },
    workspaceLines: { state: "ready", files: 12, lines: 2400, truncated: false },
  });
  assert.ok(
    described.lines.includes(
      "Fitted to this machine: beam 5, lines of 16 tokens, a 512-token window; predicted keystroke 41.5 ms, jump 110.2 ms.",
    ),
    described.lines.join("|"),
  );
  assert.ok(described.lines.includes("Workspace memory: ready, 12 files, 3400 entries, 0.3 MB."));
  assert.ok(described.lines.includes("Lines written before: ready, 2400 lines of 12 files."));
  assert.equal(describeServerStatus({ workspaceMemory: { state: "off" } }).lines.length, 1);
});

test("the tooltip says which model the fit chose and why", () => {
  const reason =
    "default predicted 22.0 ms a keystroke and 150.0 ms a jump, past the budgets (15 ms, 120 ms); " +
    "fast 11.0 ms a keystroke and 75.0 ms a jump, within them";
  const described = describeServerStatus({
    model: { state: "ready" },
    machineFit: {
      fitted: true,
      beam_width: 5,
      line_max_tokens: 16,
      context_tokens: 512,
      predicted_keystroke_ms: 11.0,
      predicted_jump_ms: 75.0,
      model: "fast",
      model_reason: reason,
    },
  });
  assert.ok(described.lines.includes(`Model fast: ${reason}.`), described.lines.join("|"));
});
