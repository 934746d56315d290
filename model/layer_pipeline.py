"""Reading a long prompt with the recurrent layers on separate threads, layer by layer.

A recurrent layer must finish token t before it starts t + 1, but the layer above needs only
the output below it: while layer 2 reads chunk k, layer 1 can already read chunk k + 1. On two
cores that feeds a 512-token window of the default model in ~20 ms instead of ~31 (a layer's
int8 weights are read once per token, so each core streams its own layer's weights). torch's
kernels release the GIL, so Python threads suffice.

`LayerStack` holds the layers as single-layer modules that together behave as the stacked
module does at inference: the same kernels on the same inputs, so states and outputs are
bitwise those of the stacked module, threads or not (the server's cached states rely on it;
`tests/test_layer_pipeline.py` checks GRU and LSTM, int8 and fp32).
"""

from __future__ import annotations

import os
from concurrent import futures
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar, cast

import torch
from torch import nn

from .lm import GRULanguageModel, State

_T = TypeVar("_T")


class LayerStack(nn.Module):
    """A multi-layer GRU or LSTM as one single-layer module per layer (inference only)."""

    def __init__(self, layers: list[nn.GRU | nn.LSTM]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(layers)

    @classmethod
    def split(cls, rnn: nn.GRU | nn.LSTM) -> LayerStack:
        """The layers of `rnn`, sharing its parameters (nothing is copied)."""
        layers: list[nn.GRU | nn.LSTM] = []
        for index in range(rnn.num_layers):
            layer = type(rnn)(
                rnn.input_size if index == 0 else rnn.hidden_size,
                rnn.hidden_size,
                num_layers=1,
                bias=rnn.bias,
                batch_first=rnn.batch_first,
                device="meta",  # no storage: the stacked module's parameters are moved in
            )
            for name in layer._flat_weights_names:
                setattr(layer, name, getattr(rnn, name.replace("_l0", f"_l{index}")))
            layers.append(layer)
        return cls(layers)

    def forward(self, x: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        states = []
        for index, layer in enumerate(self.layers):
            x, layer_state = layer(x, layer_state_of(state, index))
            states.append(layer_state)
        return x, stacked(states)


def layer_state_of(state: State, index: int) -> State:
    """Layer `index`'s part of a stacked state, (1, B, H) (a tuple of two for an LSTM)."""
    if isinstance(state, tuple):
        return (state[0][index : index + 1], state[1][index : index + 1])
    return state[index : index + 1]


def stacked(states: list[State]) -> State:
    """Per-layer states as one stacked state (L, B, H)."""
    if isinstance(states[0], tuple):
        pairs = cast(list[tuple[torch.Tensor, torch.Tensor]], states)
        return (torch.cat([s[0] for s in pairs]), torch.cat([s[1] for s in pairs]))
    return torch.cat(cast(list[torch.Tensor], states))


def worth_threads() -> bool:
    """More than one core to run on: on one, threads would only take turns."""
    return len(os.sched_getaffinity(0)) > 1 if hasattr(os, "sched_getaffinity") else True


def _done(value: _T) -> Future[_T]:
    future: Future[_T] = Future()
    future.set_result(value)
    return future


class LayerPipeline:
    """Feeds consecutive chunks through a model whose `rnn` is a `LayerStack`; layer l > 0
    runs on a thread of its own."""

    def __init__(self, model: GRULanguageModel) -> None:
        if not isinstance(model.rnn, LayerStack):
            raise TypeError("the model's recurrent layers must be split into a LayerStack")
        self.model: GRULanguageModel = model
        self.layers: list[nn.Module] = list(model.rnn.layers)
        # OpenMP's thread count is per thread: a new one would fan out over every core (and
        # sum fp32 products in another order) unless told the count this thread was given.
        threads = torch.get_num_threads()
        self._threads: list[ThreadPoolExecutor] = [
            ThreadPoolExecutor(
                max_workers=1,
                thread_name_prefix=f"grucomplete-layer{index}",
                initializer=torch.set_num_threads,
                initargs=(threads,),
            )
            for index in range(1, len(self.layers))
        ]
        self._states: list[State] = []  # each layer's state, touched only by its own thread

    def feed(
        self, chunks: list[torch.Tensor], state: State
    ) -> tuple[list[torch.Tensor], list[State]]:
        """The top layer's outputs (1, T, H) of each chunk (1, T) and the state after each."""
        self._states = [layer_state_of(state, i) for i in range(len(self.layers))]
        rows: list[list[Future[tuple[torch.Tensor, State]]]] = []  # per chunk, per layer
        try:
            for tokens in chunks:
                with torch.inference_mode():
                    below = _done(self._run_first(tokens))
                row = [below]
                for index, thread in enumerate(self._threads, start=1):
                    # One thread per layer runs its chunks in order, each after the one below.
                    below = thread.submit(self._run_after, index, below)
                    row.append(below)
                rows.append(row)
        finally:  # nothing may still be writing a layer's state when the next feed starts
            futures.wait([future for row in rows for future in row])
        outputs, states = [], []
        for row in rows:
            done = [future.result() for future in row]
            outputs.append(done[-1][0])
            states.append(stacked([layer_state for _, layer_state in done]))
        return outputs, states

    def _run_first(self, tokens: torch.Tensor) -> tuple[torch.Tensor, State]:
        out, self._states[0] = self.layers[0](self.model.embed(tokens), self._states[0])
        return out, self._states[0]

    def _run_after(
        self, index: int, below: Future[tuple[torch.Tensor, State]]
    ) -> tuple[torch.Tensor, State]:
        x, _ = below.result()
        with torch.inference_mode():  # a per-thread mode: set here, on the layer's thread
            out, self._states[index] = self.layers[index](x, self._states[index])
        return out, self._states[index]
