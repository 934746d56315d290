"""Training treats its input as data: no pickle runs, no trained-on code runs, no network.

Each attack plants something that would leave a marker file if it ever ran, and checks both
that training does what it should and that the marker is absent. Where the payload is not
obviously live, a control loads it the unsafe way first and shows that it does fire.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from grucomplete.training.corpus.corpus import iter_source_files, load_corpus
from grucomplete.training.trainer import token_cache
from grucomplete.training.trainer.cli import main
from grucomplete.training.trainer.resume import RESUME_DIR, STATE_FILE
from grucomplete.training.trainer.token_cache import MANIFEST_FILE, prepare_tokens
from grucomplete.training.trainer.trainer import train_from_directory

from .network_guard import attempts, guarded_env
from .toy_runs import TINY_MODEL, one_torch_thread, tiny_train_config, write_toy_project

one_thread = pytest.fixture(autouse=True, scope="module")(one_torch_thread)

# A run small enough to take about a second: every flag the subprocess tests pass.
TINY_FLAGS = ["--batch-size", "8", "--window", "32", "--hidden-size", "32", "--embed-dim", "16",
              "--num-layers", "1", "--vocab-size", "300", "--val-fraction", "0.1",
              "--eval-every", "1000", "--device", "cpu", "--no-progress"]  # fmt: skip


class WritesMarker:
    """Unpickling this runs `exec`, which creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('pickle ran')",))


def marker_code(marker: Path) -> str:
    """Python source that creates `marker` when it is imported or run."""
    return (
        f"from pathlib import Path\n\nPath({str(marker)!r}).write_text(__name__)\n\n\n"
        "def helper(value):\n    return value + 1\n"
    )


def python_train(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 120):
    """`python -m grucomplete.training train ...`: how the editor extensions start training."""
    return subprocess.run(
        [sys.executable, "-m", "grucomplete.training", "train", *args],
        cwd=cwd,
        env={**(env or os.environ), "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# --- pickle ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(source, out) of a finished 3-step run, whose resume state `--resume` would read."""
    root = tmp_path_factory.mktemp("pickle-run")
    source = write_toy_project(root / "toy", files=6)
    out = train_from_directory(source, root / "run", tiny_train_config(max_steps=3), TINY_MODEL)
    return source, out


@pytest.mark.parametrize("writer", ["pickle", "torch.save"])
def test_resume_never_unpickles_code_planted_as_the_resume_state(
    finished_run: tuple[Path, Path],
    tmp_path: Path,
    writer: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    source, finished = finished_run
    out = Path(shutil.copytree(finished, tmp_path / "run"))
    marker, control = tmp_path / "pwned", tmp_path / "control"
    state = out / RESUME_DIR / STATE_FILE
    if writer == "pickle":
        state.write_bytes(pickle.dumps(WritesMarker(marker), protocol=2))
        pickle.loads(pickle.dumps(WritesMarker(control)))
    else:
        torch.save(WritesMarker(marker), state)
        torch.save(WritesMarker(control), tmp_path / "control.pt")
        torch.load(tmp_path / "control.pt", weights_only=False)
    assert control.exists()  # the payload is live: loading it the unsafe way runs it

    code = main([str(source), "--out", str(out), "--resume", "--max-steps", "6", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{out / RESUME_DIR}: unreadable resume state" in err
    assert not marker.exists()


def test_a_pickled_token_cache_is_never_loaded_and_is_rebuilt(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=6)
    cache, config = tmp_path / "data", tiny_train_config()
    clean = prepare_tokens(source, cache, config)
    marker, control = tmp_path / "pwned", tmp_path / "control"
    # An object array is stored as a pickle inside the .npy file; the manifest stays as it was.
    np.save(cache / "tokens-train.npy", np.array([WritesMarker(marker)]), allow_pickle=True)
    np.save(tmp_path / "control.npy", np.array([WritesMarker(control)]), allow_pickle=True)
    np.load(tmp_path / "control.npy", allow_pickle=True)
    assert control.exists()

    rebuilt = prepare_tokens(source, cache, config)
    assert torch.equal(rebuilt.train, clean.train) and torch.equal(rebuilt.val, clean.val)
    assert not marker.exists()
    assert np.load(cache / "tokens-train.npy", allow_pickle=False).dtype == np.int32


# --- the code being trained on ---------------------------------------------------------------

# Files Python or a tool would run by name: packaging and test hooks, package and startup
# modules, and modules named like ones training imports, which the working directory shadows.
TRAPS = ["setup.py", "conftest.py", "noxfile.py", "pkg/__init__.py", "pkg/__main__.py",
         "sitecustomize.py", "usercustomize.py", "tqdm.py", "numpy.py", "torch.py", "json.py",
         "argparse.py", "tokenizers.py", "safetensors.py", "pathspec.py", "csv.py", "email.py",
         "zipfile.py", "typing.py", "inspect.py", "matplotlib.py"]  # fmt: skip


def booby_trapped_project(root: Path, markers: Path) -> Path:
    write_toy_project(root, files=8)
    for name in TRAPS:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(marker_code(markers / name.replace("/", "_")), encoding="utf-8")
    return root


def test_training_reads_the_code_it_learns_from_and_never_runs_it(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    source = booby_trapped_project(tmp_path / "project", markers)
    out = train_from_directory(source, tmp_path / "run", tiny_train_config(max_steps=2), TINY_MODEL)

    manifest = json.loads((out / "data" / MANIFEST_FILE).read_text())
    assert set(TRAPS) <= set(manifest["files"])  # every trap was read as training text
    assert sorted(os.listdir(markers)) == []


def test_training_from_inside_the_project_imports_nothing_from_it(tmp_path: Path) -> None:
    """The editor extensions run `python -m grucomplete.training train FOLDER` with the folder as
    the working directory, which `-m` puts first on sys.path: a project's own tqdm.py or
    json.py must not be imported in place of the real module."""
    markers = tmp_path / "markers"
    markers.mkdir()
    source = booby_trapped_project(tmp_path / "project", markers)
    result = python_train(".", "--out", str(tmp_path / "run"), "--max-steps", "2", *TINY_FLAGS,
                          cwd=source)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(markers)) == []


# --- the files a walk reads ------------------------------------------------------------------


def test_symlinks_out_of_the_project_are_never_followed(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    (outside / "secrets").mkdir(parents=True)
    (outside / "secrets" / "keys.py").write_text("API_KEY = 'outside the project'\n")
    (outside / "other.py").write_text("OTHER = 'outside the project'\n")
    project = tmp_path / "project"
    (project / "pkg").mkdir(parents=True)
    (project / "pkg" / "main.py").write_text("def main():\n    return 1\n")
    (project / "linked_dir").symlink_to(outside / "secrets", target_is_directory=True)
    (project / "pkg" / "relative.py").symlink_to(Path("..", "..", "outside", "other.py"))
    (project / "pkg" / "inside.py").symlink_to(Path("main.py"))  # stays in the tree: kept
    (project / "pkg" / "up").symlink_to(Path(".."), target_is_directory=True)  # not re-entered

    found = [p.relative_to(project).as_posix() for p in iter_source_files(project)]
    assert found == ["pkg/inside.py", "pkg/main.py"]
    # Reached through a symlink itself, the project reads the same files.
    (tmp_path / "alias").symlink_to(project, target_is_directory=True)
    via_alias = [p.relative_to(tmp_path / "alias").as_posix() for p in iter_source_files(
        tmp_path / "alias")]  # fmt: skip
    assert via_alias == found


ODD_NAMES = [b"with space.py", b"new\nline.py", b"tab\there.py", b"caf\xe9 latin-1.py",
             b"\xff\xfe.py", "ünïcödé.py".encode(), b"-rf.py", b"quote'\"[*]!#.py",
             b"back\\slash.py", b"emoji \xf0\x9f\x90\x8d.py"]  # fmt: skip


@pytest.mark.skipif(sys.platform != "linux", reason="arbitrary bytes in names are a Linux thing")
def test_odd_file_names_are_trained_on_and_cached(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "project"
    (source / "dir with space").mkdir(parents=True)
    for i, name in enumerate(ODD_NAMES):
        directory = source / "dir with space" if i % 2 else source
        (directory / os.fsdecode(name)).write_text(
            f"def function_{i}(value):\n    total = value + {i}\n    return total * {i}\n"
        )
    os.mkfifo(source / "pipe.py")  # opening a FIFO would block the walk forever

    corpus = load_corpus(source, val_fraction=0.2)
    names = {Path(d.path).name for d in corpus.train + corpus.val}
    assert names == {os.fsdecode(n) for n in ODD_NAMES}

    config = tiny_train_config(max_steps=2, window=8, batch_size=2)
    out = train_from_directory(source, tmp_path / "run", config, TINY_MODEL)
    manifest = json.loads((out / "data" / MANIFEST_FILE).read_text(encoding="utf-8"))
    assert {Path(p).name for p in manifest["files"]} == names
    encoded: list[int] = []  # a second run reuses the cache: the odd names round-trip
    real_encode = token_cache.encode_documents
    monkeypatch.setattr(
        token_cache, "encode_documents", lambda *a: encoded.append(1) or real_encode(*a)
    )
    prepare_tokens(source, out / "data", config)
    assert not encoded


# --- the network -----------------------------------------------------------------------------


def test_the_network_guard_catches_a_connection(tmp_path: Path) -> None:
    env = guarded_env(tmp_path / "guard")
    probe = "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 9), timeout=1)\n" \
            "except OSError as e:\n    print(e)\n"  # fmt: skip
    result = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True)
    assert "network guard" in result.stdout, result.stderr
    assert attempts(env) and attempts(env)[0].startswith("socket.")


def test_training_opens_no_network_connection(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=6)
    env = guarded_env(tmp_path / "guard")
    out = tmp_path / "run"
    flags = ["--out", str(out), "--max-steps", "4", "--checkpoint-every", "2", *TINY_FLAGS]
    result = python_train(str(source), *flags, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (out / "model.safetensors").is_file()
    assert attempts(env) == []
