"""Adaptation to the workspace: `grucomplete adapt` in a background process, then a model switch.

With `workspaceAdaptation` on and a workspace folder known, the server completes with the
workspace's adapted model when its store holds a current one (it survives restarts), and
otherwise starts `grucomplete adapt --background-for <its pid>` on the workspace: a separate
process (the server never imports training code) at the lowest CPU priority, on one thread,
within `adaptationMinutes`. Completions carry on with the base model meanwhile; when the process
succeeds, the service switches models the way it does when a checkpoint changes on disk.
The base adapted is the model completions run on: where the settings leave the choice to the
machine fit, the bundled fast model on a machine too slow for the default (`when_fitted`).

The process is killed when the server shuts down, when the setting is turned off or the model
changed, and on `grucomplete.resetAdaptation`; `grucomplete.adaptWorkspace` forgets the stored
adaptation and adapts anew (the editors' "Retrain on Workspace"). If the server dies first, the
process notices it has lost its parent and ends itself. Everything it writes is atomic, so
killing is safe.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from grucomplete.model.workspace_store import (
    LOG_FILE,
    adapted_model,
    is_current,
    read_record,
    remove_store,
    store_dir,
)

from .completion_service import CompletionService
from .options import ServerOptions

log = logging.getLogger("grucomplete.server")

RESET_COMMAND = "grucomplete.resetAdaptation"
ADAPT_COMMAND = "grucomplete.adaptWorkspace"  # the editors' "Retrain on Workspace"
USAGE_ERROR = 2  # `grucomplete adapt` could not start: e.g. too little code to learn from


def adaptable(workspace: Path | None) -> bool:
    """A folder worth adapting to: not the home folder or a filesystem root, whose walk would
    read everything on the machine (an editor opened on a loose file reports those)."""
    if workspace is None or not workspace.is_dir():
        return False
    real = workspace.resolve()
    return real != Path.home().resolve() and real.parent != real


def _last_line(store: Path, code: int) -> str:
    """What the process said last (its error), or its exit code if it said nothing."""
    try:
        text = (store / LOG_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    lines = [line for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else f"exit code {code}"


class WorkspaceAdaptation:
    def __init__(self, service: CompletionService, notify: Callable[[str, bool], None]) -> None:
        self.service = service
        self.notify = notify  # notify(message, is_error) reaches the user
        self.workspace: Path | None = None  # set from `initialize`
        self.process: subprocess.Popen[bytes] | None = None
        self._wanted: tuple[str, float] | None = None  # (base model, budget) being served
        self._generation = 0  # bumped by every change: a finishing process of an older one is stale
        self._lock = threading.Lock()

    def reconfigure(self, options: ServerOptions) -> None:
        """Follow the settings: use a current adaptation, start one, or stop the one running.

        Call it before the service applies `options`, so that a model change loads once.
        """
        on = options.workspace_adaptation and adaptable(self.workspace)
        wanted = (options.model, options.adaptation_minutes) if on else None
        with self._lock:
            if wanted == self._wanted:
                return
            self._wanted = wanted
            self._generation += 1
            generation = self._generation
            self._kill()
        if wanted is None:
            return
        assert self.workspace is not None
        setting, minutes = wanted
        store = store_dir(self.workspace)
        loader = self.service.loader
        if not loader.fit_decides(options):
            self._use_or_start(store, setting, setting, minutes, generation)
        elif is_current(store, "fast"):  # adapted from fast before: the fit chose it here
            self._use_or_start(store, setting, "fast", minutes, generation)
        else:
            # The fit runs the bundled default or fast on this machine: adapt that one, or the
            # adapted model would bring back the slowness the fit chose fast to avoid.
            loader.when_fitted(
                lambda base: self._use_or_start(store, setting, base, minutes, generation)
            )

    def _use_or_start(
        self, store: Path, setting: str, base: str, minutes: float, generation: int
    ) -> None:
        """Complete with the store's adaptation of `base` where the model setting is `setting`
        (they differ where the fit chose fast for the default) if it is current (maybe from an
        earlier session; the base if it lost), else adapt `base` in the background."""
        with self._lock:
            if generation != self._generation:  # the settings changed before the fit was in
                return
        if is_current(store, base):
            self.service.set_adapted(setting, adapted_model(store, base), base)
        else:
            self._start(store, setting, base, minutes, generation)

    def _start(self, store: Path, setting: str, base: str, minutes: float, generation: int) -> None:
        assert self.workspace is not None
        store.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "grucomplete.training", "adapt", str(self.workspace),
            "--from", base, "--time-budget-minutes", str(minutes),
            "--background-for", str(os.getpid()),
        ]  # fmt: skip
        with open(store / LOG_FILE, "wb") as output:
            # Its own session: a Ctrl-C meant for the server's terminal is not meant for it.
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with self._lock:
            if generation != self._generation:  # the settings changed while it started
                process.kill()
                process.wait()
                return
            self.process = process
        log.info("adapting %s to %s in the background (pid %d)", base, self.workspace, process.pid)
        threading.Thread(
            target=self._finish,
            args=(process, store, setting, base, generation),
            name="grucomplete-adaptation",
            daemon=True,
        ).start()

    def _finish(
        self, process: subprocess.Popen[bytes], store: Path, setting: str, base: str, gen: int
    ) -> None:
        code = process.wait()
        with self._lock:
            if gen != self._generation:  # killed on purpose, or superseded
                return
            self.process = None
        if code != 0:
            message = f"grucomplete: workspace adaptation failed: {_last_line(store, code)}"
            log.warning("%s (log: %s)", message, store / LOG_FILE)
            if code != USAGE_ERROR:  # too little code is not worth a popup at every start
                self.notify(message, True)
            return
        record = read_record(store) or {}
        model = adapted_model(store, base)
        self.service.set_adapted(setting, model, base)
        loss = record.get("val_loss", {})
        if model is None:
            log.info("adapting to the workspace did not help; keeping %s (%s)", base, loss)
            return
        self.notify(
            f"grucomplete: adapted to {self.workspace.name if self.workspace else 'workspace'} "
            f"in {record.get('total_seconds', 0) / 60:.1f} min (validation loss "
            f"{loss.get('base', float('nan')):.3f} -> {loss.get('adapted', float('nan')):.3f})",
            False,
        )

    def reset(self) -> str:
        """Forget the workspace's adaptation and complete with the base model again."""
        with self._lock:
            self._generation += 1
            self._wanted = None  # the next settings change (or start) adapts again
            self._kill()
        for setting in list(self.service.adapted):
            self.service.set_adapted(setting, None)
        if self.workspace is None:
            return "grucomplete: no workspace folder, nothing to reset"
        store = store_dir(self.workspace)
        removed = remove_store(store)
        return (
            f"grucomplete: workspace adaptation reset ({store} removed); completing with the "
            "base model"
            if removed
            else "grucomplete: this workspace had no adaptation to reset"
        )

    def adapt_again(self) -> str:
        """Forget the workspace's adaptation and adapt anew now, in the background."""
        options = self.service.options
        if not options.workspace_adaptation:
            return "grucomplete: turn on the workspaceAdaptation setting to adapt to a workspace"
        if not adaptable(self.workspace):
            return "grucomplete: open a project folder to adapt to (not a home or root folder)"
        self.reset()
        self.reconfigure(options)
        return (
            f"grucomplete: adapting to {self.workspace.name if self.workspace else ''} in the "
            f"background (at most {options.adaptation_minutes:g} min); completions use the base "
            "model meanwhile"
        )

    def stop(self) -> None:
        """Kill the running adaptation, if any (at shutdown)."""
        with self._lock:
            self._generation += 1
            self._kill()

    def _kill(self) -> None:
        # Killed outright: what it would save on SIGTERM is thrown away anyway, and a step on
        # one thread takes seconds. Its files are written atomically, so nothing is torn.
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
