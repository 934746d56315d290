"""Token streams and the TBPTT batcher: documents -> one int32 stream -> (B, T) windows in order.

A split becomes one long stream, each document's ids followed by the boundary id, so the model
learns where files end and, carrying its state across the boundary, to start the next one
afresh. `WindowBatcher` cuts the stream into B contiguous lanes and walks them T tokens at a
time: row i of window k+1 continues row i of window k, which is what lets the trainer carry the
hidden state from one window to the next (truncated backpropagation through time). Under
data-parallel training each rank walks its own lanes of `rank_share` of the stream.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator

import torch

from grucomplete.model.tokenizer import CodeTokenizer

IGNORE_INDEX = -100  # targets with this value carry no loss (cross_entropy's default)


def encode_documents(
    tokenizer: CodeTokenizer, texts: Iterable[str], chunk_size: int = 256
) -> torch.Tensor:
    """One int32 stream: every document's ids, each followed by the boundary id."""
    pieces: list[torch.Tensor] = []
    chunk: list[str] = []

    def flush() -> None:
        # encode_batch tokenizes in parallel in Rust; chunks bound the Python lists held at once.
        flat: list[int] = []
        for ids in tokenizer.encode_batch(chunk):
            flat.extend(ids)
            flat.append(tokenizer.boundary_id)
        pieces.append(torch.tensor(flat, dtype=torch.int32))
        chunk.clear()

    for text in texts:
        chunk.append(text)
        if len(chunk) >= chunk_size:
            flush()
    if chunk:
        flush()
    return torch.cat(pieces) if pieces else torch.zeros(0, dtype=torch.int32)


class WindowBatcher:
    """Walks B parallel lanes of a 1-D token stream in (B, T) windows, wrapping at epoch ends.

    Lane i holds inputs stream[i*L : (i+1)*L] and targets shifted by one, L = (N - 1) // B.
    Training drops the ragged tail so every window is full (fixed shapes suit cuDNN).
    With `pad_tail` (evaluation) every token is a target exactly once: lanes are padded with
    IGNORE_INDEX targets and the last window may be shorter than T.

    `position` counts windows served since the start of epoch 0; constructing a batcher with
    the same `position` resumes exactly where an earlier run stopped.
    """

    def __init__(
        self,
        stream: torch.Tensor,
        batch_size: int,
        window: int,
        *,
        pad_tail: bool = False,
        position: int = 0,
    ) -> None:
        if stream.dim() != 1:
            raise ValueError(f"expected a 1-D token stream, got shape {tuple(stream.shape)}")
        if batch_size < 1 or window < 1:
            raise ValueError("batch_size and window must be positive")
        self.batch_size = batch_size
        self.window = window
        self.position = position
        n = max(stream.numel() - 1, 0)  # the number of (input, target) pairs
        inputs, targets = stream[:-1], stream[1:].long()
        if pad_tail:
            lane = math.ceil(n / batch_size)
            pad = lane * batch_size - n
            inputs = torch.cat([inputs, inputs.new_zeros(pad)])
            targets = torch.cat([targets, targets.new_full((pad,), IGNORE_INDEX)])
            self.windows_per_epoch = math.ceil(lane / window)
        else:
            lane = n // batch_size
            inputs, targets = inputs[: lane * batch_size], targets[: lane * batch_size]
            self.windows_per_epoch = lane // window
        self._inputs = inputs.view(batch_size, lane)  # (B, L)
        self._targets = targets.view(batch_size, lane)  # (B, L)
        # Tokens scored in one epoch: the dropped tail and the padding do not count.
        served = self._targets[:, : self.windows_per_epoch * window]
        self.targets_per_epoch = int((served != IGNORE_INDEX).sum())

    @property
    def tokens_per_window(self) -> int:
        return self.batch_size * self.window

    @property
    def epoch(self) -> int:
        return self.position // max(self.windows_per_epoch, 1)

    @property
    def at_epoch_start(self) -> bool:
        """True when the next window starts every lane over: a carried state no longer fits."""
        return self.position % max(self.windows_per_epoch, 1) == 0

    def __len__(self) -> int:
        return self.windows_per_epoch

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Window k of an epoch: inputs (B, T) as int64 ids, targets (B, T)."""
        if not 0 <= k < self.windows_per_epoch:
            raise IndexError(f"window {k} outside 0..{self.windows_per_epoch - 1}")
        cols = slice(k * self.window, (k + 1) * self.window)
        return self._inputs[:, cols].long(), self._targets[:, cols]

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        return self

    def __next__(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self.windows_per_epoch == 0:
            raise StopIteration
        batch = self[self.position % self.windows_per_epoch]
        self.position += 1
        return batch


def rank_share(stream: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Rank `rank`'s contiguous share of `stream`, for data-parallel training.

    Shares overlap by one token (the last target of one is the first input of the next) and
    are of equal length, so every rank's batcher has the same number of windows per epoch and
    the ranks' lanes are disjoint: together they cover the stream once.
    """
    if world_size == 1:
        return stream
    pairs = max(stream.numel() - 1, 0) // world_size
    return stream[rank * pairs : rank * pairs + pairs + 1]
