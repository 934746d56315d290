"""The completion engine: a loaded model, its tokenizer and vocabulary index, ready to read text.

It knows how to read: heal a prompt (`prefix_constraint`), pick the tokens of its window
(`window`) and run the model over them, on a thread per layer where that helps
(`layer_pipeline`). What to do with the state it reaches is the session's (`session`). Safe to
share: each call owns its own state.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import torch
from torch import nn

from .checkpoint import Checkpoint, load_checkpoint
from .decode_options import PRECISIONS
from .layer_pipeline import LayerPipeline, LayerStack, worth_threads
from .lm import State, quantize_for_cpu
from .prefix_constraint import HealedPrompt, VocabularyIndex, heal_prompt
from .window import (
    CONTEXT_TOKENS,
    MIN_CONTEXT_TOKENS,
    chunk_ends,
    next_window_start,
    text_origin,
    window_start,
)


class CompletionEngine:
    """A loaded model ready to complete; safe to share, each call owns its own state."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        precision: str = "int8",
        context_tokens: int = CONTEXT_TOKENS,
        layer_threads: bool | None = None,
    ) -> None:
        """`layer_threads`: use a spare core: feed long prompts with a thread per layer
        (`layer_pipeline`) and read the next window beside a request; None: where that can
        help, on a CPU with cores to spare."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        if context_tokens < MIN_CONTEXT_TOKENS:
            raise ValueError(f"context_tokens must be at least {MIN_CONTEXT_TOKENS}")
        self.context_tokens = context_tokens
        self.checkpoint = checkpoint
        self.tokenizer = checkpoint.tokenizer
        model = checkpoint.model.eval()
        self.device = next(model.parameters()).device
        on_cpu = self.device.type == "cpu"
        # On a GPU one kernel call is already parallel; on a CPU a second core can take a layer.
        if layer_threads is None:
            layer_threads = on_cpu and worth_threads()
        pipelined = layer_threads and model.config.num_layers > 1
        if pipelined and isinstance(model.rnn, nn.GRU | nn.LSTM):
            model.rnn = LayerStack.split(model.rnn)
        # In place: the float weights are not kept beside the int8 ones (the checkpoint's
        # model becomes the int8 one).
        int8 = precision == "int8" and on_cpu
        self.model = quantize_for_cpu(model, inplace=True) if int8 else model
        self.pipeline = LayerPipeline(self.model) if pipelined else None
        # The spare core reads the window that typing moves into while a request decodes
        # (`DocumentSession.prompt`), so that a move costs a chunk, idle time or not.
        self.beside = (
            ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix="grucomplete-beside",
                initializer=torch.set_num_threads,  # per thread, as the layer threads'
                initargs=(torch.get_num_threads(),),
            )
            if layer_threads
            else None
        )
        self.index = VocabularyIndex(self.tokenizer)

    @classmethod
    def load(
        cls,
        model_dir: str | os.PathLike[str] | None = None,
        precision: str = "int8",
        device: str = "cpu",
        context_tokens: int = CONTEXT_TOKENS,
    ) -> CompletionEngine:
        return cls(load_checkpoint(model_dir, device=device), precision, context_tokens)

    def heal(self, text_before_cursor: str) -> HealedPrompt:
        return heal_prompt(self.tokenizer, text_before_cursor)

    def prompt_ids(self, context: str) -> list[int]:
        """The ids fed for `context`: a document boundary, then its tokens in the window."""
        ids = self.tokenizer.encode(context[text_origin(context) :])
        return [self.tokenizer.boundary_id, *ids[self.window_start(ids) :]]

    def window_start(self, ids: Sequence[int]) -> int:
        """Where the model starts reading a context of `ids` (see `window.window_start`)."""
        return window_start(ids, self.context_tokens, self.index.starts_line)

    def next_window_start(self, ids: Sequence[int]) -> int | None:
        """Where the window moves once text follows `ids` (see `window.next_window_start`)."""
        return next_window_start(ids, self.context_tokens, self.index.starts_line)

    def advance(
        self,
        ids: list[int],
        state: State | None = None,
        outputs: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, State]:
        """Run the model over `ids` in one call from `state` (default: fresh); logits (1, V).

        With `outputs`, the top layer's output at each of the ids (T, H) is appended to it:
        the keys of the neural cache.
        """
        if state is None:
            state = self.model.initial_state(1, self.device)
        tokens = torch.tensor([ids], dtype=torch.long, device=self.device)  # (1, T)
        logits, out, state = self.model.step_outputs(tokens, state)
        if outputs is not None:
            outputs.append(out[0])
        return logits, state

    def feed(
        self,
        chunks: Sequence[Sequence[int]],
        state: State | None = None,
        outputs: list[torch.Tensor] | None = None,
        threads: bool = True,
    ) -> tuple[torch.Tensor, list[State]]:
        """`advance` over consecutive chunks: the logits (1, V) after the last, and the state
        after each. Several chunks run through the layer pipeline when there is one and
        `threads` allows (the same states, bitwise, sooner)."""
        if state is None:
            state = self.model.initial_state(1, self.device)
        if self.pipeline is None or len(chunks) < 2 or not threads:
            states = []
            for ids in chunks:
                chunk = torch.tensor([list(ids)], dtype=torch.long, device=self.device)
                top, state = self.model.read(chunk, state)  # (1, T, H)
                if outputs is not None:
                    outputs.append(top[0])
                states.append(state)
            with torch.inference_mode():
                return self.model.next_logits(top), states
        tokens = [torch.tensor([list(ids)], dtype=torch.long) for ids in chunks]  # (1, T) each
        tops, states = self.pipeline.feed(tokens, state)
        if outputs is not None:
            outputs.extend(top[0] for top in tops)
        with torch.inference_mode():
            return self.model.next_logits(tops[-1]), states

    def prompt_state(
        self, ids: list[int], outputs: list[torch.Tensor] | None = None
    ) -> tuple[torch.Tensor, State]:
        """Logits (1, V) and state after `ids`, fed from scratch in CHUNK-aligned pieces."""
        assert ids, "a prompt has at least the boundary"
        ends = chunk_ends(0, len(ids))
        chunks = [ids[a:b] for a, b in zip([0, *ends[:-1]], ends, strict=True)]
        logits, states = self.feed(chunks, None, outputs)
        return logits, states[-1]
