"""The report's per-strategy tearsheets and settings tables, as plain data for the template.

One tearsheet per strategy on a market: the book without and with the overlay side by
side (every metric of metrics.json, alpha/beta against the market's buy & hold, the five
worst drawdowns, the round trips with their causes) and its two interactive figures
(rolling Sharpe/volatility, monthly-return heatmaps).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from carryguard.backtests.report.interactive import (
    SHOWN,
    fragment,
    market_equity,
    monthly_figure,
    rolling_figure,
    strategies,
)
from carryguard.backtests.report.tearsheet import alpha_beta, monthly_returns, rolling_stats, worst_drawdowns
from carryguard.backtests.report.trades import round_trips
from carryguard.backtests.run.folder import BookKey, RunFolder

TRADE_ROWS = 200  # round trips listed per book (the newest); `carryguard trades` lists all


@dataclass(frozen=True)
class Drawdown:
    """One of the worst drawdowns, as the template shows it (recovery None: still under water)."""

    start: pd.Timestamp
    trough: pd.Timestamp
    recovery: pd.Timestamp | None
    depth: float
    days: float


@dataclass(frozen=True)
class Tearsheet:
    """What the report shows per book, from ``carryguard.backtests.report.tearsheet``."""

    monthly: pd.DataFrame  # rows years, columns Jan..Dec and Year, returns in %
    rolling: pd.DataFrame  # columns sharpe, vol (annualised, vol in %)
    drawdowns: list[Drawdown]
    alpha: float  # annualised, %
    beta: float


def book_tearsheet(equity: pd.Series, market: pd.Series | None, timeframe: str) -> Tearsheet:
    """The tearsheet tables of one equity curve against the market's buy & hold (``market``)."""
    rolling = rolling_stats(equity, timeframe=timeframe).dropna()
    rolling = rolling.set_axis(["sharpe", "vol"], axis=1)
    try:
        measured = alpha_beta(equity, market, timeframe=timeframe) if market is not None else {}
    except ValueError:  # the market's close does not cover every bar of the book
        measured = {}
    drawdowns = [
        Drawdown(
            start=row["start"],
            trough=row["trough"],
            recovery=None if pd.isna(row["recovery"]) else row["recovery"],
            depth=float(row["Depth [%]"]),
            days=float(pd.Timedelta(row["length"]) / pd.Timedelta(days=1)),
        )
        for _, row in worst_drawdowns(equity).iterrows()
    ]
    return Tearsheet(
        monthly=monthly_returns(equity),
        rolling=rolling,
        drawdowns=drawdowns,
        alpha=measured.get("Alpha (Ann.) [%]", math.nan),
        beta=measured.get("Beta", math.nan),
    )


def tearsheets(run: RunFolder) -> list[dict[str, object]]:
    """One dict per strategy and market: ``title``, ``books``, ``metrics`` rows, ``drawdowns``,
    ``trades``, ``figures`` (HTML fragments)."""
    pages = []
    markets = list(dict.fromkeys((k.symbol, k.timeframe) for k in run.books))
    for symbol, timeframe in markets:
        books = [k for k in run.books if (k.symbol, k.timeframe) == (symbol, timeframe)]
        for name, every in strategies(run, books):
            keys = [k for k in every if k.overlay in SHOWN]  # the other overlays: charts, effects, crisis tables
            sheets = {k.label: book_tearsheet(run.equity[k]["equity"], market_equity(run, k), timeframe) for k in keys}
            slug = f"{name}-{symbol}-{timeframe}".replace("/", "-")
            pages.append(
                {
                    "slug": slug,
                    "title": f"{name} {symbol} {timeframe}",
                    "baseline": name in run.baselines,
                    "labels": [k.label for k in keys],
                    "headline": _headline(run, keys),
                    "metrics": _metric_rows(run, keys, sheets),
                    "drawdowns": {label: sheet.drawdowns for label, sheet in sheets.items()},
                    "trades": {k.label: round_trips(run, k)[-TRADE_ROWS:] for k in keys},
                    "rolling": fragment(rolling_figure(sheets), f"rolling-{slug}"),
                    "monthly": fragment(monthly_figure(sheets), f"monthly-{slug}"),
                }
            )
    return pages


def _headline(run: RunFolder, keys: list[BookKey]) -> str:
    """``Sharpe 0.77 → 0.91, Max. DD -66.3% → -64.7%, Return 635% → 914%``."""

    def pick(name: str, fmt: str) -> str:
        values = [run.metrics[k].get(name) for k in keys]
        return " → ".join(format(v, fmt) if isinstance(v, int | float) else "—" for v in values)

    sharpe, drawdown = pick("Sharpe Ratio", ".2f"), pick("Max. Drawdown [%]", ".1f")
    return f"Sharpe {sharpe}, Max. DD {drawdown}%, Return {pick('Return [%]', ',.0f')}%"


def _metric_rows(
    run: RunFolder, keys: list[BookKey], sheets: Mapping[str, Tearsheet]
) -> list[tuple[str, list[object]]]:
    names = list(dict.fromkeys(name for k in keys for name in run.metrics[k]))
    rows: list[tuple[str, list[object]]] = [(name, [run.metrics[k].get(name) for k in keys]) for name in names]
    rows.append(("Alpha vs buy & hold (ann.) [%]", [sheets[k.label].alpha for k in keys]))
    rows.append(("Beta vs buy & hold", [sheets[k.label].beta for k in keys]))
    return rows


def overlay_settings(study: Mapping[str, object]) -> list[tuple[str, str]]:
    """(name, ``key value · key value``) for every overlay of the study (``overlay`` or ``overlays``)."""
    found = study.get("overlays") or study.get("overlay") or {}
    items = (
        found.items()
        if isinstance(found, Mapping) and all(isinstance(v, Mapping) for v in found.values())
        else [("overlay", found)]
    )
    return [
        (str(name), " · ".join(f"{k} {_plain(v)}" for k, v in settings.items() if v is not None))
        for name, settings in items
        if isinstance(settings, Mapping)
    ]


def flatten(value: object, prefix: str = "") -> list[tuple[str, str]]:
    """Nested settings as (dotted key, value) rows: a readable table instead of a JSON dump."""
    if isinstance(value, Mapping):
        rows: list[tuple[str, str]] = []
        for key, inner in value.items():
            rows.extend(flatten(inner, f"{prefix}.{key}" if prefix else str(key)))
        return rows
    return [(prefix, _plain(value))]


def _plain(value: object) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value) or "—"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}"
    return "—" if value is None else str(value)
