"""Work done once and shared (issue 15): same results as doing it again, nothing skipped
that mattered. No timings here (benchmarks/bench_commands.py prints them)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.engine.measures import drawdown_periods, longest_drawdown
from carryguard.signals.config import parse_config
from carryguard.signals.errors import ConfigError
from carryguard.signals.pit import MemoryStore
from carryguard.signals.risk import RiskConfig, explain, latest_time, risk_at
from carryguard.signals.store import Store
from carryguard.strategies.carry_policies import multipliers_now


def test_memory_store_derived_given_equal_config_builds_once_and_another_config_again() -> None:
    # Arrange
    store = MemoryStore({"yahoo/JPY=X/1d": pd.DataFrame({"close": [1.0]}, index=pd.DatetimeIndex(["2024-01-01"]))})
    built: list[int] = []

    def build(value: int) -> list[int]:
        built.append(value)
        return [value]

    # Act
    first = store.derived("x", RiskConfig(), lambda: build(1))
    again = store.derived("x", RiskConfig(), lambda: build(2))  # an equal config, another object
    other = store.derived("x", RiskConfig(version=1), lambda: build(3))
    renamed = store.derived("y", RiskConfig(), lambda: build(4))

    # Assert
    assert built == [1, 3, 4]
    assert first is again and other == [3] and renamed == [4]


def test_memory_store_cut_given_derived_values_does_not_share_them() -> None:
    # Arrange
    index = pd.date_range("2024-01-01", periods=3, freq="1D", tz="UTC")
    store = MemoryStore({"yahoo/JPY=X/1d": pd.DataFrame({"close": [1.0, 2.0, 3.0]}, index=index)})
    store.derived("x", None, lambda: "full")

    # Act
    cut = store.cut(index[1])

    # Assert
    assert cut.derived("x", None, lambda: "cut") == "cut"


@pytest.fixture(scope="module")
def risk_inputs(shared_store: Store) -> MemoryStore:
    return MemoryStore.load(shared_store, RiskConfig().series_ids())


@pytest.mark.parametrize("cfg", [RiskConfig(), RiskConfig(version=1)], ids=["v2", "v1"])
def test_risk_at_given_one_memory_store_read_again_equals_a_fresh_store_each_time(
    shared_store: Store, risk_inputs: MemoryStore, cfg: RiskConfig
) -> None:
    # Arrange: the same store read at different times (its inputs and components are computed once)
    end = latest_time(risk_inputs, cfg)
    days = pd.date_range(end - pd.Timedelta(days=400), end, freq="D")
    ids = cfg.series_ids()

    # Act
    shared = [risk_at(risk_inputs, days, cfg), risk_at(risk_inputs, days[-30:], cfg), explain(risk_inputs, end, cfg)]
    fresh = [
        risk_at(MemoryStore.load(shared_store, ids), days, cfg),
        risk_at(MemoryStore.load(shared_store, ids), days[-30:], cfg),
        explain(MemoryStore.load(shared_store, ids), end, cfg),
    ]

    # Assert
    pd.testing.assert_frame_equal(shared[0], fresh[0])
    pd.testing.assert_frame_equal(shared[1], fresh[1])
    assert repr(shared[2]) == repr(fresh[2])  # NaN fields (v1 has no rank) compare by text
    assert shared[0]["score"].notna().sum() > 300  # not a comparison of empty readings


def test_multipliers_now_given_a_store_already_read_equals_a_fresh_read(
    shared_store: Store, risk_inputs: MemoryStore
) -> None:
    # Arrange
    at = latest_time(risk_inputs)
    explain(risk_inputs, at)  # fills the store's shared inputs and components first

    # Act
    shared = multipliers_now(risk_inputs, at)
    fresh = multipliers_now(MemoryStore.load(shared_store, RiskConfig().series_ids()), at)

    # Assert
    assert shared == fresh and set(shared) == {"carry", "yen_shock"}


@dataclasses.dataclass(frozen=True)
class _Needs:
    required: float
    optional: float = 1.0


def test_parse_config_given_empty_table_builds_defaults_and_still_checks_required_fields() -> None:
    # Act / Assert
    assert parse_config(RiskConfig, {}, origin="[risk]") == RiskConfig()
    with pytest.raises(ConfigError, match=r"^\[needs\]"):
        parse_config(_Needs, {}, origin="[needs]")
    with pytest.raises(ConfigError, match="did you mean"):
        parse_config(RiskConfig, {"versoin": 2}, origin="[risk]")


def test_risk_reading_given_default_config_imports_no_pydantic_and_kernels_no_scipy_linalg() -> None:
    # Arrange: a fresh interpreter, as a user's command
    code = (
        "import sys, numpy as np\n"
        "from carryguard.signals.config import parse_config\n"
        "from carryguard.strategies.overlay import OverlayConfig\n"
        "assert parse_config(OverlayConfig, {}, origin='[overlay]') == OverlayConfig()\n"
        "from carryguard.backtests.engine.fast import simulate\n"
        "cash, *_ = simulate(np.ones(3), np.ones(3), np.ones(3), 10.0, 0.0, 0.0, 0.0)\n"
        "assert cash[-1] == 0.0\n"
        "print(sorted(m for m in ('pydantic', 'scipy.linalg') if m in sys.modules))\n"
        "import scipy.linalg\n"  # a later import of the package still works as usual
        "print(scipy.linalg.cython_blas.__name__, scipy.linalg.solve(np.eye(2), np.ones(2)).tolist())\n"
    )

    # Act
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)

    # Assert
    assert done.stdout.splitlines() == ["[]", "scipy.linalg.cython_blas [1.0, 1.0]"]


def test_drawdown_periods_given_equal_lows_and_a_fall_at_the_end_picks_the_first_trough() -> None:
    # Arrange: two equal lows in the first drawdown; the series ends under water
    index = pd.date_range("2024-01-01", periods=8, freq="1D", tz="UTC")
    equity = pd.Series([100.0, 90.0, 80.0, 95.0, 80.0, 101.0, 100.0, 99.0], index=index)

    # Act
    periods = drawdown_periods(equity)

    # Assert
    assert periods["trough"].tolist() == [index[2], index[7]]
    assert periods["start"].tolist() == [index[0], index[5]]
    assert periods["end"].tolist() == [index[5], index[7]]
    assert periods["recovered"].tolist() == [True, False]
    assert periods["depth"].to_numpy() == pytest.approx(np.array([-0.2, 99.0 / 101.0 - 1.0]))
    assert longest_drawdown(equity, periods=periods) == longest_drawdown(equity) == pd.Timedelta(days=5)


def test_drawdown_periods_given_no_fall_is_empty() -> None:
    # Arrange
    equity = pd.Series([1.0, 1.0, 2.0], index=pd.date_range("2024-01-01", periods=3, freq="1D", tz="UTC"))

    # Act / Assert
    assert drawdown_periods(equity).empty
    assert longest_drawdown(equity) == pd.Timedelta(0)
