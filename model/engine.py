"""The completion engine: text before the cursor + options -> ranked word and line candidates.

This is the one entry point the CLI and the language server call. It heals the prompt (see
`prefix_constraint`), runs the model over the context (or takes a state the caller cached),
and decodes twice: the word being typed (or the attribute after `.`) and the rest of the line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .candidate_scoring import word_probabilities
from .checkpoint import Checkpoint, load_checkpoint
from .decode_options import CONTEXT_TOKENS, PRECISIONS, Candidate, DecodeOptions, StopAt
from .decoding import decode_together
from .identifier_cache import cache_distribution, mix
from .interrupt import Interrupt
from .layer_pipeline import LayerPipeline, LayerStack, worth_threads
from .lm import State, quantize_for_cpu
from .neural_cache import CachedModel, NeuralCache
from .prefix_constraint import HealedPrompt, VocabularyIndex, heal_prompt

# The prompt is fed in chunks ending on multiples of CHUNK tokens. int8 dynamic quantisation
# scales activations per call, so a fixed chunking makes every caller (the CLI, the server's
# per-document cache) compute bitwise the same states for the same text. Past 8 tokens a call
# costs the same per token, so a small chunk only shortens what a keystroke re-feeds.
CHUNK = 16


# Text further back than this is never tokenized: far more than any window needs (a token is
# at least one byte), and it bounds the work of a 5 MB file to what a 128 KB one costs.
CONTEXT_CHARS = 128 * 1024


def text_origin(text: str) -> int:
    """Where tokenizing the text before the cursor starts: 0, or a line start near the end.

    The origin moves in steps of half of CONTEXT_CHARS, so typing rarely moves it, and it sits
    at a line break, where a token always starts: the ids of `text[origin:]` are then those of
    `text` past that point.
    """
    excess = len(text) - CONTEXT_CHARS
    if excess <= 0:
        return 0
    step = CONTEXT_CHARS // 2
    start = -(-excess // step) * step
    line = text.find("\n", start, start + step // 2)
    if line < 0:
        return start
    return line - 1 if text[line - 1] == "\r" else line


@dataclass(frozen=True)
class Suggestion:
    label: str  # what a user sees: the whole word, or the whole line from its start
    insert: str  # text to insert at the cursor
    probability: float
    complete: bool = True  # False when cut short by max tokens, deadline or cancel


@dataclass
class Completions:
    typed: str  # identifier characters before the cursor, which `words` all start with
    words: list[Suggestion] = field(default_factory=list)
    lines: list[Suggestion] = field(default_factory=list)


class CompletionEngine:
    """A loaded model ready to complete; safe to share, each call owns its own state."""

    def __init__(
        self,
        checkpoint: Checkpoint,
        precision: str = "int8",
        context_tokens: int = CONTEXT_TOKENS,
        layer_threads: bool | None = None,
    ) -> None:
        """`layer_threads`: feed long prompts with a thread per layer (`layer_pipeline`);
        None: where that can help, a multi-layer model on a CPU with cores to spare."""
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}")
        if context_tokens < 2 * CHUNK:
            raise ValueError(f"context_tokens must be at least {2 * CHUNK}")
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
        if pipelined and not isinstance(model.rnn, LayerStack):
            model.rnn = LayerStack.split(model.rnn)
        # In place: the float weights are not kept beside the int8 ones (the checkpoint's
        # model becomes the int8 one).
        int8 = precision == "int8" and on_cpu
        self.model = quantize_for_cpu(model, inplace=True) if int8 else model
        self.pipeline = LayerPipeline(self.model) if pipelined else None
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
        """Where the model starts reading a context of `ids`: at most `context_tokens` back.

        The start moves in steps of half a window, so typing re-feeds the window only every
        `context_tokens / 2` tokens, and then begins at a line break: the model reads lines
        whole, as after a document boundary. It depends on `ids` alone, so every caller (CLI,
        server cache, eval) feeds the same tokens for the same text.
        """
        excess = len(ids) - self.context_tokens
        if excess <= 0:
            return 0
        step = self.context_tokens // 2
        start = -(-excess // step) * step  # the first multiple of `step` at or after `excess`
        starts_line = self.index.starts_line
        for pos in range(start, min(len(ids), start + step // 2)):
            if starts_line[ids[pos]]:
                return pos
        return start

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
                logits, state = self.advance(list(ids), state, outputs)
                states.append(state)
            return logits, states
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
        chunks = [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]
        logits, states = self.feed(chunks, None, outputs)
        return logits, states[-1]

    def complete(
        self,
        text_before_cursor: str,
        options: DecodeOptions | None = None,
        *,
        lines: bool = True,
        interrupt: Interrupt | None = None,
        cache_weight: float = 0.0,
        neural_cache: float = 0.0,
    ) -> Completions:
        """Complete from scratch; the weights are those of `complete_from` and `NeuralCache`."""
        healed = self.heal(text_before_cursor)
        ids = self.prompt_ids(healed.context)
        outputs: list[torch.Tensor] = []
        logits, state = self.prompt_state(ids, outputs)
        memory = NeuralCache(torch.cat(outputs), ids, neural_cache) if neural_cache > 0 else None
        return self.complete_from(
            healed,
            state,
            logits,
            options,
            lines=lines,
            interrupt=interrupt,
            cache_weight=cache_weight,
            neural_cache=memory,
        )

    def complete_from(
        self,
        healed: HealedPrompt,
        state: State,
        logits: torch.Tensor,
        options: DecodeOptions | None = None,
        *,
        lines: bool = True,
        interrupt: Interrupt | None = None,
        line_options: DecodeOptions | None = None,
        cache_weight: float = 0.0,
        neural_cache: NeuralCache | None = None,
        known_words: Callable[[], Sequence[str] | None] | None = None,
    ) -> Completions:
        """Decode from a state the caller computed for `healed.context`.

        `line_options` (default: `options`) lets lines be ranked differently from words;
        `cache_weight` mixes in the names already used in the document (see identifier_cache);
        `neural_cache`, built from the same window, mixes its next tokens into every step.
        `known_words()`, asked once decoding is done (so static analysis can run meanwhile),
        gives the names static analysis says exist at the cursor: when some start with what is
        typed, they are scored by the model too, and only they are offered.
        """
        options = options or DecodeOptions()
        requests = [(StopAt.IDENTIFIER, options)]
        if lines:
            requests.append((StopAt.LINE, line_options or options))
        model = self.model
        if neural_cache is not None and neural_cache.weight > 0:
            logits = neural_cache.mix(logits, neural_cache.query)
            model = CachedModel(self.model, neural_cache)
        words, *found_lines = decode_together(
            model,
            state,
            logits,
            self.index,
            healed.removed,
            requests,
            typed=healed.typed,
            interrupt=interrupt,
        )
        result = Completions(healed.typed)
        # A word cannot start with a digit; the model may still put mass on number tokens.
        result.words = [w for c in words if not (w := self._word(healed, c)).label[:1].isdigit()]
        names = known_words() if known_words is not None else None
        known = [n for n in names or () if n.startswith(healed.typed) and n.isidentifier()]
        if cache_weight > 0 or known:
            scored = {}
            if known:
                # Every object has two dozen dunder members and people rarely type one after
                # a dot; unless `_` is typed they are left to the beam, not scored.
                wanted = known if healed.typed[:1] == "_" else [n for n in known if n[:2] != "__"]
                scored = word_probabilities(
                    model,
                    self.tokenizer,
                    self.index,
                    healed,
                    state,
                    logits,
                    wanted,
                    interrupt=interrupt,
                )
            result.words = self._rank_words(
                healed, result.words, cache_weight, scored, set(known), options
            )
        if found_lines:
            before = healed.context + healed.removed
            typed_line = before[before.rfind("\n") + 1 :]
            result.lines = [self._line(healed, typed_line, c) for c in found_lines[0]]
        return result

    @staticmethod
    def _rank_words(
        healed: HealedPrompt,
        words: list[Suggestion],
        cache_weight: float,
        scored: dict[str, float],
        known: set[str],
        options: DecodeOptions,
    ) -> list[Suggestion]:
        """The beam's words and the scored known names, mixed with the document cache.

        With `known` names, the rest are dropped: static analysis is sure they do not exist
        here (an attribute the receiver's type lacks, a name not in scope).
        """
        model = {w.label: w.probability for w in words}
        for name, p in scored.items():  # the beam sums all spellings; scoring takes one
            model[name] = max(model.get(name, 0.0), p)
        cache = {}
        if cache_weight > 0:
            cache = cache_distribution(healed.context + healed.removed, healed.typed)
        if known:
            model = {n: p for n, p in model.items() if n in known}
            cache = {n: p for n, p in cache.items() if n in known}
        ranked = mix(model, cache, cache_weight)
        complete = {w.label: w.complete for w in words}  # names from elsewhere are whole
        return [
            Suggestion(name, name[len(healed.typed) :], p, complete.get(name, True))
            for name, p in ranked[: options.num_candidates]
        ]

    @staticmethod
    def _word(healed: HealedPrompt, candidate: Candidate) -> Suggestion:
        insert = candidate.text[len(healed.removed) :]
        return Suggestion(healed.typed + insert, insert, candidate.probability, candidate.complete)

    @staticmethod
    def _line(healed: HealedPrompt, typed_line: str, candidate: Candidate) -> Suggestion:
        insert = candidate.text[len(healed.removed) :]
        return Suggestion(
            (typed_line + insert).strip(), insert, candidate.probability, candidate.complete
        )
