"""The popup and the ghost text of a keystroke: words at once, the line apart, work done once."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from grucomplete.model import completions as completions_module
from grucomplete.model.answer_reuse import continued
from grucomplete.model.completions import Completions, NamesNow, Suggestion
from grucomplete.model.decode_options import StopAt
from grucomplete.model.engine import CompletionEngine
from grucomplete.model.session import DocumentSession
from grucomplete.server.language_server import completion_items

from .conftest import MODEL_ONLY

MAIN = "import os\nimport sys\n\n\ndef main():\n    path = os."


class CountingModel:
    """The model, counting the rows it steps (beam steps x beams)."""

    def __init__(self, model) -> None:
        self.model, self.rows = model, 0

    def step(self, tokens, state):
        self.rows += tokens.shape[0]
        return self.model.step(tokens, state)


@pytest.fixture()
def decoded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[StopAt], int]]:
    """What each decoding of the session asked for, and the model rows it stepped."""
    calls: list[tuple[list[StopAt], int]] = []
    real = completions_module.decode_together
    test_thread = threading.get_ident()  # not a worker another test left finishing its work

    def recording(model, state, logits, index, prefix, requests, **kw):
        counting = CountingModel(model)
        found = real(counting, state, logits, index, prefix, requests, **kw)
        if threading.get_ident() == test_thread:
            calls.append(([stop for stop, _ in requests], counting.rows))
        return found

    monkeypatch.setattr(completions_module, "decode_together", recording)
    return calls


def test_the_popup_decodes_no_line_and_the_ghost_text_reuses_its_words(
    tiny_engine: CompletionEngine, decoded: list
) -> None:
    session = DocumentSession(tiny_engine, keep_outputs=False)
    popup = session.complete(MAIN, MODEL_ONLY, lines=False)
    assert popup.words[0].label == "path" and popup.lines == []
    assert decoded == [([StopAt.IDENTIFIER], decoded[0][1])]  # no line search stepped
    ghost = session.complete(MAIN, MODEL_ONLY, lines=True)
    assert [stops for stops, _ in decoded] == [[StopAt.IDENTIFIER], [StopAt.LINE]]
    assert ghost.words == popup.words  # the words were not decoded again
    assert ghost.lines[0].insert == "path.join(root, name)"
    # Words and line together would have cost the same steps as both apart, in one request.
    assert session.complete(MAIN, MODEL_ONLY, lines=False).lines == []
    assert session.model_runs == 2 and session.requests == 3


def test_a_continued_word_is_answered_without_running_the_model(
    tiny_engine: CompletionEngine, decoded: list
) -> None:
    session = DocumentSession(tiny_engine, keep_outputs=False)
    first = session.complete(MAIN, MODEL_ONLY, lines=False)
    runs = session.model_runs
    for typed in ("p", "pa", "pat"):
        answer = session.complete(MAIN + typed, MODEL_ONLY, lines=False)
        assert answer.typed == typed and answer.words[0].label == "path"
        assert answer.words[0].insert == "path"[len(typed) :]
    assert session.model_runs == runs and len(decoded) == 1
    assert sum(w.probability for w in answer.words) == pytest.approx(1.0)
    assert first.words[0].label == "path"
    # A character that is not part of the word runs the model.
    session.complete(MAIN + "path(", MODEL_ONLY, lines=False)
    assert session.model_runs == runs + 1


def test_a_popup_without_ghost_text_carries_its_line_and_waits_for_none(
    tiny_engine: CompletionEngine, decoded: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Neovim's popup: the line is decoded with the words only where a line begins;
    mid-line the popup offers the last line while the typing follows it, decodes no line
    itself, and says when the caller should decode one (`lines_decoded` False)."""
    session = DocumentSession(tiny_engine, keep_outputs=False)
    start = "import os\n\n\ndef main():\n    "
    at_start = session.complete(start, MODEL_ONLY, defer_line=True)
    assert at_start.lines and at_start.lines_decoded  # decoded now: a line begins here
    assert decoded[-1][0] == [StopAt.IDENTIFIER, StopAt.LINE]
    line = at_start.lines[0].insert
    typed = line[: len(line) // 2 + 1]
    steps = len(decoded)
    follows = session.complete(start + typed, MODEL_ONLY, defer_line=True)
    assert [stops for stops, _ in decoded[steps:]] in ([], [[StopAt.IDENTIFIER]])  # no line
    assert follows.lines[0].insert == line[len(typed) :] and follows.lines_decoded
    # Typing elsewhere than the line: no line now, and the caller is told to decode one.
    steps = len(decoded)
    other = session.complete(MAIN, MODEL_ONLY, defer_line=True)
    assert other.lines == [] and not other.lines_decoded
    assert [stops for stops, _ in decoded[steps:]] == [[StopAt.IDENTIFIER]]
    fed: list[object] = []
    feed = tiny_engine.feed
    monkeypatch.setattr(tiny_engine, "feed", lambda *a, **kw: fed.append(a) or feed(*a, **kw))
    later = session.complete(MAIN, MODEL_ONLY, lines=True)  # what the caller decodes when idle
    assert fed == []  # the popup's state is still there: nothing is read again
    assert later.words == other.words and later.lines[0].insert == "path.join(root, name)"
    assert decoded[-1][0] == [StopAt.LINE]
    # The next keystroke's popup offers that line while it still follows it.
    carried = session.complete(MAIN + "path.", MODEL_ONLY, defer_line=True)
    assert carried.lines[0].insert == "join(root, name)"


def test_names_static_analysis_lists_close_the_popup(tiny_engine: CompletionEngine) -> None:
    session = DocumentSession(tiny_engine, keep_outputs=False)
    members = ["path", "pardir", "pathsep", "getcwd"]
    answer = session.complete(MAIN + "pa", MODEL_ONLY, lines=False, known_words=lambda: members)
    assert answer.closed and {w.label for w in answer.words} == {"path", "pardir", "pathsep"}
    runs = session.model_runs  # every name there is: the editor may filter them itself
    more = session.complete(MAIN + "pat", MODEL_ONLY, lines=False, known_words=lambda: members)
    assert session.model_runs == runs and {w.label for w in more.words} == {"path", "pathsep"}
    many = [f"pa{i}" for i in range(MODEL_ONLY.num_candidates + 1)]
    session = DocumentSession(tiny_engine, keep_outputs=False)
    assert not session.complete(MAIN + "pa", MODEL_ONLY, known_words=lambda: many).closed


def test_members_in_hand_after_a_dot_are_scored_without_a_search(
    tiny_engine: CompletionEngine, decoded: list
) -> None:
    """Members static analysis has before decoding (an earlier answer, what the document
    declares) are scored alone: no beam search of words runs; the same members rank first."""
    members = ["path", "pardir", "pathsep", "getcwd"]
    pending = DocumentSession(tiny_engine, keep_outputs=False)
    asked = pending.complete(MAIN, MODEL_ONLY, lines=False, known_words=lambda: members)
    assert decoded[-1][0] == [StopAt.IDENTIFIER]  # searched while jedi's answer was pending
    in_hand = DocumentSession(tiny_engine, keep_outputs=False)
    scored = in_hand.complete(MAIN, MODEL_ONLY, lines=False, known_words=NamesNow(members))
    assert decoded[-1] == ([], 0)  # nothing searched
    assert scored.words[0].label == asked.words[0].label == "path"
    assert {w.label for w in scored.words} == {w.label for w in asked.words} == set(members)
    # None of them continues what is typed, or a name is used (not after `.`): the model's
    # own words are searched for.
    for text in (MAIN + "zz", MAIN[:-3] + "pa"):
        session = DocumentSession(tiny_engine, keep_outputs=False)
        session.complete(text, MODEL_ONLY, lines=False, known_words=NamesNow(members))
        assert decoded[-1][0] == [StopAt.IDENTIFIER]


def _answer(*words: tuple[str, float], typed: str = "", closed: bool = False) -> Completions:
    return Completions(
        typed,
        [Suggestion(w, w[len(typed) :], p) for w, p in words],
        [Suggestion("result = 0", "result = 0", 0.2)],
        closed=closed,
        lines_decoded=True,
    )


def test_continuing_renormalises_over_the_words_that_still_match() -> None:
    last = _answer(("result", 0.3), ("return", 0.2), ("root", 0.1), ("rest", 0.1), ("x", 0.3))
    after = continued(last, "re")
    assert after is not None and after.typed == "re"
    assert [w.label for w in after.words] == ["result", "return", "rest"]
    assert [round(w.probability, 3) for w in after.words] == [0.5, 0.333, 0.167]
    assert after.words[0].insert == "sult"
    assert after.lines[0].insert == "sult = 0"  # the line still matches: kept for ghost text


def test_continuing_is_refused_when_it_is_not_safe() -> None:
    last = _answer(("result", 0.3), ("return", 0.2), ("root", 0.1))
    assert [w.label for w in continued(last, "res").words] == ["result"]  # one match is enough
    assert continued(last, "rx") is None  # none: the beam's unseen words are all there is
    assert continued(last, "r(") is None  # not a word
    assert continued(last, "") is None
    cut = replace(last, words=[replace(w, complete=False) for w in last.words])
    assert continued(cut, "r") is None  # a word cut short may go on differently
    closed = _answer(("result", 0.3), ("return", 0.2), closed=True)
    assert [w.label for w in continued(closed, "res").words] == ["result"]  # all there are
    diverged = continued(closed, "ret")
    assert diverged.lines == [] and not diverged.lines_decoded  # ghost text decodes anew


def test_the_popup_is_ordered_by_probability_even_at_the_start_of_a_line() -> None:
    source = "import os\n\n"
    result = Completions(
        "", [Suggestion("path", "path", 0.938), Suggestion("sep", "sep", 0.02)], []
    )
    result.lines = [Suggestion("path.join(a, b)", "path.join(a, b)", 0.037)]
    items = completion_items(source, 2, len(source), result, "utf-16")
    ordered = [i.label for i in sorted(items, key=lambda i: i.sort_text)]
    assert ordered == ["path", "path.join(a, b)", "sep"]
    result.lines = [Suggestion("return None", "return None", 0.95)]
    items = completion_items(source, 2, len(source), result, "utf-16")
    assert min(items, key=lambda i: i.sort_text).label == "return None"  # likelier than all
