"""Write a study run to ``results/<run-id>/`` (the results layout read by compare/report).

Files: ``metrics.json`` (no run timestamps: byte-identical for the same inputs), the long
tables ``equity``, ``exposure`` and ``prices`` as parquet (CSV with ``csv=True``) and
``fills``, ``trades`` and ``risk`` as CSV, all written with pyarrow, and last
``manifest.json`` (resolved study, engine, data fingerprints, warm-up bars read before the
start per series and strategy, versions, seed, and the sha256 of every other file). Every
per-book table starts with the book keys ``strategy, symbol, timeframe, overlay``
(``overlay`` = the sizing policy's name, ``none`` for the unsized book;
folders written before policies hold true/false). Times are bar open times (the frame
convention), except ``risk``'s ``time``, the reading's time (00:00 UTC each day, i.e. the
close of the previous daily bar).
"""

from __future__ import annotations

import platform
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from carryguard.backtests.engine.book import TRADE_COLUMNS, utc_values
from carryguard.backtests.run.layout import (
    BOOK_COLUMNS,
    CHECKSUMS,
    EQUITY_COLUMNS,
    MANIFEST,
    METRICS,
    PARQUET_TABLES,
    PRICE_COLUMNS,
    RISK_COLUMNS,
    checksums,
    fingerprints,
)
from carryguard.backtests.run.runner import RunResult, StudyRun
from carryguard.signals.json_file import finite_or_none, write_json

SEED = 0  # a backtest draws no random numbers; kept for the manifest's contract
SIGNIFICANT_DIGITS = 12  # metrics.json floats: stable across platforms' last-bit noise


def new_run_dir(results_dir: str | Path, name: str, *, created_at: datetime) -> Path:
    """Create and return ``results_dir/<YYYYmmdd-HHMMSS>-<name>`` for a backtest or sweep
    run (a ``-2``, ``-3``... suffix keeps two runs in the same second apart)."""
    root = Path(results_dir)
    root.mkdir(parents=True, exist_ok=True)
    base = f"{created_at:%Y%m%d-%H%M%S}-{name}"
    folder, n = root / base, 1
    while True:
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            n += 1
            folder = root / f"{base}-{n}"


def write_results(
    run: StudyRun, results_dir: str | Path = "results", *, created_at: datetime | None = None, csv: bool = False
) -> Path:
    """Write ``run`` under ``results_dir/<YYYYmmdd-HHMMSS>-<study name>/`` and return the
    folder. ``csv``: write the per-bar tables as CSV too instead of parquet."""
    created = (created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    folder = new_run_dir(results_dir, run.study.name, created_at=created)
    results = sorted(run.results, key=result_order)
    tables = {
        **book_tables(results),
        "prices": pa.concat_tables(
            [
                _table({"time": bars.index, "symbol": symbol, "timeframe": timeframe, **_columns(bars, PRICE_COLUMNS)})
                for (symbol, timeframe), bars in sorted(run.bars.items())
            ]
        ),
        "risk": _table({"time": run.risk.index, **_columns(run.risk, RISK_COLUMNS)}),
    }
    # pyarrow encodes, compresses and writes without holding the GIL: two threads write the
    # tables (the biggest first) while this one writes metrics.json.
    with ThreadPoolExecutor(max_workers=2) as pool:
        writes = [
            pool.submit(_write_table, table, folder, name, parquet=name in PARQUET_TABLES and not csv)
            for name, table in sorted(tables.items(), key=lambda item: -item[1].nbytes)
        ]
        write_json(folder / METRICS, metrics_document(run))
        for done in writes:
            done.result()
    files = sorted(p.name for p in folder.iterdir())
    document = manifest(run, run_id=folder.name, created_at=created) | {CHECKSUMS: checksums(folder, files)}
    write_json(folder / MANIFEST, document)  # last: a folder with a manifest is complete
    return folder


def result_key(result: RunResult) -> tuple[str, str, str, str]:
    """(strategy, symbol, timeframe, overlay): the book's key columns."""
    return result.strategy, result.symbol, result.timeframe, result.overlay


def result_order(result: RunResult) -> tuple[str, str, str, bool, str]:
    """The order of every per-book table and of metrics.json: ``none`` before the policies."""
    return result.strategy, result.symbol, result.timeframe, result.overlay != "none", result.overlay


def metrics_document(run: StudyRun) -> dict[str, list[dict[str, object]]]:
    """``{"results": [...]}`` sorted by strategy, symbol, timeframe, overlay; floats rounded
    to ``SIGNIFICANT_DIGITS`` and NaN/inf written as null."""
    return {
        "results": [
            {
                "strategy": r.strategy,
                "symbol": r.symbol,
                "timeframe": r.timeframe,
                "overlay": r.overlay,
                "baseline": r.baseline,
                "metrics": {name: stable(value) for name, value in r.metrics.items()},
            }
            for r in sorted(run.results, key=result_order)
        ]
    }


def stable(value: object) -> object:
    """A metric value as written to JSON: floats rounded to ``SIGNIFICANT_DIGITS``, NaN/inf as None."""
    return finite_or_none(float(f"{value:.{SIGNIFICANT_DIGITS}g}") if isinstance(value, float) else value)


def manifest(run: StudyRun, *, run_id: str, created_at: datetime) -> dict[str, object]:
    """The JSON-ready manifest: what ran, on which data (content hashes), with which versions."""
    return {
        "run_id": run_id,
        "created_at": created_at.isoformat(),
        "study": run.study.to_dict(),
        "engine": run.engine,
        "data": fingerprints(run.data),
        "warmup_bars": run.warmup,
        "versions": {name: version(name) for name in ("carryguard", "pandas", "numpy", "backtrader")}
        | {"python": platform.python_version()},
        "seed": SEED,
    }


def _write_table(table: pa.Table, folder: Path, name: str, *, parquet: bool) -> None:
    """``folder/<name>.parquet`` (zstd) or ``folder/<name>.csv``."""
    if parquet:
        pq.write_table(table, folder / f"{name}.parquet", compression="zstd")
    else:
        write_csv(table, folder / f"{name}.csv")


def write_csv(table: pa.Table, path: Path) -> None:
    """``table`` as CSV by pyarrow's writer: a plain header line, text quoted only when
    needed, times as ``YYYY-MM-DD HH:MM:SS.fffffffffZ``, missing values empty."""
    with path.open("wb") as handle:
        handle.write((",".join(table.column_names) + "\n").encode())
        pa_csv.write_csv(table, handle, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))


def _columns(frame: pd.DataFrame, names: tuple[str, ...]) -> dict[str, object]:
    return {name: frame[name] for name in names}


def _table(columns: dict[str, object]) -> pa.Table:
    """An Arrow table from arrays/series (times as UTC) and scalars repeated to their length."""
    length = max(len(v) for v in columns.values() if not isinstance(v, str | bool))  # type: ignore[arg-type]
    arrays = {}
    for name, values in columns.items():
        if isinstance(values, str | bool):
            arrays[name] = pa.repeat(values, length)
        elif isinstance(values, pd.DatetimeIndex | pd.Series) and isinstance(values.dtype, pd.DatetimeTZDtype):
            arrays[name] = pa.array(values.tz_convert("UTC") if isinstance(values, pd.DatetimeIndex) else values)
        else:
            arrays[name] = pa.array(np.asarray(values), from_pandas=True)
    return pa.table(arrays)


def book_tables(results: list[RunResult]) -> dict[str, pa.Table]:
    """The per-book tables ``equity``, ``exposure``, ``fills`` and ``trades`` of ``results``,
    straight from the books' arrays: the book keys first (after ``time``), times as UTC,
    NaN as null, one chunk per book (parquet's bytes depend on the chunks)."""
    parts: dict[str, list[dict[str, object]]] = {"equity": [], "exposure": [], "fills": [], "trades": []}
    for result in results:
        book, keys = result.book, dict(zip(BOOK_COLUMNS, result_key(result), strict=True))
        times = utc_values(book.index)
        per_bar = {"equity": book.equity_values, "cash": book.cash_values, "position": book.position_values}
        parts["equity"].append({"time": times, **keys, **{c: per_bar[c] for c in EQUITY_COLUMNS}})
        parts["exposure"].append({"time": times, **keys, **result.sizing})
        made, trips = book.fill_arrays, book.trade_arrays
        parts["fills"].append(
            {
                "time": made.time,
                **keys,
                "side": np.where(made.qty > 0, "buy", "sell"),
                "qty": np.abs(made.qty),
                "price": made.price,
                "fee": made.fee,
            }
        )
        parts["trades"].append({**keys, **{c: getattr(trips, c) for c in TRADE_COLUMNS}})
    texts: dict[int, tuple[np.ndarray, pa.Array]] = {}  # object arrays shared by books, converted once
    return {
        name: pa.table(
            {column: pa.chunked_array([_arrow(part[column], part, texts) for part in tables]) for column in tables[0]}
        )
        for name, tables in parts.items()
    }


def _arrow(values: object, part: dict[str, object], texts: dict[int, tuple[np.ndarray, pa.Array]]) -> pa.Array:
    """One book's column as Arrow: a key repeated over the book's rows, datetime64 as UTC
    timestamps of the same unit, anything else with NaN/None as null."""
    if isinstance(values, str):
        rows = len(next(v for v in part.values() if not isinstance(v, str)))  # type: ignore[arg-type]
        return pa.repeat(values, rows)
    array = np.asarray(values)
    if array.dtype.kind == "M":
        return pa.array(array, type=pa.timestamp(np.datetime_data(array.dtype)[0], "UTC"))
    if array.dtype == object:
        if id(array) not in texts:  # the array is kept in ``texts`` with its conversion, so its id stays its own
            texts[id(array)] = (array, pa.array(array, from_pandas=True))
        return texts[id(array)][1]
    return pa.array(array, from_pandas=True)
