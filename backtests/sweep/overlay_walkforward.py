"""Walk-forward over overlay choice and parameters: the only out-of-sample overlay result.

For each strategy x symbol x timeframe of a study, every candidate of ``GRID`` (an
overlay and one set of its parameters, fixed here before any result was seen) sizes the
strategy; on each train window the candidate with the best ``METRIC`` is chosen and the
next test window is traded with it. The out-of-sample (OOS) book is one continuous book
over all test windows (``sweep.walkforward``: cash and position carry over between
folds), reported beside the same OOS span traded with ``none``, each control and
``carry`` at the study's parameters, every book starting flat at the first test bar.

Folds: anchored (train from the study's start, growing), test windows of one year, the
first after two years of training (``CONFIG``). Policy paths are point in time and
computed on the whole history once: a path's value at bar t reads nothing after t.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from typing import Any, cast

import numpy as np
import pandas as pd

from carryguard.backtests.engine.fast import ohlc_arrays, run_fast
from carryguard.backtests.engine.fast_metrics import metrics_from_stats
from carryguard.backtests.engine.metrics import compute_metrics
from carryguard.backtests.engine.stat_kernels import batch_stats
from carryguard.backtests.run.runner import decision_times, load_history, policy_path, warm_exposure
from carryguard.backtests.run.study import Study
from carryguard.backtests.sweep.study import WalkForwardConfig
from carryguard.backtests.sweep.walkforward import _best, fold_windows
from carryguard.signals.availability import timeframe_delta
from carryguard.signals.risk import risk_at
from carryguard.signals.store import Store, series_id
from carryguard.strategies.carry_policies import yen_moves
from carryguard.strategies.policies import make_policy

METRIC = "Sharpe Ratio"
CONFIG = WalkForwardConfig(mode="anchored", train="730D", test="365D", metric=METRIC)
# overlay -> parameter sets tried (each merged over the study's parameters of that overlay)
GRID: dict[str, tuple[dict[str, object], ...]] = {
    "none": ({},),
    "vol_target": ({"target": 0.4}, {"target": 0.6}, {"target": 0.8}),
    "trend": ({"days": 100}, {"days": 200}),
    "carry": ({}, {"mode": "continuous"}),
    "yen_shock": ({"move_20d": -0.02}, {"move_20d": -0.03}, {"move_20d": -0.04}),
    "carry_confirmed": ({},),
    "vol_target*carry": ({},),
}
BESIDE = ("none", "vol_target", "trend", "carry")  # OOS books at the study's parameters
REPORTED = ("Sharpe Ratio", "CAGR [%]", "Max. Drawdown [%]", "Return [%]")


@dataclass(frozen=True)
class Candidate:
    """One overlay with one parameter set; ``label`` e.g. ``vol_target(target=0.4)``."""

    spec: str
    params: dict[str, dict[str, object]]
    label: str


@dataclass(frozen=True)
class OverlayWalkForward:
    """One strategy x market: the folds' choices, the OOS metrics of the walk-forward book
    and of the books beside it on the same span."""

    strategy: str
    symbol: str
    timeframe: str
    baseline: bool
    oos_start: pd.Timestamp
    oos_end: pd.Timestamp
    choices: tuple[tuple[str, str], ...]  # (test window start date, candidate label)
    metrics: dict[str, dict[str, float]]  # "walk-forward" and each of BESIDE -> REPORTED metrics

    def to_dict(self) -> dict[str, object]:
        return {
            "strategy": self.strategy,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "baseline": self.baseline,
            "oos_start": self.oos_start.isoformat(),
            "oos_end": self.oos_end.isoformat(),
            "choices": [{"test_start": start, "overlay": label} for start, label in self.choices],
            "metrics": self.metrics,
        }


def candidates(study: Study, grid: dict[str, tuple[dict[str, object], ...]] = GRID) -> list[Candidate]:
    """Every (overlay, parameter set) of ``grid``, parameters merged over the study's."""
    base = study.policy_params()
    out = []
    for spec, options in grid.items():
        for option in options:
            params = {name: dict(table) for name, table in base.items()}
            first = spec.split("*")[0]
            params[first] = params.get(first, {}) | option
            shown = ", ".join(f"{k}={v}" for k, v in option.items())
            out.append(Candidate(spec, params, f"{spec}({shown})" if shown else spec))
    return out


def walk_forward_overlays(
    study: Study, store: Store, *, config: WalkForwardConfig = CONFIG, grid: dict | None = None
) -> list[OverlayWalkForward]:
    """The walk-forward over overlays for every strategy x symbol x timeframe of ``study``."""
    options = candidates(study, grid or GRID)
    policies = [make_policy(c.spec, c.params) for c in options]
    beside = {name: study.policy(name) for name in BESIDE}
    strategies = [(spec, spec.build()) for spec in study.strategies]
    out = []
    for timeframe in study.timeframes:
        step = timeframe_delta(timeframe)
        warmup = max(
            [p.warmup_bars(step) for p in [*policies, *beside.values()]] + [s.warmup_bars for _, s in strategies]
        )
        histories = {
            symbol: load_history(
                store, series_id(study.source, symbol, timeframe), start=study.start, end=study.end, warmup=warmup
            )
            for symbol in study.symbols
        }
        closes = {symbol: decision_times(h.bars, timeframe) for symbol, h in histories.items()}
        times = reduce(pd.DatetimeIndex.union, closes.values())
        readings = risk_at(store, times, study.risk_config()).join(yen_moves(store, times, study.risk_config()))
        for symbol, history in histories.items():
            risk = readings.reindex(closes[symbol])
            paths = [policy_path(p, history, risk, p.warmup_bars(step)).multiplier for p in policies]
            fixed = {n: policy_path(p, history, risk, p.warmup_bars(step)).multiplier for n, p in beside.items()}
            for spec, strategy in strategies:
                exposure = warm_exposure(strategy, history).to_numpy(dtype="float64")
                targets = np.clip(exposure[None, :] * np.vstack(paths), 0.0, 1.0)
                others = {n: np.clip(exposure * m, 0.0, 1.0) for n, m in fixed.items()}
                out.append(
                    _one(
                        spec.name,
                        spec.baseline,
                        symbol,
                        timeframe,
                        history.window,
                        targets,
                        others,
                        options,
                        study,
                        config,
                    )
                )
    return out


def _one(
    strategy: str,
    baseline: bool,
    symbol: str,
    timeframe: str,
    bars: pd.DataFrame,
    targets: np.ndarray,
    others: dict[str, np.ndarray],
    options: list[Candidate],
    study: Study,
    config: WalkForwardConfig,
) -> OverlayWalkForward:
    folds = fold_windows(bars.index, config)
    execution = study.execution
    open_, close = ohlc_arrays(bars)
    times = np.ascontiguousarray(pd.DatetimeIndex(bars.index).as_unit("ns").asi8)
    starts = np.array([train[0] for train, _ in folds], dtype=np.int64)
    ends = np.array([train[1] for train, _ in folds], dtype=np.int64)
    stats = batch_stats(
        open_,
        close,
        times,
        np.ascontiguousarray(targets),
        starts,
        ends,
        execution.costs,
    )
    stitched = np.zeros(len(bars))
    choices = []
    for k, (train, test) in enumerate(folds):
        values = metrics_from_stats(stats[k], index=bars.index[train[0] : train[1]], timeframe=timeframe)
        best = _best(values[config.metric or METRIC].to_numpy(dtype="float64"), False)
        stitched[test[0] : test[1]] = targets[best, test[0] : test[1]]
        choices.append((str(bars.index[test[0]].date()), options[best].label))
    oos = slice(folds[0][1][0], folds[-1][1][1])
    oos_bars = bars.iloc[oos]
    books = {"walk-forward": stitched[oos]} | {name: target[oos] for name, target in others.items()}
    metrics = {}
    for name, target in books.items():
        book = run_fast(oos_bars, pd.Series(target, index=oos_bars.index), execution)
        values = compute_metrics(book, oos_bars, timeframe=timeframe)
        metrics[name] = {m: float(cast(float, values[m])) for m in REPORTED}  # the REPORTED metrics are floats
    return OverlayWalkForward(
        strategy, symbol, timeframe, baseline, oos_bars.index[0], oos_bars.index[-1], tuple(choices), metrics
    )


def table_rows(results: list[OverlayWalkForward]) -> list[list[str]]:
    """Rows for the terminal: strategy, market, OOS Sharpe of the walk-forward book and of
    each book beside it, then the walk-forward book's max. drawdown and its choices."""
    rows = []
    for r in results:
        sharpe = [f"{r.metrics[name]['Sharpe Ratio']:.2f}" for name in ("walk-forward", *BESIDE)]
        picks = ", ".join(dict.fromkeys(label for _, label in r.choices))
        name = f"{r.strategy}{' *' if r.baseline else ''}"
        drawdown = f"{r.metrics['walk-forward']['Max. Drawdown [%]']:.1f}"
        rows.append([name, f"{r.symbol.split('/')[0]} {r.timeframe}", *sharpe, drawdown, picks])
    return rows


TABLE_COLUMNS = ["strategy", "market", "WF", *BESIDE, "WF MaxDD %", "chosen (train Sharpe)"]


def summary(results: list[OverlayWalkForward]) -> dict[str, Any]:
    """JSON-ready: the config, the grid and every result."""
    return {
        "metric": CONFIG.metric,
        "mode": CONFIG.mode,
        "train": CONFIG.train,
        "test": CONFIG.test,
        "grid": {spec: list(options) for spec, options in GRID.items()},
        "results": [r.to_dict() for r in results],
    }
