"""Distillation: a model learns a teacher's next-token distribution beside the data's."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from grucomplete.model.checkpoint import load_checkpoint
from grucomplete.model.lm import GRULanguageModel
from grucomplete.training.corpus.corpus import load_corpus
from grucomplete.training.trainer.data import encode_documents
from grucomplete.training.trainer.distillation import Teacher, training_loss
from grucomplete.training.trainer.trainer import TrainingError, train_from_directory

from .toy_runs import TINY_MODEL, one_torch_thread, tiny_train_config, write_toy_project

one_thread = pytest.fixture(autouse=True, scope="module")(one_torch_thread)


def test_a_certain_teacher_teaches_the_cross_entropy() -> None:
    torch.manual_seed(0)
    logits, targets = torch.randn(2, 5, 30), torch.randint(0, 30, (2, 5))
    certain = F.one_hot(targets, 30).float().log()  # all its probability on the target
    loss, cross_entropy = training_loss(logits, targets, certain, weight=0.7)
    assert torch.allclose(loss, cross_entropy)
    assert torch.equal(training_loss(logits, targets)[0], cross_entropy)
    unsure = torch.full((2, 5, 30), -math.log(30))
    assert training_loss(logits, targets, unsure, weight=0.7)[0] != cross_entropy


def test_a_student_learns_its_teachers_distribution(trained: Path, tmp_path: Path) -> None:
    """Distilled, a fresh model reads the stream closer to its teacher than trained alone."""
    source = write_toy_project(tmp_path / "toy", files=6)
    teacher = load_checkpoint(trained)
    students = {}
    for weight in (0.0, 1.0):
        config = tiny_train_config(
            max_steps=150, eval_every=150, distill_from=str(trained), distill_weight=weight
        )
        out = train_from_directory(source, tmp_path / str(weight), config, TINY_MODEL)
        students[weight] = load_checkpoint(out)
        assert students[weight].metadata["teacher"]["path"] == str(trained.resolve())
        assert students[weight].tokenizer.fingerprint == teacher.tokenizer.fingerprint
    held_out = load_corpus(source, val_fraction=0.5).val
    ids = encode_documents(teacher.tokenizer, (d.text for d in held_out))
    inputs = ids[:-1].unsqueeze(0)
    expected = Teacher(teacher.model, torch.device("cpu")).log_probs(inputs)

    def divergence(student: GRULanguageModel) -> float:
        with torch.no_grad():
            got = F.log_softmax(student.eval()(inputs)[0], dim=-1)
        return float((expected.exp() * (expected - got)).sum(-1).mean())

    assert divergence(students[1.0].model) < 0.8 * divergence(students[0.0].model)

    other_tokenizer = tiny_train_config(init_from="default", distill_from=str(trained))
    with pytest.raises(TrainingError, match="its tokenizer differs"):
        train_from_directory(source, tmp_path / "mismatch", other_tokenizer)
