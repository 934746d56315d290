"""The document identifier cache: which names it offers, and how it mixes with the model."""

from __future__ import annotations

import pytest

from grucomplete.model.engine import CompletionEngine
from grucomplete.model.identifier_cache import cache_distribution, mix

from .conftest import decode_from

SOURCE = """\
import os


class Loader:
    def __init__(self, root_directory):
        self.root_directory = root_directory
        self.rows_loaded = 0

    def load(self):
        rows = read_rows(self.root_directory)
        other.rank = 1
        return self."""


def test_names_before_the_cursor_with_the_typed_prefix() -> None:
    dist = cache_distribution(SOURCE[: SOURCE.index("rows = ")] + "ro", "ro")
    assert set(dist) == {"root_directory", "rows_loaded"}
    assert dist["root_directory"] == pytest.approx(3 / 4)  # used three times, rows_loaded once


def test_after_a_dot_only_attributes_count_and_the_same_receiver_counts_most() -> None:
    dist = cache_distribution(SOURCE, "")
    assert "read_rows" not in dist and "Loader" not in dist  # never seen after a dot
    assert "rank" in dist  # an attribute, of another receiver
    assert dist["root_directory"] > dist["rows_loaded"] > dist["rank"]
    assert sum(dist.values()) == pytest.approx(1.0)


def test_keywords_are_left_to_the_model() -> None:
    assert "return" not in cache_distribution("return x\nre", "re")


def test_a_confident_model_keeps_its_answer() -> None:
    ranked = dict(mix({"path": 0.9, "pardir": 0.01}, {"params": 1.0}, weight=0.85))
    assert max(ranked, key=ranked.get) == "path"
    assert ranked["params"] < 0.02  # the cache's weight shrinks with the model's confidence


def test_an_unsure_model_gives_way_to_local_names() -> None:
    ranked = mix({"pa": 0.02, "pb": 0.02}, {"my_local_name": 1.0}, weight=0.85)
    assert ranked[0][0] == "my_local_name"
    assert sum(p for _, p in ranked) == pytest.approx(1.0)


def test_a_lone_word_the_model_barely_expects_at_a_line_start_is_no_confidence() -> None:
    # Inside a data table the model expects `(`, not a name: the one word its beam found holds
    # all of the words' (tiny) probability, which must not silence the document's names.
    model, cache = {"pytest": 9e-6}, {"CellTable": 0.5, "cells": 0.5}
    assert mix(model, cache, weight=0.85, line_start=True)[0][0] == "CellTable"
    # Elsewhere (a name partly typed, an attribute after `.`) the word is the model's answer.
    assert mix(model, cache, weight=0.85)[0][0] == "pytest"


def test_engine_offers_a_local_name_the_model_never_saw(tiny_engine: CompletionEngine) -> None:
    text = "def main():\n    zebra_count = 3\n    print(zebra_count)\n    return ze"
    plain = decode_from(tiny_engine, text, lines=False)
    cached = decode_from(tiny_engine, text, lines=False, identifier_cache=0.85)
    assert "zebra_count" not in [w.label for w in plain.words]
    offered = {w.label: w for w in cached.words}
    assert offered["zebra_count"].insert == "bra_count"
