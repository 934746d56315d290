// Which process runs the grucomplete CLI: an explicit path, a Python environment, or PATH.
// The probes are injected so resolution is testable without spawning anything.

export const INSTALL_COMMAND = "pip install grucomplete";
const PYTHON_MODULE = "grucomplete.training"; // `python -m grucomplete.training` is the full CLI

/** How to run `grucomplete <subcommand> ...`: `command` followed by `args`, then the subcommand. */
export interface CliCommand {
  command: string;
  args: string[];
  /** Where the command came from, for the output channel. */
  source: "serverPath" | "python" | "path";
}

export type Resolution = { ok: true; cli: CliCommand; notes: string[] } | { ok: false; message: string; notes: string[] };

export interface Probes {
  /** True when `python -c "import grucomplete.training"` succeeds. */
  canImport(python: string): Promise<boolean>;
  /** The full path of an executable found on PATH, or undefined. */
  findOnPath(name: string): Promise<string | undefined>;
}

export interface ResolveInput {
  /** `grucomplete.serverPath`: the grucomplete executable; empty when unset. */
  serverPath: string;
  /** Interpreters to try, best first (grucomplete.pythonPath, the selected environment, python.defaultInterpreterPath). */
  pythons: Array<string | undefined>;
}

/** Interpreters to try, without blanks or repeats, in order. */
export function pythonCandidates(pythons: Array<string | undefined>): string[] {
  const seen = new Set<string>();
  for (const p of pythons) {
    const python = p?.trim();
    if (python) seen.add(python);
  }
  return [...seen];
}

export async function resolveCli(input: ResolveInput, probes: Probes): Promise<Resolution> {
  const notes: string[] = [];
  if (input.serverPath.trim() !== "") {
    // An explicit setting wins without probing: if it is wrong, starting it says so.
    return { ok: true, cli: { command: input.serverPath.trim(), args: [], source: "serverPath" }, notes };
  }
  const pythons = pythonCandidates(input.pythons);
  for (const python of pythons) {
    if (await probes.canImport(python)) {
      return { ok: true, cli: { command: python, args: ["-m", PYTHON_MODULE], source: "python" }, notes };
    }
    notes.push(`${python} cannot import ${PYTHON_MODULE}`);
  }
  const onPath = await probes.findOnPath("grucomplete");
  if (onPath !== undefined) {
    return { ok: true, cli: { command: onPath, args: [], source: "path" }, notes };
  }
  notes.push("no grucomplete executable on PATH");
  const install = pythons.length > 0 ? `${quoteArg(pythons[0])} -m ${INSTALL_COMMAND}` : INSTALL_COMMAND;
  const tried = pythons.length > 0 ? ` (tried ${pythons.join(", ")} and PATH)` : " (tried PATH)";
  return {
    ok: false,
    message: `grucomplete is not installed${tried}. Install it with \`${install}\`, or set grucomplete.serverPath or grucomplete.pythonPath.`,
    notes,
  };
}

/** The language server: `... serve [serverArgs]`. */
export function serveCommand(cli: CliCommand, serverArgs: string[] = []): { command: string; args: string[] } {
  return { command: cli.command, args: [...cli.args, "serve", ...serverArgs] };
}

/** Training on a folder: `... train DIR --out OUT`. */
export function trainCommand(cli: CliCommand, folder: string, out: string): { command: string; args: string[] } {
  return { command: cli.command, args: [...cli.args, "train", folder, "--out", out] };
}

/** A command line for display (and for pasting into a POSIX shell). */
export function displayCommand(command: string, args: string[]): string {
  return [command, ...args].map(quoteArg).join(" ");
}

function quoteArg(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}
