"""Walk-forward validation of a sweep: choose on the past, judge on what followed.

Folds tile the bars in time. Rolling: each train window has a fixed length and slides by
``step``; anchored: every train window starts at the first bar and grows. Each fold
ranks every combo on its train window (one book per combo, starting flat with the
study's cash) and keeps the best by the chosen metric; the test window right after it is
traded with that combo. The out-of-sample (OOS) result is one continuous book over all
test windows, trading at each bar the target of the combo chosen for that bar's fold
(cash and position carry over between folds, as a live switch of parameters would).

In-sample figures stand next to it so overfitting is visible: the chosen combos' train
metric (mean over folds), and the combo that is best with hindsight over the OOS span,
run on that same span.

Only the ranking metric is read on the train windows and (but for the hindsight best) on
the OOS span: when it is one of ``RETURN_METRICS``, those windows run ``returns_only``
(``engine.stat_kernels.book_returns``: the same bits for half the work) and the hindsight best
runs once more in full for its metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from carryguard.backtests.engine.fast import run_fast
from carryguard.backtests.engine.fast_metrics import metrics_from_stats
from carryguard.backtests.engine.metrics import compute_metrics
from carryguard.backtests.engine.stat_kernels import N_STATS
from carryguard.backtests.sweep.chunk import SweepData, Window, combo_target, evaluate_chunk, validate_combos
from carryguard.backtests.sweep.executors import Progress, evaluate
from carryguard.backtests.sweep.study import LOWER_IS_BETTER, SweepStudy, WalkForwardConfig
from carryguard.backtests.sweep.study import (
    combos as study_combos,
)
from carryguard.signals.json_file import finite_or_none

# The metrics ``metrics_from_stats`` derives from ``stat_kernels.RETURN_STATS`` alone
# (returns, their moments, final equity).
RETURN_METRICS = frozenset(
    {
        "Equity Final [$]",
        "Return [%]",
        "Buy & Hold Return [%]",
        "CAGR [%]",
        "Volatility (Ann.) [%]",
        "Sharpe Ratio",
        "Sortino Ratio",
    }
)


@dataclass(frozen=True)
class Fold:
    """One train/test split, as bar positions ``[start, end)`` and the combo chosen on train."""

    train: Window
    test: Window
    best: int
    train_metric: float
    test_metric: float


@dataclass(frozen=True)
class WalkForwardResult:
    """Folds, the concatenated OOS metrics and the in-sample figures beside them."""

    config: WalkForwardConfig
    metric: str
    folds: tuple[Fold, ...]
    combos: tuple[dict[str, Any], ...]
    index: pd.DatetimeIndex
    out_of_sample: dict[str, Any]
    in_sample_mean_train: float
    hindsight_best: int
    hindsight_metrics: dict[str, Any]
    oos_equity: pd.Series

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary: OOS metrics next to the in-sample ones, and each fold."""

        def when(position: int) -> str:
            return self.index[min(position, len(self.index) - 1)].isoformat()

        return {
            "mode": self.config.mode,
            "train": self.config.train,
            "test": self.config.test,
            "step": self.config.step or self.config.test,
            "metric": self.metric,
            "in_sample": {
                "mean_train_metric": finite_or_none(self.in_sample_mean_train),
                "hindsight_best": {"params": self.combos[self.hindsight_best], "metrics": self.hindsight_metrics},
            },
            "out_of_sample": self.out_of_sample,
            "folds": [
                {
                    "train_start": when(f.train[0]),
                    "train_end": when(f.train[1] - 1),
                    "test_start": when(f.test[0]),
                    "test_end": when(f.test[1] - 1),
                    "params": self.combos[f.best],
                    "train_metric": finite_or_none(f.train_metric),
                    "test_metric": finite_or_none(f.test_metric),
                }
                for f in self.folds
            ],
        }


def fold_windows(index: pd.DatetimeIndex, config: WalkForwardConfig) -> list[tuple[Window, Window]]:
    """(train, test) bar windows covering ``index`` to its last bar. A last test window
    shorter than half a test window (from its first bar to one bar after the data's last)
    is folded into the fold before it, whose test window then runs to the end: no stub
    fold of a few days with metrics of no meaning. Raises ValueError when not even one
    fold fits."""
    train, test, step = config.lengths()
    first, last = index[0], index[-1]
    folds: list[tuple[Window, Window]] = []
    k = 0
    while True:
        train_start = first if config.mode == "anchored" else first + k * step
        train_end = first + train + k * step
        if train_end > last:
            break
        a, b = index.searchsorted(train_start), index.searchsorted(train_end)
        c = index.searchsorted(train_end + test) if train_end + test <= last else len(index)
        if b - a >= 3 and c > b:
            folds.append(((int(a), int(b)), (int(b), int(c))))
        k += 1
    bar = index[-1] - index[-2] if len(index) > 1 else pd.Timedelta(0)
    while len(folds) > 1 and last + bar - index[folds[-1][1][0]] < test / 2:
        folds.pop()
        folds[-1] = (folds[-1][0], (folds[-1][1][0], len(index)))
    if not folds or folds[-1][1][1] - folds[-1][1][0] < 2:
        raise ValueError(
            f"no walk-forward fold fits: {len(index)} bars from {first.date()} to {last.date()} "
            f"are shorter than train {config.train} + test {config.test}"
        )
    return folds


def _best(values: np.ndarray, lower_is_better: bool) -> int:
    """Index of the best finite value (first on ties); 0 if none is finite."""
    finite = np.where(np.isfinite(values), values, np.inf if lower_is_better else -np.inf)
    return int(np.argmin(finite) if lower_is_better else np.argmax(finite))


def walk_forward(
    study: SweepStudy,
    *,
    bars: pd.DataFrame,
    risk: pd.DataFrame | None = None,
    first: int = 0,
    config: WalkForwardConfig | None = None,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    combos: Sequence[dict[str, Any]] | None = None,
    progress: Progress | None = None,
) -> WalkForwardResult:
    """Walk-forward over ``study``'s combos on ``bars[first:]`` (see module docstring);
    ``bars``, ``risk`` and ``first`` as for ``run_sweep`` (the folds tile the window, the
    bars before it only warm indicators up).

    config: default ``study.walkforward`` (then the WalkForwardConfig defaults).
    The metric is ``config.metric`` or else the study's. ``progress`` is called with the
    number of combos done (each on every window), as for ``run_sweep``.
    """
    config = config or study.walkforward or WalkForwardConfig()
    combos = list(combos if combos is not None else study_combos(study))
    validate_combos(study.strategy, combos)
    plan = plan_walk(bars.index, first, config, metric=config.metric or study.metric)
    data = SweepData.build(
        bars, strategy=study.strategy, execution=study.execution, risk=risk if study.overlay else None, first=first
    )
    stats, _, _, _ = evaluate(
        data,
        combos,
        plan.windows,
        returns_only=plan.returns_only,
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        progress=progress,
    )
    return walk_result(study, data, combos, plan, stats)


@dataclass(frozen=True)
class WalkPlan:
    """The folds as bar positions in the loaded bars, and the windows every combo runs
    on (``windows``): each train window, then the whole OOS span (for the hindsight best).
    Test windows run only with the combo chosen for them (``walk_result``). ``metric``:
    what ranks the combos; ``returns_only`` when ``windows`` need no other statistics."""

    config: WalkForwardConfig
    folds: list[tuple[Window, Window]]
    metric: str

    @property
    def returns_only(self) -> bool:
        return self.metric in RETURN_METRICS

    @property
    def oos(self) -> Window:
        return self.folds[0][1][0], self.folds[-1][1][1]

    @property
    def windows(self) -> list[Window]:
        return [train for train, _ in self.folds] + [self.oos]


def plan_walk(index: pd.DatetimeIndex, first: int, config: WalkForwardConfig, *, metric: str) -> WalkPlan:
    """``fold_windows`` over ``index[first:]``, shifted to positions in ``index``; combos ranked by ``metric``."""
    folds = [((first + a, first + b), (first + c, first + d)) for (a, b), (c, d) in fold_windows(index[first:], config)]
    return WalkPlan(config, folds, metric)


def walk_result(
    study: SweepStudy, data: SweepData, combos: Sequence[dict[str, Any]], plan: WalkPlan, stats: np.ndarray
) -> WalkForwardResult:
    """The walk-forward from ``stats`` of every combo on ``plan.windows`` (windows x
    combos x N_STATS; ``plan.returns_only`` stats will do): the pick on each train window,
    its test window, the OOS book."""
    config, bars, metric = plan.config, data.bars, plan.metric
    lower = metric in LOWER_IS_BETTER
    n_folds, index = len(plan.folds), bars.index[plan.folds[0][0][0] :]
    # one metrics call for all train windows (a row's metric depends on its stats only; index names Start/End)
    train_values = _metric(stats[:n_folds].reshape(-1, N_STATS), index, study.timeframe, metric).reshape(n_folds, -1)
    picks = [(best := _best(values, lower), float(values[best])) for values in train_values]  # per fold
    test_stats = np.empty((n_folds, N_STATS))  # each pick runs once, on the test windows it was chosen for
    for best in {best for best, _ in picks}:
        at = [k for k, (pick, _) in enumerate(picks) if pick == best]
        test_stats[at] = evaluate_chunk(data, [combos[best]], [plan.folds[k][1] for k in at])[:, 0]
    tested = _metric(test_stats, index, study.timeframe, metric)
    folds = [
        Fold(train, test, best, value, float(tested[k]))
        for k, ((train, test), (best, value)) in enumerate(zip(plan.folds, picks, strict=True))
    ]
    oos = plan.oos
    oos_bars = bars.iloc[oos[0] : oos[1]]
    stitched = np.zeros(len(bars))  # every OOS bar is in a test window (step <= test); never uninitialised memory
    targets = {best: combo_target(data, combos[best]) for best in {fold.best for fold in folds}}  # once per combo
    for fold in folds:
        stitched[fold.test[0] : fold.test[1]] = targets[fold.best][fold.test[0] : fold.test[1]]
    book = run_fast(oos_bars, pd.Series(stitched[oos[0] : oos[1]], index=oos_bars.index), study.execution)
    hindsight_best = _best(_metric(stats[-1], oos_bars.index, study.timeframe, metric), lower)
    best_stats = (
        evaluate_chunk(data, [combos[hindsight_best]], [oos]) if plan.returns_only else stats[-1:, [hindsight_best]]
    )
    hindsight = metrics_from_stats(best_stats[0], index=oos_bars.index, timeframe=study.timeframe)
    return WalkForwardResult(
        config=config,
        metric=metric,
        folds=tuple(folds),
        combos=tuple(combos),
        index=bars.index,
        out_of_sample=compute_metrics(book, oos_bars, timeframe=study.timeframe),
        in_sample_mean_train=_mean_finite([f.train_metric for f in folds]),
        hindsight_best=hindsight_best,
        hindsight_metrics={
            k: (v.item() if isinstance(v, np.generic) else v) for k, v in hindsight.iloc[0].to_dict().items()
        },
        oos_equity=book.equity,
    )


def _mean_finite(values: Sequence[float]) -> float:
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _metric(stats: np.ndarray, index: pd.DatetimeIndex, timeframe: str, metric: str) -> np.ndarray:
    """``metric`` of each row of ``stats``; returns-only rows leave the other metrics NaN (no cast warnings)."""
    with np.errstate(invalid="ignore"):
        return metrics_from_stats(stats, index=index, timeframe=timeframe)[metric].to_numpy(dtype="float64")
