"""Training on a tiny corpus learns, and leaves a checkpoint the rest of the system can load."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.model.lm import GRUConfig
from grucomplete.model.tokenizer import train_tokenizer
from grucomplete.training.cli import main
from grucomplete.training.config import TrainConfig
from grucomplete.training.corpus import load_corpus
from grucomplete.training.data import IGNORE_INDEX, WindowBatcher, encode_documents
from grucomplete.training.evaluation import evaluate, validation_batcher
from grucomplete.training.trainer import (
    TrainingError,
    learning_rate,
    train,
    train_from_directory,
)

NAMES = ["alpha", "beta", "gamma", "delta", "count", "total", "value", "item"]
TINY_MODEL = GRUConfig(embed_dim=64, hidden_size=64, num_layers=1, dropout=0.0)


def tiny_train_config(**overrides: object) -> TrainConfig:
    settings: dict[str, object] = dict(
        batch_size=8, window=32, lr=1e-2, warmup_steps=10, max_steps=200, eval_every=100,
        eval_windows=10, log_every=10, vocab_size=300, val_fraction=0.1, progress=False,
        device="cpu",  # the same numbers on every machine; the CUDA test asks for cuda
    )  # fmt: skip
    settings.update(overrides)
    return TrainConfig(**settings)  # type: ignore[arg-type]


def write_toy_project(root: Path, files: int = 30) -> Path:
    """Repetitive toy Python: predictable once a model has learned the pattern."""
    rng = random.Random(0)
    for f in range(files):
        lines = []
        for k in range(8):
            a, b = rng.sample(NAMES, 2)
            lines += [
                f"def {a}_{k}({b}, n):",
                f"    {a} = {b} + n",
                "    for i in range(n):",
                f"        {a} += i",
                f"    return {a}",
                "",
            ]
        path = root / f"pkg{f % 3}" / f"mod{f:02d}.py"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("\n".join(lines), encoding="utf-8")
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("training")
    source = write_toy_project(base / "toy")
    return train_from_directory(source, base / "run", tiny_train_config(), TINY_MODEL)


# --- the batcher -------------------------------------------------------------------------


@given(
    length=st.integers(2, 400), batch=st.integers(1, 6), window=st.integers(1, 20)
)  # fmt: skip
def test_windows_continue_each_other_lane_by_lane(length: int, batch: int, window: int) -> None:
    stream = torch.arange(length, dtype=torch.int32)
    batcher = WindowBatcher(stream, batch, window)
    windows = [next(batcher) for _ in range(len(batcher))]
    for inputs, targets in windows:
        assert inputs.shape == targets.shape == (batch, window)
        assert torch.equal(targets, inputs + 1)  # the target is the next token
    for (_, before), (after, _) in zip(windows, windows[1:], strict=False):
        assert torch.equal(after[:, 0], before[:, -1])  # window k+1 starts where k ended
    if windows:
        assert batcher.at_epoch_start
        assert torch.equal(next(batcher)[0], windows[0][0])  # the next epoch starts over


@given(length=st.integers(2, 400), batch=st.integers(1, 6), window=st.integers(1, 20))
def test_evaluation_windows_score_every_token_once(length: int, batch: int, window: int) -> None:
    stream = torch.arange(length, dtype=torch.int32)
    batcher = WindowBatcher(stream, batch, window, pad_tail=True)
    lanes = torch.cat([batcher[k][1] for k in range(len(batcher))], dim=1)
    scored = lanes.flatten()
    assert torch.equal(scored[scored != IGNORE_INDEX], stream[1:].long())
    assert batcher.targets_per_epoch == length - 1


def test_batcher_resumes_at_a_saved_position() -> None:
    stream = torch.arange(1000, dtype=torch.int32)
    first = WindowBatcher(stream, 4, 16)
    for _ in range(23):
        next(first)
    resumed = WindowBatcher(stream, 4, 16, position=first.position)
    assert torch.equal(next(resumed)[0], next(first)[0])
    assert resumed.epoch == 23 // len(first)


def test_token_stream_ends_every_document_with_the_boundary() -> None:
    texts = ["x = 1\n", "def f():\n    return 2\n", "y = 'é'\n"]
    tokenizer = train_tokenizer(iter(texts * 5), vocab_size=280)
    stream = encode_documents(tokenizer, texts, chunk_size=2)
    assert stream.dtype == torch.int32
    ends = (stream == tokenizer.boundary_id).nonzero().flatten().tolist()
    assert len(ends) == 3 and ends[-1] == len(stream) - 1
    starts = [0] + [e + 1 for e in ends[:-1]]
    assert [
        tokenizer.decode(stream[s:e].tolist()) for s, e in zip(starts, ends, strict=True)
    ] == texts


def test_learning_rate_warms_up_then_decays_to_the_floor() -> None:
    config = TrainConfig(lr=1e-3, warmup_steps=10, max_steps=100, min_lr_ratio=0.1)
    rates = [learning_rate(config, step, step / 100) for step in range(101)]
    assert rates[0] < rates[5] < rates[9]
    assert max(rates) == pytest.approx(1e-3, rel=0.05)
    assert rates[100] == pytest.approx(1e-4)
    assert all(a >= b for a, b in zip(rates[10:], rates[11:], strict=False))


# --- a real training run -----------------------------------------------------------------


def test_training_learns_far_better_than_chance(trained: Path) -> None:
    checkpoint = load_checkpoint(trained)
    val = checkpoint.metadata["val"]
    uniform = math.log(checkpoint.tokenizer.vocab_size)
    assert val["loss"] < 0.5 * uniform, f"val loss {val['loss']:.3f} vs uniform {uniform:.3f}"
    assert val["perplexity"] == pytest.approx(math.exp(val["loss"]))
    assert 0 < val["bits_per_char"] < 1.5


def test_checkpoint_reproduces_its_reported_validation_loss(trained: Path) -> None:
    checkpoint = load_checkpoint(trained)
    meta = checkpoint.metadata
    assert meta["data"]["files"]["train"] + meta["data"]["files"]["val"] == 30
    assert meta["data"]["tokens"]["train"] > meta["data"]["tokens"]["val"] > 0
    assert meta["steps"] == 200 and meta["tokens_seen"] == 200 * 8 * 32
    assert meta["train_config"]["batch_size"] == 8
    # The split depends only on paths, so the held-out files can be found again.
    val_texts = [d.text for d in load_corpus(trained.parent / "toy", val_fraction=0.1).val]
    ids = encode_documents(checkpoint.tokenizer, val_texts)
    assert ids.numel() == meta["data"]["tokens"]["val"]
    result = evaluate(checkpoint.model, validation_batcher(ids, 8, 32), sum(map(len, val_texts)))
    assert result.loss == pytest.approx(meta["val"]["loss"], rel=1e-4)
    assert result.bits_per_char == pytest.approx(meta["val"]["bits_per_char"], rel=1e-4)


def test_best_checkpoint_and_metrics_log_are_written(trained: Path) -> None:
    best = load_checkpoint(trained / "best")
    assert best.metadata["best_val"]["step"] in (100, 200)
    lines = [json.loads(line) for line in (trained / "metrics.jsonl").read_text().splitlines()]
    train_losses = [r["loss"] for r in lines if r["kind"] == "train"]
    assert len(train_losses) == 20
    assert train_losses[-1] < train_losses[0] / 2
    assert all(r["tokens_per_s"] > 0 for r in lines if r["kind"] == "train")
    assert [r["step"] for r in lines if r["kind"] == "val"] == [100, 200, 200]
    assert lines[-1]["kind"] == "summary" and lines[-1]["stopped_by"] == "max_steps"


def test_time_budget_stops_training_and_fp16_halves_the_weights(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=6)
    config = tiny_train_config(max_steps=None, time_budget_minutes=0.01, save_dtype="float16")
    out = train_from_directory(source, tmp_path / "run", config, TINY_MODEL)
    meta = load_checkpoint(out).metadata
    assert meta["steps"] > 0 and meta["train_seconds"] < 5
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["stopped_by"] == (
        "time_budget"
    )
    weights = load_file(str(out / "model.safetensors"))
    assert {t.dtype for t in weights.values()} == {torch.float16}


def test_too_little_data_is_a_clear_error(tmp_path: Path) -> None:
    tokenizer = train_tokenizer(iter(["x = 1\n"] * 3), vocab_size=260)
    ids = encode_documents(tokenizer, ["x = 1\n"] * 4)
    model = GRUConfig(vocab_size=tokenizer.vocab_size, embed_dim=8, hidden_size=8, num_layers=1)
    with pytest.raises(TrainingError, match="too few for one batch"):
        train(ids, ids, tokenizer, model, tiny_train_config(), tmp_path, {})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_training_on_cuda_gives_a_checkpoint_that_works_on_cpu(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy")
    config = tiny_train_config(device="cuda")
    out = train_from_directory(source, tmp_path / "run", config, TINY_MODEL)
    checkpoint = load_checkpoint(out)  # on the CPU
    assert checkpoint.metadata["device"] == torch.cuda.get_device_name()
    assert checkpoint.metadata["val"]["loss"] < 0.5 * math.log(checkpoint.tokenizer.vocab_size)
    val_texts = [d.text for d in load_corpus(source, val_fraction=0.1).val]
    ids = encode_documents(checkpoint.tokenizer, val_texts)
    result = evaluate(checkpoint.model, validation_batcher(ids, 8, 32), sum(map(len, val_texts)))
    # bf16 autocast on the GPU, fp32 here: close, not identical.
    assert result.loss == pytest.approx(checkpoint.metadata["val"]["loss"], rel=0.05)


# --- the command line --------------------------------------------------------------------


def test_cli_reports_bad_input_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    cases = {
        str(tmp_path / "missing"): "not a directory",
        str(tmp_path / "empty"): "no Python source files",
    }
    for source, message in cases.items():
        assert main([source, "--no-progress"]) == 2
        err = capsys.readouterr().err.strip().splitlines()[-1]
        assert err.startswith("grucomplete train: error: ") and message in err
    assert main([str(tmp_path), "--batch-size", "lots"]) == 2
    assert "--batch-size" in capsys.readouterr().err
    assert main([str(tmp_path), "--window", "0"]) == 2
    assert "window must be at least 1" in capsys.readouterr().err


def test_cli_flags_reach_the_checkpoint(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=6)
    out = tmp_path / "model"
    argv = [str(source), "--out", str(out), "--max-steps", "5", "--batch-size", "4",
            "--window", "16", "--hidden-size", "24", "--embed-dim", "16", "--num-layers", "1",
            "--vocab-size", "280", "--val-fraction", "0.2", "--no-progress", "--fp16"]  # fmt: skip
    assert main(argv) == 0
    checkpoint = load_checkpoint(out)
    assert checkpoint.model.config.hidden_size == 24
    assert checkpoint.metadata["steps"] == 5
    assert checkpoint.metadata["train_config"]["save_dtype"] == "float16"
