"""Scoring rules for completion quality, kept apart from any model so they can be checked by hand.

The word hit rule, the line scores and Levenshtein similarity mirror the shared gauge
(`lsp_eval.py`), so `grucomplete eval` and the gauge report comparable numbers. The typing
junk measures (invented names, brackets closed that were never opened) are the gauge's
`junk.py`, so a change shows its effect on junk beside its effect on accuracy. The typing
simulation takes a suggestion function instead of a model: a test can hand it an oracle or a
fool, and the evaluator hands it the real engine.
"""

from __future__ import annotations

import builtins
import io
import keyword
import math
import re
import tokenize
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from grucomplete.model.prefix_constraint import is_identifier_char

EDIT_SIMILARITY_CAP = 400  # characters compared, as the gauge does: keeps Levenshtein bounded


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character each)."""
    if a == b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i]
        for j, cb in enumerate(b, 1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb)))
        previous = current
    return previous[-1]


def edit_similarity(a: str, b: str, cap: int = EDIT_SIMILARITY_CAP) -> float:
    """1 - Levenshtein / max length, on the first `cap` characters; 1.0 for two empty strings."""
    a, b = a[:cap], b[:cap]
    longest = max(len(a), len(b))
    return 1.0 if longest == 0 else 1.0 - levenshtein(a, b) / longest


def is_hit(text: str, expected: str) -> bool:
    """The gauge's rule: `text` completes `expected` and does not run on into a longer name."""
    return text.startswith(expected) and (
        len(text) == len(expected) or not is_identifier_char(text[len(expected)])
    )


def hit_rank(candidates: Sequence[str], expected: str) -> int | None:
    """1-based rank of the first candidate that hits `expected`, or None."""
    for rank, text in enumerate(candidates, 1):
        if is_hit(text, expected):
            return rank
    return None


@dataclass(frozen=True)
class LineScore:
    em1: bool  # the top candidate is the rest of the line
    em5: bool  # one of the top five is
    es1: float  # edit similarity of the top candidate (0 when there is none)


def score_line(candidates: Sequence[str], expected: str) -> LineScore:
    """Candidates are compared by their first line, stripped, as the gauge does."""
    want = expected.strip()
    firsts = [c.split("\n", 1)[0].strip() for c in candidates[:5]]
    if not firsts:
        return LineScore(False, False, 0.0)
    return LineScore(firsts[0] == want, want in firsts, edit_similarity(firsts[0], want))


@dataclass(frozen=True)
class TypingResult:
    keystrokes: int  # what the simulated user pressed, accepts included
    baseline: int  # characters of the line: the cost of typing it all
    accepted: int  # suggestions taken

    @property
    def saved(self) -> float:
        return 1.0 - self.keystrokes / self.baseline if self.baseline else 0.0


def simulate_typing(
    line: str, words: Sequence[tuple[int, int]], top_word: Callable[[int], str | None]
) -> TypingResult:
    """Type `line` one character at a time, taking the top word suggestion when it is right.

    `words` are the (start, end) spans of the line's words; `top_word(p)` is the top suggestion
    with the cursor at `p`, as the whole word (typed part included). Inside a word, a suggestion
    equal to that word is accepted for one keystroke and the cursor jumps to its end; anywhere
    else, and after a wrong suggestion, the user types the next character. Suggestions are only
    asked for inside words: a word suggestion cannot type the spaces or punctuation before one.
    """
    word_at = {p: (s, e) for s, e in words for p in range(s, e)}
    position = keystrokes = accepted = 0
    while position < len(line):
        keystrokes += 1
        span = word_at.get(position)
        if span is not None and top_word(position) == line[span[0] : span[1]]:
            position, accepted = span[1], accepted + 1
        else:
            position += 1
    return TypingResult(keystrokes, len(line), accepted)


@dataclass
class TokenStats:
    """Teacher-forced next-token statistics, summed over files."""

    tokens: int = 0  # predicted tokens
    chars: int = 0  # characters those tokens spell
    nats: float = 0.0  # summed negative log-likelihood
    top1: int = 0  # tokens that were the model's first choice
    top5: int = 0  # tokens among its five first choices

    def add(self, other: TokenStats) -> None:
        self.tokens += other.tokens
        self.chars += other.chars
        self.nats += other.nats
        self.top1 += other.top1
        self.top5 += other.top5

    def summary(self) -> dict[str, float | int]:
        if self.tokens == 0:
            nan = float("nan")
            return dict(tokens=0, chars=self.chars, perplexity=nan, bits_per_token=nan,
                        bits_per_char=nan, next_token_top1=nan, next_token_top5=nan)  # fmt: skip
        loss = self.nats / self.tokens
        return {
            "tokens": self.tokens,
            "chars": self.chars,
            "perplexity": math.exp(min(loss, 700.0)),  # exp overflows a float past ~709
            "bits_per_token": loss / math.log(2),
            # The number to compare across tokenizers: bits per token is not.
            "bits_per_char": self.nats / max(self.chars, 1) / math.log(2),
            "next_token_top1": self.top1 / self.tokens,
            "next_token_top5": self.top5 / self.tokens,
        }


def summarize_words(ranks: Sequence[int | None]) -> dict[str, float | int]:
    """top1/top5 and mean reciprocal rank over queries; every query counts in the denominator."""
    n = len(ranks)
    if n == 0:
        return {"n": 0}
    return {
        "n": n,
        "top1": sum(r == 1 for r in ranks) / n,
        "top5": sum(r is not None and r <= 5 for r in ranks) / n,
        "mrr": sum(1.0 / r for r in ranks if r) / n,
    }


def summarize_lines(scores: Sequence[LineScore]) -> dict[str, float | int]:
    n = len(scores)
    if n == 0:
        return {"n": 0}
    return {
        "n": n,
        "em1": sum(s.em1 for s in scores) / n,
        "em5": sum(s.em5 for s in scores) / n,
        "es1": sum(s.es1 for s in scores) / n,
    }


def summarize_typing(results: Sequence[TypingResult]) -> dict[str, float | int]:
    """Keystrokes saved over all simulated lines together (long lines weigh more)."""
    keystrokes = sum(r.keystrokes for r in results)
    baseline = sum(r.baseline for r in results)
    return {
        "n": len(results),
        "keystrokes": keystrokes,
        "baseline": baseline,
        "accepted": sum(r.accepted for r in results),
        "saved": 1.0 - keystrokes / baseline if baseline else 0.0,
    }


# --- junk: what a Python developer would not accept, defined as the shared gauge's junk.py ---

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
KNOWN_NAMES = frozenset(keyword.kwlist) | frozenset(dir(builtins))


def project_names(texts: Iterable[str]) -> set[str]:
    """Every identifier-like word in the project's text (comments, strings and all, as the
    gauge counts: a name "exists" if it is written anywhere in the package)."""
    return set().union(*(set(_NAME.findall(t)) for t in texts))


def open_depth(text_before: str) -> int:
    """Brackets open at the end of `text_before`, counted by Python's tokenizer."""
    # Indentation says nothing of brackets, and a line indented wrong would stop the tokenizer
    # before the brackets after it: every line is read from its first non-blank character.
    flat = "\n".join(line.lstrip(" \t") for line in text_before.split("\n"))
    depth = 0
    try:
        for tok in tokenize.generate_tokens(io.StringIO(flat).readline):
            if tok.type == tokenize.OP:
                depth += tok.string in "([{"
                depth -= tok.string in ")]}"
    except (tokenize.TokenError, IndentationError, SyntaxError):
        pass
    return max(depth, 0)


def closes_unopened(item: str, depth: int) -> bool:
    """Whether `item` closes a bracket that is not open (`depth` are), strings and comments
    read as the gauge does."""
    d, quote = depth, None
    for ch in item:
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#":
            break
        elif ch in "([{":
            d += 1
        elif ch in ")]}":
            d -= 1
            if d < 0:
                return True
    return False


@dataclass
class JunkTally:
    """Invented names among the items at identifier positions; unmatched brackets among all."""

    ident_items: int = 0
    invented: int = 0
    items: int = 0
    unmatched: int = 0

    def add(self, items: Sequence[str], depth: int, names: set[str] | None) -> None:
        """The top items of one query; `names` (the project's) only at identifier positions."""
        for item in items:
            self.items += 1
            self.unmatched += closes_unopened(item, depth)
            if names is not None and (m := _NAME.match(item)):
                self.ident_items += 1
                self.invented += m.group() not in names and m.group() not in KNOWN_NAMES

    def summary(self) -> dict[str, float | int]:
        return {
            "ident_items": self.ident_items,
            "invented": self.invented / max(self.ident_items, 1),
            "items": self.items,
            "unmatched": self.unmatched / max(self.items, 1),
        }
