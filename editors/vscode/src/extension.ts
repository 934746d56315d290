// The VS Code side of grucomplete: starts `grucomplete serve`, forwards settings, shows state.
import * as fs from "node:fs";
import * as path from "node:path";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  LanguageClient,
  State,
  type LanguageClientOptions,
  type ServerOptions as ProcessOptions,
} from "vscode-languageclient/node";
import {
  clientSettings,
  modelInUse,
  needsRestart,
  sameOptions,
  serverOptions,
  type ServerOptions,
  type SettingReader,
} from "./config";
import { nodeProbes } from "./probes";
import { displayCommand, resolveCli, serveCommand, trainCommand, type Resolution } from "./serverCommand";
import { runInTerminal } from "./trainTerminal";

const SECTION = "grucomplete";
const RETRAINED_DIR = [".grucomplete", "model"]; // under the workspace folder

let output: vscode.LogOutputChannel;
let status: vscode.StatusBarItem;
let client: LanguageClient | undefined;
let sentOptions: ServerOptions = {};
let serverCommandLine = "";
let lifecycle: Promise<void> = Promise.resolve(); // start/stop/restart run one at a time
let training = false;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("grucomplete", { log: true });
  status = vscode.window.createStatusBarItem("grucomplete.status", vscode.StatusBarAlignment.Right, 100);
  status.name = "grucomplete";
  status.command = "grucomplete.showOutput";
  context.subscriptions.push(output, status);

  context.subscriptions.push(
    vscode.commands.registerCommand("grucomplete.restartServer", () => enqueue(restart)),
    vscode.commands.registerCommand("grucomplete.showOutput", () => output.show(true)),
    vscode.commands.registerCommand("grucomplete.retrainOnWorkspace", retrainOnWorkspace),
    vscode.commands.registerCommand("grucomplete.useRetrainedModel", useRetrainedModel),
    vscode.workspace.onDidChangeConfiguration(onConfigurationChanged),
  );
  void watchPythonEnvironment(context);
  await enqueue(start);
}

export async function deactivate(): Promise<void> {
  await enqueue(stop);
}

function enqueue(step: () => Promise<void>): Promise<void> {
  lifecycle = lifecycle.then(step, step);
  return lifecycle;
}

// ---- settings -------------------------------------------------------------------------------

/** A reader of explicitly set values only, so the server's defaults stay authoritative. */
function explicitSettings(): SettingReader {
  const config = vscode.workspace.getConfiguration(SECTION);
  return (key) => {
    const found = config.inspect(key);
    return found?.workspaceFolderValue ?? found?.workspaceValue ?? found?.globalValue;
  };
}

function effectiveSettings(): SettingReader {
  const config = vscode.workspace.getConfiguration(SECTION);
  return (key) => config.get(key);
}

function onConfigurationChanged(event: vscode.ConfigurationChangeEvent): void {
  if (needsRestart((section) => event.affectsConfiguration(section))) {
    output.appendLine("Server command settings changed; restarting.");
    void enqueue(restart);
    return;
  }
  if (!event.affectsConfiguration(SECTION)) return;
  const options = serverOptions(explicitSettings());
  if (client?.isRunning() && !sameOptions(options, sentOptions)) {
    sentOptions = options;
    void client
      .sendNotification(DidChangeConfigurationNotification.type, { settings: { [SECTION]: options } })
      .catch((error: unknown) => output.appendLine(`Could not send settings: ${String(error)}`));
  }
  updateStatus(client?.state);
}

// ---- server command -------------------------------------------------------------------------

interface PythonExtensionApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { path: string };
    resolveEnvironment(environment: { path: string } | string): Promise<{ executable: { uri?: vscode.Uri } } | undefined>;
    onDidChangeActiveEnvironmentPath?: vscode.Event<unknown>;
  };
}

/** The Python extension's API, when it is installed; never required. */
async function pythonExtension(): Promise<PythonExtensionApi | undefined> {
  const extension = vscode.extensions.getExtension<PythonExtensionApi>("ms-python.python");
  if (!extension) return undefined;
  try {
    return extension.isActive ? extension.exports : await extension.activate();
  } catch (error) {
    output.appendLine(`Python extension unavailable: ${String(error)}`);
    return undefined;
  }
}

async function selectedInterpreter(): Promise<string | undefined> {
  const api = await pythonExtension();
  const environments = api?.environments;
  if (!environments) return undefined;
  try {
    const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
    const active = environments.getActiveEnvironmentPath(resource);
    const resolved = await environments.resolveEnvironment(active);
    return resolved?.executable.uri?.fsPath ?? active.path;
  } catch (error) {
    output.appendLine(`Could not read the selected Python environment: ${String(error)}`);
    return undefined;
  }
}

async function watchPythonEnvironment(context: vscode.ExtensionContext): Promise<void> {
  const event = (await pythonExtension())?.environments?.onDidChangeActiveEnvironmentPath;
  if (!event) return;
  context.subscriptions.push(
    event(() => {
      if (clientSettings(effectiveSettings()).serverPath === "") {
        output.appendLine("Selected Python environment changed; restarting.");
        void enqueue(restart);
      }
    }),
  );
}

async function resolveCliCommand(): Promise<Resolution> {
  const settings = clientSettings(effectiveSettings());
  const defaultInterpreter = vscode.workspace.getConfiguration("python").get<string>("defaultInterpreterPath");
  return resolveCli(
    {
      serverPath: settings.serverPath,
      pythons: [settings.pythonPath, settings.serverPath ? undefined : await selectedInterpreter(), defaultInterpreter],
    },
    nodeProbes,
  );
}

async function reportUnresolved(message: string): Promise<void> {
  const choice = await vscode.window.showErrorMessage(message, "Open Settings", "Show Output");
  if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", `@ext:grucomplete.grucomplete`);
  } else if (choice === "Show Output") {
    output.show(true);
  }
}

// ---- client lifecycle -----------------------------------------------------------------------

async function start(): Promise<void> {
  updateStatus(State.Starting);
  const resolution = await resolveCliCommand();
  for (const note of resolution.notes) output.appendLine(note);
  if (!resolution.ok) {
    output.appendLine(resolution.message);
    updateStatus(undefined, resolution.message);
    void reportUnresolved(resolution.message);
    return;
  }
  const serve = serveCommand(resolution.cli, clientSettings(effectiveSettings()).serverArgs);
  serverCommandLine = displayCommand(serve.command, serve.args);
  output.appendLine(`Starting: ${serverCommandLine}`);

  const processOptions: ProcessOptions = {
    command: serve.command,
    args: serve.args,
    // No `transport`: stdio all the same, but TransportKind.stdio would append `--stdio` to the
    // command line, which `grucomplete serve` rejects (found by the code-server e2e test).
    options: {
      cwd: vscode.workspace.workspaceFolders?.[0]?.uri.fsPath,
      // `python -m` would put the workspace first on sys.path: a project file named like a
      // module the server imports (even grucomplete.py) must never be imported or run.
      env: { ...process.env, PYTHONSAFEPATH: "1" },
    },
  };
  sentOptions = serverOptions(explicitSettings());
  const clientOptions: LanguageClientOptions = {
    documentSelector: [
      { scheme: "file", language: "python" },
      { scheme: "untitled", language: "python" },
    ],
    initializationOptions: sentOptions,
    outputChannel: output,
    middleware: {
      provideCompletionItem: (document, position, context, token, next) =>
        clientSettings(effectiveSettings()).popupCompletions ? next(document, position, context, token) : undefined,
      provideInlineCompletionItems: (document, position, context, token, next) =>
        clientSettings(effectiveSettings()).inlineCompletions ? next(document, position, context, token) : undefined,
    },
  };
  const created = new LanguageClient("grucomplete", "grucomplete", processOptions, clientOptions);
  if (!clientSettings(effectiveSettings()).inlineCompletions) {
    // The server puts the whole line in the popup only for a client without ghost text: with
    // ghost text off, say so (registered after the built-in features, so it runs last).
    created.registerFeature({
      fillClientCapabilities: (capabilities) => {
        if (capabilities.textDocument) delete capabilities.textDocument.inlineCompletion;
      },
      initialize: () => undefined,
      getState: () => ({ kind: "static" }),
      clear: () => undefined,
    });
  }
  created.onDidChangeState((event) => updateStatus(event.newState));
  client = created;
  try {
    await created.start();
  } catch (error) {
    const message = `grucomplete server failed to start (${serverCommandLine}): ${error instanceof Error ? error.message : String(error)}`;
    output.appendLine(message);
    updateStatus(State.Stopped, message);
    void reportUnresolved(message);
  }
}

async function stop(): Promise<void> {
  const running = client;
  client = undefined;
  if (!running) return;
  try {
    await running.stop(5000);
  } catch (error) {
    output.appendLine(`Stopping the server: ${String(error)}`);
  }
  await running.dispose().catch(() => undefined);
}

async function restart(): Promise<void> {
  await stop();
  await start();
}

// ---- status bar -----------------------------------------------------------------------------

function updateStatus(state: State | undefined, error?: string): void {
  const model = modelInUse(serverOptions(effectiveSettings()));
  const tooltip = new vscode.MarkdownString(undefined, true);
  tooltip.appendMarkdown(`**grucomplete**\n\nModel: \`${model}\`\n\n`);
  if (serverCommandLine) tooltip.appendMarkdown(`Server: \`${serverCommandLine}\`\n\n`);
  if (error !== undefined || state === undefined) {
    status.text = "$(error) grucomplete";
    status.backgroundColor = new vscode.ThemeColor("statusBarItem.errorBackground");
    tooltip.appendText(error ?? "Not running.");
  } else if (state === State.Starting) {
    status.text = "$(sync~spin) grucomplete";
    status.backgroundColor = undefined;
    tooltip.appendText("Starting…");
  } else if (state === State.Running) {
    status.text = "$(check) grucomplete";
    status.backgroundColor = undefined;
    tooltip.appendText("Ready.");
  } else {
    status.text = "$(circle-slash) grucomplete";
    status.backgroundColor = new vscode.ThemeColor("statusBarItem.warningBackground");
    tooltip.appendText("Stopped. Run “grucomplete: Restart Server”.");
  }
  tooltip.appendMarkdown("\n\nClick to show the output.");
  status.tooltip = tooltip;
  status.show();
}

// ---- retraining -----------------------------------------------------------------------------

async function pickFolder(): Promise<vscode.WorkspaceFolder | undefined> {
  const folders = vscode.workspace.workspaceFolders ?? [];
  if (folders.length === 0) {
    void vscode.window.showErrorMessage("grucomplete: open a folder first.");
    return undefined;
  }
  if (folders.length === 1) return folders[0];
  return vscode.window.showWorkspaceFolderPick({ placeHolder: "Folder to train on" });
}

async function useModel(directory: string): Promise<void> {
  await vscode.workspace.getConfiguration(SECTION).update("model", directory, vscode.ConfigurationTarget.Workspace);
  output.appendLine(`grucomplete.model set to ${directory} (workspace settings).`);
}

async function retrainOnWorkspace(): Promise<void> {
  if (training) {
    void vscode.window.showWarningMessage("grucomplete: a training run is already in progress.");
    return;
  }
  const folder = await pickFolder();
  if (!folder) return;
  const resolution = await resolveCliCommand();
  if (!resolution.ok) {
    void reportUnresolved(resolution.message);
    return;
  }
  const out = path.join(folder.uri.fsPath, ...RETRAINED_DIR);
  const train = trainCommand(resolution.cli, folder.uri.fsPath, out);
  output.appendLine(`Training: ${displayCommand(train.command, train.args)}`);
  training = true;
  let code: number | null;
  try {
    code = await runInTerminal("grucomplete train", train.command, train.args, folder.uri.fsPath);
  } finally {
    training = false;
  }
  if (code !== 0) {
    void vscode.window.showErrorMessage(
      code === null ? "grucomplete: training was stopped." : `grucomplete: training failed (exit code ${code}); see the terminal.`,
    );
    return;
  }
  await useModel(out);
  void vscode.window.showInformationMessage(
    `grucomplete: trained on ${folder.name}; now using ${path.relative(folder.uri.fsPath, out)}. (Consider adding .grucomplete/ to .gitignore.)`,
  );
}

async function useRetrainedModel(): Promise<void> {
  const folder = await pickFolder();
  if (!folder) return;
  const out = path.join(folder.uri.fsPath, ...RETRAINED_DIR);
  const candidates = [
    { label: "Final weights", description: out, directory: out },
    { label: "Best validation", description: path.join(out, "best"), directory: path.join(out, "best") },
  ].filter((c) => fs.existsSync(path.join(c.directory, "config.json")));
  if (candidates.length === 0) {
    const choice = await vscode.window.showWarningMessage(`grucomplete: no retrained model in ${out}.`, "Retrain on Workspace");
    if (choice) await retrainOnWorkspace();
    return;
  }
  const chosen =
    candidates.length === 1 ? candidates[0] : await vscode.window.showQuickPick(candidates, { placeHolder: "Checkpoint to use" });
  if (chosen) await useModel(chosen.directory);
}
