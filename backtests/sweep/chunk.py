"""What one chunk of sweep combos needs and computes, wherever it runs (``sweep.executors``).

``SweepData`` holds the bars (warm-up bars, then the study window) and their kernel arrays,
shipped to each worker once; ``evaluate_chunk`` runs a chunk of combos on bar windows and
returns only the running sums of ``engine.stat_kernels.book_stats``. SMA-cross sweeps without the
overlay compute their signals inside the numba kernel from prefix sums; any other strategy
(or the overlay) builds its targets with pandas per combo, then runs the batch kernel. As in
``carryguard backtest``, each combo's indicators (and the overlay's) are warmed up on the
stored bars before the study's start, and its book runs on the window only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import pandas as pd

import carryguard.strategies  # noqa: F401  (registers every strategy)
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.fast import ohlc_arrays
from carryguard.backtests.engine.stat_kernels import batch_stats, prefix_sums, sma_cross_stats
from carryguard.backtests.run import runner
from carryguard.backtests.run.runner import History, warm_exposure, warm_overlay
from carryguard.backtests.sweep.study import SweepStudy, split_combo
from carryguard.signals.risk import RiskConfig, risk_at
from carryguard.signals.store import series_id
from carryguard.strategies.loader import make_strategy
from carryguard.strategies.overlay import CarryOverlay, OverlayConfig
from carryguard.strategies.trend import SmaCross

Window = tuple[int, int]


@dataclass(frozen=True)
class SweepData:
    """Everything a worker needs, shipped once: the bars (warm-up bars, then the study
    window from position ``first``) also as kernel arrays, the risk index at every bar's
    decision time (None without the overlay), and the book's costs."""

    bars: pd.DataFrame
    risk: pd.DataFrame | None
    strategy: str
    execution: ExecutionConfig
    open: np.ndarray
    close: np.ndarray
    times: np.ndarray
    hi: np.ndarray
    lo: np.ndarray
    first: int = 0

    @classmethod
    def build(
        cls,
        bars: pd.DataFrame,
        *,
        strategy: str,
        execution: ExecutionConfig,
        risk: pd.DataFrame | None = None,
        first: int = 0,
    ) -> SweepData:
        open_, close = ohlc_arrays(bars)
        hi, lo = prefix_sums(close)
        return cls(
            bars=bars,
            risk=risk,
            strategy=strategy,
            execution=execution,
            open=open_,
            close=close,
            times=np.ascontiguousarray(bars.index.as_unit("ns").asi8),
            hi=hi,
            lo=lo,
            first=first,
        )


def load_history(store: Any, study: SweepStudy, *, warmup: int = 0) -> History:
    """The study's OHLCV bars from the store, cut to ``start``/``end`` (UTC, inclusive),
    after up to ``warmup`` stored bars before ``start`` (``combos_warmup``); like a
    backtest's, with at least 3 bars in the window (2 returns) for the metrics."""
    return runner.load_history(
        store,
        series_id(study.source, study.symbol, study.timeframe),
        start=study.start,
        end=study.end,
        warmup=warmup,
        min_bars=3,
    )


def combos_warmup(study: SweepStudy, combos: Sequence[dict[str, Any]]) -> int:
    """The most warm-up bars any combo wants (its strategy's, or the overlay's)."""
    return validate_combos(study.strategy, combos, overlay=study.overlay)


def load_risk(store: Any, bars: pd.DataFrame, timeframe: str, config: RiskConfig | None = None) -> pd.DataFrame:
    """The risk index at the bars' decision times (their closes), as the overlay reads it
    (``config``: the study's ``risk_config()``; default settings when None)."""
    return risk_at(store, runner.decision_times(bars, timeframe), config)


def validate_combos(strategy: str, combos: Sequence[dict[str, Any]], *, overlay: bool = False) -> int:
    """Build each combo's strategy and overlay config once, so a bad combo fails before
    any work is shipped, as a ValueError naming the combo; returns the most warm-up bars
    any combo wants (its strategy's or, with ``overlay``, the overlay's)."""
    wanted = 0
    for combo in combos:
        params, overlay_params = split_combo(combo)
        try:
            wanted = max(wanted, make_strategy(strategy, **params).warmup_bars)
            if overlay_params or overlay:
                config = OverlayConfig.from_dict(overlay_params)
                if overlay:
                    wanted = max(wanted, config.warmup_bars)
        except (TypeError, ValueError) as error:
            raise ValueError(f"combo {combo}: {error}") from error
    return wanted


def combo_target(data: SweepData, combo: dict[str, Any]) -> np.ndarray:
    """The final target exposure of one combo on every bar (strategy, then overlay), as
    ``carryguard backtest`` computes it on the window (0 on the warm-up bars before it)."""
    params, overlay = split_combo(combo)
    history = History(data.bars, data.first)
    exposure = warm_exposure(make_strategy(data.strategy, **params), history)
    if data.risk is not None:
        exposure = warm_overlay(CarryOverlay(OverlayConfig.from_dict(overlay)), exposure, history, data.risk)[
            "final_exposure"
        ]
    target = np.zeros(len(data.bars))
    target[data.first :] = exposure.to_numpy(dtype="float64")
    return target


def uses_sma_kernel(data: SweepData) -> bool:
    """SMA cross without the overlay: signals come from prefix sums inside the numba kernel."""
    return data.strategy == "sma_cross" and data.risk is None


def evaluate_chunk(
    data: SweepData, chunk: Sequence[dict[str, Any]], windows: Sequence[Window], returns_only: bool = False
) -> np.ndarray:
    """Stats of each combo on each window: array windows x combos x N_STATS (with
    ``returns_only``, only ``stat_kernels.RETURN_STATS``, the others NaN: about half the work)."""
    starts = np.array([w[0] for w in windows], dtype=np.int64)
    ends = np.array([w[1] for w in windows], dtype=np.int64)
    args = (starts, ends, data.execution.costs, returns_only)
    if uses_sma_kernel(data):
        strategies_ = [cast(SmaCross, make_strategy("sma_cross", **split_combo(c)[0])) for c in chunk]
        fast = np.array([s.fast for s in strategies_], dtype=np.int64)
        slow = np.array([s.slow for s in strategies_], dtype=np.int64)
        return sma_cross_stats(data.open, data.close, data.times, data.hi, data.lo, fast, slow, *args)
    targets = np.ascontiguousarray(np.stack([combo_target(data, c) for c in chunk]))
    return batch_stats(data.open, data.close, data.times, targets, *args)


def warm_up(data: SweepData, *, every: bool = False) -> None:
    """Load (or compile) the kernel ``data``'s chunks run (``every``: both) so timings
    exclude JIT; cheap with numba's cache, but each kernel loaded costs its own load.
    (``returns_only`` is a runtime flag: one compiled signature serves both values.)"""
    window = (np.array([0]), np.array([min(len(data.close), 64)]), (1.0, 0.0, 0.0, 0.0), False)
    if every or not uses_sma_kernel(data):
        batch_stats(data.open, data.close, data.times, np.zeros((1, len(data.close))), *window)
    if every or uses_sma_kernel(data):
        sma_cross_stats(data.open, data.close, data.times, data.hi, data.lo, np.array([1]), np.array([2]), *window)
