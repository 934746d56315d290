// What the server says of itself (the `grucomplete.serverStatus` command), as the status bar
// shows it. Pure: tested without VS Code.

export const STATUS_COMMAND = "grucomplete.serverStatus";

export interface ServerStatus {
  version?: string;
  model?: { state?: string; reason?: string; path?: string };
  staticAnalysis?: { state?: string; reason?: string; failed?: number; answers?: number };
  machineFit?: {
    fitted?: boolean;
    beam_width?: number;
    line_max_tokens?: number;
    context_tokens?: number;
    predicted_keystroke_ms?: number;
    predicted_jump_ms?: number;
    model?: string; // the model run: the settings', or "fast" where the default was too slow
    model_reason?: string;
  };
  workspaceMemory?: { state?: string; weight?: number; files?: number; entries?: number; memoryMB?: number };
  workspaceLines?: { state?: string; files?: number; lines?: number; truncated?: boolean };
}

export interface StatusDescription {
  lines: string[]; // the tooltip's paragraphs
  warning: boolean; // something is failing: the status bar item says so
}

/** The tooltip's text for a running server; `undefined` until it has answered. */
export function describeServerStatus(status: ServerStatus | undefined): StatusDescription {
  if (!status) return { lines: ["Ready."], warning: false };
  const lines: string[] = [];
  let warning = false;
  const model = status.model ?? {};
  if (model.state === "ready") lines.push("Ready: the model is loaded.");
  else if (model.state === "failed") {
    lines.push(`The model did not load: ${model.reason ?? "unknown reason"}`);
    warning = true;
  } else lines.push(`Model: ${model.state ?? "unknown"}.`);
  const jedi = status.staticAnalysis ?? {};
  const counts = jedi.answers ? ` (${jedi.failed ?? 0} of the last ${jedi.answers} answers failed)` : "";
  if (jedi.state === "failing") {
    lines.push(`Static analysis (jedi) is failing: ${jedi.reason ?? "unknown reason"}${counts}`);
    warning = true;
  } else if (jedi.state === "off") lines.push(`Static analysis (jedi) is off: ${jedi.reason ?? ""}`);
  else if (jedi.state === "starting") lines.push("Static analysis (jedi) is starting.");
  else if (jedi.state) lines.push(`Static analysis (jedi) works${counts}.`);
  const fit = status.machineFit;
  if (fit?.fitted) {
    lines.push(
      `Fitted to this machine: beam ${fit.beam_width}, lines of ${fit.line_max_tokens} tokens, ` +
        `a ${fit.context_tokens}-token window; predicted keystroke ${fit.predicted_keystroke_ms} ms, ` +
        `jump ${fit.predicted_jump_ms} ms.`,
    );
    if (fit.model) lines.push(`Model ${fit.model}: ${fit.model_reason ?? ""}.`);
  }
  const memory = status.workspaceMemory;
  if (memory && memory.state !== "off") {
    lines.push(
      `Workspace memory: ${memory.state}, ${memory.files ?? 0} files, ` +
        `${memory.entries ?? 0} entries, ${memory.memoryMB ?? 0} MB.`,
    );
  }
  const recalled = status.workspaceLines;
  if (recalled && recalled.state !== "off") {
    const bound = recalled.truncated ? " (bound reached: some files left out)" : "";
    lines.push(
      `Lines written before: ${recalled.state}, ${recalled.lines ?? 0} lines ` +
        `of ${recalled.files ?? 0} files${bound}.`,
    );
  }
  return { lines, warning };
}
