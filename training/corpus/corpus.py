"""The training corpus: which Python files under a directory to learn from, and how they split.

The walk skips what is not the user's own source (virtualenvs, site-packages, caches, build
output, hidden directories, anything `.gitignore` excludes), never follows a symlink out of the
tree, and skips huge or binary files. Documents are de-duplicated by content before the
train/validation split, and the split hashes each file's path, so validation always measures
files the model has never seen, and adding files never moves an old file across the split.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pathspec

# Directory names that hold generated or third-party code, never the user's own source.
SKIPPED_DIRS = frozenset(
    {"site-packages", "dist-packages", "node_modules", "__pycache__", "__pypackages__"}
)
# Build output, unless the directory is itself a package (pypa/build keeps its code in build/).
BUILD_DIRS = frozenset({"build", "dist"})
BINARY_SNIFF_BYTES = 8192  # git's heuristic: a NUL byte in the first 8 KiB means binary

Split = Literal["train", "val"]


@dataclass
class CorpusStats:
    files: int = 0  # documents kept, after de-duplication
    chars: int = 0  # characters in the kept documents
    skipped_undecodable: int = 0  # not UTF-8, or unreadable
    skipped_large: int = 0  # over the size limit: usually generated code or data
    skipped_binary: int = 0  # a NUL byte near the start
    skipped_empty: int = 0  # only whitespace (empty __init__.py files teach nothing)
    duplicates: int = 0  # exact copies of a file already kept


@dataclass
class Document:
    path: str  # relative to the corpus root, with "/" separators
    text: str


@dataclass
class Corpus:
    train: list[Document] = field(default_factory=list)
    val: list[Document] = field(default_factory=list)
    stats: CorpusStats = field(default_factory=CorpusStats)


def _is_environment(directory: str) -> bool:
    """A virtualenv (pyvenv.cfg) or conda environment (conda-meta/), whatever it is named."""
    return os.path.isfile(os.path.join(directory, "pyvenv.cfg")) or os.path.isdir(
        os.path.join(directory, "conda-meta")
    )


def _skip_dir(parent: str, name: str) -> bool:
    if name.startswith(".") or name in SKIPPED_DIRS or name.endswith(".egg-info"):
        return True
    path = os.path.join(parent, name)
    if name in BUILD_DIRS and not os.path.isfile(os.path.join(path, "__init__.py")):
        return True
    return _is_environment(path)


def _load_gitignore(directory: str) -> pathspec.GitIgnoreSpec | None:
    path = os.path.join(directory, ".gitignore")
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8", errors="replace") as f:
        return pathspec.GitIgnoreSpec.from_lines(f.read().splitlines())


# A .gitignore's patterns are relative to its own directory: (that directory, its spec).
_Ignores = list[tuple[str, pathspec.GitIgnoreSpec]]


def _ignored(ignores: _Ignores, rel_path: str, is_dir: bool) -> bool:
    """Git's rule: the last matching pattern wins, and deeper .gitignore files come later."""
    ignored = False
    for base, spec in ignores:
        sub = rel_path[len(base) + 1 :] if base else rel_path
        result = spec.check_file(sub + "/" if is_dir else sub)
        if result.include is not None:
            ignored = result.include
    return ignored


def _is_binary(path: str) -> bool:
    with open(path, "rb") as f:
        return b"\0" in f.read(BINARY_SNIFF_BYTES)


def iter_source_files(
    root: Path,
    max_bytes: int = 1_000_000,
    stats: CorpusStats | None = None,
    exclude: Sequence[str] = (),
) -> Iterator[Path]:
    """Python files under `root` worth training on, depth-first with names sorted.

    Large and binary files are skipped and counted in `stats` when one is given. `exclude`
    holds gitignore-style patterns relative to `root`, applied after every .gitignore so that
    no negation in the tree can bring an excluded file back.
    """
    stats = stats if stats is not None else CorpusStats()
    excluded = pathspec.GitIgnoreSpec.from_lines(exclude) if exclude else None
    root_str = os.fspath(root)
    real_root = Path(root).resolve()
    ignores_of: dict[str, _Ignores] = {}
    # followlinks=False: a symlinked directory is listed but never entered, so loops are harmless.
    for dirpath, dirnames, filenames in os.walk(root_str, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root_str).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir
        ignores = list(ignores_of.pop(dirpath, []))
        spec = _load_gitignore(dirpath)
        if spec is not None:
            ignores.append((rel_dir, spec))

        def rel(name: str, rel_dir: str = rel_dir) -> str:
            return f"{rel_dir}/{name}" if rel_dir else name

        dirnames[:] = sorted(
            d
            for d in dirnames
            if not _skip_dir(dirpath, d)
            and not _ignored(ignores, rel(d), is_dir=True)
            and not (excluded and excluded.match_file(rel(d) + "/"))
        )
        for d in dirnames:
            ignores_of[os.path.join(dirpath, d)] = ignores

        for name in sorted(filenames):
            if not name.endswith(".py") or _ignored(ignores, rel(name), is_dir=False):
                continue
            if excluded and excluded.match_file(rel(name)):
                continue
            path = os.path.join(dirpath, name)
            try:
                # strict=True raises on a dangling link or a link loop.
                if os.path.islink(path) and not (
                    Path(path).resolve(strict=True).is_relative_to(real_root)
                ):
                    continue
                if not os.path.isfile(path):
                    continue
                if os.path.getsize(path) > max_bytes:
                    stats.skipped_large += 1
                    continue
                if _is_binary(path):
                    stats.skipped_binary += 1
                    continue
            except (OSError, RuntimeError):  # vanished, unreadable, or a symlink loop
                continue
            yield Path(path)


def read_source(path: Path) -> str | None:
    """The file's text (a UTF-8 byte-order mark removed), or None if it is not UTF-8."""
    try:
        data = path.read_bytes()
        return data.decode("utf-8-sig")
    except (OSError, UnicodeDecodeError):
        return None


def _hash_fraction(text: str) -> float:
    """A stable pseudo-random number in [0, 1) derived from `text` (unlike hash(), not salted)."""
    digest = hashlib.sha1(text.encode("utf-8", errors="surrogatepass")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_of(relative_path: str, val_fraction: float) -> Split:
    """Which split a file belongs to, decided by its path alone so it never changes."""
    return "val" if _hash_fraction(relative_path) < val_fraction else "train"


def load_corpus(
    root: Path,
    val_fraction: float = 0.02,
    max_bytes: int = 1_000_000,
    max_files: int | None = None,
    exclude: Sequence[str] = (),
) -> Corpus:
    """Read, de-duplicate and split the sources under `root`.

    With `max_files`, files are taken in path-hash order, a deterministic sample spread over
    the whole tree rather than its alphabetically first directories. Given two or more files,
    both splits get at least one, so a small corpus still has a validation set.
    """
    corpus = Corpus()
    stats = corpus.stats
    root = Path(root)
    paths = list(iter_source_files(root, max_bytes, stats, exclude))
    if max_files is not None:
        paths.sort(key=lambda p: _hash_fraction(p.relative_to(root).as_posix()))

    seen: set[bytes] = set()
    documents: list[Document] = []
    for path in paths:
        if max_files is not None and len(documents) >= max_files:
            break
        text = read_source(path)
        if text is None:
            stats.skipped_undecodable += 1
            continue
        if not text.strip():
            stats.skipped_empty += 1
            continue
        digest = hashlib.sha1(text.encode("utf-8", errors="surrogatepass")).digest()
        if digest in seen:
            stats.duplicates += 1
            continue
        seen.add(digest)
        documents.append(Document(path.relative_to(root).as_posix(), text))
        stats.files += 1
        stats.chars += len(text)

    documents.sort(key=lambda d: d.path)
    for doc in documents:
        (corpus.val if split_of(doc.path, val_fraction) == "val" else corpus.train).append(doc)
    if len(documents) >= 2 and not (corpus.train and corpus.val):
        # Move the file nearest the split threshold: the smallest change that fills both sides.
        source, target = (
            (corpus.train, corpus.val) if not corpus.val else (corpus.val, corpus.train)
        )
        pick = min if target is corpus.val else max
        moved = pick(source, key=lambda d: _hash_fraction(d.path))
        source.remove(moved)
        target.append(moved)
        target.sort(key=lambda d: d.path)
    return corpus


def sample_texts(root: Path, chars: int | None = None, seed: int = 0) -> list[str]:
    """The training split's texts under `root`, shuffled by `seed` and cut after `chars`
    characters (None: all, in path order): the same sample on every machine."""
    texts = [d.text for d in load_corpus(root, val_fraction=0.01).train]
    if chars is None:
        return texts
    random.Random(seed).shuffle(texts)
    sample, total = [], 0
    for text in texts:
        if total >= chars:
            break
        sample.append(text)
        total += len(text)
    return sample
