"""Read a results folder written by ``carryguard backtest`` (see README "Results layout").

Compare and report work from the folder alone, so an old run can be reported again. Every
file is checked on load: a missing file, a missing column, a bad timestamp or number
raises ``DataError`` naming the file, the row and what to do.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from carryguard.backtests.run.layout import (
    BOOK_COLUMNS,
    EQUITY_COLUMNS,
    EXPOSURE_COLUMNS,
    MANIFEST,
    METRICS,
    PRICE_COLUMNS,
    RISK_COLUMNS,
    TRADE_COLUMNS,
    table_file,
    verify_checksums,
)
from carryguard.backtests.run.layout import REWRITE as _FIX
from carryguard.signals.errors import DataError
from carryguard.strategies.base import book_label


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
        return book_label(self.strategy, self.overlay)

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
    if not (root / MANIFEST).is_file():
        raise DataError(
            f"{root}: not a run folder (no manifest.json)",
            fix="pass a folder written by `carryguard backtest` (results/<run-id>)",
        )
    manifest = _read_json(root / MANIFEST)
    if manifest.get("kind") == "sweep":
        raise DataError(
            f"{root}: a sweep folder, not a backtest run",
            fix="pass a folder written by `carryguard backtest` (a sweep has sweep.parquet and summary.json)",
        )
    verify_checksums(root, manifest)
    metrics, baselines = _read_metrics(root / METRICS)
    equity = _per_book(
        _read_table(root, "equity", time_columns=("time",), numeric=EQUITY_COLUMNS, books=True),
        EQUITY_COLUMNS,
        table_file(root, "equity"),
    )
    exposure_frame = _read_table(
        root, "exposure", time_columns=("time",), numeric=EXPOSURE_COLUMNS, text=("regime",), books=True
    )
    exposure = _per_book(exposure_frame, (*EXPOSURE_COLUMNS, "regime"), table_file(root, "exposure"))
    trades = _read_table(
        root,
        "trades",
        time_columns=("entry_time", "exit_time"),
        numeric=TRADE_COLUMNS,
        booleans=("is_open",),
        books=True,
    )
    prices_frame = _read_table(
        root, "prices", time_columns=("time",), numeric=PRICE_COLUMNS, text=("symbol", "timeframe")
    )
    prices = {
        (str(s), str(tf)): _time_indexed(group, PRICE_COLUMNS, table_file(root, "prices"), f" for {s} {tf}")
        for (s, tf), group in prices_frame.groupby(["symbol", "timeframe"], sort=False)
    }
    risk = _time_indexed(
        _read_table(root, "risk", time_columns=("time",), numeric=("score",), text=("regime",)),
        RISK_COLUMNS,
        table_file(root, "risk"),
    )
    for key, values in metrics.items():
        if key not in equity:
            raise DataError(f"{table_file(root, 'equity')}: no rows for {key} listed in {METRICS}", fix=_FIX)
        _check_end(table_file(root, "equity"), key, equity[key]["equity"], values)
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


def _check_end(path: Path, key: BookKey, equity: pd.Series, metrics: Mapping[str, object]) -> None:
    """The equity curve must end where metrics.json says (End, Equity Final [$]): a table
    cut short or edited is caught even in folders written before checksums."""
    end, final = metrics.get("End"), metrics.get("Equity Final [$]")
    if isinstance(end, str) and pd.Timestamp(end) != equity.index[-1]:
        raise DataError(f"{path}: {key} ends {equity.index[-1].isoformat()}, {METRICS} says {end}", fix=_FIX)
    if isinstance(final, int | float) and not math.isclose(equity.iloc[-1], final, rel_tol=1e-9, abs_tol=1e-6):
        raise DataError(f"{path}: {key} ends at equity {equity.iloc[-1]!r}, {METRICS} says {final!r}", fix=_FIX)


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


def _as_bool(value: object) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0"):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


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


def _read_table(
    root: Path,
    name: str,
    *,
    time_columns: tuple[str, ...],
    numeric: tuple[str, ...],
    text: tuple[str, ...] = (),
    booleans: tuple[str, ...] = (),
    books: bool = False,
) -> pd.DataFrame:
    """Read table ``name`` (``<name>.parquet``, else ``<name>.csv``), check its columns and
    give times as UTC, ``numeric`` as float64, ``text`` as str, ``booleans`` as bool and,
    with ``books``, ``overlay`` as a policy name."""
    path = table_file(root, name)
    if not path.is_file():
        raise DataError(f"{path}: missing", fix=_FIX)
    wanted = (*(BOOK_COLUMNS if books else ()), *time_columns, *numeric, *text, *booleans)
    read = _read_parquet if path.suffix == ".parquet" else _read_csv
    frame = read(path, wanted, time_columns, numeric)
    for column in text:
        frame[column] = frame[column].fillna("").astype(str)
    for column in booleans:
        try:
            frame[column] = frame[column].map(_as_bool).astype(bool)
        except ValueError as exc:
            raise DataError(f"{path}: {column}: {exc}", fix=_FIX) from None
    if books:  # a policy name; true/false in folders written before policies
        try:
            names = frame["overlay"].unique()  # a few policy names over many rows: read each once
            frame["overlay"] = (
                frame["overlay"].map(dict(zip(names, map(as_overlay, names), strict=True))).astype(object)
            )
        except ValueError as exc:
            raise DataError(f"{path}: overlay: {exc}", fix=_FIX) from None
    return frame


def _missing(path: Path, frame: pd.DataFrame, wanted: tuple[str, ...]) -> None:
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}", fix=_FIX)


def _read_parquet(
    path: Path, wanted: tuple[str, ...], time_columns: tuple[str, ...], numeric: tuple[str, ...]
) -> pd.DataFrame:
    """A parquet table as written by ``write``: typed columns, checked by type."""
    try:
        frame = pq.read_table(path).to_pandas()
    except (pa.ArrowException, OSError) as exc:
        raise DataError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0]})", fix=_FIX) from None
    _missing(path, frame, wanted)
    for column in time_columns:
        if not isinstance(frame[column].dtype, pd.DatetimeTZDtype):
            raise DataError(f"{path}: column {column} holds {frame[column].dtype}, not UTC timestamps", fix=_FIX)
        frame[column] = frame[column].dt.tz_convert("UTC").dt.as_unit("ns")
    for column in numeric:
        if not pd.api.types.is_numeric_dtype(frame[column]) or pd.api.types.is_bool_dtype(frame[column]):
            raise DataError(f"{path}: column {column} holds {frame[column].dtype}, not numbers", fix=_FIX)
        frame[column] = frame[column].astype("float64")
    return frame


def _read_csv(
    path: Path, wanted: tuple[str, ...], time_columns: tuple[str, ...], numeric: tuple[str, ...]
) -> pd.DataFrame:
    """A CSV table (written on request, or by versions before parquet): every cell parsed
    and checked, errors naming the row."""
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})", fix=_FIX) from None
    _missing(path, frame, wanted)
    for column in time_columns:
        frame[column] = _parse_times(frame[column], path, column, allow_empty=column == "exit_time")
    for column in numeric:
        values = pd.to_numeric(frame[column].replace("", "nan"), errors="coerce")
        bad = values.isna() & ~frame[column].isin(["", "nan", "NaN"])
        if bad.any():
            row = int(bad.to_numpy().argmax())
            raise DataError(f"{path}: row {row + 2}: {column} {frame[column].iloc[row]!r} is not a number", fix=_FIX)
        frame[column] = values.astype("float64")
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
    """Each book's rows (books in order of first appearance) as ``_time_indexed`` gives them.
    The rows are sorted once by (book, time) and each book gets a copy of its slice: a
    hundred books' ``set_index`` and column lookups one by one took ~0.4 s of a report's start."""
    numbers = frame.groupby(list(BOOK_COLUMNS), sort=False).ngroup().to_numpy(dtype="float64")
    rows = np.flatnonzero(numbers >= 0)  # a row with a missing key (NaN) belongs to no book, as in groupby
    times = frame["time"].to_numpy(dtype="datetime64[ns]")  # UTC instants, as numbers
    books, kept_times = numbers[rows].astype(np.int64), times[rows]
    by_book = np.lexsort((kept_times, books))  # by book, then time; stable: equal times keep their order
    order, book_of, at = rows[by_book], books[by_book], kept_times[by_book]
    starts = np.searchsorted(book_of, np.arange(book_of[-1] + 2 if len(book_of) else 1))
    firsts = frame[list(BOOK_COLUMNS)].take(order[starts[:-1]]).to_numpy(dtype=object)
    keys = [BookKey(*(str(part) for part in first)) for first in firsts]
    repeated = np.flatnonzero((book_of[1:] == book_of[:-1]) & (at[1:] == at[:-1]))
    if len(repeated):  # the first book (in order) with a repeated time, and its earliest one
        _repeated_time(path, frame["time"].iloc[order[repeated[0]]], f" for {keys[book_of[repeated[0]]]}")
    table = frame[list(columns)].take(order)
    table.index = pd.DatetimeIndex(frame["time"].take(order), name="time")
    return {key: table.iloc[starts[i] : starts[i + 1]].copy() for i, key in enumerate(keys)}


def _time_indexed(frame: pd.DataFrame, columns: tuple[str, ...], path: Path, what: str = "") -> pd.DataFrame:
    out = frame.set_index("time")[list(columns)].sort_index(kind="stable")
    if out.index.duplicated().any():
        _repeated_time(path, out.index[out.index.duplicated()][0], what)
    out.index.name = "time"
    return out


def _repeated_time(path: Path, when: pd.Timestamp, what: str) -> NoReturn:
    """The one error for a time a table holds twice (``what``: for which book or market)."""
    raise DataError(f"{path}: duplicate time {when.isoformat()}{what}", fix=_FIX)
