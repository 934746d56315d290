"""Checkpoints round-trip exactly; every kind of damage gives one clear error naming the file."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from grucomplete.model import checkpoint
from grucomplete.model.checkpoint import (
    CheckpointError,
    bundled_model_dir,
    load_checkpoint,
    resolve_model_dir,
    save_checkpoint,
)
from grucomplete.model.tokenizer import train_tokenizer


@pytest.fixture()
def model_copy(tiny_model_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(tiny_model_dir, tmp_path / "model"))


def test_round_trip_gives_identical_predictions(tiny_model_dir: Path, tmp_path: Path) -> None:
    first = load_checkpoint(tiny_model_dir)
    save_checkpoint(tmp_path / "again", first.model, first.tokenizer, first.metadata)
    second = load_checkpoint(tmp_path / "again")
    tokens = torch.tensor([first.tokenizer.encode("def main():\n    path = os.")])
    a, _ = first.model.step(tokens, first.model.initial_state())
    b, _ = second.model.step(tokens, second.model.initial_state())
    assert torch.equal(a, b)
    assert second.metadata["purpose"] == "tests"
    assert sorted(p.name for p in (tmp_path / "again").iterdir()) == [
        "config.json",
        "model.safetensors",
        "tokenizer.json",
    ]


def test_config_json_is_readable_by_people(tiny_model_dir: Path) -> None:
    config = json.loads((tiny_model_dir / "config.json").read_text())
    assert config["model"]["cell"] == "gru"
    assert config["model"]["hidden_size"] == 96
    assert len(config["tokenizer_fingerprint"]) == 16


@pytest.mark.parametrize("missing", ["config.json", "model.safetensors", "tokenizer.json"])
def test_missing_file_is_named(model_copy: Path, missing: str) -> None:
    (model_copy / missing).unlink()
    with pytest.raises(CheckpointError, match=f"{missing}: missing"):
        load_checkpoint(model_copy)


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nowhere")


def test_truncated_weights(model_copy: Path) -> None:
    weights = model_copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="model.safetensors: unreadable weights"):
        load_checkpoint(model_copy)


def test_shapes_that_do_not_fit_the_config(model_copy: Path) -> None:
    config = json.loads((model_copy / "config.json").read_text())
    config["model"]["hidden_size"] = 128
    (model_copy / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="model.safetensors: tensor .* has shape"):
        load_checkpoint(model_copy)


def test_garbled_config(model_copy: Path) -> None:
    (model_copy / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="config.json: not a valid model config"):
        load_checkpoint(model_copy)


def test_tokenizer_from_another_model_is_rejected(model_copy: Path) -> None:
    other = train_tokenizer(iter(["something else entirely = 1\n"] * 50), vocab_size=300)
    other.save(model_copy / "tokenizer.json")
    with pytest.raises(CheckpointError, match="tokenizer.json: does not match"):
        load_checkpoint(model_copy)


def test_pickle_planted_as_weights_never_runs(model_copy: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return (Path.touch, (marker,))

    (model_copy / "model.safetensors").write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(CheckpointError, match="model.safetensors"):
        load_checkpoint(model_copy)
    assert not marker.exists()


def test_the_bundled_names_resolve_to_the_packages_models() -> None:
    default = resolve_model_dir("default")
    assert (default / "config.json").is_file()
    assert resolve_model_dir(None) == default
    assert resolve_model_dir("fast") == default.parent / "fast" == bundled_model_dir("fast")
    assert resolve_model_dir("fastest") == Path("fastest")  # any other name is a path


def test_a_bundled_model_missing_from_the_installation_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A source tree without model/fast/ (its weights come from a separate training run).
    monkeypatch.setattr(checkpoint, "bundled_model_dir", lambda name="default": tmp_path / name)
    with pytest.raises(CheckpointError, match="the bundled 'fast' model is not in this installa"):
        load_checkpoint("fast")
