// The real probes for serverCommand.ts: spawn the interpreter, search PATH. Node only, no vscode.
import { execFile } from "node:child_process";
import { promises as fs, constants as fsConstants } from "node:fs";
import * as path from "node:path";
import type { Probes } from "./serverCommand";

const IMPORT_TIMEOUT_MS = 15_000; // a cold interpreter importing torch can take a few seconds

export function canImport(python: string): Promise<boolean> {
  return new Promise((resolve) => {
    execFile(python, ["-c", "import grucomplete.training"], { timeout: IMPORT_TIMEOUT_MS, windowsHide: true }, (error) =>
      resolve(error === null),
    );
  });
}

export async function findOnPath(
  name: string,
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): Promise<string | undefined> {
  const dirs = (env.PATH ?? env.Path ?? "").split(platform === "win32" ? ";" : ":").filter((d) => d !== "");
  const extensions = platform === "win32" ? (env.PATHEXT ?? ".EXE;.CMD;.BAT;.COM").split(";").concat([""]) : [""];
  for (const dir of dirs) {
    for (const ext of extensions) {
      const candidate = path.join(dir, name + ext);
      try {
        const stat = await fs.stat(candidate);
        if (!stat.isFile()) continue;
        if (platform !== "win32") await fs.access(candidate, fsConstants.X_OK);
        return candidate;
      } catch {
        // not here; keep looking
      }
    }
  }
  return undefined;
}

export const nodeProbes: Probes = { canImport, findOnPath: (name) => findOnPath(name) };
