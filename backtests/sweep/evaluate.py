"""Parameter sweeps on the fast engine: one ranked row per combo.

``run_sweep`` evaluates every combo of a ``SweepStudy`` on the same bars (``sweep.chunk``:
what a chunk of combos computes; ``sweep.executors``: where it runs, local processes or a
Dask cluster) and returns one row per combo (parameters, then the metrics of
``carryguard.backtests.engine.metrics``), so a combo's sweep row equals its backtest.
Combos whose books are the same (every running sum bit for bit: e.g. an overlay threshold
the risk index never reaches) are one book: ranked once, listed together (``BOOK``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from carryguard.backtests.engine.fast_metrics import metrics_from_stats
from carryguard.backtests.sweep.chunk import SweepData, validate_combos
from carryguard.backtests.sweep.executors import Evaluation, Progress, evaluate_groups
from carryguard.backtests.sweep.study import LOWER_IS_BETTER, SweepStudy
from carryguard.backtests.sweep.study import combos as study_combos

BOOK = "book"  # frame column: row of the first combo with the same book (its own row if the first)


@dataclass(frozen=True)
class SweepResult:
    """One row per combo in ``frame`` (parameter columns, metrics, then ``BOOK``), in combo order.

    seconds: wall time of the evaluation (after data load, worker start and JIT warm-up);
        with walk-forward in the same pass (``evaluate_groups``), until the sweep's last chunk returned.
    setup_seconds: worker start and warm-up before that.
    warmup_bars: stored bars before the window that indicators were warmed up on.
    """

    study: SweepStudy
    frame: pd.DataFrame
    param_names: tuple[str, ...]
    bars: int
    seconds: float
    setup_seconds: float
    executor: str
    workers: int
    warmup_bars: int = 0

    @property
    def bar_steps_per_second(self) -> float:
        return len(self.frame) * self.bars / self.seconds if self.seconds > 0 else float("nan")

    @property
    def books(self) -> int:
        """How many distinct books the combos make."""
        return int((self.frame[BOOK].to_numpy() == np.arange(len(self.frame))).sum())

    def ranked(self, metric: str | None = None) -> pd.DataFrame:
        """One row per distinct book (its first combo's), best first by ``metric`` (default:
        the study's), NaN last, ties in combo order; combos of the same book count once."""
        metric = metric or self.study.metric
        ascending = metric in LOWER_IS_BETTER
        distinct = self.frame[self.frame[BOOK].to_numpy() == np.arange(len(self.frame))]
        return distinct.sort_values(metric, ascending=ascending, na_position="last", kind="stable")

    def params(self, row: int) -> dict[str, Any]:
        """The parameters of the combo at ``row`` (position in combo order) as plain values."""
        return {name: _plain(self.frame[name].iloc[row]) for name in self.param_names}

    def same_as(self, row: int) -> list[dict[str, Any]]:
        """The parameters of every other combo whose book is the one of the combo at ``row``."""
        book = self.frame[BOOK].to_numpy()
        return [self.params(int(i)) for i in np.flatnonzero(book == book[row]) if i != row]

    def best(self) -> dict[str, Any]:
        """The top book of ``ranked()``: ``{"params", "same_as", "metrics"}`` as plain Python values."""
        row = int(self.ranked().index[0])
        return {
            "params": self.params(row),
            "same_as": self.same_as(row),
            "metrics": {
                name: _plain(self.frame[name].iloc[row])
                for name in self.frame.columns
                if name not in self.param_names and name != BOOK
            },
        }


def same_books(stats: np.ndarray) -> np.ndarray:
    """For each combo (a row of ``stats``: combos x N_STATS), the row of the first combo
    whose statistics are bit for bit the same (its own row if none before): the same
    book, since final equity, the sums of equity, returns, squared returns, notional and
    fees, trades and drawdown all agree; two different books agree on all by chance only."""
    first: dict[bytes, int] = {}
    rows = np.ascontiguousarray(stats, dtype="float64")
    return np.array([first.setdefault(row.tobytes(), i) for i, row in enumerate(rows)], dtype="int64")


def _plain(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def run_sweep(
    study: SweepStudy,
    *,
    bars: pd.DataFrame,
    risk: pd.DataFrame | None = None,
    first: int = 0,
    executor: str = "local",
    workers: int | None = None,
    scheduler: str | None = None,
    progress: Progress | None = None,
    combos: Sequence[dict[str, Any]] | None = None,
) -> SweepResult:
    """Evaluate every combo of ``study`` on ``bars[first:]`` and rank them.

    bars: warm-up bars, then the window from position ``first`` (``load_history``).
    risk: the risk index at every bar's close (``load_risk``), required when the study
        uses the overlay. combos: override the study's combos (default: all of them).
    """
    if study.overlay and risk is None:
        raise ValueError("the study uses the overlay: pass risk=load_risk(store, bars, timeframe, study.risk_config())")
    combos = list(combos if combos is not None else study_combos(study))
    validate_combos(study.strategy, combos)
    data = SweepData.build(
        bars, strategy=study.strategy, execution=study.execution, risk=risk if study.overlay else None, first=first
    )
    done = evaluate_groups(
        data,
        combos,
        [[(first, len(bars))]],
        executor=executor,
        workers=workers,
        scheduler=scheduler,
        progress=[progress],
    )
    return sweep_result(study, data, combos, done, executor=executor)


def sweep_result(
    study: SweepStudy, data: SweepData, combos: Sequence[dict[str, Any]], done: Evaluation, *, executor: str
) -> SweepResult:
    """The ranked sweep from an evaluation whose first group is the one window
    ``data.bars[data.first:]``; its seconds include computing the metrics."""
    began = time.perf_counter()
    stats = done.stats[0][0]
    metrics = metrics_from_stats(stats, index=data.bars.index[data.first :], timeframe=study.timeframe)
    params = pd.DataFrame(list(combos))
    frame = pd.concat([params, metrics], axis=1).assign(**{BOOK: same_books(stats)})
    return SweepResult(
        study=study,
        frame=frame,
        param_names=tuple(params.columns),
        bars=len(data.bars) - data.first,
        seconds=done.seconds[0] + time.perf_counter() - began,
        setup_seconds=done.setup_seconds,
        executor=executor,
        workers=done.workers,
        warmup_bars=data.first,
    )
