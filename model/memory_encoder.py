"""The model run forward over a workspace's files: text -> (key, next token) at every position.

A file's tokens are cut into segments that start at a line after a document boundary (as the
server's context window does, so keys look like the queries they will meet), and many
segments are fed as one padded batch: a batch of 16 runs 2-3 times as many tokens a second as
one file at a time. Used by `memory_builder` to fill the workspace memory.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from .checkpoint import load_checkpoint
from .lm import GRULanguageModel, quantize_for_cpu
from .tokenizer import CodeTokenizer

SEGMENT = 512  # tokens fed per segment, like the server's context window
BATCH = 16  # segments fed together
# Time steps of a batch fed between two checks for a waiting request: 16 x 16 tokens, ~30 ms of
# one core, is the longest a request that arrives mid-batch shares the CPU with the builder.
CHUNK_STEPS = 16


class Encoder:
    """The model run forward only: text -> (keys, next tokens) at every position.

    In the server it is the engine's own model: a second copy would cost its weights
    and, worse, a second working set. Reading a module's weights from two threads is safe, and
    the builder runs only while no request does (`MemoryBuilder._pause`).
    """

    def __init__(self, model: GRULanguageModel, tokenizer: CodeTokenizer) -> None:
        self.model = model
        self.tokenizer = tokenizer
        # Not a `VocabularyIndex`: building one is seconds of Python holding the GIL, which the
        # model worker needs; these two facts are all the builder uses.
        table = self.tokenizer.token_bytes
        self.starts_line = [b[:1] in (b"\n", b"\r") for b in table]
        # Tokens that begin a name: where completion is asked most, kept first when subsampling.
        self.starts_name = torch.tensor(
            [
                bool(b.lstrip(b" "))
                and (b.lstrip(b" ")[:1].isalpha() or b.lstrip(b" ")[:1] == b"_")
                for b in table
            ]
        )

    @classmethod
    def load(cls, model_dir: Path, precision: str = "int8") -> Encoder:
        """An encoder with a model of its own (a benchmark or a test without an engine)."""
        checkpoint = load_checkpoint(model_dir, device="cpu")
        model = checkpoint.model.eval()
        model = quantize_for_cpu(model, inplace=True) if precision == "int8" else model
        return cls(model, checkpoint.tokenizer)

    def segments(self, ids: list[int]) -> list[list[int]]:
        """`ids` cut into pieces of at most SEGMENT tokens, each after a document boundary and,
        where one is near, starting at a line."""
        out, start = [], 0
        while start < len(ids):
            end = min(start + SEGMENT - 1, len(ids))
            if end < len(ids):
                for cut in range(end, end - SEGMENT // 4, -1):
                    if self.starts_line[ids[cut]]:
                        end = cut
                        break
            out.append([self.tokenizer.boundary_id, *ids[start:end]])
            start = end
        return out

    @torch.inference_mode()
    def encode(
        self,
        texts: list[str],
        pause: Callable[[], None] = lambda: None,
        project: Callable[[torch.Tensor], torch.Tensor] | None = None,
        batch_size: int = BATCH,
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Keys (N, D) and the tokens that followed them (N,), per text: the top-layer outputs
        (D = H, half precision) or, with `project`, what it makes of them, chunk by chunk, so
        that a batch's outputs (16 x 512 x 768 floats, 25 MB) never exist whole.

        `pause()` is called every CHUNK_STEPS steps of a batch: where the builder yields to
        requests."""
        pieces: list[tuple[int, list[int]]] = []
        for i, ids in enumerate(self.tokenizer.encode_batch(texts)):
            pieces += [(i, seg) for seg in self.segments(ids) if len(seg) > 1]
        # Similar lengths side by side: little padding.
        order = sorted(range(len(pieces)), key=lambda p: len(pieces[p][1]))
        keys: list[list[torch.Tensor]] = [[] for _ in texts]
        values: list[list[torch.Tensor]] = [[] for _ in texts]
        for b in range(0, len(order), batch_size):
            pause()
            batch = [pieces[p] for p in sorted(order[b : b + batch_size])]  # file order kept
            width = max(len(seg) for _, seg in batch)
            tokens = torch.zeros(len(batch), width, dtype=torch.long)
            for row, (_, seg) in enumerate(batch):
                tokens[row, : len(seg)] = torch.tensor(seg)
            state = self.model.initial_state(len(batch))
            chunks = []
            for t in range(0, width, CHUNK_STEPS):
                pause()
                step = self.model.embed(tokens[:, t : t + CHUNK_STEPS])
                chunk, state = self.model.rnn(step, state)  # (B, t, H)
                if project is None:
                    chunks.append(chunk.to(torch.float16))
                else:
                    flat = project(chunk.reshape(-1, chunk.shape[-1]))  # (B * t, D)
                    chunks.append(flat.view(len(batch), chunk.shape[1], -1))
            out = torch.cat(chunks, 1)  # (B, T, D)
            for row, (i, seg) in enumerate(batch):
                keys[i].append(out[row, : len(seg) - 1])
                values[i].append(torch.tensor(seg[1:], dtype=torch.int32))
        hidden = self.model.config.hidden_size
        none = torch.empty(0, hidden) if project is None else project(torch.empty(0, hidden))
        return [
            (torch.cat(k) if k else none, torch.cat(v) if v else torch.empty(0, dtype=torch.int32))
            for k, v in zip(keys, values, strict=True)
        ]

    def subsample(self, values: torch.Tensor, ratio: float) -> torch.Tensor:
        """Rows to keep of a file's entries at `ratio`: those before a name first, spread evenly."""
        n = len(values)
        want = n if ratio >= 1 else max(1, int(n * ratio))
        if want >= n:
            return torch.arange(n)
        names = self.starts_name[values.long()]
        rank = (~names).long() * n + torch.arange(n)  # names first, then in file order
        keep = torch.sort(torch.argsort(rank)[:want]).values
        return keep
