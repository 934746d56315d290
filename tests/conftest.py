"""Shared fixtures: a tiny model overfit to a repetitive toy corpus, trained once per session.

Unit tests never depend on the bundled model: the tiny one trains in seconds and its answers
on the toy corpus are certain enough to assert exactly.
"""

from __future__ import annotations

import logging
import os
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from grucomplete.model import checkpoint, machine_fit
from grucomplete.model.checkpoint import save_checkpoint
from grucomplete.model.completion_settings import CompletionSettings
from grucomplete.model.completions import Completions, KnownWords, decode_completions
from grucomplete.model.document_state import PromptState
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.lm import GRUConfig, GRULanguageModel
from grucomplete.model.session import complete_once
from grucomplete.model.tokenizer import CodeTokenizer, train_tokenizer
from grucomplete.server.static_analysis import StaticAnalyzer
from grucomplete.training.trainer.config import TrainConfig
from grucomplete.training.trainer.trainer import train, train_from_directory

from .toy_runs import TINY_MODEL, tiny_train_config, write_toy_project

# Batch-1 steps of tiny models gain nothing from two threads, and spinning threads collapse
# when anything else uses the CPU: one thread keeps the suite fast and its timing steady.
torch.set_num_threads(1)

TOY_SOURCES = [
    "import os\nimport sys\n\n\ndef main():\n    path = os.path.join(root, name)\n"
    "    print(path)\n    return sys.exit(0)\n",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.y = y\n\n"
    "    def norm(self):\n        return self.x * self.x + self.y * self.y\n",
    "def total(values):\n    result = 0\n    for value in values:\n        result += value\n"
    "    return result\n",
]


# The model's own ranking, five words and five lines: what the tests of decoding assert about.
MODEL_ONLY = CompletionSettings(
    num_candidates=5, line_candidates=5, identifier_cache=0.0, neural_cache=0.0, recall_lines=False
)


def complete_text(engine: CompletionEngine, text: str, **settings: object) -> Completions:
    """A throwaway session's answer at the end of `text`, with MODEL_ONLY changed by `settings`."""
    return complete_once(engine, text, replace(MODEL_ONLY, **settings))


def decode_from(
    engine: CompletionEngine,
    text: str,
    known_words: KnownWords | None = None,
    lines: bool = True,
    **settings: object,
) -> Completions:
    """The pipeline's decoding from a cold `prompt_state` (no session, no neural cache)."""
    healed = engine.heal(text)
    logits, state = engine.prompt_state(engine.prompt_ids(healed.context))
    prompt = PromptState(logits, state, tokens_fed=0)
    return decode_completions(
        engine,
        healed,
        prompt,
        replace(MODEL_ONLY, **settings),
        lines=lines,
        known_words=known_words,
    )


def toy_documents(count: int = 300, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(TOY_SOURCES) for _ in range(count)]


@pytest.fixture(scope="session", autouse=True)
def private_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """$XDG_CACHE_HOME in a temporary folder for the whole session, servers included: a server
    given a workspace adapts to it by default, and tests must not fill the user's cache."""
    path = tmp_path_factory.mktemp("xdg-cache")
    before = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(path)
    yield path
    if before is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = before


@pytest.fixture(scope="session")
def toy_tokenizer() -> CodeTokenizer:
    return train_tokenizer(iter(toy_documents()), vocab_size=400)


def _stream(tokenizer: CodeTokenizer, documents: list[str]) -> torch.Tensor:
    ids: list[int] = []
    for doc in documents:
        ids += [*tokenizer.encode(doc), tokenizer.boundary_id]
    return torch.tensor(ids, dtype=torch.int32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny model trained by `train_from_directory` on the toy project (its own tokenizer),
    once per module, after the module's own fixtures (one torch thread)."""
    base = tmp_path_factory.mktemp("training")
    source = write_toy_project(base / "toy")
    return train_from_directory(source, base / "run", tiny_train_config(), TINY_MODEL)


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory, toy_tokenizer: CodeTokenizer) -> Path:
    """A checkpoint directory of a 1-layer, 96-unit GRU that has memorised the toy corpus."""
    logging.getLogger("grucomplete").setLevel(logging.WARNING)
    out = tmp_path_factory.mktemp("tiny-model")
    model_config = GRUConfig(
        vocab_size=toy_tokenizer.vocab_size,
        embed_dim=32,
        hidden_size=96,
        num_layers=1,
        dropout=0.0,
    )
    train_config = TrainConfig(
        batch_size=8,
        window=32,
        lr=1e-2,
        warmup_steps=20,
        max_steps=1000,
        eval_every=1000,
        eval_windows=4,
        progress=False,
        device="cpu",
    )
    train(
        _stream(toy_tokenizer, toy_documents(300, seed=0)),
        _stream(toy_tokenizer, toy_documents(20, seed=1)),
        toy_tokenizer,
        model_config,
        train_config,
        out,
        {"purpose": "tests"},
    )
    return out


@pytest.fixture(scope="session")
def tiny_engine(tiny_model_dir: Path) -> CompletionEngine:
    return CompletionEngine.load(tiny_model_dir, precision="fp32")


def wait_until(condition: Callable[[], object], timeout_s: float = 30.0) -> None:
    """Poll `condition` until it holds; fail the test after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.fixture()
def analyzer(tmp_path: Path) -> Iterator[StaticAnalyzer]:
    """A static analyzer (its jedi worker started on first use) for a workspace in tmp_path."""
    analyzer = StaticAnalyzer(str(tmp_path))
    yield analyzer
    analyzer.close()


VSCODE_EXTENSION = Path(__file__).resolve().parent.parent / "editors" / "vscode"


@pytest.fixture(scope="session")
def vscode_extension_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """editors/vscode copied to a temporary folder, with `npm ci` run there: the tests build
    and package the extension in the copy, and leave no node_modules (180 MB) in the checkout.
    (The VS Code e2e's own install, code-server, stays in editors/vscode/e2e: see install.sh.)"""
    import shutil
    import subprocess

    if shutil.which("npm") is None:
        pytest.skip("npm is not installed (Node 20+ is needed to build the VS Code extension)")
    copy = tmp_path_factory.mktemp("vscode") / "vscode"
    shutil.copytree(
        VSCODE_EXTENSION,
        copy,
        ignore=shutil.ignore_patterns("node_modules", "out-test", "dist", "*.vsix", "e2e"),
    )
    done = subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund"],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return copy


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Where the screenshots that tests took are (the VS Code e2e's): shown without `-s`."""
    shots = {
        value
        for reports in terminalreporter.stats.values()
        for report in reports
        for name, value in getattr(report, "user_properties", ())
        if name == "screenshot"
    }
    for shot in sorted(shots):
        terminalreporter.write_line(f"screenshot: {shot}")


@pytest.fixture()
def bundled_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A random-weight stand-in for the bundled fast model (448 units, the default's
    tokenizer), where `resolve_model_dir("fast")` finds it."""
    tokenizer = CodeTokenizer.load(checkpoint.default_model_dir() / checkpoint.TOKENIZER_FILE)
    config = GRUConfig(vocab_size=tokenizer.vocab_size, hidden_size=448, embed_dim=160)
    directory = save_checkpoint(tmp_path / "fast", GRULanguageModel(config), tokenizer)
    bundled = checkpoint.bundled_model_dir
    monkeypatch.setattr(
        checkpoint,
        "bundled_model_dir",
        lambda name="default": directory if name == "fast" else bundled(name),
    )
    return directory


@pytest.fixture()
def cost_by_width(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A machine where a model costs in proportion to its width, so that the default (768
    units) is predicted 18.0 ms a keystroke, past the 15 ms budget, and fast (448) 10.5 ms;
    a machine of its own, with no faster costs remembered from the session's other servers."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "machine-cache"))

    def measure(engine: CompletionEngine, repeats: int = 5, beams: int = 5) -> machine_fit.Costs:
        scale = engine.model.config.hidden_size / 768
        return machine_fit.Costs(0.1 * scale, 0.1 * scale, 3.0 * scale, 0.05 * scale)

    monkeypatch.setattr(machine_fit, "measure_costs", measure)
    monkeypatch.setattr(machine_fit, "calibrate", lambda costs, engine, settings: None)
