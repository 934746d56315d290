"""Distillation (Hinton et al., 2015): learn a teacher's next-token distribution too.

Trained on the next token alone, a model sees one token of signal per position; a stronger
model's whole distribution also says how likely every other token was, which is what a
completer ranks by, and a small model learns it more cheaply than the data's. The teacher reads
the student's windows (the true tokens) with its own carried state, in eval mode and without
gradients; the loss is `(1 - w) * cross-entropy + w * soft cross-entropy` against the teacher's
probabilities (the KL divergence plus the teacher's entropy, which has no gradient).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from grucomplete.model.lm import GRULanguageModel, State
from grucomplete.model.tokenizer import CodeTokenizer

from .config import TrainingError
from .finetune import BaseModel, load_base_model
from .validation import detach_state


def load_teacher(name: str, tokenizer: CodeTokenizer | None = None) -> BaseModel:
    """The checkpoint `name` ("default": the bundled model) as a teacher of a model that reads
    `tokenizer`'s tokens (None: the teacher's own)."""
    teacher = load_base_model(name, role="distill from")
    if tokenizer is not None and tokenizer.fingerprint != teacher.checkpoint.tokenizer.fingerprint:
        raise TrainingError(f"cannot distill from {name!r}: its tokenizer differs from the model's")
    return teacher


class Teacher:
    """A frozen model that follows the training stream window by window."""

    def __init__(self, model: GRULanguageModel, device: torch.device) -> None:
        self.model = model.to(device).eval().requires_grad_(False)
        self.state: State | None = None

    def reset(self) -> None:
        """The lanes restart (a new epoch, a resumed run): so does the teacher's reading."""
        self.state = None

    @torch.no_grad()
    def log_probs(self, inputs: torch.Tensor) -> torch.Tensor:
        """Log-probabilities (B, T, V) of the next token after each of `inputs` (B, T)."""
        logits, state = self.model(inputs, self.state)
        self.state = detach_state(state)
        return F.log_softmax(logits.float(), dim=-1)


def training_loss(
    logits: torch.Tensor,
    targets: torch.Tensor,
    teacher_log_probs: torch.Tensor | None = None,
    weight: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The loss to minimise and its cross-entropy part (what the run logs and validates).

    `logits` (B, T, V) and `targets` (B, T); without a teacher the two are the same tensor.
    """
    flat = logits.float().flatten(0, 1)
    cross_entropy = F.cross_entropy(flat, targets.flatten())
    if teacher_log_probs is None or weight == 0.0:
        return cross_entropy, cross_entropy
    soft = -(teacher_log_probs.flatten(0, 1).exp() * F.log_softmax(flat, dim=-1)).sum(-1).mean()
    return (1.0 - weight) * cross_entropy + weight * soft, cross_entropy
