"""How often a keystroke runs the model: the popup and the ghost text of typed words, replayed.

    python benchmarks/keystroke_reuse.py .work/heldout [--max-files 6] [--queries 40] [--seed 1]

At each identifier position of `grucomplete eval`'s plan, the last `--type-last` characters up
to the end of the identifier are typed one at a time into a session, and each keystroke asks
what VS Code asks: the popup, then the ghost text. Counted per keystroke, in the same run:
- before: the popup decodes words and the line together; the ghost text reuses that answer;
  nothing else is reused (the pipeline before the popup stopped waiting for the line);
- after: the popup decodes words alone, the ghost text decodes the line alone, and a
  keystroke that continues a word of the last answer is answered from it.
Also a client without ghost text (Neovim 0.11: the popup has the line, reuse on), before and
after the popup stopped waiting for its line there: after, the line is decoded with the words
only where a line begins, elsewhere carried from the last answer, and decoded after the answer
as the server does when idle (counted in the "ghost text" columns). Reported: how the popups
answered from the last answer agree with "before" (the model run afresh), model runs per
keystroke (popup and ghost text), model rows stepped (beam steps x beams) for the popup and in
all, and the popup's time. Settings are the server's defaults without static analysis; the
state after each prefix is read by the session as in the server.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch

from grucomplete.model import answer_reuse
from grucomplete.model import completions as completions_module
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.session import DocumentSession
from grucomplete.server.options import ServerOptions
from grucomplete.training.evaluation.queries import SampleConfig, load_files, plan_queries


class CountingModel:
    """A decoding's model, counting the rows `step` is given (beam steps x beams)."""

    rows = 0  # over every decoding

    def __init__(self, model) -> None:
        self.model = model

    def step(self, tokens, state):
        CountingModel.rows += tokens.shape[0]
        return self.model.step(tokens, state)


def _counting(decode_together):
    def wrapped(model, *args, **kwargs):
        return decode_together(CountingModel(model), *args, **kwargs)

    return wrapped


MODES = {  # reuse, the popup's `lines`, whether ghost text is asked for, line deferred
    "before (VS Code)": (False, None, True, False),
    "after (VS Code)": (True, False, True, False),
    "before (Neovim 0.11)": (True, None, False, False),
    "after (Neovim 0.11)": (True, None, False, True),
}


def replay(
    engine: CompletionEngine, plan, mode: str, type_last: int, settings: ServerOptions
) -> dict:
    reuse, popup_lines, ghost, defer = MODES[mode]
    popup_ms, keystrokes, tops, reused = [], 0, [], []
    runs, rows = {"popup": 0, "ghost": 0}, {"popup": 0, "ghost": 0}
    for index, source in enumerate(plan.files):
        session = DocumentSession(engine, keep_outputs=settings.neural_cache > 0)
        session.reuse = reuse
        for q in (q for q in plan.queries if q.file == index and q.kind != "line"):
            end = q.offset + len(q.expected)
            for cursor in range(max(0, end - type_last), end + 1):
                text = source.text[:cursor]
                keystrokes += 1
                popup_had_line = False
                for kind in ("popup", "ghost") if ghost or defer else ("popup",):
                    if kind == "ghost" and defer and popup_had_line:
                        continue  # nothing to decode when idle
                    ran, stepped = session.model_runs, CountingModel.rows
                    began = time.perf_counter()
                    answer = session.complete(
                        text,
                        settings,
                        lines=popup_lines if kind == "popup" else True,
                        defer_line=defer and kind == "popup",
                    )
                    if kind == "popup":
                        popup_had_line = answer.lines_decoded
                        popup_ms.append((time.perf_counter() - began) * 1000)
                        tops.append([w.label for w in answer.words[:5]])
                        reused.append(session.model_runs == ran)
                    runs[kind] += session.model_runs - ran
                    rows[kind] += CountingModel.rows - stepped
    popup_ms.sort()
    return dict(
        keystrokes=keystrokes,
        popup_runs=runs["popup"] / keystrokes,
        ghost_runs=runs["ghost"] / keystrokes,
        popup_rows=rows["popup"] / keystrokes,
        all_rows=(rows["popup"] + rows["ghost"]) / keystrokes,
        popup_p50_ms=statistics.median(popup_ms),
        popup_p90_ms=popup_ms[int(0.9 * (len(popup_ms) - 1))],
        tops=tops,
        reused=reused,
    )


def agreement(fresh: dict, after: dict) -> str:
    """How the popups answered from the last answer compare with the model run afresh."""
    found = zip(fresh["tops"], after["tops"], after["reused"], strict=True)
    pairs = [(f, a) for f, a, r in found if r]
    if not pairs:
        return "no popup was answered from the last answer"
    top1 = sum(f[:1] == a[:1] for f, a in pairs) / len(pairs)
    prefix = sum(f[: len(a)] == a for f, a in pairs) / len(pairs)
    shown = statistics.mean(len(a) for _, a in pairs)
    fresh_shown = statistics.mean(len(f) for f, _ in pairs)
    return (f"{len(pairs)} popups answered from the last answer; against the model run afresh: "
            f"same first item {top1:.1%}, its first items in the same order {prefix:.1%}; "
            f"items in the top 5: {shown:.1f} (afresh {fresh_shown:.1f})")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("paths", nargs="+", type=Path)
    p.add_argument("--model", default="default")
    p.add_argument("--max-files", type=int, default=6)
    p.add_argument("--queries", type=int, default=40, help="identifier and member positions")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--type-last", type=int, default=8)
    p.add_argument("--min-matches", type=int, default=answer_reuse.REUSE_MIN_MATCHES)
    p.add_argument("--settled-words", type=int, default=ServerOptions().settled_words)
    args = p.parse_args()
    torch.set_num_threads(1)
    engine = CompletionEngine.load(args.model, precision="int8")
    completions_module.decode_together = _counting(completions_module.decode_together)
    config = SampleConfig(args.max_files, args.queries // 2, 0, seed=args.seed)
    plan = plan_queries(load_files(args.paths, config), config)
    answer_reuse.REUSE_MIN_MATCHES = args.min_matches
    settings = ServerOptions(settled_words=args.settled_words)
    rows = {mode: replay(engine, plan, mode, args.type_last, settings) for mode in MODES}
    print(f"{rows['before (VS Code)']['keystrokes']} keystrokes (the last {args.type_last} "
          f"characters before the end of each identifier), per keystroke:\n")  # fmt: skip
    print("| | model runs: popup | ghost text | rows stepped: popup | all | popup p50 / p90 ms |")
    print("|---|---|---|---|---|---|")
    for name, r in rows.items():
        print(f"| {name} | {r['popup_runs']:.2f} | {r['ghost_runs']:.2f} | "
              f"{r['popup_rows']:.1f} | {r['all_rows']:.1f} | "
              f"{r['popup_p50_ms']:.1f} / {r['popup_p90_ms']:.1f} |")  # fmt: skip
    for client in ("VS Code", "Neovim 0.11"):
        b, a = rows[f"before ({client})"], rows[f"after ({client})"]
        print(f"\nafter/before ({client}): popup model runs "
              f"{a['popup_runs'] / b['popup_runs']:.2f}, popup rows "
              f"{a['popup_rows'] / b['popup_rows']:.2f}, all rows "
              f"{a['all_rows'] / b['all_rows']:.2f}, popup p50 "
              f"{a['popup_p50_ms'] / b['popup_p50_ms']:.2f}, p90 "
              f"{a['popup_p90_ms'] / b['popup_p90_ms']:.2f}")  # fmt: skip
    print(agreement(b, a))


if __name__ == "__main__":
    main()
