"""Which bundled model runs on a machine: the default where it fits the latency budgets, the
fast one where the default is predicted too slow, and always the one the settings name."""

from __future__ import annotations

from grucomplete.model.machine_fit import Costs, Fit, choose_model, wants_fast


def predicted(keystroke_ms: float, jump_ms: float) -> Fit:
    """A model's fit, as measured on some machine (only the predictions matter here)."""
    return Fit(5, 16, 512, keystroke_ms, jump_ms, Costs(0.1, 0.1, 1.0, 0.1))


FITS = predicted(9.0, 80.0)
SLOW_KEYSTROKE = predicted(22.0, 90.0)
SLOW_JUMP = predicted(12.0, 150.0)
FAST = predicted(11.0, 60.0)


def test_a_default_that_fits_the_budgets_is_kept() -> None:
    assert not wants_fast(FITS, explicit=False)  # fast is not even loaded
    choice = choose_model(FITS, FAST)
    assert not choice.fast
    assert (
        choice.reason
        == "default predicted 9.0 ms a keystroke and 80.0 ms a jump, within the budgets"
    )


def test_a_default_too_slow_gives_way_to_a_fast_model_that_fits() -> None:
    for slow in (SLOW_KEYSTROKE, SLOW_JUMP):
        assert wants_fast(slow, explicit=False)
        assert choose_model(slow, FAST).fast
    reason = choose_model(SLOW_KEYSTROKE, FAST).reason
    assert reason == (
        "default predicted 22.0 ms a keystroke and 90.0 ms a jump, past the budgets "
        "(15 ms, 120 ms); fast 11.0 ms a keystroke and 60.0 ms a jump, within them"
    )


def test_fast_is_taken_only_where_it_does_better() -> None:
    very_slow = predicted(40.0, 200.0)
    assert choose_model(very_slow, predicted(20.0, 100.0)).fast  # past the budgets, but closer
    worse = choose_model(SLOW_KEYSTROKE, predicted(30.0, 90.0))
    assert not worse.fast and worse.reason.endswith("no better")
    missing = choose_model(SLOW_KEYSTROKE, None)
    assert not missing.fast and missing.reason.endswith("no fast model is bundled")


def test_an_explicit_model_is_never_switched() -> None:
    assert not wants_fast(SLOW_KEYSTROKE, explicit=True)
    choice = choose_model(SLOW_KEYSTROKE, FAST, explicit=True)
    assert not choice.fast and choice.reason == "set in the settings"
