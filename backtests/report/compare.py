"""Side-by-side comparison of the books of one or more runs, with overlay deltas.

One row per book (strategy on a symbol and timeframe, with or without the overlay); the
overlay row carries ``Δ = with overlay − without`` for Return, CAGR, Max. Drawdown and
Sharpe (Max. Drawdown is negative, so a positive Δ means a shallower drawdown). Runs that
cover different periods are aligned on their common window: the headline metrics are
then recomputed from the equity curves on that window (rebased at its first close), with
the same definitions as ``carryguard.backtests.engine.measures``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import pandas as pd

from carryguard.backtests.engine.measures import (
    bars_per_year,
    compound_annual_growth,
    equity_returns,
    max_drawdown,
    sharpe,
)
from carryguard.backtests.report.books import book_fields
from carryguard.backtests.run.folder import BookKey, RunFolder
from carryguard.signals.config import closest
from carryguard.signals.errors import DataError
from carryguard.signals.json_file import json_ready

HEADLINE = ("Return [%]", "CAGR [%]", "Max. Drawdown [%]", "Sharpe Ratio")
DELTAS = tuple(f"Δ {name}" for name in HEADLINE)
SORT_ALIASES = {
    "return": "Return [%]",
    "cagr": "CAGR [%]",
    "maxdd": "Max. Drawdown [%]",
    "drawdown": "Max. Drawdown [%]",
    "sharpe": "Sharpe Ratio",
}
SHORT_NAMES = {
    "Return [%]": "Return %",
    "CAGR [%]": "CAGR %",
    "Max. Drawdown [%]": "MaxDD %",
    "Sharpe Ratio": "Sharpe",
}  # the terminal table's column names


@dataclass(frozen=True)
class Comparison:
    """The table: ``rows`` (dicts in column order), the common window when aligned, else the
    period every run covers."""

    rows: list[dict[str, object]]
    window: tuple[pd.Timestamp, pd.Timestamp] | None
    period: tuple[pd.Timestamp, pd.Timestamp] | None = None

    @property
    def aligned(self) -> bool:
        return self.window is not None

    @property
    def note(self) -> str:
        """What the numbers cover, for the table title."""
        if self.window is None:
            span = "" if self.period is None else " " + "..".join(t.date().isoformat() for t in self.period)
            return f"same period{span} for every run, metrics as written by the backtest"
        start, end = (t.date().isoformat() for t in self.window)
        return (
            f"runs cover different periods: ALIGNED on the common window {start}..{end}, "
            "metrics recomputed from the equity curves"
        )


def resolve_metric(name: str) -> str:
    """A sortable column from its name, its table name (``MaxDD %``, ``Δ Sharpe``) or an alias
    (``sharpe``, ``return``, ``cagr``, ``maxdd``)."""
    wanted = name.strip().lower()
    for column in HEADLINE:
        if wanted in (column.lower(), SHORT_NAMES[column].lower()):
            return column
        if wanted in (f"δ {column}".lower(), f"δ {SHORT_NAMES[column]}".lower()):
            return f"Δ {column}"
    if wanted in SORT_ALIASES:
        return SORT_ALIASES[wanted]
    choices = [*SORT_ALIASES, *SHORT_NAMES.values(), *(f"Δ {name}" for name in SHORT_NAMES.values())]
    near = closest(wanted, choices)
    hint = f"did you mean {near!r}? " if near else ""
    raise ValueError(f"unknown metric {name!r}; {hint}choose one of: {', '.join(choices)}")


def window_metrics(equity: pd.Series, *, timeframe: str) -> dict[str, float]:
    """Return, CAGR, Max. Drawdown and Sharpe of ``equity`` rebased at its first value."""
    values = equity.to_numpy(dtype="float64")
    returns = equity_returns(values)
    per_year = bars_per_year(timeframe)
    total = values[-1] / values[0]
    cagr = compound_annual_growth(total, bars=len(returns), per_year=per_year)
    max_dd = max_drawdown(values)
    return {
        "Return [%]": float(total - 1.0) * 100.0,
        "CAGR [%]": float(cagr) * 100.0,
        "Max. Drawdown [%]": float(max_dd) * 100.0,
        "Sharpe Ratio": float(sharpe(returns, per_year)),
    }


def common_window(runs: Sequence[RunFolder]) -> tuple[pd.Timestamp, pd.Timestamp] | None:
    """None when every run covers the same period, else the overlap of their periods."""
    periods = [run.period() for run in runs]
    if len(set(periods)) <= 1:
        return None
    start, end = max(p[0] for p in periods), min(p[1] for p in periods)
    if start >= end:
        names = ", ".join(f"{run.run_id} ({p[0].date()}..{p[1].date()})" for run, p in zip(runs, periods, strict=False))
        raise DataError(f"runs do not overlap in time: {names}", fix="compare runs that share a period")
    return start, end


def compare_runs(runs: Sequence[RunFolder], *, sort: str = "Sharpe Ratio") -> Comparison:
    """The comparison table of ``runs``, best first by ``sort`` (pairs stay together)."""
    if not runs:
        raise ValueError("compare_runs needs at least one run")
    column = resolve_metric(sort)
    window = common_window(runs)
    groups: list[list[dict[str, object]]] = []
    for run in runs:
        values = {key: _headline(run, key, window) for key in run.books}
        pairs: dict[BookKey, list[dict[str, object]]] = {}
        for key in run.books:
            pairs.setdefault(key.pair, []).append(_row(run, key, values, window))
        groups.extend(sorted(rows, key=lambda r: r["overlay"] != "none") for rows in pairs.values())
    groups.sort(key=lambda rows: _sort_value(rows, column), reverse=True)
    return Comparison(
        rows=[row for rows in groups for row in rows],
        window=window,
        period=runs[0].period() if window is None else None,
    )


def _headline(run: RunFolder, key: BookKey, window: tuple[pd.Timestamp, pd.Timestamp] | None) -> dict[str, float]:
    if window is None:
        return {name: _number(run.metrics[key].get(name)) for name in HEADLINE}
    equity = run.equity[key]["equity"].loc[window[0] : window[1]]
    if len(equity) < 2:
        span = f"{window[0].date()}..{window[1].date()}"
        raise DataError(
            f"{run.path}: {key} has fewer than 2 bars in the common window {span}",
            fix="compare runs that share a longer period",
        )
    return window_metrics(equity, timeframe=key.timeframe)


def _row(
    run: RunFolder,
    key: BookKey,
    values: dict[BookKey, dict[str, float]],
    window: tuple[pd.Timestamp, pd.Timestamp] | None,
) -> dict[str, object]:
    index = run.equity[key].index if window is None else run.equity[key].loc[window[0] : window[1]].index
    row: dict[str, object] = {
        "run": run.run_id,
        **book_fields(run, key),
        "start": index[0].isoformat(),
        "end": index[-1].isoformat(),
        "aligned": window is not None,
    }
    row.update(values[key])
    partner = values.get(key.pair)
    for name, delta in zip(HEADLINE, DELTAS, strict=False):
        row[delta] = values[key][name] - partner[name] if key.sized and partner is not None else None
    return row


def _number(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def _sort_value(rows: list[dict[str, object]], column: str) -> float:
    # the measure columns hold numbers, or None where a book has none
    present = [cast(float, v) for v in (row[column] for row in rows) if v is not None]
    values = [float(v) for v in present if not math.isnan(float(v))]
    return max(values) if values else -math.inf


def json_rows(comparison: Comparison) -> list[dict[str, object]]:
    """The rows with NaN as null, so the output is valid JSON."""
    return json_ready(comparison.rows)


@dataclass(frozen=True)
class DeltaRow:
    """One strategy on one market of one run: its ``none`` book's headline metrics and, per overlay,
    that overlay's book minus the ``none`` book (``Δ Sharpe Ratio``, ...; None where a book is missing)."""

    run: str
    strategy: str
    baseline: bool
    symbol: str
    timeframe: str
    none: dict[str, float | None]
    deltas: dict[str, dict[str, float | None]]


def delta_matrix(comparison: Comparison) -> tuple[list[str], list[DeltaRow]]:
    """The overlays (in the order the rows name them) and one ``DeltaRow`` per strategy x market, in
    the comparison's order: each overlay book against its own strategy's ``none`` book."""
    overlays = list(dict.fromkeys(str(r["overlay"]) for r in comparison.rows if r["overlay"] != "none"))
    grouped: dict[tuple[str, ...], list[dict[str, object]]] = {}
    for row in comparison.rows:
        key = tuple(str(row[k]) for k in ("run", "base_strategy", "symbol", "timeframe"))
        grouped.setdefault(key, []).append(row)
    matrix = []
    for (run, strategy, symbol, timeframe), rows in grouped.items():
        by_overlay = {str(r["overlay"]): r for r in rows}
        plain = by_overlay.get("none")
        matrix.append(
            DeltaRow(
                run=run,
                strategy=strategy,
                baseline=any(bool(r["baseline"]) for r in rows),
                symbol=symbol,
                timeframe=timeframe,
                none={name: cast(float, plain[name]) if plain else None for name in HEADLINE},
                deltas={
                    overlay: {delta: cast(float | None, by_overlay[overlay][delta]) for delta in DELTAS}
                    for overlay in overlays
                    if overlay in by_overlay
                },
            )
        )
    return overlays, matrix
