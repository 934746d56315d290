"""Training on a tiny corpus learns, and leaves a checkpoint the rest of the system can load."""

from __future__ import annotations

import importlib.util
import json
import logging
import math
from pathlib import Path

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from safetensors.torch import load_file

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.model.lm import GRUConfig, GRULanguageModel
from grucomplete.model.tokenizer import train_tokenizer
from grucomplete.training.corpus.corpus import load_corpus
from grucomplete.training.trainer.cli import build_parser, main
from grucomplete.training.trainer.config import TrainConfig
from grucomplete.training.trainer.data import (
    IGNORE_INDEX,
    WindowBatcher,
    encode_documents,
    rank_share,
)
from grucomplete.training.trainer.plot import CURVE_FILE, plot_training_curve
from grucomplete.training.trainer.scheduled_sampling import mix_in_predictions, sampling_probability
from grucomplete.training.trainer.trainer import (
    TrainingError,
    learning_rate,
    train,
    train_from_directory,
)
from grucomplete.training.trainer.validation import evaluate, validation_batcher

from .toy_runs import TINY_MODEL, one_torch_thread, tiny_train_config, write_toy_project

one_thread = pytest.fixture(autouse=True, scope="module")(one_torch_thread)


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


@given(length=st.integers(2, 300), world=st.integers(1, 4))
def test_ranks_share_the_stream_in_disjoint_equal_parts(length: int, world: int) -> None:
    stream = torch.arange(length, dtype=torch.int32)
    shares = [rank_share(stream, rank, world) for rank in range(world)]
    assert len({s.numel() for s in shares}) == 1  # the same windows per epoch on every rank
    pairs = [(int(a), int(b)) for s in shares for a, b in zip(s[:-1], s[1:], strict=True)]
    assert len(pairs) == len(set(pairs))  # no (input, target) pair is read by two ranks
    assert len(pairs) >= length - world  # at most world - 1 pairs left over at the end


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


def test_early_stopping_ends_a_run_that_stopped_improving(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=6)
    # At learning rate 0 nothing changes, so no validation after the first is an improvement.
    frozen = tiny_train_config(lr=0.0, max_steps=100, eval_every=5, patience=2)
    out = train_from_directory(source, tmp_path / "a", frozen, TINY_MODEL)
    assert load_checkpoint(out).metadata["steps"] == 15  # best at 5, then 2 without progress
    assert load_checkpoint(out / "best").metadata["best_val"]["step"] == 5
    summary = (out / "metrics.jsonl").read_text().splitlines()[-1]
    assert json.loads(summary)["stopped_by"] == "early_stopping"
    patient = tiny_train_config(lr=0.0, max_steps=30, eval_every=5, patience=0)
    out = train_from_directory(source, tmp_path / "b", patient, TINY_MODEL)
    assert load_checkpoint(out).metadata["steps"] == 30


def test_scheduled_sampling_feeds_back_the_models_own_guesses() -> None:
    torch.manual_seed(0)
    model = GRULanguageModel(GRUConfig(vocab_size=50, embed_dim=8, hidden_size=16, num_layers=1))
    inputs = torch.randint(0, 50, (4, 12))
    rng = torch.get_rng_state()
    assert mix_in_predictions(model, inputs, None, 0.0) is inputs
    assert torch.equal(torch.get_rng_state(), rng)  # off: not even a random number is drawn

    mixed = mix_in_predictions(model, inputs, None, 1.0)
    with torch.no_grad():
        guesses = model.eval()(inputs)[0].argmax(-1)
    assert torch.equal(mixed[:, 0], inputs[:, 0])  # nothing before it to predict it from
    assert torch.equal(mixed[:, 1:], guesses[:, :-1])
    assert not torch.equal(mixed, inputs)
    half = mix_in_predictions(model, inputs, None, 0.5)
    assert ((half == inputs) | (half == mixed)).all() and not torch.equal(half, mixed)
    assert sampling_probability(0.4, 0.0) == 0.0 and sampling_probability(0.4, 0.5) == 0.2


def test_scheduled_sampling_changes_training_and_still_learns(tmp_path: Path) -> None:
    source = write_toy_project(tmp_path / "toy", files=6)
    runs = {}
    for p in (0.0, 0.5):
        config = tiny_train_config(max_steps=60, eval_every=60, scheduled_sampling=p)
        runs[p] = load_checkpoint(
            train_from_directory(source, tmp_path / str(p), config, TINY_MODEL)
        )
    assert not torch.equal(runs[0.0].model.embed.weight, runs[0.5].model.embed.weight)
    uniform = math.log(runs[0.5].tokenizer.vocab_size)
    assert runs[0.5].metadata["val"]["loss"] < 0.6 * uniform


def test_training_curve_is_drawn_when_matplotlib_is_installed(
    trained: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="grucomplete.training")
    curve = plot_training_curve(trained / "metrics.jsonl", tmp_path / CURVE_FILE)
    if importlib.util.find_spec("matplotlib") is None:
        assert curve is None and not (trained / CURVE_FILE).exists()
        assert "matplotlib is not installed" in caplog.text
    else:
        assert (trained / CURVE_FILE).read_bytes().startswith(b"\x89PNG")
        assert curve is not None and curve.read_bytes().startswith(b"\x89PNG")


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


def test_cli_exposes_resume_finetune_and_stopping_flags(tmp_path: Path) -> None:
    args = build_parser().parse_args(
        ["src", "--resume", "--from", "default", "--checkpoint-every", "7", "--patience", "3",
         "--scheduled-sampling", "0.25", "--max-epochs", "2"]
    )  # fmt: skip
    assert (args.resume, args.init_from, args.checkpoint_every) == (True, "default", 7)
    assert (args.patience, args.scheduled_sampling, args.max_epochs) == (3, 0.25, 2.0)
    args = build_parser().parse_args(
        ["src", "--distill-from", "default", "--distill-weight", "0.3"]
    )
    assert (args.distill_from, args.distill_weight) == ("default", 0.3)

    source = write_toy_project(tmp_path / "toy", files=6)
    out = tmp_path / "model"
    argv = [str(source), "--out", str(out), "--max-epochs", "1", "--batch-size", "4",
            "--window", "16", "--hidden-size", "16", "--embed-dim", "8", "--num-layers", "1",
            "--vocab-size", "280", "--checkpoint-every", "3", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    meta = load_checkpoint(out).metadata
    assert meta["train_config"]["max_steps"] is None  # naming one limit replaces the default
    windows = meta["data"]["tokens"]["train"] // (4 * 16)  # about; the tail is dropped
    assert windows - 1 <= meta["steps"] <= windows
    assert json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])["stopped_by"] == (
        "max_epochs"
    )


def test_help_says_how_the_stopping_limits_combine(capsys: pytest.CaptureFixture[str]) -> None:
    """`--time-budget-minutes 2` silently dropped the `--max-epochs 1` of `--from`."""
    assert main(["--help"]) == 0
    text = " ".join(capsys.readouterr().out.split()).replace("- ", "-")  # argparse wraps at -
    said = "naming any of --max-steps, --time-budget-minutes, --max-epochs drops the defaults"
    assert text.count(said) == 3, text  # beside each of the three limits
    assert "(with --from: --time-budget-minutes 10 and --max-epochs 2)" in text


def _train_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture, *flags: str) -> list[str]:
    source = write_toy_project(tmp_path / "toy", files=6)
    argv = [str(source), "--out", str(tmp_path / "model"), "--max-steps", "5",
            "--batch-size", "4", "--window", "16", "--hidden-size", "16", "--embed-dim", "8",
            "--num-layers", "1", "--vocab-size", "280", "--val-fraction", "0.2",
            "--eval-every", "3", "--no-progress", *flags]  # fmt: skip
    caplog.set_level(logging.INFO, logger="grucomplete.training")
    assert main(argv) == 0
    messages = [r.getMessage() for r in caplog.records]
    return [m for m in messages if m.startswith("step ") and ": val loss" in m]


def test_the_end_of_a_run_validates_once_when_one_validation_reads_it_all(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """`step 26: val loss …` printed twice: the periodic sample and the final full pass were
    the same windows, and the same numbers."""
    lines = _train_logged(tmp_path, caplog, "--eval-windows", "1000")
    assert [line.split(":")[0] for line in lines] == ["step 3", "step 5"], lines
    assert all("(all " in line for line in lines), lines


def test_a_sampled_and_a_full_validation_say_which_is_which(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    lines = _train_logged(tmp_path, caplog, "--eval-windows", "1")
    final = [line for line in lines if line.startswith("step 5:")]
    assert len(final) == 2 and len(set(final)) == 2, final
    assert "(1 of " in final[0] and "(all " in final[1], final


def test_the_progress_bar_shows_a_loss_before_the_first_logged_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The bar showed no loss until step `log_every` (20): 95 s into a 121 s fine-tuning."""
    source = write_toy_project(tmp_path / "toy", files=6)
    argv = [str(source), "--out", str(tmp_path / "model"), "--max-steps", "3",
            "--batch-size", "4", "--window", "16", "--hidden-size", "16", "--embed-dim", "8",
            "--num-layers", "1", "--vocab-size", "280", "--log-every", "20",
            "--progress"]  # fmt: skip
    assert main(argv) == 0
    err = capsys.readouterr().err
    assert "step 1, loss " in err and "step 2, loss " in err, err[-2000:]
