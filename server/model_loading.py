"""The model completions run: loaded from the settings, fitted to the machine, followed on disk.

The configured model (or its adaptation to the workspace) loads on the completion worker, in
the background. Where the settings leave the choice to the fit and the bundled default is
predicted too slow here, the bundled fast model runs instead (`machine_fit.choose_model`). The
fit sizes the beam width, line length and window to this machine's measured costs, except what
the settings set explicitly; a watcher reloads when the model's files change on disk.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from .options import ServerOptions

if TYPE_CHECKING:  # torch loads on the worker, after `initialize` has been answered
    from grucomplete.model.engine import CompletionEngine
    from grucomplete.model.machine_fit import Fit, ModelChoice

log = logging.getLogger("grucomplete.server")

Signature = tuple[tuple[int, int], ...] | None


def model_signature(directory: Path) -> Signature:
    """What identifies the files of a checkpoint on disk (None while any is missing)."""
    from grucomplete.model.checkpoint import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE

    try:
        return tuple(
            (s.st_mtime_ns, s.st_size)
            for s in ((directory / n).stat() for n in (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE))
        )
    except OSError:
        return None


class ModelLoader:
    """The loaded engine and its fit, swapped on the completion worker (`CompletionService`)."""

    def __init__(
        self,
        executor: ThreadPoolExecutor,
        options: Callable[[], ServerOptions],
        notify: Callable[[str, bool], None],
        swapped: Callable[[], None],
        stop: threading.Event,
    ) -> None:
        """`options()`: the settings now. `swapped()` runs on the worker when a load has
        replaced the engine (None if it failed): the old model's states are to be dropped."""
        self.executor, self._options, self._swapped, self._stop = executor, options, swapped, stop
        # notify(message, is_error) reaches the user (window/showMessage in the server).
        self.notify = notify
        # One thread: batch-1 steps are too small to share, and spinning threads collapse
        # when the editor also needs the CPU (`grucomplete serve --threads` changes it).
        self.threads = 1
        self.engine: CompletionEngine | None = None
        self.model_error: str | None = None
        # `model` setting -> its adaptation to this workspace (workspace_adaptation.py).
        self.adapted: dict[str, Path] = {}
        self.adapted_from: dict[str, str] = {}  # `model` setting -> what its adaptation began as
        self._loaded_signature: Signature = None
        self.loading: Future[None] | None = None  # the last load (None before the first)
        self.fit: Fit | None = None  # what `_fit_to_machine` measured and chose
        self.model_choice: ModelChoice | None = None  # default or fast (`_choose_model`)
        self._fitted_settings: tuple[object, ServerOptions] | None = None
        # The bundled model ("default" or "fast") the fit chose where the settings leave it
        # the choice (`fit_decides`): what a workspace adaptation starts from.
        self.fitted_base: str | None = None
        self._when_fitted: list[Callable[[str], None]] = []
        self._fitted_lock = threading.Lock()

    @property
    def options(self) -> ServerOptions:
        return self._options()

    @property
    def model_dir(self) -> Path:
        return self.model_dir_for(self.options)

    def model_dir_for(self, options: ServerOptions) -> Path:
        """The directory the model under `options` loads from."""
        from grucomplete.model.checkpoint import resolve_model_dir

        if options.workspace_adaptation and options.model in self.adapted:
            return self.adapted[options.model]
        if self.model_choice is not None and self.model_choice.fast and self._left_to_fit(options):
            return resolve_model_dir("fast")
        return resolve_model_dir(options.model)

    def fit_decides(self, options: ServerOptions) -> bool:
        """Whether the settings leave the choice between the bundled default and fast to
        the fit: the model is the default, not set explicitly."""
        return options.model == "default" and "model" not in options.explicit

    def _left_to_fit(self, options: ServerOptions) -> bool:
        """Whether the fit chooses the model to load now: it decides (`fit_decides`) and the
        workspace has no adaptation in use."""
        adapted = options.workspace_adaptation and options.model in self.adapted
        return self.fit_decides(options) and not adapted

    def when_fitted(self, callback: Callable[[str], None]) -> None:
        """Call `callback(base)` with the bundled model the fit chose (`fitted_base`): now if
        a load chose it already, else once one has (on the worker)."""
        with self._fitted_lock:
            base = self.fitted_base
            if base is None:
                self._when_fitted.append(callback)
        if base is not None:
            callback(base)

    def set_adapted(self, setting: str, directory: Path | None, base: str | None = None) -> None:
        """Complete with `directory`, adapted from the bundled `base` (default: `setting`),
        where the `model` setting is `setting` (None: with the model the setting names).

        Switches at once if a model is already loaded; the watcher then follows its files.
        """
        before = self.model_dir
        if directory is None:
            self.adapted.pop(setting, None)
            self.adapted_from.pop(setting, None)
        else:
            self.adapted[setting] = directory
            self.adapted_from[setting] = base or setting
        if self.loading is not None and self.model_dir != before:
            self.load()

    def load(self) -> Future[None]:
        """Load the configured model in the background; completions wait for it."""
        self.loading = self.executor.submit(self._load)
        return self.loading

    def _load(self) -> None:
        import torch

        from grucomplete.model.checkpoint import CheckpointError

        torch.set_num_threads(self.threads)
        self.model_choice = None  # every load fits from the model the settings name
        directory = self.model_dir
        signature = model_signature(directory)
        try:
            engine = self._open(directory)
        except (CheckpointError, RuntimeError, ValueError) as e:
            self.engine = None
            self._swapped()
            self._loaded_signature = signature
            if str(e) != self.model_error:
                self.model_error = str(e)
                self.notify(f"grucomplete: cannot load the model: {e}", True)
            log.error("cannot load model %s: %s", directory, e)
            return
        fit = self._fit_to_machine(engine)
        if fit is not None:
            engine, fit, signature = self._choose_model(engine, fit, signature)
            if "context_tokens" not in self.options.explicit:
                engine.context_tokens = fit.context_tokens
        recovered = self.model_error is not None
        # Swap atomically on the worker: no completion runs half on the old model.
        self.engine, self.fit, self.model_error = engine, fit, None
        # PyTorch and the model are 200,000 long-lived objects: a full garbage collection
        # walks them all (~100 ms, a latency spike at random keystrokes). Frozen, it skips them.
        # (Unfrozen first, so a replaced model's cycles are collected.)
        gc.unfreeze()
        gc.collect()
        gc.freeze()
        self._swapped()
        self._loaded_signature = signature
        log.info("loaded model %s (%s)", self.model_dir, self.options.precision)
        if fit is not None:
            log.info("fitted to this machine: %s", self.machine_fit())
        if recovered:
            self.notify(f"grucomplete: model loaded from {self.model_dir}", False)
        with self._fitted_lock:
            if self._left_to_fit(self.options):
                choice = self.model_choice
                self.fitted_base = "fast" if choice is not None and choice.fast else "default"
            base, waiting = self.fitted_base, self._when_fitted
            if base is not None:
                self._when_fitted = []
        if base is not None:
            for callback in waiting:
                callback(base)

    def _open(self, directory: Path) -> CompletionEngine:
        from grucomplete.model.checkpoint import load_checkpoint
        from grucomplete.model.engine import CompletionEngine
        from grucomplete.model.line_tokens import prepare_line_checks

        checkpoint = load_checkpoint(directory, device=self.options.device)
        engine = CompletionEngine(checkpoint, self.options.precision, self.options.context_tokens)
        prepare_line_checks(engine.index)  # ~0.1 s now, not at the first keystroke
        return engine

    def _fit_to_machine(self, engine: CompletionEngine) -> Fit | None:
        """Measure this machine's cost per token and per beam step (~1 s on a 2-core AVX2
        laptop, on the worker before the first completion) and size the work to the budgets
        (None: the fit is off, or the model is not on a CPU)."""
        from grucomplete.model.machine_fit import calibrate, fit, measure_costs
        from grucomplete.model.remembered_costs import fastest, machine_key

        if not self.options.fit_to_machine or engine.device.type != "cpu":
            return None
        costs = measure_costs(engine)
        calibrate(costs, engine, self.options)
        key = machine_key(engine.model.config.to_dict(), self.options.precision, self.options)
        costs, earlier = fastest(costs, key)
        return replace(fit(costs, self.options.context_tokens), costs_from_starts=earlier + 1)

    def _choose_model(
        self, engine: CompletionEngine, fit: Fit, signature: Signature
    ) -> tuple[CompletionEngine, Fit, Signature]:
        """The bundled fast model, its fit and its files' signature where the bundled default
        is predicted too slow here and fast does better (`machine_fit.choose_model`); else
        the given ones. The settings' explicit model is always kept."""
        from grucomplete.model.checkpoint import CheckpointError, resolve_model_dir
        from grucomplete.model.machine_fit import ModelChoice, choose_model, wants_fast

        explicit = not self._left_to_fit(self.options)
        fast_engine, fast_fit, fast_signature = None, None, None
        if wants_fast(fit, explicit):
            fast_dir = resolve_model_dir("fast")
            fast_signature = model_signature(fast_dir)  # before reading, as `_load` does
            try:
                fast_engine = self._open(fast_dir)
                fast_fit = self._fit_to_machine(fast_engine)
            except (CheckpointError, RuntimeError, ValueError) as e:
                log.info("no fast model to fall back on: %s", e)
        choice = choose_model(fit, fast_fit, explicit)
        if explicit and self.fit_decides(self.options):  # the fit's choice, adapted
            base = self.adapted_from.get(self.options.model, self.options.model)
            choice = ModelChoice(base == "fast", f"{base} adapted to the workspace")
        self.model_choice = choice
        log.info("model %s: %s", "fast" if choice.fast else self.options.model, choice.reason)
        if choice.fast and fast_engine is not None and fast_fit is not None:
            return fast_engine, fast_fit, fast_signature
        return engine, fit, signature

    def request_settings(self) -> ServerOptions:
        """The settings a completion runs with: the options, with the fitted beam width and
        line length where the editor did not set them."""
        fit, options = self.fit, self.options
        if fit is None:
            return options
        fitted = {"beam_width": fit.beam_width, "line_max_tokens": fit.line_max_tokens}
        changes = {k: v for k, v in fitted.items() if k not in options.explicit}
        key = (options, fit)  # the options themselves: a new object could reuse an old id
        if self._fitted_settings is None or self._fitted_settings[0] != key:
            self._fitted_settings = (key, replace(options, **changes) if changes else options)
        return self._fitted_settings[1]

    def machine_fit(self) -> dict[str, object]:
        """What was measured here and chosen (for `:checkhealth grucomplete` and the status
        tooltip): effective beam width, line length and window, which the settings fixed,
        the model run and why, the predicted keystroke and jump latency, and the per-unit
        costs (ms): the fastest of the starts on this machine (`costs_from_starts`)."""
        settings = self.request_settings()
        engine = self.engine
        fit = self.fit
        result: dict[str, object] = {
            "fitted": fit is not None,
            "beam_width": settings.beam_width,
            "line_max_tokens": settings.line_max_tokens,
            "context_tokens": engine.context_tokens if engine else self.options.context_tokens,
            "from_settings": sorted(
                {"beam_width", "line_max_tokens", "context_tokens"} & self.options.explicit
            ),
        }
        if fit is not None:
            choice = self.model_choice
            result["model"] = "fast" if choice is not None and choice.fast else self.options.model
            result["model_reason"] = choice.reason if choice is not None else ""
            result["predicted_keystroke_ms"] = round(fit.predicted_keystroke_ms, 1)
            result["predicted_jump_ms"] = round(fit.predicted_jump_ms, 1)
            result["costs_ms"] = {k: round(v, 4) for k, v in vars(fit.costs).items()}
            result["costs_from_starts"] = fit.costs_from_starts
        return result

    def watch(self, interval_s: float = 2.0) -> threading.Thread:
        """Reload when the model directory's files change on disk (e.g. `grucomplete train`)."""

        def poll() -> None:
            while not self._stop.wait(interval_s):
                loading = self.loading
                if loading is not None and not loading.done():
                    continue
                if model_signature(self.model_dir) != self._loaded_signature:
                    log.info("model files changed on disk; reloading")
                    self.load()

        thread = threading.Thread(target=poll, name="grucomplete-model-watch", daemon=True)
        thread.start()
        return thread
