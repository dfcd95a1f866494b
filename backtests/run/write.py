"""Write a study run to ``results/<run-id>/`` (the results layout read by compare/report).

Files: ``manifest.json`` (resolved study, engine, data fingerprints, warm-up bars read
before the start per series and strategy, versions, seed),
``metrics.json`` (no run timestamps: byte-identical for the same inputs), and the long
CSV tables ``equity.csv``, ``exposure.csv``, ``fills.csv``, ``trades.csv``,
``prices.csv`` and ``risk.csv``. Every per-book table starts with the book keys
``strategy, symbol, timeframe, overlay`` (``overlay`` = the sizing policy's name,
``none`` for the unsized book; folders written before policies hold true/false).
Times are bar open times (the frame convention), except ``risk.csv`` whose ``time`` is
the reading's time (00:00 UTC each day, i.e. the close of the previous daily bar).
"""

from __future__ import annotations

import json
import math
import platform
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path

import pandas as pd

from carryguard.backtests.run.runner import RunResult, StudyRun

BOOK_KEYS = ["strategy", "symbol", "timeframe", "overlay"]
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


def write_results(run: StudyRun, results_dir: str | Path = "results", *, created_at: datetime | None = None) -> Path:
    """Write ``run`` under ``results_dir/<YYYYmmdd-HHMMSS>-<study name>/`` and return the folder."""
    created = (created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    folder = new_run_dir(results_dir, run.study.name, created_at=created)
    _write_json(folder / "manifest.json", manifest(run, run_id=folder.name, created_at=created))
    _write_json(folder / "metrics.json", metrics_document(run))
    results = sorted(run.results, key=result_order)
    _csv(
        pd.concat(
            [
                _book_frame(
                    r, pd.DataFrame({"equity": r.book.equity, "cash": r.book.cash, "position": r.book.position})
                )
                for r in results
            ]
        ),
        folder / "equity.csv",
    )
    _csv(pd.concat([_book_frame(r, r.exposure) for r in results]), folder / "exposure.csv")
    _csv(pd.concat([_keyed(r, r.book.fills) for r in results]), folder / "fills.csv")
    _csv(pd.concat([_keyed(r, r.book.trades) for r in results]), folder / "trades.csv")
    prices = [
        bars[["open", "high", "low", "close"]].reset_index().assign(symbol=symbol, timeframe=timeframe)
        for (symbol, timeframe), bars in sorted(run.bars.items())
    ]
    _csv(pd.concat(prices)[["time", "symbol", "timeframe", "open", "high", "low", "close"]], folder / "prices.csv")
    _csv(run.risk[["score", "regime"]].reset_index(), folder / "risk.csv")
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
    """A metric value as written to JSON: finite floats rounded, NaN/inf as None."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if math.isfinite(value) else None
    return value


def manifest(run: StudyRun, *, run_id: str, created_at: datetime) -> dict[str, object]:
    """The JSON-ready manifest: what ran, on which data (content hashes), with which versions."""
    return {
        "run_id": run_id,
        "created_at": created_at.isoformat(),
        "study": run.study.to_dict(),
        "engine": run.engine,
        "data": {
            sid: {
                "content_hash": meta.content_hash,
                "first": meta.first,
                "last": meta.last,
                "rows": meta.rows,
                "origin": meta.origin,
            }
            for sid, meta in run.data.items()
        },
        "warmup_bars": run.warmup,
        "versions": {name: version(name) for name in ("carryguard", "pandas", "numpy", "backtrader")}
        | {"python": platform.python_version()},
        "seed": SEED,
    }


def _book_frame(result: RunResult, frame: pd.DataFrame) -> pd.DataFrame:
    """A per-bar frame with the book keys after ``time``."""
    return _keyed(result, frame.reset_index())


def _keyed(result: RunResult, frame: pd.DataFrame) -> pd.DataFrame:
    keys = dict(zip(BOOK_KEYS, result_key(result), strict=False))
    rest = [c for c in frame.columns if c != "time"]
    lead = ["time"] if "time" in frame.columns else []
    return frame.assign(**keys)[lead + BOOK_KEYS + rest]


def _csv(frame: pd.DataFrame, path: Path) -> None:
    frame.to_csv(path, index=False, lineterminator="\n")


def _write_json(path: Path, data: object) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")
