"""Read a results folder written by ``carryguard backtest`` (see README "Results layout").

Compare and report work from the folder alone, so an old run can be reported again. Every
file is checked on load: a missing file, a missing column, a bad timestamp or number
raises ``DataError`` naming the file, the row and what to do.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from carryguard.signals.errors import DataError

BOOK_COLUMNS = ("strategy", "symbol", "timeframe", "overlay")
EQUITY_COLUMNS = ("equity", "cash", "position")
EXPOSURE_COLUMNS = ("strategy_exposure", "risk_score", "multiplier", "vol_scale", "final_exposure")
PRICE_COLUMNS = ("open", "high", "low", "close")
TRADE_COLUMNS = ("entry_price", "exit_price", "qty", "pnl", "return_pct", "fees")
REGIMES = ("calm", "elevated", "stress", "crisis")
_FIX = "rerun `carryguard backtest` to rewrite the run folder"


@dataclass(frozen=True, order=True)
class BookKey:
    """One book of a run: a strategy on one symbol and timeframe, sized by an overlay
    policy (``none``: unsized)."""

    strategy: str
    symbol: str
    timeframe: str
    overlay: str

    @property
    def sized(self) -> bool:
        """True for a book sized by an overlay (not ``none``)."""
        return self.overlay != "none"

    @property
    def label(self) -> str:
        """``sma_cross`` or ``sma_cross+carry``."""
        return self.strategy + (f"+{self.overlay}" if self.sized else "")

    @property
    def pair(self) -> BookKey:
        """The same book without an overlay (``none``)."""
        return self.with_overlay("none")

    def with_overlay(self, overlay: str) -> BookKey:
        """The same strategy, symbol and timeframe sized by ``overlay``."""
        return BookKey(self.strategy, self.symbol, self.timeframe, overlay)

    def __str__(self) -> str:
        return f"{self.label} {self.symbol} {self.timeframe}"


@dataclass(frozen=True)
class RunFolder:
    """A loaded run: manifest, per-book metrics and frames (indexed by UTC ``time``).

    equity: per book, columns ``equity, cash, position`` at each bar close.
    exposure: per book, the overlay's columns (``regime`` as text, "" when unknown).
    trades: all round trips, long format as in trades.csv.
    prices: per ``(symbol, timeframe)``, columns ``open, high, low, close``.
    risk: ``score`` and ``regime`` on the daily calendar covering the run (may be empty).
    """

    path: Path
    manifest: Mapping[str, object]
    metrics: Mapping[BookKey, Mapping[str, object]]
    baselines: frozenset[str]
    equity: Mapping[BookKey, pd.DataFrame]
    exposure: Mapping[BookKey, pd.DataFrame]
    trades: pd.DataFrame
    prices: Mapping[tuple[str, str], pd.DataFrame]
    risk: pd.DataFrame

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.path.name)

    @property
    def books(self) -> list[BookKey]:
        """Books in metrics.json order."""
        return list(self.metrics)

    def is_baseline(self, key: BookKey) -> bool:
        return key.strategy in self.baselines

    def period(self) -> tuple[pd.Timestamp, pd.Timestamp]:
        """First and last bar (open times, as in equity.csv) over all equity curves."""
        starts = [frame.index[0] for frame in self.equity.values()]
        ends = [frame.index[-1] for frame in self.equity.values()]
        return min(starts), max(ends)


def load_run(path: str | Path) -> RunFolder:
    """Load and check every file of the run folder at ``path``."""
    root = Path(path)
    if not (root / "manifest.json").is_file():
        raise DataError(
            f"{root}: not a run folder (no manifest.json)",
            fix="pass a folder written by `carryguard backtest` (results/<run-id>)",
        )
    manifest = _read_json(root / "manifest.json")
    metrics, baselines = _read_metrics(root / "metrics.json")
    equity = _per_book(
        _read_csv(root / "equity.csv", time_columns=("time",), numeric=EQUITY_COLUMNS, books=True),
        EQUITY_COLUMNS,
        root / "equity.csv",
    )
    exposure_frame = _read_csv(
        root / "exposure.csv", time_columns=("time",), numeric=EXPOSURE_COLUMNS, text=("regime",), books=True
    )
    exposure = _per_book(exposure_frame, (*EXPOSURE_COLUMNS, "regime"), root / "exposure.csv")
    trades = _read_csv(
        root / "trades.csv",
        time_columns=("entry_time", "exit_time"),
        numeric=TRADE_COLUMNS,
        text=("is_open",),
        books=True,
    )
    prices_frame = _read_csv(
        root / "prices.csv", time_columns=("time",), numeric=PRICE_COLUMNS, text=("symbol", "timeframe")
    )
    prices = {
        (str(s), str(tf)): _time_indexed(group, PRICE_COLUMNS, root / "prices.csv", f" for {s} {tf}")
        for (s, tf), group in prices_frame.groupby(["symbol", "timeframe"], sort=False)
    }
    risk = _time_indexed(
        _read_csv(root / "risk.csv", time_columns=("time",), numeric=("score",), text=("regime",)),
        ("score", "regime"),
        root / "risk.csv",
    )
    for key in metrics:
        if key not in equity:
            raise DataError(f"{root / 'equity.csv'}: no rows for {key} listed in metrics.json", fix=_FIX)
    return RunFolder(
        path=root,
        manifest=manifest,
        metrics=metrics,
        baselines=frozenset(baselines),
        equity=equity,
        exposure=exposure,
        trades=trades,
        prices=prices,
        risk=risk,
    )


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise DataError(f"{path}: missing", fix=_FIX)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not valid JSON ({exc})", fix=_FIX) from None
    if not isinstance(data, dict):
        raise DataError(f"{path}: expected a JSON object", fix=_FIX)
    return data


def _read_metrics(path: Path) -> tuple[dict[BookKey, dict], set[str]]:
    results = _read_json(path).get("results")
    if not isinstance(results, list) or not results:
        raise DataError(f'{path}: no "results" list', fix=_FIX)
    metrics: dict[BookKey, dict] = {}
    baselines: set[str] = set()
    for i, item in enumerate(results):
        try:
            key = BookKey(
                str(item["strategy"]), str(item["symbol"]), str(item["timeframe"]), as_overlay(item["overlay"])
            )
            values = dict(item["metrics"])
        except (KeyError, TypeError, ValueError) as exc:
            raise DataError(
                f"{path}: result #{i + 1} lacks strategy/symbol/timeframe/overlay/metrics ({exc})", fix=_FIX
            ) from None
        if key in metrics:
            raise DataError(f"{path}: result #{i + 1} repeats {key}", fix=_FIX)
        metrics[key] = values
        if item.get("baseline"):
            baselines.add(key.strategy)
    return metrics, baselines


def as_overlay(value: object) -> str:
    """An overlay cell as a policy name; true/false (folders written before policies) read
    as ``carry``/``none``."""
    text = str(value).strip()
    if text.lower() in ("true", "1"):
        return "carry"
    if text.lower() in ("false", "0"):
        return "none"
    if not text:
        raise ValueError("overlay is empty: expected a policy name such as none or carry")
    return text


def _read_csv(
    path: Path,
    *,
    time_columns: tuple[str, ...],
    numeric: tuple[str, ...],
    text: tuple[str, ...] = (),
    books: bool = False,
) -> pd.DataFrame:
    """Read one CSV, check its columns and parse times (UTC), numbers and the book columns."""
    if not path.is_file():
        raise DataError(f"{path}: missing", fix=_FIX)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})", fix=_FIX) from None
    book_columns = BOOK_COLUMNS if books else ()
    missing = [c for c in (*book_columns, *time_columns, *numeric, *text) if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}", fix=_FIX)
    for column in time_columns:
        frame[column] = _parse_times(frame[column], path, column, allow_empty=column == "exit_time")
    for column in numeric:
        values = pd.to_numeric(frame[column].replace("", "nan"), errors="coerce")
        bad = values.isna() & ~frame[column].isin(["", "nan", "NaN"])
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise DataError(f"{path}: row {row + 2}: {column} {frame[column].iloc[row]!r} is not a number", fix=_FIX)
        frame[column] = values.astype("float64")
    if book_columns:
        try:
            frame["overlay"] = frame["overlay"].map(as_overlay).astype(object)
        except ValueError as exc:
            raise DataError(f"{path}: {exc}", fix=_FIX) from None
    return frame


def _parse_times(values: pd.Series, path: Path, column: str, *, allow_empty: bool) -> pd.Series:
    empty = values.str.strip() == ""
    if empty.any() and not allow_empty:
        raise DataError(f"{path}: row {int(empty.to_numpy().argmax()) + 2}: empty {column}", fix=_FIX)
    parsed = pd.to_datetime(values.where(~empty), utc=True, errors="coerce", format="ISO8601")
    bad = parsed.isna() & ~empty
    if bad.any():
        row = int(bad.to_numpy().argmax())
        raise DataError(f"{path}: row {row + 2}: {column} {values.iloc[row]!r} is not a timestamp", fix=_FIX)
    return parsed.dt.as_unit("ns")


def _per_book(frame: pd.DataFrame, columns: tuple[str, ...], path: Path) -> dict[BookKey, pd.DataFrame]:
    books = {}
    for (strategy, symbol, timeframe, overlay), group in frame.groupby(list(BOOK_COLUMNS), sort=False):
        key = BookKey(str(strategy), str(symbol), str(timeframe), str(overlay))
        books[key] = _time_indexed(group, columns, path, f" for {key}")
    return books


def _time_indexed(frame: pd.DataFrame, columns: tuple[str, ...], path: Path, what: str = "") -> pd.DataFrame:
    out = frame.set_index("time")[list(columns)].sort_index(kind="stable")
    if out.index.duplicated().any():
        when = out.index[out.index.duplicated()][0].isoformat()
        raise DataError(f"{path}: duplicate time {when}{what}", fix=_FIX)
    out.index.name = "time"
    return out
