"""Crisis windows: how each book did during named macro episodes and BTC's deepest drawdowns.

Named episodes come from ``crisis_windows.toml`` beside this module, plus any TOML file of
the same shape the user adds (``--windows FILE``, or ``crisis_windows = "FILE"`` in the
study, whose windows the manifest carries). The five deepest BTC drawdowns (peak to trough between all-time highs of the
close, so they never overlap) are found in the run's own ``prices.csv``. Window dates are
inclusive UTC days; a bar belongs to a window when its open time falls on one of them.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from importlib.resources import files
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd

from carryguard.backtests.engine.measures import drawdown_periods, max_drawdown
from carryguard.backtests.report.books import book_fields
from carryguard.backtests.run.folder import BookKey, RunFolder
from carryguard.signals.errors import DataError
from carryguard.signals.risk import REGIMES
from carryguard.signals.toml_file import read_toml

DEFAULT_WINDOWS = Path(str(files("carryguard.backtests.report") / "crisis_windows.toml"))
DAY = pd.Timedelta(days=1)
PAIRED_MEASURES = ("Return [%]", "Max. Drawdown [%]", "Avg. Exposure [%]")
_TIE = 1e-9  # a Δ this small (percentage points) is a tie: both books flat in the window


@dataclass(frozen=True)
class CrisisWindow:
    """A named span of UTC days; ``kind`` is ``macro`` (from a file) or ``drawdown`` (found)."""

    name: str
    start: pd.Timestamp
    end: pd.Timestamp
    kind: str = "macro"

    def mask(self, index: pd.DatetimeIndex) -> np.ndarray:
        return np.asarray((index >= self.start) & (index < self.end + DAY))


def load_windows(path: Path) -> list[CrisisWindow]:
    """The ``[[window]]`` entries (``name``, ``start``, ``end``) of a TOML file."""
    return windows_from_entries(read_toml(path, what="crisis-window", error=DataError).get("window", []), str(path))


def windows_from_entries(entries: object, origin: str) -> list[CrisisWindow]:
    """Validated windows from ``[{"name", "start", "end"}, ...]`` (a TOML file's or a
    manifest's); ``origin`` names where they came from in errors."""
    windows = []
    for i, entry in enumerate(entries if isinstance(entries, list) else [entries]):
        where = f"{origin}: window #{i + 1}"
        if not isinstance(entry, dict) or not str(entry.get("name", "")).strip():
            raise DataError(
                f"{where}: needs a name, a start and an end",
                fix='write name = "...", start = 2024-07-10, end = 2024-08-09',
            )
        start, end = _day(entry.get("start"), where, "start"), _day(entry.get("end"), where, "end")
        if end < start:
            raise DataError(
                f"{where} ({entry['name']}): end {end.date()} is before start {start.date()}", fix="swap the dates"
            )
        windows.append(CrisisWindow(str(entry["name"]).strip(), start, end))
    return windows


def _day(value: object, where: str, field: str) -> pd.Timestamp:
    if isinstance(value, date | str) and str(value).strip():
        try:
            return pd.Timestamp(str(value)[:10], tz="UTC")
        except ValueError:
            pass
    raise DataError(f"{where}: {field} {value!r} is not a date", fix="write it as YYYY-MM-DD")


def run_windows(run: RunFolder, extra: Path | None = None, *, count: int = 5) -> list[CrisisWindow]:
    """Defaults, the study's windows (copied into the manifest at backtest time, so the
    run folder alone suffices), ``extra``, then the run's deepest BTC drawdowns."""
    windows = load_windows(DEFAULT_WINDOWS)
    study = run.manifest.get("study")
    study_windows = study.get("crisis_windows") if isinstance(study, dict) else None
    if study_windows:
        windows += windows_from_entries(study_windows, f"{run.path / 'manifest.json'} study.crisis_windows")
    if extra is not None:
        windows += load_windows(extra)
    btc = [key for key in run.prices if "BTC" in key[0].upper()]
    if btc:
        symbol, timeframe = min(btc, key=lambda k: (k[1] != "1d", k))
        windows += deepest_drawdowns(run.prices[(symbol, timeframe)]["close"], count=count, symbol=symbol)
    return windows


def deepest_drawdowns(close: pd.Series, *, count: int = 5, symbol: str = "BTC") -> list[CrisisWindow]:
    """The ``count`` deepest peak-to-trough falls of ``close``, in time order.

    An episode runs from an all-time high to the lowest close before the next all-time
    high, so episodes never overlap.
    """
    periods = drawdown_periods(close)
    deepest = periods.sort_values(["depth", "start", "trough"], kind="stable").head(count).sort_values("start")
    return [
        CrisisWindow(
            f"{symbol} drawdown {row.depth * 100:.0f}%", row.start.normalize(), row.trough.normalize(), kind="drawdown"
        )
        for row in deepest.itertuples()
    ]


def regime_summary(risk: pd.DataFrame, window: CrisisWindow) -> dict[str, object]:
    """Most frequent and most severe regime, and the highest score, in the window."""
    inside = risk.loc[window.mask(risk.index)] if len(risk) else risk
    regimes = [r for r in inside.get("regime", pd.Series(dtype=str)) if r in REGIMES]
    if not regimes:
        return {"Regime (most)": "n/a", "Regime (max)": "n/a", "Max. Risk Score": None}
    counts = Counter(regimes)
    most = max(counts, key=lambda r: (counts[r], REGIMES.index(r)))
    return {
        "Regime (most)": most,
        "Regime (max)": max(regimes, key=REGIMES.index),
        "Max. Risk Score": round(float(inside["score"].max()), 1),
    }


def window_stats(run: RunFolder, key: BookKey, window: CrisisWindow) -> dict[str, object] | None:
    """Return, max drawdown and average held exposure of one book in the window (None if
    the run does not reach it). The return starts from the close before the window."""
    return books_in_window(run, [key], window)[0]


def books_in_window(run: RunFolder, keys: list[BookKey], window: CrisisWindow) -> list[dict[str, object] | None]:
    """``window_stats`` of books of one market on the same bars, as one array per measure
    (the 2-D ``measures.max_drawdown``, one book per row)."""
    first = run.equity[keys[0]]
    if any(not run.equity[k].index.equals(first.index) for k in keys[1:]):
        return [books_in_window(run, [k], window)[0] for k in keys]
    inside = np.flatnonzero(window.mask(first.index))
    if not len(inside):
        return [None] * len(keys)
    before = inside[0] - 1 if inside[0] > 0 else inside[0]
    equity = np.stack([run.equity[k]["equity"].to_numpy(dtype="float64") for k in keys])
    cash = np.stack([run.equity[k]["cash"].to_numpy(dtype="float64") for k in keys])
    path = np.concatenate([equity[:, [before]], equity[:, inside]], axis=1)
    held = 1.0 - cash[:, inside] / equity[:, inside]
    falls = np.atleast_1d(max_drawdown(path)) * 100.0
    market = _market_return(run, keys[0], window)
    covered = first.index[0] <= window.start and first.index[-1] >= window.end
    return [
        {
            "Return [%]": float(path[i, -1] / path[i, 0] - 1.0) * 100.0,
            "Max. Drawdown [%]": float(falls[i]),
            "Avg. Exposure [%]": float(np.mean(held[i]) * 100.0),
            "Buy & Hold [%]": market,
            "coverage": "full" if covered else "partial",
        }
        for i in range(len(keys))
    ]


def _market_return(run: RunFolder, key: BookKey, window: CrisisWindow) -> float | None:
    """Buy & hold of the book's market over the window, from the close before it (%)."""
    prices = run.prices.get((key.symbol, key.timeframe))
    if prices is None:
        return None
    close = prices["close"]
    inside = np.flatnonzero(window.mask(close.index))
    if not len(inside):
        return None
    start = close.iloc[inside[0] - 1] if inside[0] > 0 else close.iloc[inside[0]]
    return float(close.iloc[inside[-1]] / start - 1.0) * 100.0


def crisis_table(run: RunFolder, windows: list[CrisisWindow]) -> list[dict[str, object]]:
    """One row per window and book the run reaches, windows in the given order."""
    markets: dict[tuple[str, str], list[BookKey]] = {}
    for key in run.books:
        markets.setdefault((key.symbol, key.timeframe), []).append(key)
    rows = []
    for window in windows:
        regime = regime_summary(run.risk, window)
        stats = {
            k: v for keys in markets.values() for k, v in zip(keys, books_in_window(run, keys, window), strict=True)
        }
        for key in run.books:
            if stats[key] is None:
                continue
            rows.append(
                {
                    "window": window.name,
                    "kind": window.kind,
                    "start": window.start.date().isoformat(),
                    "end": window.end.date().isoformat(),
                    **book_fields(run, key),
                    **cast(dict[str, object], stats[key]),
                    **regime,
                }
            )
    return rows


SHARED = (
    "window",
    "kind",
    "start",
    "end",
    "base_strategy",
    "baseline",
    "symbol",
    "timeframe",
    "Buy & Hold [%]",
    "coverage",
    "Regime (most)",
    "Regime (max)",
    "Max. Risk Score",
)


def paired_table(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """``crisis_table`` rows of every overlay book with its ``none`` twin on the same row: the
    ``overlay``'s name and, for every measure, the value without (``plain``), with
    (``overlay``) and ``delta`` = overlay − plain (None without the twin)."""
    plain = {_book(row): row for row in rows if row["overlay"] == "none"}
    paired = []
    for row in rows:
        if row["overlay"] == "none":
            continue
        twin = plain.get(_book(row))
        out: dict[str, object] = {name: (twin or row)[name] for name in SHARED}
        out["overlay"] = row["overlay"]
        for measure in PAIRED_MEASURES:
            without, with_ = (cast(float, twin[measure]) if twin else None), cast(float, row[measure])
            out[measure] = {
                "plain": without,
                "overlay": with_,
                "delta": with_ - without if without is not None and with_ is not None else None,
            }
        paired.append(out)
    return paired


def _book(row: dict[str, object]) -> tuple[object, ...]:
    """A crisis row's window and book without the overlay."""
    return (row["window"], row["start"], row["base_strategy"], row["symbol"], row["timeframe"])


def _cell(value: object) -> dict[str, float | None]:
    """A measure's ``{"plain", "carry", "delta"}`` cell of a ``paired_table`` row."""
    return cast(dict[str, float | None], value)


def uncovered(run: RunFolder, windows: list[CrisisWindow]) -> list[CrisisWindow]:
    """Windows the run does not reach at all (listed in the report so nothing vanishes silently)."""
    start, end = run.period()
    return [w for w in windows if w.end + DAY <= start or w.start > end]


def window_summary(paired: list[dict[str, object]]) -> list[dict[str, object]]:
    """One row per window and market of ``paired_table`` rows: in how many strategy pairs the
    overlay gave a shallower drawdown and a higher return, and the median of each Δ, so the
    report can say in which episodes the overlay helped."""
    groups: dict[tuple, list[dict[str, object]]] = {}
    for row in paired:
        groups.setdefault((row["window"], row["start"], row["symbol"], row["timeframe"], row["overlay"]), []).append(
            row
        )
    summary = []
    for rows in groups.values():
        both = [r for r in rows if _cell(r["Return [%]"])["delta"] is not None]
        d_return = [float(cast(float, _cell(r["Return [%]"])["delta"])) for r in both]
        d_drawdown = [float(cast(float, _cell(r["Max. Drawdown [%]"])["delta"])) for r in both]
        first = rows[0]
        summary.append(
            {
                **{
                    name: first[name]
                    for name in (
                        "window",
                        "kind",
                        "start",
                        "end",
                        "symbol",
                        "timeframe",
                        "overlay",
                        "Buy & Hold [%]",
                        "Regime (most)",
                        "Regime (max)",
                        "Max. Risk Score",
                    )
                },
                "pairs": len(both),
                "shallower": sum(1 for d in d_drawdown if d > _TIE),
                "deeper": sum(1 for d in d_drawdown if d < -_TIE),
                "higher return": sum(1 for d in d_return if d > _TIE),
                "lower return": sum(1 for d in d_return if d < -_TIE),
                "Median Δ Return [%]": float(np.median(d_return)) if both else None,
                "Median Δ Max. Drawdown [%]": float(np.median(d_drawdown)) if both else None,
            }
        )
    return summary
