"""Scheduled sampling (Bengio et al., 2015): train on some of the model's own predictions.

Teacher forcing only ever shows the model correct history, while at completion time it reads
its own guesses. With probability p each input token (except a window's first) is replaced by
the model's argmax prediction for that position, made from the true prefix by one extra
forward pass without gradients -- the paper's usual one-pass approximation of feeding samples
back step by step. p ramps linearly from 0 to the configured maximum over the run, so early
training, when the guesses are noise, stays teacher-forced. Targets never change.
"""

from __future__ import annotations

import torch
from torch import nn

from grucomplete.model.lm import State


def sampling_probability(max_probability: float, progress: float) -> float:
    """The replacement probability at `progress` (0 -> 1) through the run: a linear ramp."""
    return max_probability * min(max(progress, 0.0), 1.0)


@torch.no_grad()
def mix_in_predictions(
    model: nn.Module, inputs: torch.Tensor, state: State | None, probability: float
) -> torch.Tensor:
    """`inputs` (B, T) with each of positions 1..T-1 replaced, with `probability`, by the
    model's argmax prediction from the position before; the carried `state` is not changed.

    With `probability` 0 the inputs come back as they are and no random numbers are drawn, so
    a run with scheduled sampling off is bit-identical to one without the feature.
    """
    if probability <= 0.0 or inputs.shape[1] < 2:
        return inputs
    was_training = model.training
    model.eval()  # the guess the model would make at completion time: no dropout
    try:
        logits, _ = model(inputs, state)  # (B, T, V)
    finally:
        model.train(was_training)
    guesses = logits[:, :-1].argmax(dim=-1)  # (B, T-1): predictions for positions 1..T-1
    replace = torch.rand(guesses.shape, device=inputs.device) < probability
    mixed = inputs.clone()
    mixed[:, 1:] = torch.where(replace, guesses, inputs[:, 1:])
    return mixed
