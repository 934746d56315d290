"""Faults mid-training cost at most the steps since the last save, never a saved file.

Ctrl-C, a second Ctrl-C in the middle of saving, `kill -9`, a full disk and an interrupted
token-cache build each leave every checkpoint that was complete before as it was, and a run
that `--resume` continues. (test_resume.py covers the single SIGTERM, a failed torch.save of
the resume state, and a token cache missing its manifest.)
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import grucomplete.model.checkpoint as checkpoint_module
from grucomplete.model.checkpoint import load_checkpoint, save_checkpoint
from grucomplete.model.lm import GRUConfig, GRULanguageModel
from grucomplete.model.tokenizer import CodeTokenizer
from grucomplete.training.trainer import token_cache
from grucomplete.training.trainer.cli import main
from grucomplete.training.trainer.resume import read_resume_state
from grucomplete.training.trainer.token_cache import MANIFEST_FILE, prepare_tokens

from .test_security import TINY_FLAGS, python_train
from .toy_runs import one_torch_thread, tiny_train_config, wait_for_file, write_toy_project

one_thread = pytest.fixture(autouse=True, scope="module")(one_torch_thread)


def leftovers(directory: Path) -> list[str]:
    """Temporary files and directories a write left behind (ours are all named .*.tmp)."""
    return sorted(str(p.relative_to(directory)) for p in directory.rglob(".*.tmp"))


def start_training(source: Path, out: Path, *flags: str) -> subprocess.Popen:
    command = [
        sys.executable,
        "-m",
        "grucomplete.training",
        "train",
        str(source),
        "--out",
        str(out),
    ]
    return subprocess.Popen(
        [*command, "--max-steps", "1000000", *TINY_FLAGS, *flags],
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def resume_to(source: Path, out: Path, steps: int) -> dict:
    """Continue the run in `out` to `steps` steps with the real CLI; its final metadata."""
    result = python_train(str(source), "--out", str(out), "--resume", "--max-steps", str(steps),
                          "--no-progress", cwd=out.parent)  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return load_checkpoint(out).metadata


# --- signals ---------------------------------------------------------------------------------


def test_ctrl_c_saves_a_consistent_run_that_resumes(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=8)
    out = tmp_path / "run"
    process = start_training(source, out, "--checkpoint-every", "5")
    wait_for_file(out / "resume" / "resume.pt", process)
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "SIGINT stopped the run" in err and "--resume" in err.splitlines()[-1]

    # The final checkpoint, best/ and the resume state all describe the step it stopped at.
    steps = read_resume_state(out)[1]["position"]["step"]
    assert load_checkpoint(out).metadata["steps"] == steps >= 5
    assert load_checkpoint(out / "best").metadata["best_val"]["step"] == steps
    assert leftovers(out) == []
    assert resume_to(source, out, steps + 3)["steps"] == steps + 3


def test_a_second_ctrl_c_while_saving_leaves_the_last_save_resumable(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=8)
    out = tmp_path / "run"
    process = start_training(source, out, "--checkpoint-every", "1")
    wait_for_file(out / "resume" / "resume.pt", process)
    time.sleep(0.3)
    process.send_signal(signal.SIGINT)
    time.sleep(0.02)  # the first asks for a save; the second aborts wherever that save is
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=60)
    # 130 from the CLI, or killed by the signal itself when it came after the handlers left.
    assert process.returncode in (130, -signal.SIGINT), err

    steps = read_resume_state(out)[1]["position"]["step"]
    assert steps >= 1
    assert resume_to(source, out, steps + 2)["steps"] == steps + 2
    assert leftovers(out) == []  # whatever the abort left half-written is gone


def test_kill_9_mid_run_loses_only_the_unsaved_steps(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=8)
    out = tmp_path / "run"
    process = start_training(source, out, "--checkpoint-every", "1")  # nearly always saving
    wait_for_file(out / "resume" / "resume.pt", process)
    time.sleep(0.3)
    process.kill()
    process.communicate(timeout=60)

    steps = read_resume_state(out)[1]["position"]["step"]
    assert steps >= 1
    # What a kill in the middle of each kind of write leaves behind.
    (out / ".resume-k1lled_0.tmp").mkdir()
    (out / ".resume-k1lled_0.tmp" / "resume.pt").write_bytes(b"PK\x03\x04 torn")
    (out / ".model.safetensors.k1lled_0.tmp").write_bytes(b"torn")
    (out / "data" / ".tokens-train.npy.k1lled_0.tmp").write_bytes(b"torn")
    assert resume_to(source, out, steps + 2)["steps"] == steps + 2
    assert leftovers(out) == []


# --- a full disk -----------------------------------------------------------------------------


def tiny_model(vocab_size: int, seed: int) -> GRULanguageModel:
    torch.manual_seed(seed)
    return GRULanguageModel(GRUConfig(vocab_size=vocab_size, embed_dim=16, hidden_size=16,
                                      num_layers=1, dropout=0.0))  # fmt: skip


def fail_half_written(path: object, *args: object) -> None:
    """A write that runs out of space part of the way through."""
    Path(str(path)).write_bytes(b"\x00" * 100)
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("failing", ["model.safetensors", "tokenizer.json", "config.json"])
def test_a_full_disk_while_saving_keeps_the_previous_checkpoint(
    tmp_path: Path,
    toy_tokenizer: CodeTokenizer,
    monkeypatch: pytest.MonkeyPatch,
    failing: str,
) -> None:
    directory = tmp_path / "checkpoint"
    save_checkpoint(directory, tiny_model(toy_tokenizer.vocab_size, 0), toy_tokenizer, {"steps": 1})
    before = {p.name: p.read_bytes() for p in directory.iterdir()}

    if failing == "model.safetensors":
        monkeypatch.setattr(checkpoint_module, "save_file", lambda t, p: fail_half_written(p))
    elif failing == "tokenizer.json":
        monkeypatch.setattr(CodeTokenizer, "save", lambda self, p: fail_half_written(p))
    else:
        write_text = Path.write_text

        def full_for_config(self: Path, *args: object, **kwargs: object) -> int:
            if self.name.startswith(".config.json."):
                fail_half_written(self)
            return write_text(self, *args, **kwargs)

        monkeypatch.setattr(Path, "write_text", full_for_config)
    newer = tiny_model(toy_tokenizer.vocab_size, 1)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(directory, newer, toy_tokenizer, {"steps": 2})

    monkeypatch.undo()
    assert {p.name: p.read_bytes() for p in directory.iterdir()} == before  # no temporaries
    assert load_checkpoint(directory).metadata == {"steps": 1}


def test_a_full_disk_mid_run_stops_it_with_a_message_and_resume_continues(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_toy_project(tmp_path / "toy", files=6)
    out = tmp_path / "run"
    flags = [str(source), "--out", str(out), *TINY_FLAGS, "--checkpoint-every", "2"]
    real_save_file = checkpoint_module.save_file
    saves: list[str] = []

    def disk_fills_at_the_second_save(tensors: dict, path: str) -> None:
        saves.append(path)
        if len(saves) == 2:
            fail_half_written(path)
        real_save_file(tensors, path)

    monkeypatch.setattr(checkpoint_module, "save_file", disk_fills_at_the_second_save)
    assert main([*flags, "--max-steps", "6"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert "No space left on device" in err[-2] and err[-1].endswith("--resume")
    assert read_resume_state(out)[1]["position"]["step"] == 2  # the save before the failure
    assert leftovers(out) == []

    monkeypatch.undo()
    assert main([*flags, "--resume", "--max-steps", "6"]) == 0
    assert load_checkpoint(out).metadata["steps"] == 6
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r["kind"] == "resume"] == [2]


# --- the token cache -------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["truncated shard", "killed mid-rebuild", "full disk"])
def test_an_interrupted_token_cache_is_rebuilt_as_a_clean_build_would(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: str
) -> None:
    source = write_toy_project(tmp_path / "toy", files=6)
    config = tiny_train_config()
    cache = tmp_path / "data"
    prepare_tokens(source, cache, config)  # a complete cache of the first version of the code
    if fault == "truncated shard":
        shard = cache / "tokens-val.npy"
        shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    else:
        # The code changes, and its rebuild stops after replacing only the training stream.
        next(source.rglob("*.py")).write_text("def changed(value):\n    return value * 2\n")
        writes: list[Path] = []
        real_save_array = token_cache._save_array

        def stop_at_the_second_array(path: Path, array: object) -> None:
            writes.append(path)
            if len(writes) == 2:
                if fault == "full disk":
                    fail_half_written(path)
                raise KeyboardInterrupt
            real_save_array(path, array)

        monkeypatch.setattr(token_cache, "_save_array", stop_at_the_second_array)
        with pytest.raises(KeyboardInterrupt if fault == "killed mid-rebuild" else OSError):
            prepare_tokens(source, cache, config)
        monkeypatch.undo()
        assert not (cache / MANIFEST_FILE).exists() and leftovers(cache) == []

    clean = prepare_tokens(source, tmp_path / "clean", config)
    rebuilt = prepare_tokens(source, cache, config)
    assert rebuilt.tokenizer.fingerprint == clean.tokenizer.fingerprint
    assert torch.equal(rebuilt.train, clean.train) and torch.equal(rebuilt.val, clean.val)
    assert rebuilt.card == clean.card
