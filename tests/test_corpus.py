"""The corpus walk picks the user's own Python source, and the train/val split is stable."""

from __future__ import annotations

from pathlib import Path

import pytest

from grucomplete.training.corpus.corpus import iter_source_files, load_corpus, read_source, split_of

CODE = "def add(a, b):\n    return a + b\n"


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A project with its own code plus everything a walk must leave out."""
    root = tmp_path / "project"
    write(root / "app" / "main.py", CODE)
    write(root / "app" / "util.py", "import os\n\nprint(os.sep)\n")
    write(root / "app" / "copy_of_main.py", CODE)  # an exact duplicate
    write(root / "app" / "__init__.py", "")  # empty: nothing to learn
    write(root / "app" / "bom.py", "\ufeffx = 1\n")
    write(root / "app" / "latin1.py", "s = 'caf\xe9'\n".encode("latin-1"))  # not UTF-8
    write(root / "app" / "blob.py", b"x = 1\n\0\0\0binary")
    write(root / "app" / "huge.py", "x = 1\n" * 1000)
    write(root / "app" / "notes.txt", "not python\n")
    write(root / "app" / "stubs.pyi", "def f() -> int: ...\n")
    # .gitignore, including a deeper file that re-includes what a shallower one excludes.
    write(root / ".gitignore", "*_generated.py\nscratch/\n")
    write(root / "app" / "schema_generated.py", CODE + "# generated\n")
    write(root / "scratch" / "try.py", "print('scratch')\n")
    write(root / "vendor" / ".gitignore", "!kept_generated.py\n")
    write(root / "vendor" / "kept_generated.py", "KEPT = True\n")
    # Environments, caches, build output, hidden directories.
    write(root / "myenv" / "pyvenv.cfg", "home = /usr/bin\n")
    write(root / "myenv" / "lib" / "site.py", "VENV = 1\n")
    write(root / "lib" / "site-packages" / "dep.py", "DEP = 1\n")
    write(root / "node_modules" / "x.py", "NODE = 1\n")
    write(root / "app" / "__pycache__" / "main.py", "CACHE = 1\n")
    write(root / ".git" / "hooks" / "hook.py", "HOOK = 1\n")
    write(root / ".tox" / "py311" / "t.py", "TOX = 1\n")
    write(root / "build" / "lib" / "app" / "main.py", CODE + "# built\n")
    write(root / "tools" / "build" / "__init__.py", "BUILD_TOOL = 1\n")  # a package named build
    # Symlinks: a loop back to the root, a file outside the tree, a dangling link, a file loop.
    outside = write(tmp_path / "outside.py", "OUTSIDE = 1\n")
    (root / "app" / "loop").symlink_to(root, target_is_directory=True)
    (root / "app" / "outside_link.py").symlink_to(outside)
    (root / "app" / "dangling.py").symlink_to(root / "missing.py")
    (root / "app" / "ping.py").symlink_to(root / "app" / "pong.py")
    (root / "app" / "pong.py").symlink_to(root / "app" / "ping.py")
    return root


def relative(paths: list[Path], root: Path) -> list[str]:
    return [p.relative_to(root).as_posix() for p in paths]


def test_walk_keeps_only_the_projects_own_python_files(tree: Path) -> None:
    found = relative(list(iter_source_files(tree, max_bytes=1000)), tree)
    assert found == [
        "app/__init__.py",
        "app/bom.py",
        "app/copy_of_main.py",
        "app/latin1.py",
        "app/main.py",
        "app/util.py",
        "tools/build/__init__.py",
        "vendor/kept_generated.py",
    ]


def test_excluded_patterns_are_left_out_whatever_gitignore_says(tree: Path) -> None:
    # vendor/.gitignore re-includes kept_generated.py; an exclusion still wins over that.
    exclude = ["/app/util.py", "kept_generated.py", "tools/**/__init__.py"]
    found = relative(list(iter_source_files(tree, max_bytes=1000, exclude=exclude)), tree)
    assert found == [
        "app/__init__.py",
        "app/bom.py",
        "app/copy_of_main.py",
        "app/latin1.py",
        "app/main.py",
    ]
    corpus = load_corpus(tree, val_fraction=0.5, max_bytes=1000, exclude=exclude)
    assert "app/util.py" not in [d.path for d in corpus.train + corpus.val]


def test_walk_order_is_deterministic(tree: Path) -> None:
    assert list(iter_source_files(tree)) == list(iter_source_files(tree))


def test_load_corpus_counts_what_it_skipped(tree: Path) -> None:
    corpus = load_corpus(tree, val_fraction=0.5, max_bytes=1000)
    documents = corpus.train + corpus.val
    paths = sorted(d.path for d in documents)
    # The duplicate keeps the first path in walk order; the BOM is gone from the text.
    assert paths == [
        "app/bom.py",
        "app/copy_of_main.py",
        "app/util.py",
        "tools/build/__init__.py",
        "vendor/kept_generated.py",
    ]
    assert next(d.text for d in documents if d.path == "app/bom.py") == "x = 1\n"
    stats = corpus.stats
    assert (stats.files, stats.duplicates, stats.skipped_empty) == (5, 1, 1)
    assert (stats.skipped_undecodable, stats.skipped_binary, stats.skipped_large) == (1, 1, 1)
    assert stats.chars == sum(len(d.text) for d in documents)


def test_read_source_rejects_non_utf8(tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.py", b"x = '\xff\xfe'\n")
    assert read_source(bad) is None
    assert read_source(write(tmp_path / "ok.py", "é = 1\n")) == "é = 1\n"


def test_split_is_deterministic_and_close_to_the_fraction() -> None:
    paths = [f"pkg{i % 37}/module_{i}.py" for i in range(20_000)]
    first = [split_of(p, 0.02) for p in paths]
    assert first == [split_of(p, 0.02) for p in paths]
    assert 0.015 < first.count("val") / len(paths) < 0.025
    # Raising the fraction only moves files into validation, never out of it.
    wider = [split_of(p, 0.1) for p in paths]
    assert all(w == "val" for f, w in zip(first, wider, strict=True) if f == "val")


def test_a_small_corpus_still_gets_a_validation_file(tmp_path: Path) -> None:
    write(tmp_path / "a.py", "A = 1\n")
    write(tmp_path / "b.py", "B = 2\n")
    corpus = load_corpus(tmp_path, val_fraction=0.001)
    assert len(corpus.train) == 1 and len(corpus.val) == 1


def test_max_files_takes_a_sample_of_at_most_that_many(tmp_path: Path) -> None:
    for i in range(20):
        write(tmp_path / f"d{i % 4}" / f"m{i}.py", f"X = {i}\n")
    corpus = load_corpus(tmp_path, val_fraction=0.2, max_files=6)
    kept = [d.path for d in corpus.train + corpus.val]
    assert len(kept) == 6
    assert len({p.split("/")[0] for p in kept}) > 1  # not just the first directory
    again = load_corpus(tmp_path, val_fraction=0.2, max_files=6)
    assert [d.path for d in again.train + again.val] == kept


def test_symlinked_file_inside_the_tree_is_read_once(tmp_path: Path) -> None:
    write(tmp_path / "real.py", CODE)
    (tmp_path / "alias.py").symlink_to(tmp_path / "real.py")
    corpus = load_corpus(tmp_path, val_fraction=0.5)
    assert corpus.stats.files == 1 and corpus.stats.duplicates == 1
