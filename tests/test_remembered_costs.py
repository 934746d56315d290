"""The fastest costs seen on a machine, remembered across the server's starts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from grucomplete.model.machine_fit import Costs
from grucomplete.model.remembered_costs import (
    MAX_KEPT,
    REFERENCE,
    costs_file,
    fastest,
    machine_key,
)


def costs(scale: float) -> Costs:
    return Costs(0.1 * scale, 0.5 * scale, 3.0 * scale, 0.05 * scale, 2.0 * scale)


def test_each_start_fits_to_the_fastest_costs_seen_under_its_key(tmp_path: Path) -> None:
    path = tmp_path / "costs.json"
    assert fastest(costs(1.0), "k", path) == (costs(1.0), 0)
    assert fastest(costs(1.5), "k", path) == (costs(1.0), 1)  # a busy start changes nothing
    assert fastest(costs(0.8), "k", path) == (costs(0.8), 2)  # a quieter one is kept
    # One start's costs are kept whole: a token cheaper than ever by a step dearer is not
    # mixed with the best start's step (each is derived from the same timings).
    lopsided = Costs(0.05, 0.4, 12.0, 0.04, 1.6)
    assert lopsided.predict_ms(REFERENCE) > costs(0.8).predict_ms(REFERENCE)
    assert fastest(lopsided, "k", path) == (costs(0.8), 3)
    assert fastest(costs(2.0), "other", path) == (costs(2.0), 0)  # another model or machine


def test_a_damaged_or_foreign_file_counts_as_no_earlier_start(tmp_path: Path) -> None:
    path = tmp_path / "costs.json"
    for content in (
        "{not json",
        "[1, 2]",
        json.dumps({"k": "costs"}),
        json.dumps({"k": {"costs": {"token_ms": 0.1}, "starts": 3}}),
        json.dumps({"k": {"costs": {"token_ms": "fast"}, "starts": 3}}),
        json.dumps({"k": {"costs": dict.fromkeys(vars(costs(1.0)), -1.0), "starts": 3}}),
        json.dumps({"k": {"costs": vars(costs(0.1)), "starts": 1e999}}),
    ):
        path.write_text(content)
        assert fastest(costs(1.0), "k", path) == (costs(1.0), 0), content
        assert json.loads(path.read_text())["k"]["starts"] == 1  # rewritten whole


def test_a_cache_that_cannot_be_written_only_leaves_the_costs_unremembered(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert fastest(costs(1.0), "k", blocker / "costs.json") == (costs(1.0), 0)
    assert fastest(costs(2.0), "k", blocker / "costs.json") == (costs(2.0), 0)


def test_the_file_keeps_the_most_recently_used_keys(tmp_path: Path) -> None:
    path = tmp_path / "costs.json"
    for i in range(MAX_KEPT + 8):
        fastest(costs(1.0), f"k{i}", path)
        if i == MAX_KEPT - 1:
            fastest(costs(1.0), "k0", path)  # used again: the first of the 8 to drop is k1
    kept = json.loads(path.read_text())
    assert len(kept) == MAX_KEPT and "k0" in kept and "k8" not in kept and "k9" in kept
    assert list(kept)[-1] == f"k{MAX_KEPT + 7}"


def test_the_key_follows_what_the_costs_depend_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert costs_file() == tmp_path / "grucomplete" / "machine_costs.json"
    model = {"hidden_size": 768, "num_layers": 2}
    key = machine_key(model, "int8", ("settings", 5))
    assert key == machine_key(dict(reversed(model.items())), "int8", ("settings", 5))
    assert key != machine_key({**model, "hidden_size": 448}, "int8", ("settings", 5))
    assert key != machine_key(model, "fp32", ("settings", 5))
    assert key != machine_key(model, "int8", ("settings", 3))
    monkeypatch.setenv("FBGEMM_ENABLE_INSTRUCTIONS", "AVX2")  # kernels held to another ISA
    assert key != machine_key(model, "int8", ("settings", 5))
