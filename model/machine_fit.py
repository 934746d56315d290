"""The work of a request in machine-independent units, their cost on this machine, and the
settings that fit the latency budgets here.

A request's work is counted as model calls: tokens fed to read a prompt (batch 1, in chunks)
and beam steps (one token for each of B hypotheses). `measure_costs` times each unit on the
machine at hand, so `predict_ms` turns counted work into latency on any machine whose costs
were measured, and `fit` picks the beam width, line length and window that keep a keystroke
and a jump within the budgets (issue 14: keystroke p50 15 ms, a jump p99 120 ms). Where the
bundled default model misses them, `choose_model` picks the bundled fast one, if it does better.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from .engine import CompletionEngine
from .lm import State
from .window import CHUNK, MIN_CONTEXT_TOKENS

KEYSTROKE_P50_MS = 15.0  # issue 14's budgets on a 2-core AVX2 laptop
KEYSTROKE_P99_MS = 60.0
JUMP_P99_MS = 120.0
# Beam width and line length, best first: the fit takes the first that is fast enough, or,
# when none is, the first within 10% of the fastest. Only the defaults are offered: every
# narrower beam, shorter line or window tried cost accuracy on the gauge without a latency
# gain (docs/benchmarks.md, "Speed on a 2-core AVX2 machine"), since a beam step costs about
# the same at any width. The fit still measures and reports (`machine_fit`), and a rung
# added here is taken when its predicted latency is worth it. Cold jumps are made cheap by
# prepared windows instead (`DocumentSession.prepare`), keystrokes by reusing answers.
LADDER = [(5, 16)]
WINDOWS: list[int] = []  # see above: the window is kept
# A keystroke's decoding steps: the word's and the line's beams step together (two rows per
# beam width); at the median it stops after ~5 steps (held-out replay, benchmarks/
# work_units.py), at worst after the line's last token.
ROWS_PER_BEAM = 2
MEDIAN_STEPS = 5
TYPED_TOKENS = 4  # tokens a keystroke feeds, typically (at most a chunk)


@dataclass
class Work:
    """Model calls of one request, counted by `count_work`."""

    fed_tokens: int = 0  # batch-1 tokens read into the state (prompt, window)
    feed_calls: int = 0
    beam_steps: dict[int, int] = field(default_factory=dict)  # beams -> steps of that width

    def add(self, batch: int, length: int) -> None:
        if length > 1 or batch == 1 and not self.beam_steps and self.fed_tokens == 0:
            self.fed_tokens += batch * length
            self.feed_calls += 1
        else:
            self.beam_steps[batch] = self.beam_steps.get(batch, 0) + 1

    @property
    def steps(self) -> int:
        return sum(self.beam_steps.values())

    @property
    def step_rows(self) -> int:
        return sum(b * n for b, n in self.beam_steps.items())


@contextmanager
def count_work(engine: CompletionEngine) -> Iterator[Work]:
    """Count the model calls made inside the block (every call embeds its tokens first)."""
    work = Work()

    def hook(_module: torch.nn.Module, args: tuple[torch.Tensor, ...], _out: Any) -> None:
        batch, length = args[0].shape
        work.add(batch, length)

    handle = engine.model.embed.register_forward_hook(hook)
    try:
        yield work
    finally:
        handle.remove()


@dataclass
class Costs:
    """What each unit of work costs on this machine (ms)."""

    token_ms: float  # one token read, in chunks
    call_ms: float  # a feed call's fixed cost
    step_ms: float  # a beam step's fixed cost: the model call and decoding's Python
    row_ms: float  # each beam row of a step
    request_ms: float = 0.0  # a request's own: healing, ranking, caches

    def predict_ms(self, work: Work) -> float:
        return (
            work.fed_tokens * self.token_ms
            + work.feed_calls * self.call_ms
            + work.steps * self.step_ms
            + work.step_rows * self.row_ms
            + self.request_ms
        )

    @classmethod
    def regress(cls, samples: list[tuple[Work, float]]) -> Costs:
        """Least-squares costs of measured requests (negative ones clamped to 0 and refitted)."""
        names = ["token_ms", "call_ms", "step_ms", "row_ms", "request_ms"]
        x = torch.tensor(
            [[w.fed_tokens, w.feed_calls, w.steps, w.step_rows, 1.0] for w, _ in samples],
            dtype=torch.float64,
        )
        y = torch.tensor([[ms] for _, ms in samples], dtype=torch.float64)
        active = list(range(len(names)))
        while True:
            solution = torch.linalg.lstsq(x[:, active], y).solution[:, 0].tolist()
            negative = [i for i, v in zip(active, solution, strict=True) if v < 0]
            if not negative:
                break
            active = [i for i in active if i not in negative]
        values = dict.fromkeys(names, 0.0)
        values.update({names[i]: v for i, v in zip(active, solution, strict=True)})
        return cls(**values)


def median_ms(fn: Callable[[], object], repeats: int, warmup: int = 1) -> float:
    """The median wall time of `fn` in ms over `repeats` calls, after `warmup` calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def measure_costs(engine: CompletionEngine, repeats: int = 5, beams: int = 5) -> Costs:
    """Time each model unit here (~0.1 s for the default model on a 2-core AVX2 laptop);
    `calibrate` adds what decoding's Python costs. Minima of several rounds: on a shared
    machine the median still carries other processes' bursts."""
    rounds = [_measure_once(engine, repeats, beams) for _ in range(3)]
    return Costs(
        *(min(getattr(c, f) for c in rounds) for f in ("token_ms", "call_ms", "step_ms", "row_ms"))
    )


def _measure_once(engine: CompletionEngine, repeats: int, beams: int) -> Costs:
    model = engine.model
    ids = [engine.tokenizer.boundary_id] + list(range(1, 4 * CHUNK))
    chunks = [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]
    chunked = median_ms(lambda: engine.feed(chunks, threads=False), repeats)
    single = median_ms(lambda: engine.feed([ids[:1]], threads=False), repeats)
    token_ms = max((chunked - single * len(chunks)) / (len(ids) - len(chunks)), 1e-4)
    call_ms = max(single - token_ms, 0.0)
    _, states = engine.feed(chunks, threads=False)
    steps = {}
    for b in (1, beams):
        tokens = torch.full((b, 1), 1, dtype=torch.long)
        rows = expand_state(states[-1], b)
        steps[b] = median_ms(lambda: model.step(tokens, rows), 2 * repeats)  # noqa: B023
    row_ms = max((steps[beams] - steps[1]) / (beams - 1), 0.0)
    return Costs(token_ms, call_ms, steps[1] - row_ms, row_ms)


def expand_state(state: State, rows: int) -> State:
    """A batch-1 state repeated for `rows` hypotheses (an LSTM's is a pair)."""
    if isinstance(state, tuple):
        return (
            state[0].expand(-1, rows, -1).contiguous(),
            state[1].expand(-1, rows, -1).contiguous(),
        )
    return state.expand(-1, rows, -1).contiguous()


PROMPTS = [
    "import os\n\n\ndef main(path):\n    for name in os.listdir(path):\n        print(",
    "class Point:\n    def __init__(self, x, y):\n        self.x = x\n        self.",
    "def load(path):\n    with open(path) as f:\n        data = json.",
]


def calibrate(costs: Costs, engine: CompletionEngine, settings: Any) -> None:
    """Add decoding's Python to `costs`: per step and per request, regressed on real
    completions with short and long lines, less their predicted model time (the fastest of
    two tries each: on a shared machine a slow one measures the neighbours)."""
    from dataclasses import replace

    from .session import DocumentSession

    samples = []
    for text in PROMPTS:
        for line in (2, 16):
            # Penalised lines do not stop early: the steps are the line's tokens.
            options = replace(settings, line_max_tokens=line, line_length_penalty=1.0)
            session = DocumentSession(engine, keep_outputs=options.neural_cache > 0)
            session.prompt(engine.heal(text).context)
            tries = []
            for _ in range(2):
                session._last = None
                start = time.perf_counter()
                with count_work(engine) as work:
                    session.complete(text, options)
                tries.append((time.perf_counter() - start) * 1000)
            total = min(tries)
            samples.append((work.steps, total - costs.predict_ms(work)))
    n = len(samples)
    mean_x = sum(x for x, _ in samples) / n
    mean_y = sum(y for _, y in samples) / n
    var = sum((x - mean_x) ** 2 for x, _ in samples) or 1.0
    slope = sum((x - mean_x) * (y - mean_y) for x, y in samples) / var
    slope = max(slope, 0.0)
    costs.step_ms += slope
    costs.request_ms = max(0.0, mean_y - slope * mean_x)


@dataclass
class Fit:
    beam_width: int
    line_max_tokens: int
    context_tokens: int
    predicted_keystroke_ms: float
    predicted_jump_ms: float
    costs: Costs
    costs_from_starts: int = 1  # the starts on this machine the costs are the best of

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["costs"] = {k: v for k, v in data["costs"].items()}
        return data


def fit(
    costs: Costs,
    context_tokens: int = 512,
    keystroke_ms: float = KEYSTROKE_P50_MS,
    keystroke_p99_ms: float = KEYSTROKE_P99_MS,
    jump_ms: float = JUMP_P99_MS,
) -> Fit:
    """The first beam width and line length whose keystroke fits the budgets (median and
    worst case), and the widest window (at most `context_tokens`) whose cold read plus a
    keystroke fits `jump_ms`."""

    def keystroke(beam: int, line: int, worst: bool) -> float:
        steps = line if worst else min(line, MEDIAN_STEPS)
        fed = CHUNK if worst else TYPED_TOKENS
        return costs.predict_ms(Work(fed, 1, {ROWS_PER_BEAM * beam: steps}))

    def excess(rung: tuple[int, int]) -> float:
        """How far past the budgets a rung is predicted to be (0: within them)."""
        return max(0.0, keystroke(*rung, False) - keystroke_ms) + max(
            0.0, keystroke(*rung, True) - keystroke_p99_ms
        )

    least = min(excess(rung) for rung in LADDER)
    beam, line = next(r for r in LADDER if excess(r) <= 1.1 * least + 0.5)
    key = keystroke(beam, line, False)
    windows = [w for w in WINDOWS if w <= context_tokens] or [context_tokens]

    def jump(window: int) -> float:
        return window * costs.token_ms + window / CHUNK * costs.call_ms + key

    window = next((w for w in windows if jump(w) <= jump_ms), windows[-1])
    window = min(window, context_tokens)
    return Fit(beam, line, max(window, MIN_CONTEXT_TOKENS), key, jump(window), costs)


def within_budgets(fit: Fit) -> bool:
    """Whether a model's predicted keystroke and jump are within the p50 and p99 budgets."""
    return fit.predicted_keystroke_ms <= KEYSTROKE_P50_MS and fit.predicted_jump_ms <= JUMP_P99_MS


def _excess_ms(fit: Fit) -> float:
    """How far past the budgets a model is predicted to be (0: within them)."""
    return max(0.0, fit.predicted_keystroke_ms - KEYSTROKE_P50_MS) + max(
        0.0, fit.predicted_jump_ms - JUMP_P99_MS
    )


def wants_fast(default: Fit, explicit: bool) -> bool:
    """Whether the bundled fast model is worth loading and measuring: only where the settings
    leave the model to us and the default is predicted past a budget."""
    return not explicit and not within_budgets(default)


@dataclass
class ModelChoice:
    fast: bool  # run the bundled fast model in place of the default
    reason: str  # why, with the predictions it rests on: logged, and shown by the editors


def choose_model(default: Fit, fast: Fit | None, explicit: bool = False) -> ModelChoice:
    """The bundled fast model where the default is predicted past a budget and fast is
    predicted to fit, or at least to come closer; otherwise the model the settings name.
    `fast` is fast's fit, None where it was not measured (`wants_fast`) or is not bundled."""

    def predicted(f: Fit) -> str:
        return (
            f"{f.predicted_keystroke_ms:.1f} ms a keystroke and {f.predicted_jump_ms:.1f} ms a jump"
        )

    if explicit:
        return ModelChoice(False, "set in the settings")
    if within_budgets(default):
        return ModelChoice(False, f"default predicted {predicted(default)}, within the budgets")
    missed = (
        f"default predicted {predicted(default)}, past the budgets "
        f"({KEYSTROKE_P50_MS:g} ms, {JUMP_P99_MS:g} ms)"
    )
    if fast is None:
        return ModelChoice(False, f"{missed}; no fast model is bundled")
    if within_budgets(fast):
        return ModelChoice(True, f"{missed}; fast {predicted(fast)}, within them")
    if _excess_ms(fast) < _excess_ms(default):
        return ModelChoice(True, f"{missed}; fast {predicted(fast)}, closer to them")
    return ModelChoice(False, f"{missed}; fast {predicted(fast)}, no better")
