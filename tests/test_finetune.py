"""Fine-tuning a trained model on new code: it learns that code, keeps its tokenizer and shape."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from grucomplete.model.checkpoint import default_model_dir, load_checkpoint
from grucomplete.model.lm import GRUConfig
from grucomplete.training.trainer.cli import main
from grucomplete.training.trainer.config import TrainingError
from grucomplete.training.trainer.finetune import (
    FINETUNE_DEFAULTS,
    check_model_settings,
    load_base_model,
)
from grucomplete.training.trainer.token_cache import CACHE_DIR, read_cache
from grucomplete.training.trainer.validation import evaluate, validation_batcher

from .toy_runs import one_torch_thread, write_toy_project

one_thread = pytest.fixture(autouse=True, scope="module")(one_torch_thread)


def test_finetuning_learns_the_new_code_and_keeps_the_tokenizer(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    # The base model knows the conftest toy sources; this project is code it has never seen.
    source = write_toy_project(tmp_path / "toy", files=12)
    out = tmp_path / "tuned"
    argv = [str(source), "--out", str(out), "--from", str(tiny_model_dir), "--max-steps", "60",
            "--batch-size", "8", "--window", "32", "--val-fraction", "0.2", "--eval-every",
            "20", "--device", "cpu", "--no-progress"]  # fmt: skip
    assert main(argv) == 0

    tuned, base = load_checkpoint(out), load_checkpoint(tiny_model_dir)
    assert (out / "tokenizer.json").read_bytes() == (tiny_model_dir / "tokenizer.json").read_bytes()
    assert tuned.model.config == base.model.config
    data = read_cache(out / CACHE_DIR)[1]  # the validation files of the new project
    batcher = validation_batcher(data.val, 8, 32)
    base_loss = evaluate(base.model, batcher, data.card["chars"]["val"]).loss
    tuned_loss = tuned.metadata["val"]["loss"]
    assert tuned_loss < 0.7 * base_loss, f"fine-tuned {tuned_loss:.3f} vs base {base_loss:.3f}"

    meta = tuned.metadata
    weights = (tiny_model_dir / "model.safetensors").read_bytes()
    assert meta["base_model"]["fingerprint"] == hashlib.sha256(weights).hexdigest()[:16]
    assert meta["base_model"]["path"] == str(tiny_model_dir.resolve())
    assert meta["base_model"]["summary"]["steps"] == base.metadata["steps"]
    # The fine-tuning defaults apply where no flag was given; --max-steps replaced the limits.
    assert meta["train_config"]["lr"] == FINETUNE_DEFAULTS["lr"]
    assert meta["train_config"]["warmup_steps"] == FINETUNE_DEFAULTS["warmup_steps"]
    assert meta["train_config"]["time_budget_minutes"] is None
    assert meta["train_config"]["max_epochs"] is None
    assert meta["train_config"]["init_from"] == str(tiny_model_dir)


def test_model_flags_that_change_the_shape_are_refused(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_toy_project(tmp_path / "toy", files=4)
    argv = [str(source), "--from", str(tiny_model_dir), "--no-progress"]
    assert main([*argv, "--hidden-size", "128"]) == 2
    assert "hidden_size=128 (the base has 96)" in capsys.readouterr().err
    assert main([*argv, "--vocab-size", "1000"]) == 2
    assert "keeps the base model's tokenizer" in capsys.readouterr().err
    assert main([str(source), "--from", str(tmp_path / "nowhere"), "--no-progress"]) == 2

    base = GRUConfig(vocab_size=400, hidden_size=96)
    assert check_model_settings(base, {"dropout": 0.3, "hidden_size": 96}, "x").dropout == 0.3
    with pytest.raises(TrainingError, match="cell='lstm'"):
        check_model_settings(base, {"cell": "lstm"}, "x")


def test_the_bundled_model_is_the_default_base() -> None:
    base = load_base_model("default")
    assert base.record["name"] == "default"
    assert base.record["path"] == str(default_model_dir().resolve())
    assert base.record["tokenizer_fingerprint"] == base.checkpoint.tokenizer.fingerprint
    assert base.record["summary"]["steps"] > 0
