"""Where a workspace's adapted model lives on disk, and whether it still belongs to its base.

`grucomplete adapt` (training) writes here and the language server reads here, so the layout
lives in this one module both may import. One directory per workspace, named after the
workspace and a hash of its resolved path:

    $XDG_CACHE_HOME/grucomplete/workspaces/<name>-<hash>/
        model/           the adapted checkpoint (config.json + model.safetensors + tokenizer.json)
        adaptation.json  what it was adapted from and on: base fingerprint, files, time; written
                         last, so its presence means the model beside it is complete
        run/             the fine-tuning run (token cache, metrics), reused by the next adaptation
        adapt.log        the last adaptation's output

An adapted model is valid only while its base's weights are byte-identical to those it started
from (the fingerprint): a retrained or updated base invalidates it, and it is adapted again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

MODEL_DIR = "model"
RECORD_FILE = "adaptation.json"
RUN_DIR = "run"
LOG_FILE = "adapt.log"
LOCK_FILE = "lock"


def grucomplete_cache() -> Path:
    """grucomplete's folder in the user's cache ($XDG_CACHE_HOME, else ~/.cache)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "grucomplete"


def cache_root() -> Path:
    """The folder holding every workspace's store."""
    return grucomplete_cache() / "workspaces"


def store_dir(workspace: str | os.PathLike[str]) -> Path:
    """The store of `workspace`: readable by its name, unique by the hash of its real path."""
    real = Path(workspace).expanduser().resolve()
    digest = hashlib.sha256(os.fsencode(real)).hexdigest()[:16]
    name = re.sub(r"[^\w.-]", "_", real.name)[:40] or "root"
    return cache_root() / f"{name}-{digest}"


def weights_fingerprint(model_dir: Path) -> str:
    """A short hash of a checkpoint's weights file: what identifies a base model's weights."""
    # Imported here, as in every function below that needs it: `checkpoint` imports torch, and
    # the server reads the store while answering `initialize`, before torch is loaded.
    from .checkpoint import WEIGHTS_FILE, file_sha256

    return file_sha256(model_dir / WEIGHTS_FILE)[:16]


def read_record(store: Path) -> dict[str, Any] | None:
    """The store's adaptation record, or None when there is none (or it is unreadable)."""
    try:
        record = json.loads((store / RECORD_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_current(store: Path, base: str) -> bool:
    """Whether the store holds an adaptation of `base` as it is now (a changed base: no)."""
    from .checkpoint import resolve_model_dir

    record = read_record(store)
    if record is None:
        return False
    try:
        current = weights_fingerprint(resolve_model_dir(base))
    except OSError:  # the base is gone: nothing to compare with, so nothing to trust
        return False
    return record.get("base", {}).get("fingerprint") == current


def adapted_model(store: Path, base: str) -> Path | None:
    """The adapted model to complete with instead of `base`, or None to keep `base`.

    None also when the adaptation is current but did not beat the base on the workspace's
    validation files (`improved` false): then the base stays, and nothing is adapted again.
    """
    from .checkpoint import CONFIG_FILE, TOKENIZER_FILE, WEIGHTS_FILE

    model = store / MODEL_DIR
    files = (CONFIG_FILE, WEIGHTS_FILE, TOKENIZER_FILE)
    if not is_current(store, base) or not (read_record(store) or {}).get("improved"):
        return None
    return model if all((model / n).is_file() for n in files) else None


def remove_store(store: Path) -> bool:
    """Forget a workspace's adaptation; returns whether there was anything to remove."""
    if not store.exists():
        return False
    # The record first: from that moment the model is invalid, even if removal stops halfway.
    (store / RECORD_FILE).unlink(missing_ok=True)
    shutil.rmtree(store, ignore_errors=True)
    return True


@contextlib.contextmanager
def locked(store: Path) -> Iterator[None]:
    """Hold the store's lock: two editors on one workspace adapt it one after the other."""
    store.mkdir(parents=True, exist_ok=True)
    with open(store / LOCK_FILE, "a+b") as f:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory locks; concurrent runs are merely wasteful
            yield
            return
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
