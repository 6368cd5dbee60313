"""The arithmetic of bench/traffic.py: rounds in rotating order, per-round ratios."""

from __future__ import annotations

import pytest
from bench import traffic
from bench.traffic import Load, Ratio


def test_rounds_rotate_the_order_and_run_the_hook_before_every_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(traffic, "ROUNDS", 3)
    order: list[str] = []

    def load(name: str) -> Load:
        order.append(name)
        return Load(rps=100.0, p99_ms=1.0)

    hooks: list[int] = []
    runs = traffic.rounds(
        {"a": lambda: load("a"), "b": lambda: load("b"), "c": lambda: load("c")},
        before=lambda: hooks.append(1),
    )
    assert order == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]
    assert len(hooks) == 9
    assert {name: len(loads) for name, loads in runs.items()} == {"a": 3, "b": 3, "c": 3}


def test_a_ratio_is_the_median_of_the_per_round_ratios_with_their_range() -> None:
    subject = [Load(80.0, 12.0), Load(45.0, 30.0), Load(90.0, 11.0)]
    reference = [Load(100.0, 10.0), Load(50.0, 10.0), Load(100.0, 10.0)]
    ratio = Ratio(subject, reference)
    assert ratio.ratios == [0.8, 0.9, 0.9]
    assert ratio.ratio == 0.9
    assert ratio.spread() == "0.90× (rounds 0.80–0.90)"
    assert ratio.added_p99 == [2.0, 20.0, 1.0]
    assert ratio.rps("subject") == 80.0
    assert ratio.p99("reference") == 10.0
