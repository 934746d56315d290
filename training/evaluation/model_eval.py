"""One model on a query plan: a single teacher-forced pass per file, then the engine's answers.

Each file is run through the model once, starting from the document boundary as the engine
starts every prompt, in the engine's CHUNK-aligned pieces. That pass scores every token
(perplexity, bits, next-token accuracy) and keeps the state at each chunk edge. A query at
character `c` is then answered the way a user gets it: `engine.heal(text[:c])`, the state
after the healed context, and the session's `decode_completions`. The state is the checkpoint
at the context's last chunk edge advanced by the rest of that chunk, exactly the calls
`CompletionEngine.prompt_state` makes from scratch, so with int8 weights too the answers are
bitwise the engine's own.

That shortcut needs the context's ids to be a prefix of the file's ids, which holds whenever
the cut falls on a pre-token boundary (it does by construction). Each context is checked; one
that is not a prefix is computed from scratch instead and counted in `from_scratch`.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from grucomplete.model.code_text import code_names
from grucomplete.model.completion_settings import CompletionSettings
from grucomplete.model.completions import Completions, Workspace, decode_completions
from grucomplete.model.document_state import PromptState
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.lm import State
from grucomplete.model.window import CHUNK, text_origin
from grucomplete.model.workspace_memory import WorkspaceMemory

from .metrics import (
    JunkTally,
    LineScore,
    TokenStats,
    TypingResult,
    hit_rank,
    open_depth,
    project_names,
    score_line,
    simulate_typing,
    summarize_lines,
    summarize_typing,
    summarize_words,
)
from .queries import KINDS, Query, QueryPlan, SourceFile, TypingLine

TOP_KEPT = 5  # candidates stored per query record
WORD_ROWS = tuple(f"{kind}@{typed}" for kind in KINDS[:2] for typed in (0, 1))


@dataclass
class ModelReport:
    model: str  # what the user passed to --model / --compare
    summary: dict[str, Any] = field(default_factory=dict)
    records: list[dict[str, Any]] = field(default_factory=list)  # one per query, plan order
    typing: list[dict[str, Any]] = field(default_factory=list)  # one per simulated line
    files: list[dict[str, Any]] = field(default_factory=list)  # language-model numbers per file


def token_pass(
    engine: CompletionEngine, ids: list[int], chars: int
) -> tuple[TokenStats, dict[int, State]]:
    """Score every token of one file, and keep the state after each CHUNK-aligned piece.

    The checkpoints are keyed by how many prompt ids (boundary included) they follow.
    """
    prompt = [engine.tokenizer.boundary_id, *ids]
    state = engine.model.initial_state(1, engine.device)
    checkpoints: dict[int, State] = {0: state}
    stats = TokenStats(chars=chars)
    with torch.inference_mode():
        for start in range(0, len(prompt), CHUNK):
            piece = prompt[start : start + CHUNK]
            tokens = torch.tensor([piece], dtype=torch.long, device=engine.device)  # (1, T)
            logits, state = engine.model(tokens, state)  # (1, T, V)
            checkpoints[start + len(piece)] = state
            # Position j predicts prompt[j + 1]; the last id of the file predicts nothing scored.
            targets = torch.tensor(prompt[start + 1 : start + 1 + len(piece)], device=engine.device)
            n = len(targets)
            if n == 0:
                continue
            logprobs = F.log_softmax(logits[0, :n].float(), dim=-1)  # (n, V)
            stats.nats -= float(logprobs.gather(1, targets[:, None]).sum())
            best = logprobs.topk(min(5, logprobs.shape[-1]), dim=-1).indices  # (n, 5)
            stats.top1 += int((best[:, 0] == targets).sum())
            stats.top5 += int((best == targets[:, None]).any(dim=1).sum())
            stats.tokens += n
    return stats, checkpoints


class FilePrompts:
    """Logits and state after any healed context of one file, memoised by context length."""

    def __init__(
        self,
        engine: CompletionEngine,
        source: SourceFile,
        contexts: set[str],
        workspace: set[str] | None = None,
        memory: Workspace | None = None,
    ) -> None:
        """`workspace`: the code names of the project's other files, as the server indexes.
        `memory`: the workspace memory of the project's other files, as a request in this file
        sees it (`grucomplete eval --workspace`)."""
        self.engine, self.text, self.workspace = engine, source.text, workspace
        self.memory = memory
        self.ids = engine.tokenizer.encode(self.text)
        self.stats, self.checkpoints = token_pass(engine, self.ids, len(self.text))
        ordered = sorted(contexts, key=len)
        encoded = engine.tokenizer.encode_batch(ordered) if ordered else []
        self.context_ids = {len(c): ids for c, ids in zip(ordered, encoded, strict=True)}
        self.cache: dict[int, tuple[torch.Tensor, State]] = {}
        self.from_scratch = 0

    def after(self, context: str) -> tuple[torch.Tensor, State]:
        key = len(context)
        if key not in self.cache:
            self.cache[key] = self._compute(context)
        return self.cache[key]

    def _compute(self, context: str) -> tuple[torch.Tensor, State]:
        ids = self.context_ids.get(len(context))
        if ids is None:
            ids = self.engine.tokenizer.encode(context)
        if ids != self.ids[: len(ids)] or self.engine.window_start(ids) or text_origin(context):
            # Not a prefix of the file, or past the context window: the pass does not apply.
            self.from_scratch += 1
            return self.engine.prompt_state(self.engine.prompt_ids(context))
        prompt_len = 1 + len(ids)
        start = CHUNK * ((prompt_len - 1) // CHUNK)  # where prompt_state's last call starts
        prompt = [self.engine.tokenizer.boundary_id, *ids]
        return self.engine.advance(prompt[start:prompt_len], self.checkpoints[start])

    def complete(self, cursor: int, settings: CompletionSettings, lines: bool) -> Completions:
        healed = self.engine.heal(self.text[:cursor])
        logits, state = self.after(healed.context)
        prompt = PromptState(logits, state, tokens_fed=0)
        return decode_completions(
            self.engine,
            healed,
            prompt,
            settings,
            lines=lines,
            workspace_names=self.workspace,
            workspace=self.memory,
        )


def _cursors(queries: list[Query], typing: list[TypingLine]) -> list[int]:
    """Every cursor a query or the typing simulation may ask about."""
    cursors = []
    for q in queries:
        cursors += [q.offset] if q.kind == "line" else [q.offset, q.offset + 1]
    for line in typing:
        cursors += [line.offset + p for s, e in line.words for p in range(s, e)]
    return cursors


def _where(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a character offset."""
    return text.count("\n", 0, offset) + 1, offset - (text.rfind("\n", 0, offset) + 1) + 1


@dataclass
class _Tally:
    """What the summary is computed from, unrounded."""

    tokens: TokenStats = field(default_factory=TokenStats)
    lines: list[LineScore] = field(default_factory=list)
    typing: list[TypingResult] = field(default_factory=list)
    timings: list[float] = field(default_factory=list)  # ms per engine call
    from_scratch: int = 0
    junk: JunkTally = field(default_factory=JunkTally)
    names: set[str] = field(default_factory=set)  # every name written in the plan's files


def _evaluate_file(
    prompts: FilePrompts,
    source: SourceFile,
    queries: list[Query],
    typing: list[TypingLine],
    options: CompletionSettings,
    report: ModelReport,
    tally: _Tally,
) -> None:
    timings = tally.timings
    for q in queries:
        depth = open_depth(source.text[: q.offset])
        line, col = _where(source.text, q.offset)
        base = {"file": str(source.path), "line": line, "col": col, "expected": q.expected}
        for typed in (None,) if q.kind == "line" else (0, 1):
            began = time.perf_counter()
            result = prompts.complete(q.offset + (typed or 0), options, lines=q.kind == "line")
            timings.append((time.perf_counter() - began) * 1000)
            if typed is None:
                top = [s.label for s in result.lines[:TOP_KEPT]]
                tally.junk.add([s.insert for s in result.lines[:TOP_KEPT]], depth, None)
                score = score_line(top, q.expected)
                tally.lines.append(score)
                record = dict(kind="line", em1=score.em1, em5=score.em5, es1=round(score.es1, 4))
            else:
                top = [s.label for s in result.words[:TOP_KEPT]]
                names = tally.names if q.kind == "ident" else None
                tally.junk.add(top, depth, names)
                record = dict(kind=f"{q.kind}@{typed}", rank=hit_rank(top, q.expected))
                if q.kind == "ident":
                    record["after"] = q.after
            report.records.append({**record, **base, "top": top, "ms": round(timings[-1], 1)})
    for t in typing:

        def top_word(p: int, t: TypingLine = t) -> str | None:
            words = prompts.complete(t.offset + p, options, lines=False).words
            return words[0].label if words else None

        result = simulate_typing(t.text, t.words, top_word)
        tally.typing.append(result)
        line, _ = _where(source.text, t.offset)
        report.typing.append(
            dict(
                file=str(source.path),
                line=line,
                text=t.text,
                keystrokes=result.keystrokes,
                baseline=result.baseline,
                accepted=result.accepted,
            )
        )


def evaluate_model(
    engine: CompletionEngine,
    plan: QueryPlan,
    options: CompletionSettings,
    name: str,
    progress: Callable[[str], None] | None = None,
    memory: WorkspaceMemory | None = None,
) -> ModelReport:
    """Run every file of `plan` through `engine` and answer every query; numbers and records.

    `memory`: a workspace memory the files are held out of (each masked while it is answered,
    as an open document is), mixed in with `options.workspace_memory`."""
    report = ModelReport(name)
    tally = _Tally(names=project_names(f.text for f in plan.files))
    code = [code_names(f.text) for f in plan.files]
    began = time.perf_counter()
    for index, source in enumerate(plan.files):
        others = set().union(*(c for i, c in enumerate(code) if i != index))
        queries = [q for q in plan.queries if q.file == index]
        typing = [t for t in plan.typing if t.file == index]
        contexts = {engine.heal(source.text[:c]).context for c in _cursors(queries, typing)}
        path = str(Path(source.path).resolve())
        if memory is not None:
            memory.mask(path)
        prompts = FilePrompts(
            engine, source, contexts, others, memory.for_path(path) if memory else None
        )
        _evaluate_file(prompts, source, queries, typing, options, report, tally)
        tally.tokens.add(prompts.stats)
        report.files.append({"path": str(source.path), **prompts.stats.summary()})
        tally.from_scratch += prompts.from_scratch
        if progress is not None:
            done = f"[{index + 1}/{len(plan.files)}]"
            progress(f"{done} {source.path} ({len(queries)} queries, {len(typing)} typed lines)")
    summary: dict[str, Any] = {"lm": tally.tokens.summary()}
    for row in WORD_ROWS:
        summary[row] = summarize_words([r["rank"] for r in report.records if r["kind"] == row])
    summary["line"] = summarize_lines(tally.lines)
    summary["typing"] = summarize_typing(tally.typing)
    summary["junk"] = tally.junk.summary()
    summary["run"] = {
        "seconds": round(time.perf_counter() - began, 1),
        "engine_calls": len(tally.timings),
        "call_ms_p50": round(statistics.median(tally.timings), 1) if tally.timings else None,
        "from_scratch": tally.from_scratch,
    }
    report.summary = summary
    return report
