"""The books a sweep's choice is judged against, as equity curves and headline metrics.

- ``out-of-sample`` (with walk-forward): the test windows joined, each traded with the
  combo chosen on the train window before it (``WalkForwardResult.oos_equity``), from
  the first test bar: the only one of the three chosen without seeing the bars it is
  judged on.
- ``in-sample best``: the top combo of the sweep run over the whole window, i.e. chosen
  with hindsight on the very bars it is judged on.
- ``default``: the untuned combo over the whole window: the study's own ``[strategies]``
  parameters (the strategy's defaults for the others) and its ``[overlay]`` settings, as
  ``carryguard backtest`` of the study file runs it.

Each runs on the fast engine from the study's cash, with indicators warmed up on the
bars before the window as in the sweep (so ``in-sample best`` equals its sweep row, and
``default`` the backtest; ``service`` loads warm-up bars for the default combo too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import pandas as pd

from carryguard.backtests.engine.fast import run_fast
from carryguard.backtests.engine.metrics import compute_metrics
from carryguard.backtests.sweep.chunk import SweepData, combo_target
from carryguard.backtests.sweep.evaluate import SweepResult
from carryguard.backtests.sweep.study import OVERLAY_PREFIX, SweepStudy
from carryguard.backtests.sweep.walkforward import WalkForwardResult
from carryguard.strategies.loader import strategy_with

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

HEADLINE = ("Return [%]", "Sharpe Ratio", "Max. Drawdown [%]")
OUT_OF_SAMPLE, IN_SAMPLE_BEST, DEFAULT = "out-of-sample", "in-sample best", "default"


@dataclass(frozen=True)
class ReferenceBook:
    """One book's equity at each close and its ``HEADLINE`` metrics over its span.
    params: the combo traded (only the sweep's parameter columns), None when it changes
    by fold (out-of-sample)."""

    name: str
    params: dict[str, Any] | None
    equity: pd.Series
    metrics: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: name, params, first and last bar, then the ``HEADLINE`` metrics."""
        return {
            "name": self.name,
            "params": self.params,
            "start": self.equity.index[0].isoformat(),
            "end": self.equity.index[-1].isoformat(),
            **{m: _finite(self.metrics[m]) for m in HEADLINE},
        }


def _finite(value: Any) -> float | None:
    number = float(value)
    return number if np.isfinite(number) else None


def default_combo(study: SweepStudy) -> dict[str, Any]:
    """The untuned combo: every parameter of the study's strategy as ``[strategies]`` sets
    it (else the strategy's default) and, with the overlay, every ``[overlay]`` field."""
    strategy = strategy_with(study.strategy, dict(study.base.strategies[0].params))
    combo = asdict(cast("DataclassInstance", strategy))  # the loader admits only frozen dataclasses
    if study.overlay:
        combo |= {OVERLAY_PREFIX + name: value for name, value in asdict(study.base.overlay).items()}
    return combo


def whole_window(data: SweepData, combo: dict[str, Any], study: SweepStudy) -> tuple[pd.Series, dict[str, Any]]:
    """(equity, metrics) of ``combo`` run over the window ``data.bars[data.first:]``."""
    window = data.bars.iloc[data.first :]
    target = pd.Series(combo_target(data, combo)[data.first :], index=window.index)
    book = run_fast(window, target, study.execution)
    return book.equity, compute_metrics(book, window, timeframe=study.timeframe)


def reference_books(
    result: SweepResult,
    *,
    bars: pd.DataFrame,
    risk: pd.DataFrame | None,
    first: int,
    walkforward: WalkForwardResult | None = None,
    in_sample: ReferenceBook | None = None,
    default: ReferenceBook | None = None,
) -> list[ReferenceBook]:
    """The out-of-sample book (with ``walkforward``), the in-sample best (``in_sample_book``)
    and the default (``default_book``), in that order; the last two are run here unless
    given. ``bars``, ``risk`` and ``first`` as given to ``run_sweep``."""
    study = result.study
    data = SweepData.build(
        bars, strategy=study.strategy, execution=study.execution, risk=risk if study.overlay else None, first=first
    )
    books = []
    if walkforward is not None:
        books.append(ReferenceBook(OUT_OF_SAMPLE, None, walkforward.oos_equity, walkforward.out_of_sample))
    books.append(in_sample or in_sample_book(data, result))
    books.append(default or default_book(data, study, result.param_names))
    return books


def in_sample_book(data: SweepData, result: SweepResult) -> ReferenceBook:
    """The sweep's top combo over the whole window (the ``sweep`` command runs it while the
    workers compute the walk-forward)."""
    best = result.best()["params"]
    return ReferenceBook(IN_SAMPLE_BEST, best, *whole_window(data, best, result.study))


def default_book(data: SweepData, study: SweepStudy, param_names: Sequence[str]) -> ReferenceBook:
    """The untuned combo's book over the window (it needs no sweep result: the ``sweep``
    command runs it while the workers evaluate); ``params`` shows ``param_names`` only."""
    default = default_combo(study)
    shown = {name: default[name] for name in param_names if name in default}
    return ReferenceBook(DEFAULT, shown, *whole_window(data, default, study))


def equity_frame(books: list[ReferenceBook]) -> pd.DataFrame:
    """One column per book (``in-sample best`` ...), indexed by bar time (``time``); a book
    shorter than the window (out-of-sample) is blank before its first bar."""
    frame = pd.concat({book.name: book.equity for book in books}, axis=1, sort=True)
    return frame.rename_axis("time")
