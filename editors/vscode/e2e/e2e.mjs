// The grucomplete extension in a real VS Code (code-server), driven by Playwright with Chromium:
// install the .vsix, open a Python file, wait for the server to load the model, type `.`, and
// check what a user sees: the popup with the server's items, the ghost text of its whole line,
// and the text Tab inserts. Optionally saves a screenshot with the popup and ghost text open.
//
//   node e2e.mjs --vsix grucomplete.vsix --model MODEL_DIR [--python PYTHON] [--screenshot OUT.png]
//                [--report OUT.json] [--source FILE --expect-top WORD --expect-ghost TEXT]
//                [--precision int8|fp32] [--latency-budget-ms MS] [--chromium PATH]
//                [--workdir DIR] [--keep]
//
// The defaults fit the tiny test model (tests/conftest.py); `--model default` is the bundled one.
// Exits 0 when every check passed, else 1 with the reasons and the extension's, server's and
// code-server's logs (and a screenshot of the moment of failure). code-server listens on
// 127.0.0.1 only, on a free port, with throwaway user-data and extensions folders.
import { spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CODE_SERVER = path.join(HERE, "node_modules", ".bin", "code-server");
// The file ends right after `os`, where the cursor goes; the test types the `.`. The tiny test
// model has learned `path = os.path.join(root, name)` from this very prefix.
const TOY_PREFIX = "import os\nimport sys\n\n\ndef main():\n    path = os";
const WAIT_MS = 60_000; // any single wait
const WATCHDOG_MS = 240_000; // the whole run

const { values: opts } = parseArgs({
  options: {
    vsix: { type: "string" },
    model: { type: "string" },
    python: { type: "string", default: "python3" },
    precision: { type: "string", default: "fp32" },
    // Generous by default, so a busy test machine still gets the tiny model's whole answer.
    "latency-budget-ms": { type: "string", default: "10000" },
    // grucomplete.neuralCache, when given (default: the server's). The tiny model's test passes 0:
    // on its six-line file the cache matches the line being typed and changes the exact answer.
    "neural-cache": { type: "string", default: "" },
    source: { type: "string" }, // the file's text, up to the cursor (default: the toy prefix)
    "expect-top": { type: "string", default: "path" }, // a word among the popup's first two items
    "expect-ghost": { type: "string", default: "join(root, name)" }, // ghost text holds this
    screenshot: { type: "string" },
    chromium: { type: "string", default: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" },
    workdir: { type: "string" },
    report: { type: "string" }, // JSON: each check's outcome
    keep: { type: "boolean", default: false },
  },
});
if (!opts.vsix || !opts.model) {
  console.error("usage: node e2e.mjs --vsix FILE --model DIR [--python EXE] [--screenshot PNG]");
  process.exit(2);
}

const source = opts.source ? fs.readFileSync(opts.source, "utf8") : TOY_PREFIX;
const cursorLine = source.split("\n").length - 1; // 0-based line of the cursor
const lastLine = source.slice(source.lastIndexOf("\n") + 1); // its text before the cursor
const fileName = opts.source ? path.basename(opts.source) : "main.py";

const work = opts.workdir ? path.resolve(opts.workdir) : fs.mkdtempSync(path.join(os.tmpdir(), "grucomplete-e2e-"));
const dirs = {
  userData: path.join(work, "user-data"),
  extensions: path.join(work, "extensions"),
  project: path.join(work, "project"),
};
const serverLog = path.join(work, "grucomplete-server.log");
const codeServerLog = path.join(work, "code-server.log");
let codeServer;
let browser;
let page;
const results = {}; // check name -> { ok, value } or { ok: false, error }

function log(message) {
  console.log(`[e2e ${(performance.now() / 1000).toFixed(1)}s] ${message}`);
}

function prepare() {
  for (const dir of Object.values(dirs)) fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dirs.project, "pyproject.toml"), "[project]\nname = 'demo'\n");
  fs.writeFileSync(path.join(dirs.project, fileName), source);
  fs.mkdirSync(path.join(dirs.userData, "User"), { recursive: true });
  const settings = {
    // The extension under test runs `PYTHON -m grucomplete.training serve` with this model.
    "grucomplete.pythonPath": opts.python,
    "grucomplete.model": opts.model === "default" ? "default" : path.resolve(opts.model),
    "grucomplete.precision": opts.precision,
    "grucomplete.latencyBudgetMs": Number(opts["latency-budget-ms"]),
    ...(opts["neural-cache"] === "" ? {} : { "grucomplete.neuralCache": Number(opts["neural-cache"]) }),
    "grucomplete.serverArgs": ["--log-file", serverLog, "-v"],
    // Only our server may suggest, so whatever shows up came from it.
    "editor.wordBasedSuggestions": "off",
    "editor.inlineSuggest.enabled": true,
    // A quiet window: no welcome page, tips, trust prompt, telemetry or update checks.
    "workbench.startupEditor": "none",
    "workbench.tips.enabled": false,
    "workbench.enableExperiments": false,
    "security.workspace.trust.enabled": false,
    "telemetry.telemetryLevel": "off",
    "update.mode": "none",
    "extensions.autoCheckUpdates": false,
    "extensions.autoUpdate": false,
    "extensions.ignoreRecommendations": true,
    "chat.commandCenter.enabled": false,
    "workbench.colorTheme": "Default Dark Modern",
    "editor.fontSize": 15,
    "editor.minimap.enabled": false,
  };
  fs.writeFileSync(path.join(dirs.userData, "User", "settings.json"), JSON.stringify(settings, null, 2));
  // Our own config file, so code-server neither reads nor writes ~/.config/code-server.
  fs.writeFileSync(path.join(work, "config.yaml"), "auth: none\ncert: false\n");
}

function codeServerArgs(...extra) {
  return [
    "--config", path.join(work, "config.yaml"),
    "--user-data-dir", dirs.userData,
    "--extensions-dir", dirs.extensions,
    ...extra,
  ];
}

function installExtension() {
  const done = spawnSync(CODE_SERVER, codeServerArgs("--install-extension", path.resolve(opts.vsix), "--force"), {
    encoding: "utf8",
    timeout: WAIT_MS,
  });
  if (done.status !== 0) throw new Error(`--install-extension failed:\n${done.stdout}${done.stderr}`);
  const listed = spawnSync(CODE_SERVER, codeServerArgs("--list-extensions"), { encoding: "utf8", timeout: WAIT_MS });
  if (!listed.stdout.includes("grucomplete.grucomplete")) {
    throw new Error(`extension not listed after install:\n${listed.stdout}${listed.stderr}`);
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.unref();
    probe.on("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => resolve(port));
    });
  });
}

/** An error that ends a wait at once, where other errors only mean "not there yet". */
class Fatal extends Error {}

async function waitFor(what, condition, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    try {
      if (await condition()) return;
    } catch (error) {
      if (error instanceof Fatal) throw error;
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out after ${timeout / 1000} s waiting for ${what}`);
}

async function startCodeServer() {
  const port = await freePort();
  const out = fs.openSync(codeServerLog, "a");
  codeServer = spawn(
    CODE_SERVER,
    codeServerArgs(
      "--bind-addr", `127.0.0.1:${port}`,
      "--auth", "none",
      "--disable-telemetry",
      "--disable-update-check",
      "--disable-workspace-trust",
      "--disable-getting-started-override",
      "--ignore-last-opened",
      dirs.project,
    ),
    { stdio: ["ignore", out, out], detached: true }, // its own process group, killed as one
  );
  const url = `http://127.0.0.1:${port}`;
  await waitFor("code-server to answer", async () => (await fetch(`${url}/healthz`)).ok);
  return url;
}

async function run() {
  prepare();
  log(`work folder ${work}`);
  installExtension();
  log("extension installed");
  const url = await startCodeServer();
  log(`code-server on ${url}`);

  browser = await chromium.launch({
    executablePath: opts.chromium,
    headless: true,
    // No sandbox (root in CI); no background connections, which a closed network refuses.
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
    ],
  });
  page = await browser.newPage({ viewport: { width: 1000, height: 600 } });
  await page.goto(`${url}/?folder=${encodeURIComponent(dirs.project)}`);
  await page.locator(".monaco-workbench").waitFor({ timeout: WAIT_MS });
  log("workbench loaded");

  // Quick Open the file.
  await waitFor(`the explorer to list ${fileName}`, () => page.getByText(fileName).first().isVisible());
  await page.keyboard.press("Control+P");
  await page.locator(".quick-input-widget input").waitFor({ timeout: WAIT_MS });
  await page.keyboard.type(fileName);
  await page.locator(".quick-input-list .monaco-list-row").first().waitFor({ timeout: WAIT_MS });
  await page.keyboard.press("Enter");
  const editor = page.locator(".editor-instance .monaco-editor").first();
  await editor.locator(".view-lines").waitFor({ timeout: WAIT_MS });
  await page.keyboard.press("Control+B"); // hide the side bar: more room for the editor
  log(`${fileName} open`);

  // The status bar turns to a check mark once the language client is running.
  const status = page.locator(".statusbar-item", { hasText: "grucomplete" });
  await waitFor("the grucomplete status item to show ready", () => status.locator(".codicon-check").isVisible());
  log("server running");
  // The server loads the model after `initialized`; the extension logs the server's message.
  await waitFor("the server to load the model", () => {
    const messages = dump(extensionLog());
    if (messages.includes("cannot load model")) throw new Fatal(`the server could not load the model:\n${messages}`);
    return messages.includes("loaded model");
  });
  log("model loaded");

  await editor.locator(".view-lines").click();
  await page.keyboard.press("Control+End");
  await page.keyboard.type(".");

  // `.` is a trigger character: the popup opens with the server's ranked items, each with its
  // probability and `grucomplete` as detail (word-based suggestions are off, so nothing else).
  const popup = page.locator(".editor-widget.suggest-widget.visible");
  await check("popup", "the popup that typing '.' opens", async () => {
    await waitFor("the completion popup with grucomplete items", async () => {
      const text = await popup.textContent({ timeout: 1000 });
      return text?.includes(opts["expect-top"]) && text.includes("grucomplete");
    });
    const rows = await popup
      .locator(".monaco-list-row")
      .evaluateAll((elements) => elements.map((row) => row.getAttribute("aria-label") ?? ""));
    // The best word is first or second: a whole line that begins with it may go before it.
    const words = rows.slice(0, 2).map((row) => row.replace(/, [A-Za-z]+$/, "")); // label, kind
    if (!words.includes(opts["expect-top"])) {
      throw new Error(`'${opts["expect-top"]}' is not among the first two items: ${JSON.stringify(rows)}`);
    }
    return rows;
  });

  // Ghost text: the inline completion, the whole line the model expects, after the cursor. VS Code
  // draws the part the selected popup item already covers as a preview (another class).
  const ghost = editor.locator("[class*='ghost-text']");
  const ghostText = async () => (await ghost.allTextContents()).join("").replace(/\u00a0/g, " "); // rendered spaces
  await check("ghostText", "ghost text after typing '.'", async () => {
    await waitFor("ghost text from the inline completion", async () => {
      const text = await ghostText();
      return text.trim() !== "" && text.includes(opts["expect-ghost"]);
    });
    return ghostText();
  });

  if (opts.screenshot) {
    fs.mkdirSync(path.dirname(path.resolve(opts.screenshot)), { recursive: true });
    await page.mouse.move(0, 0); // no hover widget over the editor
    await page.screenshot({ path: opts.screenshot });
    log(`screenshot ${opts.screenshot}`);
  }

  // Tab accepts the popup's top item: the server's text lands in the document. (Ghost text that
  // the next inline completion draws is left out of the line read back.)
  await page.keyboard.press("Tab");
  await check("accepted", "the line after accepting the top item with Tab", async () => {
    let line = "";
    await waitFor("the accepted item in the document", async () => {
      line = await editor
        .locator(".view-line")
        .nth(cursorLine)
        .evaluate((element) => {
          const copy = element.cloneNode(true);
          for (const ghost of copy.querySelectorAll("[class*='ghost-text']")) ghost.remove();
          return (copy.textContent ?? "").replace(/\u00a0/g, " ");
        });
      return line.startsWith(`${lastLine}.${opts["expect-top"]}`);
    });
    return line;
  });
}

/** Runs one observation; a failed one is recorded and the run goes on to the next. */
async function check(name, what, observe) {
  try {
    const value = await observe();
    results[name] = { ok: true, value };
    log(`ok   ${name}: ${JSON.stringify(value)}`);
  } catch (error) {
    results[name] = { ok: false, error: `${what}: ${error instanceof Error ? error.message : String(error)}` };
    log(`FAIL ${name}: ${results[name].error}`);
  }
}

function cleanup() {
  if (codeServer?.pid) {
    try {
      process.kill(-codeServer.pid, "SIGTERM"); // code-server, its extension host and our server
    } catch {
      // already gone
    }
  }
  if (!opts.keep && !opts.workdir) fs.rmSync(work, { recursive: true, force: true });
}

function extensionLog() {
  const logs = path.join(dirs.userData, "logs");
  const found = fs.readdirSync(logs, { recursive: true }).filter((f) => String(f).endsWith("grucomplete.log"));
  return found.length > 0 ? path.join(logs, String(found[found.length - 1])) : "";
}

function dump(file) {
  try {
    return fs.readFileSync(file, "utf8").slice(-6000);
  } catch {
    return "(none)";
  }
}

for (const signal of ["SIGINT", "SIGTERM"]) {
  process.on(signal, () => {
    cleanup(); // code-server runs in its own process group: it would outlive us
    process.exit(1);
  });
}

const watchdog = setTimeout(() => {
  console.error(`e2e: no result after ${WATCHDOG_MS / 1000} s`);
  cleanup();
  process.exit(1);
}, WATCHDOG_MS);

let failed = false;
let finished = false; // run() got through every step (some checks may still have failed)
try {
  await run();
  finished = true;
  const failures = Object.entries(results).filter(([, result]) => !result.ok);
  if (failures.length > 0) throw new Error(failures.map(([name, result]) => `${name}: ${result.error}`).join("\n"));
  log("PASS");
} catch (error) {
  failed = true;
  console.error(`e2e FAILED: ${error instanceof Error ? error.stack : String(error)}`);
  const shot = path.join(opts.keep || opts.workdir ? work : os.tmpdir(), "grucomplete-e2e-failure.png");
  if (await page?.screenshot({ path: shot }).then(() => true, () => false)) console.error(`screen at failure: ${shot}`);
  console.error(`--- grucomplete extension log ---\n${dump(extensionLog())}`);
  console.error(`--- grucomplete server log ---\n${dump(serverLog)}`);
  console.error(`--- code-server log ---\n${dump(codeServerLog)}`);
  if (!finished) results.run = { ok: false, error: error instanceof Error ? error.message : String(error) };
} finally {
  clearTimeout(watchdog);
  if (opts.report) fs.writeFileSync(opts.report, JSON.stringify(results, null, 2));
  await browser?.close().catch(() => {});
  cleanup();
}
process.exit(failed ? 1 : 0);
