import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  CLIENT_ONLY_KEYS,
  SERVER_DEFAULTS,
  clientSettings,
  modelInUse,
  needsRestart,
  sameOptions,
  serverOptions,
} from "../src/config";

const reader = (values: Record<string, unknown>) => (key: string) => values[key];

test("only the settings the user set are sent, nested as the server expects", () => {
  const options = serverOptions(
    reader({ model: "/ckpt", beamWidth: 3, lineCompletions: false, "cache.maxDocuments": 7 }),
  );
  assert.deepEqual(options, { model: "/ckpt", beamWidth: 3, lineCompletions: false, cache: { maxDocuments: 7 } });
});

test("nothing set sends an empty object, so the server uses its own defaults", () => {
  assert.deepEqual(serverOptions(reader({})), {});
});

test("client-only settings never reach the server (it would reject them as unknown)", () => {
  const all: Record<string, unknown> = { model: "default", serverPath: "/bin/gc", pythonPath: "/py", serverArgs: ["-v"] };
  all.inlineCompletions = false;
  all.popupCompletions = false;
  const options = serverOptions(reader(all));
  for (const key of CLIENT_ONLY_KEYS) assert.equal(key in options, false, key);
  assert.deepEqual(options, { model: "default" });
});

test("bad values are passed through for the server to report", () => {
  assert.deepEqual(serverOptions(reader({ strategy: "nonsense" })), { strategy: "nonsense" });
});

test("client settings fall back to defaults for unset or mistyped values", () => {
  assert.deepEqual(clientSettings(reader({})), {
    serverPath: "",
    pythonPath: "",
    serverArgs: [],
    inlineCompletions: true,
    popupCompletions: true,
  });
  const set = clientSettings(
    reader({ serverPath: " /opt/gc ", inlineCompletions: false, popupCompletions: "no", serverArgs: ["-v", 3] }),
  );
  assert.equal(set.serverPath, "/opt/gc");
  assert.equal(set.inlineCompletions, false);
  assert.equal(set.popupCompletions, true);
  assert.deepEqual(set.serverArgs, ["-v"]);
});

test("the status bar names the model, or the bundled default", () => {
  assert.equal(modelInUse({}), "default");
  assert.equal(modelInUse({ model: "/w/.grucomplete/model" }), "/w/.grucomplete/model");
});

test("changing how the server is started restarts it; decoding settings do not", () => {
  const affects = (changed: string) => (section: string) => section === changed;
  assert.equal(needsRestart(affects("grucomplete.serverPath")), true);
  assert.equal(needsRestart(affects("python.defaultInterpreterPath")), true);
  assert.equal(needsRestart(affects("grucomplete.inlineCompletions")), true);
  assert.equal(needsRestart(affects("grucomplete.beamWidth")), false);
});

test("option payloads compare by content, not key order", () => {
  assert.equal(sameOptions({ model: "a", cache: { maxDocuments: 1 } }, { cache: { maxDocuments: 1 }, model: "a" }), true);
  assert.equal(sameOptions({ model: "a" }, { model: "b" }), false);
});

test("package.json contributes every setting, with the server's defaults", () => {
  const manifest = JSON.parse(readFileSync(new URL("../package.json", `file://${__filename}`), "utf8"));
  const properties: Record<string, { default: unknown }> = manifest.contributes.configuration.properties;
  const { cache, ...flat } = SERVER_DEFAULTS;
  const expected: Record<string, unknown> = { ...flat };
  for (const [key, value] of Object.entries(cache)) expected[`cache.${key}`] = value;
  for (const [key, value] of Object.entries(expected)) {
    assert.deepEqual(properties[`grucomplete.${key}`]?.default, value, key);
  }
  for (const key of CLIENT_ONLY_KEYS) assert.ok(properties[`grucomplete.${key}`], key);
  const known = new Set([...Object.keys(expected), ...CLIENT_ONLY_KEYS].map((k) => `grucomplete.${k}`));
  assert.deepEqual(Object.keys(properties).filter((k) => !known.has(k)), []);
});
