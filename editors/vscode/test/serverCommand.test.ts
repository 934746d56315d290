import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, chmodSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { canImport, findOnPath } from "../src/probes";
import {
  displayCommand,
  pythonCandidates,
  resolveCli,
  serveCommand,
  trainCommand,
  type Probes,
} from "../src/serverCommand";

function probes(importable: string[], onPath?: string): Probes & { asked: string[] } {
  const asked: string[] = [];
  return {
    asked,
    canImport: async (python) => {
      asked.push(python);
      return importable.includes(python);
    },
    findOnPath: async () => onPath,
  };
}

test("serverPath wins without probing anything", async () => {
  const p = probes([], "/usr/bin/grucomplete");
  const r = await resolveCli({ serverPath: "/opt/gc/bin/grucomplete", pythons: ["/py"] }, p);
  assert.ok(r.ok);
  assert.deepEqual(serveCommand(r.cli), { command: "/opt/gc/bin/grucomplete", args: ["serve"] });
  assert.deepEqual(p.asked, []);
});

test("the first Python that can import grucomplete runs the module", async () => {
  const p = probes(["/venv/bin/python"], "/usr/bin/grucomplete");
  const r = await resolveCli({ serverPath: "", pythons: ["/bare/python", "/venv/bin/python", "python"] }, p);
  assert.ok(r.ok);
  assert.deepEqual(serveCommand(r.cli, ["-v"]), {
    command: "/venv/bin/python",
    args: ["-m", "grucomplete.training", "serve", "-v"],
  });
  assert.deepEqual(p.asked, ["/bare/python", "/venv/bin/python"]);
  assert.deepEqual(r.notes, ["/bare/python cannot import grucomplete.training"]);
});

test("without a usable Python, grucomplete on PATH is used", async () => {
  const r = await resolveCli({ serverPath: "", pythons: ["/py"] }, probes([], "/home/u/.local/bin/grucomplete"));
  assert.ok(r.ok);
  assert.equal(r.cli.source, "path");
  assert.deepEqual(serveCommand(r.cli), { command: "/home/u/.local/bin/grucomplete", args: ["serve"] });
});

test("nothing found: an error naming the install command for the selected Python", async () => {
  const r = await resolveCli({ serverPath: "", pythons: ["/venv/bin/python"] }, probes([]));
  assert.equal(r.ok, false);
  assert.ok(!r.ok && r.message.includes("/venv/bin/python -m pip install grucomplete"), !r.ok ? r.message : "");
  const bare = await resolveCli({ serverPath: "", pythons: [] }, probes([]));
  assert.ok(!bare.ok && bare.message.includes("`pip install grucomplete`"));
});

test("interpreter candidates drop blanks and repeats, keeping order", () => {
  assert.deepEqual(pythonCandidates(["", undefined, " /a ", "/b", "/a"]), ["/a", "/b"]);
});

test("training uses the same CLI as the server", () => {
  const cli = { command: "/venv/bin/python", args: ["-m", "grucomplete.training"], source: "python" as const };
  assert.deepEqual(trainCommand(cli, "/w", "/w/.grucomplete/model"), {
    command: "/venv/bin/python",
    args: ["-m", "grucomplete.training", "train", "/w", "--out", "/w/.grucomplete/model"],
  });
});

test("command lines are quoted for display", () => {
  assert.equal(displayCommand("/my env/python", ["-m", "x", "it's"]), `'/my env/python' -m x 'it'\\''s'`);
});

test("findOnPath finds executables and skips non-executables", { skip: process.platform === "win32" }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "gc-path-"));
  const other = mkdtempSync(path.join(tmpdir(), "gc-path-"));
  writeFileSync(path.join(dir, "grucomplete"), "#!/bin/sh\n");
  chmodSync(path.join(dir, "grucomplete"), 0o644); // not executable: skipped
  writeFileSync(path.join(other, "grucomplete"), "#!/bin/sh\n");
  chmodSync(path.join(other, "grucomplete"), 0o755);
  assert.equal(await findOnPath("grucomplete", { PATH: `${dir}:${other}` }, "linux"), path.join(other, "grucomplete"));
  assert.equal(await findOnPath("grucomplete", { PATH: dir }, "linux"), undefined);
});

test("an interpreter that does not exist cannot import grucomplete", async () => {
  assert.equal(await canImport(path.join(tmpdir(), "no-such-python")), false);
});
