"""A stopped run resumes exactly; signals stop it cleanly; the token cache survives interruption."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.model.tokenizer import train_tokenizer
from grucomplete.training.trainer import token_cache
from grucomplete.training.trainer.cli import main
from grucomplete.training.trainer.config import TrainingError
from grucomplete.training.trainer.graceful_stop import StopRequest
from grucomplete.training.trainer.resume import (
    OLD_DIR,
    RESUME_DIR,
    read_resume_state,
    write_resume_state,
)
from grucomplete.training.trainer.token_cache import MANIFEST_FILE, prepare_tokens
from grucomplete.training.trainer.trainer import train_from_directory

from .toy_runs import (
    TINY_MODEL,
    one_torch_thread,
    tiny_train_config,
    wait_for_file,
    write_toy_project,
)

one_thread = pytest.fixture(autouse=True, scope="module")(one_torch_thread)


class StopAt(StopRequest):
    """Stops a run after `step` steps, as a signal arriving then would."""

    def __init__(self, step: int) -> None:
        super().__init__()
        self.step = step

    def should_stop(self, step: int) -> bool:
        return step >= self.step


def _metrics(out: Path, kind: str) -> list[tuple]:
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    keys = {"train": ("step", "loss", "lr"), "val": ("step", "loss", "full")}[kind]
    return [tuple(r[k] for k in keys) for r in lines if r["kind"] == kind]


def test_a_stopped_and_resumed_run_equals_an_uninterrupted_one(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=8)
    # Dropout and scheduled sampling draw random numbers every step: the RNG state must
    # resume too. The stop falls mid-epoch, off the checkpoint, log and eval schedules.
    config = tiny_train_config(
        max_steps=40, eval_every=15, log_every=7, checkpoint_every=10, scheduled_sampling=0.5,
        save_dtype="float16",  # the final checkpoint's precision does not touch the resume state
    )  # fmt: skip
    model = replace(TINY_MODEL, dropout=0.2)
    train_from_directory(source, tmp_path / "whole", config, model)
    train_from_directory(source, tmp_path / "split", config, model, stop=StopAt(23))
    assert load_checkpoint(tmp_path / "split").metadata["steps"] == 23
    train_from_directory(source, tmp_path / "split", config, model, resume=True)

    whole = load_file(str(tmp_path / "whole" / RESUME_DIR / "model.safetensors"))
    split = load_file(str(tmp_path / "split" / RESUME_DIR / "model.safetensors"))
    assert whole.keys() == split.keys()
    for name in whole:
        assert torch.equal(whole[name], split[name]), name
    # The log reads as one run: the same losses, and nothing left over from the stop.
    assert _metrics(tmp_path / "split", "train") == _metrics(tmp_path / "whole", "train")
    assert _metrics(tmp_path / "split", "val") == _metrics(tmp_path / "whole", "val")
    assert load_checkpoint(tmp_path / "split").metadata["steps"] == 40


def test_resume_refuses_a_changed_model_tokenizer_or_batch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_toy_project(tmp_path / "toy", files=6)
    out = tmp_path / "run"
    config = tiny_train_config(max_steps=4, eval_every=4)
    train_from_directory(source, out, config, TINY_MODEL)

    with pytest.raises(TrainingError, match=r"cannot resume: the model changed \(hidden_size"):
        train_from_directory(source, out, config, replace(TINY_MODEL, hidden_size=32), resume=True)
    other = train_tokenizer(iter(["print('something else entirely')\n"] * 50), vocab_size=300)
    with pytest.raises(TrainingError, match="cannot resume: the (tokenizer|model) changed"):
        train_from_directory(source, out, config, TINY_MODEL, other, resume=True)
    with pytest.raises(TrainingError, match="--batch-size is 4, the run used 8"):
        train_from_directory(source, out, replace(config, batch_size=4), resume=True)

    assert main([str(source), "--out", str(out), "--resume", "--hidden-size", "32"]) == 2
    assert "--resume keeps the run's model" in capsys.readouterr().err
    assert main([str(source), "--out", str(tmp_path / "none"), "--resume"]) == 2
    assert "no resume state" in capsys.readouterr().err


def test_a_failed_write_keeps_the_previous_resume_state(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_toy_project(tmp_path / "toy", files=6)
    out = train_from_directory(source, tmp_path / "run", tiny_train_config(max_steps=3), TINY_MODEL)
    checkpoint, state = read_resume_state(out)

    def fail(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", fail)
    with pytest.raises(OSError, match="disk full"):
        write_resume_state(out, checkpoint.model, checkpoint.tokenizer, {}, {"step": 99})
    assert read_resume_state(out)[1]["position"]["step"] == 3
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temporary left

    # A crash between the two renames leaves only resume.old/, which is still read.
    os.replace(out / RESUME_DIR, out / OLD_DIR)
    assert read_resume_state(out)[1]["position"]["step"] == 3

    # resume.pt is data only: a pickle that would run code on loading is refused.
    monkeypatch.undo()
    torch.save({"version": 1, "payload": Path("x")}, out / OLD_DIR / "resume.pt")
    with pytest.raises(TrainingError, match="unreadable resume state"):
        read_resume_state(out)


def test_token_cache_is_reused_and_an_interrupted_one_rebuilt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = write_toy_project(tmp_path / "toy", files=6)
    cache = tmp_path / "data"
    config = tiny_train_config()
    first = prepare_tokens(source, cache, config)
    manifest = json.loads((cache / MANIFEST_FILE).read_text())
    assert manifest["tokenizer_fingerprint"] == first.tokenizer.fingerprint
    assert len(manifest["files"]) == 6 and all(
        len(f["sha256"]) == 64 for f in manifest["files"].values()
    )

    encoded: list[int] = []
    real_encode = token_cache.encode_documents
    monkeypatch.setattr(
        token_cache, "encode_documents", lambda *a: encoded.append(1) or real_encode(*a)
    )
    again = prepare_tokens(source, cache, config)
    assert not encoded and torch.equal(again.train, first.train)

    # Killed mid-write: the manifest goes first, so a torn array is never trusted.
    (cache / MANIFEST_FILE).unlink()
    (cache / "tokens-train.npy").write_bytes(b"\x93NUMPY torn")
    rebuilt = prepare_tokens(source, cache, config)
    assert encoded and torch.equal(rebuilt.train, first.train)

    encoded.clear()
    next(source.rglob("*.py")).write_text("def changed():\n    return 1\n")
    assert not torch.equal(prepare_tokens(source, cache, config).train, first.train)
    assert encoded  # a changed file is noticed by its hash


def test_signals_only_ask_to_stop_until_repeated() -> None:
    stop = StopRequest()
    before = signal.getsignal(signal.SIGTERM)
    with stop.handling_signals():
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.should_stop(0) and stop.reason == "SIGTERM" and stop.exit_code == 143
        os.kill(os.getpid(), signal.SIGINT)  # torchrun's forwarded signal: still saving
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)  # the same one again: abort
    assert signal.getsignal(signal.SIGTERM) is before
    interrupted = StopRequest()
    interrupted.request(signal.SIGINT)
    assert interrupted.exit_code == 130 and not StopRequest().should_stop(10**9)


def test_sigterm_stops_cleanly_and_resume_continues(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=8)
    out = tmp_path / "run"
    flags = [str(source), "--out", str(out), "--batch-size", "8", "--window", "32",
             "--hidden-size", "32", "--embed-dim", "16", "--num-layers", "1",
             "--vocab-size", "300", "--val-fraction", "0.1", "--eval-every", "1000",
             "--checkpoint-every", "5", "--device", "cpu", "--no-progress"]  # fmt: skip
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "grucomplete.training", "train", *flags]
    process = subprocess.Popen(
        [*command, "--max-steps", "1000000"], env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    wait_for_file(out / RESUME_DIR / "resume.pt", process, timeout=60)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "--resume" in err.splitlines()[-1]

    stopped = load_checkpoint(out).metadata
    assert stopped["steps"] >= 5
    assert read_resume_state(out)[1]["position"]["step"] == stopped["steps"]
    assert main([*flags, "--resume", "--max-steps", str(stopped["steps"] + 3)]) == 0
    resumed = load_checkpoint(out).metadata
    assert resumed["steps"] == stopped["steps"] + 3
    assert resumed["tokens_seen"] == resumed["steps"] * 8 * 32
    log = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert {"kind": "resume", "step": stopped["steps"]}.items() <= next(
        r for r in log if r["kind"] == "resume"
    ).items()
