"""The recurrent language model: embedding -> N-layer GRU (or LSTM) -> projection -> tied output.

`forward` trains with teacher forcing over a window and carries the state to the next window;
`step` advances a batch of states by one or more tokens at inference. Both return the new state,
so a caller (beam search, the server's per-document cache) owns all state explicitly.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any, cast

import torch
from torch import nn

# GRU: h of shape (layers, B, H). LSTM: a tuple (h, c) of that shape.
State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]


@dataclass
class GRUConfig:
    vocab_size: int = 8192  # BPE vocabulary plus the document boundary
    embed_dim: int = 256  # embedding width; the output layer is tied to it
    hidden_size: int = 512  # recurrent state width per layer
    num_layers: int = 2  # stacked recurrent layers
    cell: str = "gru"  # "gru" (default) or "lstm", the classic alternative
    dropout: float = 0.1  # between layers and before the projection, training only

    def __post_init__(self) -> None:
        if self.cell not in ("gru", "lstm"):
            raise ValueError(f"cell must be 'gru' or 'lstm', not {self.cell!r}")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GRUConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class GRULanguageModel(nn.Module):
    def __init__(self, config: GRUConfig) -> None:
        super().__init__()
        self.config = config
        rnn = nn.GRU if config.cell == "gru" else nn.LSTM
        self.embed = nn.Embedding(config.vocab_size, config.embed_dim)
        self.rnn: nn.Module = rnn(
            config.embed_dim,
            config.hidden_size,
            config.num_layers,
            batch_first=True,
            dropout=config.dropout if config.num_layers > 1 else 0.0,
        )
        self.drop = nn.Dropout(config.dropout)
        # Projecting H down to the embedding width lets the output share the embedding matrix.
        self.proj = nn.Linear(config.hidden_size, config.embed_dim)
        self.head = nn.Linear(config.embed_dim, config.vocab_size, bias=True)
        self.head.weight = self.embed.weight
        self._init_weights()

    def _init_weights(self) -> None:
        # The embedding feeds the GRU and, tied, scores the output: at GPT's std=0.02 its
        # signal into the recurrence is so weak that training stalls at unigram loss.
        nn.init.normal_(self.embed.weight, std=0.1)
        nn.init.zeros_(self.head.bias)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def initial_state(self, batch_size: int = 1, device: torch.device | str = "cpu") -> State:
        c = self.config
        zeros = torch.zeros(c.num_layers, batch_size, c.hidden_size, device=device)
        return (zeros, zeros.clone()) if c.cell == "lstm" else zeros

    def forward(
        self, tokens: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """Logits for every position of `tokens` (B, T) -> (B, T, V), and the state after it."""
        x = self.drop(self.embed(tokens))  # (B, T, E)
        out, state = self.rnn(x, state)  # (B, T, H)
        logits = self.head(self.drop(self.proj(out)))  # (B, T, V)
        return logits, state

    @torch.inference_mode()
    def step(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """Advance states by `tokens` (B, T); return the next-token logits (B, V) and new state."""
        logits, _, state = self.step_outputs(tokens, state)
        return logits, state

    @torch.inference_mode()
    def step_outputs(
        self, tokens: torch.Tensor, state: State
    ) -> tuple[torch.Tensor, torch.Tensor, State]:
        """`step`, also returning the top layer's output at every position (B, T, H).

        The outputs are the keys and queries of the neural cache (`neural_cache`).
        """
        out, state = self.read(tokens, state)
        return self.next_logits(out), out, state

    @torch.inference_mode()
    def read(self, tokens: torch.Tensor, state: State) -> tuple[torch.Tensor, State]:
        """The recurrent layers alone over `tokens` (B, T): top-layer outputs (B, T, H) and
        the state after them (a prompt's earlier chunks need no logits)."""
        out, state = self.rnn(self.embed(tokens), state)
        return out, state

    def next_logits(self, out: torch.Tensor) -> torch.Tensor:
        """Logits (B, V) of the token after the last position of top-layer outputs (B, T, H)."""
        return self.head(self.proj(out[:, -1]))


def select_state(state: State, rows: torch.Tensor) -> State:
    """The batch rows `rows` of a state (repeats allowed: one state can seed several)."""
    if isinstance(state, tuple):
        return (state[0][:, rows], state[1][:, rows])
    return state[:, rows]  # (L, B, H)


def concat_states(states: list[State]) -> State:
    """States side by side in one batch, in order."""
    if isinstance(states[0], tuple):
        pairs = cast(list[tuple[torch.Tensor, torch.Tensor]], states)
        return (torch.cat([s[0] for s in pairs], 1), torch.cat([s[1] for s in pairs], 1))
    return torch.cat(cast(list[torch.Tensor], states), 1)  # (L, B, H)


def quantize_for_cpu(model: GRULanguageModel, inplace: bool = False) -> GRULanguageModel:
    """int8 dynamic quantisation of the recurrent and linear layers (inference on CPU only).

    Weights shrink 4x and fit in cache, which is what makes a beam step fast on a laptop.
    `inplace` converts `model` itself rather than a copy, sparing a float copy of the weights.
    """
    from torch.ao.quantization import quantize_dynamic

    model = model.float().eval()
    with warnings.catch_warnings():
        # PyTorch marks its quantized-tensor constructors deprecated; they still work and are
        # the only int8 GRU kernel that ships with CPU builds of torch.
        warnings.simplefilter("ignore")
        q = quantize_dynamic(
            model, {nn.GRU, nn.LSTM, nn.Linear}, dtype=torch.qint8, inplace=inplace
        )
    return q
