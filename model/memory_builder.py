"""Building the workspace memory: walk the project, run the model forward, keep shards on disk.

The builder is a background thread that runs the server's own model (no second copy), at the
lowest CPU priority, that waits while the server has a request queued or running, so a
completion never waits for it (completions use the base model, without the memory, until the
first shards are in). It reads each Python file of the workspace (`.gitignore` respected,
virtualenvs and site-packages skipped) and has `memory_encoder` turn it into keys and values,
projected to the memory's keys (`memory_keys`) chunk by chunk; the freed buffers are given
back after each group of files, so the build's working set stays a few tens of MB (the
projection's fit, once, the largest).

Shards live beside the workspace's adaptation (`workspace_store`), one file per source file:

    <store>/memory/projection.safetensors   the projection, for one model's weights
    <store>/memory/shards/<hash of path>.safetensors   codes, values, lists; path, digest

so a restarted server reloads them instead of recomputing, and a file whose content hash is
unchanged is never fed again. Files open in the editor are not read from disk at all while
open: their text belongs to the editor (see `WorkspaceMemory.mask`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pathspec
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .heap import map_large_allocations, return_free_pages
from .memory_encoder import Encoder
from .memory_keys import Projection
from .workspace_memory import MAX_KEYS, Shard, WorkspaceMemory
from .workspace_store import store_dir, weights_fingerprint

if TYPE_CHECKING:
    from .engine import CompletionEngine

log = logging.getLogger("grucomplete.memory")

MEMORY_DIR = "memory"
PROJECTION_FILE = "projection.safetensors"
# Tokens encoded between two index rebuilds; their keys wait at half precision (~25 MB).
GROUP_TOKENS = 16 * 1024
MAX_FILE_BYTES = 512 * 1024  # bigger files are data or generated code
MAX_FILES = 20_000
# Outputs the projection is fitted on (31 MB at half precision): with 8,192 the k-means lists
# were so uneven (toolz: largest 2,031 entries, median 52) that a search cost twice as much.
FIT_SAMPLE = 20_000
FIT_FILES = 16  # files they are taken from, at most
# Folders that hold no code of the project, whatever .gitignore says.
SKIP_DIRS = {"node_modules", "site-packages", "__pycache__", "build", "dist", "venv", "env"}
BYTES_PER_TOKEN = 3.2  # roughly, on Python: to size the subsampling before tokenizing


def workspace_files(root: Path) -> list[Path]:
    """The workspace's Python files, resolved, sorted; ignored and environment folders skipped."""
    root = root.resolve()
    found: list[Path] = []
    ignores: list[tuple[Path, pathspec.PathSpec]] = []

    def ignored(path: Path) -> bool:
        for base, spec in ignores:
            if base in path.parents and spec.match_file(path.relative_to(base).as_posix()):
                return True
        return False

    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        if "pyvenv.cfg" in files:  # a virtualenv
            dirs[:] = []
            continue
        if ".gitignore" in files:
            try:
                lines = (here / ".gitignore").read_text(encoding="utf-8").splitlines()
                ignores.append((here, pathspec.GitIgnoreSpec.from_lines(lines)))
            except (OSError, UnicodeDecodeError):
                pass
        dirs[:] = sorted(
            d
            for d in dirs
            if not d.startswith(".") and d not in SKIP_DIRS and not ignored(here / d / "x")
        )
        for name in sorted(files):
            path = here / name
            if name.endswith(".py") and not path.is_symlink() and not ignored(path):
                found.append(path)
                if len(found) >= MAX_FILES:
                    return found
    return found


def memory_dir(workspace: Path) -> Path:
    return store_dir(workspace) / MEMORY_DIR


def _shard_file(directory: Path, path: str) -> Path:
    return directory / "shards" / (hashlib.sha256(path.encode()).hexdigest()[:24] + ".safetensors")


def _read_meta(file: Path) -> dict[str, str]:
    with safe_open(str(file), framework="pt") as f:
        return f.metadata() or {}


class MemoryBuilder:
    """Keeps a `WorkspaceMemory` in step with the workspace's files, in a background thread."""

    def __init__(
        self,
        root: Path,
        model_dir: Path,
        memory: WorkspaceMemory,
        precision: str = "int8",
        busy: Callable[[], bool] = lambda: False,
        directory: Path | None = None,
        engine: Callable[[], CompletionEngine | None] | None = None,
    ) -> None:
        """`engine()`: the server's loaded engine, whose model the builder shares (None while
        it loads); without it the builder loads a copy of the model at `model_dir`."""
        self.root = root.resolve()
        self.model_dir = model_dir
        self.memory = memory
        self.precision = precision
        self.busy = busy  # True while the server has a request waiting or running
        self.directory = directory or memory_dir(self.root)
        self.engine = engine
        self.encoder: Encoder | None = None
        self.fingerprint = f"{weights_fingerprint(model_dir)}-{precision}"
        self.known: dict[str, tuple[int, int, str]] = {}  # path -> (mtime_ns, size, digest)
        self.ready = threading.Event()  # set after the first full pass
        self.state = "idle"
        self.last_build_s = 0.0
        self.tokens_fed = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the background thread ---------------------------------------------------------

    def start(self, poll_s: float = 5.0) -> threading.Thread:
        """Build now, then look for changed files every `poll_s` seconds."""

        def run() -> None:
            # Linux: a thread's own nice value; elsewhere the thread keeps the default.
            with contextlib.suppress(AttributeError, OSError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
            # The intra-op thread count is per thread: unset, this one would take every core.
            torch.set_num_threads(1)
            map_large_allocations()  # the build's big buffers go back to the OS when freed
            while not self._stop.is_set():
                try:
                    self.sync()
                except Exception:  # a broken file or a full disk must not end the thread
                    log.exception("workspace memory: building failed")
                    self.state = "failed"
                self.ready.set()
                self._stop.wait(poll_s)

        self._thread = threading.Thread(target=run, name="grucomplete-memory", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        self._stop.set()

    def _pause(self) -> None:
        """Wait while a request is queued or running: it goes first."""
        while self.busy() and not self._stop.is_set():
            time.sleep(0.002)
        if self._stop.is_set():
            raise _Stopped

    # --- one pass --------------------------------------------------------------------------

    def sync(self) -> int:
        """Bring the memory up to date with the files on disk; returns how many were (re)fed."""
        self.state = "building" if not self.ready.is_set() else "updating"
        started = time.perf_counter()
        self._open_store()
        files = workspace_files(self.root)
        masked = self.memory.masked
        sizes = {}
        for file in files:
            try:
                sizes[str(file)] = file.stat()
            except OSError:
                continue
        total = sum(s.st_size for s in sizes.values())
        ratio = min(1.0, MAX_KEYS * BYTES_PER_TOKEN / max(total, 1))
        todo: list[tuple[str, str, str, os.stat_result]] = []
        for path, stat in sizes.items():
            if path in masked or stat.st_size > MAX_FILE_BYTES:
                continue  # open in the editor: its text is not read from disk
            known = self.known.get(path)
            if known is not None and known[:2] == (stat.st_mtime_ns, stat.st_size):
                continue
            try:
                data = Path(path).read_bytes()
            except OSError:
                continue
            digest = hashlib.sha256(data).hexdigest()
            if known is not None and known[2] == digest:
                self.known[path] = (stat.st_mtime_ns, stat.st_size, digest)
                continue
            shard = self._load_shard(path, digest)
            if shard is not None:
                self.memory.put(shard)
                self.known[path] = (stat.st_mtime_ns, stat.st_size, digest)
                continue
            todo.append((path, digest, data.decode("utf-8", errors="replace"), stat))
        for path in set(self.known) - set(sizes):
            self.known.pop(path)
            self.memory.remove(path)
            _shard_file(self.directory, path).unlink(missing_ok=True)
        try:
            self._feed(todo, ratio)
        except _Stopped:
            return 0
        if self.memory.dirty:
            self.memory.rebuild()
        if todo or not self.ready.is_set():
            self.last_build_s = time.perf_counter() - started
            size = self.memory.size()
            log.info(
                "workspace memory: %d files, %d entries (%.1f MB), %d fed in %.1f s",
                size["files"],
                size["entries"],
                size["bytes"] / 1e6,
                len(todo),
                self.last_build_s,
            )
        self.state = "ready"
        return len(todo)

    def _feed(self, todo: list[tuple[str, str, str, os.stat_result]], ratio: float) -> None:
        if not todo:
            return
        if self.encoder is None or self.engine is not None:  # the engine's current model
            self.encoder = self._encoder()
        projection = self.memory.projection or self._fit(todo)
        for group in _groups(todo):
            texts = [text for _, _, text, _ in group]
            # Half precision until quantized: a 512 KB file's keys are 20 MB, not 40.
            encoded = self.encoder.encode(
                texts, self._pause, lambda h: projection.project(h).half()
            )
            for (path, digest, _, stat), (keys, values) in zip(group, encoded, strict=True):
                self.tokens_fed += len(values)
                keep = self.encoder.subsample(values, ratio)
                codes, lists = projection.quantize(keys[keep])
                shard = Shard(path, digest, codes, values[keep].to(torch.int32), lists)
                if path in self.memory.masked:  # opened while it was being fed
                    continue
                self.memory.put(shard)
                self._save_shard(shard)
                self.known[path] = (stat.st_mtime_ns, stat.st_size, digest)
            del encoded
            self.memory.rebuild()  # usable as it grows
            return_free_pages()  # the group's buffers, freed in this thread's arena

    def _encoder(self) -> Encoder:
        """The server's engine's model when it has one, else a copy of our own."""
        if self.engine is None:
            return Encoder.load(self.model_dir, self.precision)
        while (engine := self.engine()) is None:  # the server's model is loading
            self._stop.wait(0.5)
            if self._stop.is_set():
                raise _Stopped
        return Encoder(engine.model, engine.tokenizer)

    def _fit(self, todo: list[tuple[str, str, str, os.stat_result]]) -> Projection:
        """Fit the projection on the keys of about FIT_SAMPLE positions: whole files (their
        bodies' contexts, not only their imports), taken evenly across the project, the last
        one cut. They are fed again with the rest: a second or two."""
        assert self.encoder is not None
        left = int(FIT_SAMPLE * BYTES_PER_TOKEN)  # characters
        texts: list[str] = []
        for _, _, text, _ in todo[:: max(1, len(todo) // FIT_FILES)]:
            texts.append(text[:left])
            left -= len(texts[-1])
            if left <= 0:
                break
        # Small batches: whole outputs of 16 segments would be 25 MB more at the peak.
        keys = [k for k, _ in self.encoder.encode(texts, self._pause, batch_size=2)]
        projection = Projection.fit(keys)
        self.memory.projection = projection
        self.directory.mkdir(parents=True, exist_ok=True)
        tmp = self.directory / (PROJECTION_FILE + ".tmp")
        save_file(projection.tensors(), str(tmp), metadata={"model": self.fingerprint})
        os.replace(tmp, self.directory / PROJECTION_FILE)
        return projection

    # --- the store on disk -----------------------------------------------------------------

    def _open_store(self) -> None:
        """Load the stored projection, once; a store made for other weights is emptied."""
        if self.memory.projection is not None:
            return
        file = self.directory / PROJECTION_FILE
        try:
            if _read_meta(file).get("model") == self.fingerprint:
                with safe_open(str(file), framework="pt") as f:
                    self.memory.projection = Projection(**{k: f.get_tensor(k) for k in f.keys()})  # noqa: SIM118
                return
        except (OSError, ValueError, TypeError):
            pass
        for old in (self.directory / "shards").glob("*.safetensors"):
            old.unlink(missing_ok=True)

    def _load_shard(self, path: str, digest: str) -> Shard | None:
        file = _shard_file(self.directory, path)
        try:
            meta = _read_meta(file)
            if meta.get("path") != path or meta.get("digest") != digest:
                return None
            if meta.get("model") != self.fingerprint:
                return None
            with safe_open(str(file), framework="pt") as f:
                return Shard(
                    path,
                    digest,
                    f.get_tensor("codes"),
                    f.get_tensor("values"),
                    f.get_tensor("lists"),
                )
        except (OSError, ValueError):
            return None

    def _save_shard(self, shard: Shard) -> None:
        file = _shard_file(self.directory, shard.path)
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp")
        tensors = {"codes": shard.codes, "values": shard.values, "lists": shard.lists}
        meta = {"path": shard.path, "digest": shard.digest, "model": self.fingerprint}
        save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp), metadata=meta)
        os.replace(tmp, file)

    def disk_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.directory.rglob("*.safetensors"))


class _Stopped(Exception):
    """The builder was stopped between two batches."""


def _groups(todo: list[tuple[str, str, str, os.stat_result]]) -> Iterator[list]:
    """Files in groups of about GROUP_TOKENS tokens (estimated from their size)."""
    group: list = []
    size = 0.0
    for item in todo:
        group.append(item)
        size += item[3].st_size / BYTES_PER_TOKEN
        if size >= GROUP_TOKENS:
            yield group
            group, size = [], 0.0
    if group:
        yield group
