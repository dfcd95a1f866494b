"""Shared assertion of the fast-engine and sweep tests: metrics equal to another path's."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest

from carryguard.backtests.engine.fast_metrics import FAST_METRIC_NAMES


def assert_metrics_equal(expected: Mapping[str, object], actual: Mapping[str, object]) -> None:
    """Every metric of ``expected`` that ``actual`` has (all of ``FAST_METRIC_NAMES`` at
    least): floats to 1e-9 (summation order differs between the paths), NaN where NaN,
    anything else exactly."""
    assert set(FAST_METRIC_NAMES) <= set(actual.keys())
    for name, value in expected.items():
        if name not in actual:
            continue
        if isinstance(value, float) and math.isnan(value):
            assert math.isnan(actual[name]), name
        elif isinstance(value, float):
            assert actual[name] == pytest.approx(value, rel=1e-9, abs=1e-9), name
        else:
            assert actual[name] == value, name
