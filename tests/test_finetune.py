"""Fine-tuning a trained model on new code: it learns that code, keeps its tokenizer and shape."""

from __future__ import annotations

import hashlib
import json
import sysconfig
from pathlib import Path

import pytest
import torch

from grucomplete.model.checkpoint import default_model_dir, load_checkpoint
from grucomplete.model.lm import GRUConfig
from grucomplete.training.trainer.cli import main
from grucomplete.training.trainer.config import TrainConfig, TrainingError
from grucomplete.training.trainer.finetune import (
    FINETUNE_DEFAULTS,
    MAX_EPOCHS,
    check_model_settings,
    load_base_model,
    standard_library_files,
    with_base_text,
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


def test_fine_tuning_makes_several_passes_over_a_small_project(
    tiny_model_dir: Path, tmp_path: Path
) -> None:
    """One pass of a small project was 10-40 steps, too few for held-out files to gain much
    (docs/benchmarks.md, "Retraining on a team's code"): with no limit named, `--from` goes
    over it MAX_EPOCHS times within the time budget, at the fine-tuning rate."""
    source = write_toy_project(tmp_path / "toy", files=6)
    out = tmp_path / "tuned"
    argv = [str(source), "--out", str(out), "--from", str(tiny_model_dir), "--batch-size", "4",
            "--window", "16", "--val-fraction", "0.2", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    meta = load_checkpoint(out).metadata
    # The project's tokens and a quarter of standard library; the tail is dropped.
    stream = meta["data"]["tokens"]["train"] / (1 - FINETUNE_DEFAULTS["base_share"])
    windows = round(stream) // (4 * 16)
    assert MAX_EPOCHS > 1
    assert MAX_EPOCHS * (windows - 1) <= meta["steps"] <= MAX_EPOCHS * windows
    assert meta["train_config"]["lr"] == FINETUNE_DEFAULTS["lr"] > TrainConfig().lr / 5
    summary = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert summary["stopped_by"] == "max_epochs"


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


def test_a_model_tuned_from_fp16_is_saved_in_fp16_and_the_run_folder_is_explained(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fine-tuned from the bundled fp16 model (16 MB), the result was saved in fp32 (32.8 MB),
    in a 160 MB run folder that nothing explained."""
    import torch
    from safetensors import safe_open

    from grucomplete.model.checkpoint import save_checkpoint

    base = tmp_path / "base-fp16"
    checkpoint = load_checkpoint(tiny_model_dir)
    save_checkpoint(base, checkpoint.model, checkpoint.tokenizer, dtype=torch.float16)
    source = write_toy_project(tmp_path / "toy", files=4)
    argv = [str(source), "--from", str(base), "--max-steps", "2", "--batch-size", "4",
            "--window", "16", "--val-fraction", "0.25", "--device", "cpu",
            "--no-progress"]  # fmt: skip

    def dtypes(out: Path) -> set[str]:
        with safe_open(str(out / "model.safetensors"), "pt") as f:
            return {f.get_slice(name).get_dtype() for name in f.keys()}  # noqa: SIM118

    assert main([*argv, "--out", str(tmp_path / "as-base")]) == 0
    assert dtypes(tmp_path / "as-base") == {"F16"}
    err = capsys.readouterr().err
    assert f"run folder {tmp_path / 'as-base'} (" in err, err
    assert f"{tmp_path / 'as-base' / 'resume'}/ (" in err and "optimizer state" in err, err
    assert f"{tmp_path / 'as-base' / 'data'}/ (" in err, err
    assert main([*argv, "--out", str(tmp_path / "fp32"), "--no-fp16"]) == 0
    assert dtypes(tmp_path / "fp32") == {"F32"}
    assert (
        main([*argv, "--out", str(tmp_path / "fp16"), "--from", str(tiny_model_dir), "--fp16"]) == 0
    )
    assert dtypes(tmp_path / "fp16") == {"F16"}


def test_base_share_rehearses_the_standard_library(tiny_model_dir: Path) -> None:
    """Against forgetting, `--base-share` makes that share of the stream standard-library code,
    after the project's own tokens, which stay whole and first."""
    tokenizer = load_checkpoint(tiny_model_dir).tokenizer
    project = torch.arange(3000, dtype=torch.int32) % 50
    mixed = with_base_text(project, tokenizer, 0.25)
    assert torch.equal(mixed[:3000], project)
    assert mixed.numel() == 4000  # 1,000 of 4,000 tokens: a quarter
    first = standard_library_files()[0]  # of the running Python, in a fixed order
    assert first.parent == Path(sysconfig.get_paths()["stdlib"])
    assert first.read_text(encoding="utf-8").startswith(tokenizer.decode(mixed[3000:3050].tolist()))
