// Settings -> server options: which `grucomplete.*` settings go to the server, in what shape.
// No `vscode` import, so the unit tests run under plain node.

/** Server settings and their defaults; the same values as `ServerOptions` in server/options.py. */
export const SERVER_DEFAULTS = {
  model: "default",
  device: "cpu",
  precision: "int8",
  strategy: "beam",
  beamWidth: 5,
  numCandidates: 10,
  settledWords: 5,
  maxTokens: 16,
  temperature: 1.0,
  topK: 0,
  topP: 1.0,
  seed: -1,
  contextTokens: 512,
  latencyBudgetMs: 80,
  identifierCache: 0.85,
  neuralCache: 0.35,
  workspaceMemory: 0.0,
  lineCompletions: true,
  lineCandidates: 1,
  lineMaxTokens: 16,
  lineLengthPenalty: 0.0,
  recallLines: true,
  ghostTextThreshold: 0.15,
  staticAnalysis: true,
  staticWaitMs: 40,
  staticPython: "",
  workspaceAdaptation: false,
  adaptationMinutes: 10.0,
  fitToMachine: true,
  cache: { maxDocuments: 50, maxCheckpoints: 512, preparedWindows: 16 },
} as const;

/** Settings only the extension reads; the server would reject them as unknown. */
export const CLIENT_ONLY_KEYS = [
  "serverPath",
  "pythonPath",
  "serverArgs",
  "inlineCompletions",
  "popupCompletions",
] as const;

export interface ServerOptions {
  model?: string;
  device?: string;
  precision?: string;
  strategy?: string;
  beamWidth?: number;
  numCandidates?: number;
  settledWords?: number;
  maxTokens?: number;
  temperature?: number;
  topK?: number;
  topP?: number;
  seed?: number;
  contextTokens?: number;
  latencyBudgetMs?: number;
  identifierCache?: number;
  neuralCache?: number;
  workspaceMemory?: number;
  lineCompletions?: boolean;
  lineCandidates?: number;
  lineMaxTokens?: number;
  lineLengthPenalty?: number;
  recallLines?: boolean;
  ghostTextThreshold?: number;
  staticAnalysis?: boolean;
  staticWaitMs?: number;
  staticPython?: string;
  workspaceAdaptation?: boolean;
  adaptationMinutes?: number;
  fitToMachine?: boolean;
  cache?: { maxDocuments?: number; maxCheckpoints?: number; preparedWindows?: number };
}

export interface ClientSettings {
  serverPath: string;
  pythonPath: string;
  serverArgs: string[];
  inlineCompletions: boolean;
  popupCompletions: boolean;
}

/** Reads one setting below `grucomplete.` (dotted, e.g. "cache.maxDocuments"); undefined if unset. */
export type SettingReader = (key: string) => unknown;

const SERVER_KEYS = Object.keys(SERVER_DEFAULTS).filter((k) => k !== "cache");
const CACHE_KEYS = Object.keys(SERVER_DEFAULTS.cache);

/**
 * The `initializationOptions` / `didChangeConfiguration` payload.
 *
 * Only settings the user actually set are sent: the server's own defaults stay authoritative
 * (and a setting removed later falls back to the server default, since the server parses each
 * payload from its defaults). Values are passed through unchecked: the server validates them
 * and reports a bad one with a message, which is more useful than silently dropping it here.
 */
export function serverOptions(read: SettingReader): ServerOptions {
  const options: Record<string, unknown> = {};
  for (const key of SERVER_KEYS) {
    const value = read(key);
    if (value !== undefined && value !== null) options[key] = value;
  }
  const cache: Record<string, unknown> = {};
  for (const key of CACHE_KEYS) {
    const value = read(`cache.${key}`);
    if (value !== undefined && value !== null) cache[key] = value;
  }
  if (Object.keys(cache).length > 0) options.cache = cache;
  return options as ServerOptions;
}

/** The client-side settings, with defaults for unset or mistyped values. */
export function clientSettings(read: SettingReader): ClientSettings {
  const str = (key: string): string => {
    const value = read(key);
    return typeof value === "string" ? value.trim() : "";
  };
  const bool = (key: string): boolean => {
    const value = read(key);
    return typeof value === "boolean" ? value : true;
  };
  const args = read("serverArgs");
  return {
    serverPath: str("serverPath"),
    pythonPath: str("pythonPath"),
    serverArgs: Array.isArray(args) ? args.filter((a): a is string => typeof a === "string") : [],
    inlineCompletions: bool("inlineCompletions"),
    popupCompletions: bool("popupCompletions"),
  };
}

/** The model the server will load, for display: the setting, or the server default. */
export function modelInUse(options: ServerOptions): string {
  return typeof options.model === "string" && options.model !== "" ? options.model : SERVER_DEFAULTS.model;
}

/** True when a configuration change needs a new server process rather than a notification. */
export function needsRestart(affects: (section: string) => boolean): boolean {
  return (
    affects("grucomplete.serverPath") ||
    affects("grucomplete.pythonPath") ||
    affects("grucomplete.serverArgs") ||
    affects("grucomplete.inlineCompletions") || // the popup holds the line only without it
    affects("python.defaultInterpreterPath")
  );
}

/** Stable comparison of two option payloads, so unchanged options are not re-sent. */
export function sameOptions(a: ServerOptions, b: ServerOptions): boolean {
  return canonical(a) === canonical(b);
}

function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>).sort(([x], [y]) => (x < y ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
