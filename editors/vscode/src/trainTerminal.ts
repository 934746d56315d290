// Runs a training process inside a VS Code terminal (a pseudoterminal), so its progress bar is
// visible and the extension learns the exit code.
import { spawn, type ChildProcess } from "node:child_process";
import * as vscode from "vscode";
import { displayCommand } from "./serverCommand";

/** Runs `command args` in a new terminal; resolves with the exit code (null when killed). */
export function runInTerminal(name: string, command: string, args: string[], cwd: string): Promise<number | null> {
  return new Promise((resolve) => {
    const writeEmitter = new vscode.EventEmitter<string>();
    let child: ChildProcess | undefined;
    let finished = false;
    const finish = (code: number | null): void => {
      if (finished) return;
      finished = true;
      resolve(code);
    };
    // A terminal wants CRLF; keep bare CRs, which redraw the progress bar in place.
    const write = (data: Buffer | string): void => writeEmitter.fire(data.toString().replace(/\r?\n/g, "\r\n"));

    const pty: vscode.Pseudoterminal = {
      onDidWrite: writeEmitter.event,
      open: () => {
        write(`$ ${displayCommand(command, args)}\n\n`);
        child = spawn(command, args, {
          cwd,
          env: { ...process.env, PYTHONUNBUFFERED: "1" },
          windowsHide: true,
        });
        child.stdout?.on("data", write);
        child.stderr?.on("data", write);
        child.on("error", (error) => {
          write(`\nCould not start: ${error.message}\n`);
          finish(null);
        });
        child.on("close", (code, signal) => {
          write(signal ? `\nStopped (${signal}).\n` : `\nExited with code ${code}.\n`);
          finish(signal ? null : code);
        });
      },
      close: () => {
        // The user closed the terminal: stop training (it saves between steps on SIGINT).
        if (child && child.exitCode === null) child.kill("SIGINT");
        finish(null);
      },
    };
    const terminal = vscode.window.createTerminal({ name, pty });
    terminal.show();
  });
}
