"""Write a sweep to ``results/<run-id>/``: the per-combo table, the summary, a heatmap.

Files: ``sweep.parquet`` (one row per combo: parameters, then the metrics of
``carryguard.backtests.engine.metrics``, in combo order, then ``book``: the row of the first
combo with the same book), ``summary.json`` (what ``carryguard sweep --json`` prints:
sizes, timing, best book, top N distinct books each with the other combos it stands for
in ``same_as``, the reference books, walk-forward), ``manifest.json`` (resolved study,
executor, data fingerprints, versions), ``heatmap.png`` for a two-parameter grid,
``equity.csv`` (equity at each close of the in-sample best and the default combo over
the window and, with walk-forward, of the out-of-sample book: ``sweep.reference``) and
with walk-forward ``walkforward.json``.
"""

from __future__ import annotations

import csv
import io
import platform
from collections.abc import Callable
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carryguard.backtests.run import write as results
from carryguard.backtests.run.layout import CHECKSUMS, MANIFEST, checksums
from carryguard.backtests.sweep.evaluate import BOOK, SweepResult
from carryguard.backtests.sweep.heatmap import draw, heatmap_axes, heatmap_spec
from carryguard.backtests.sweep.reference import ReferenceBook, equity_frame
from carryguard.backtests.sweep.study import OVERLAY_PREFIX
from carryguard.backtests.sweep.walkforward import WalkForwardResult
from carryguard.signals.json_file import json_ready, write_json

HEATMAP = "heatmap.png"


def new_run_dir(results_dir: str | Path, name: str, *, created_at: datetime | None = None) -> Path:
    """``results_dir/<YYYYmmdd-HHMMSS>-<name>`` (as for backtests), created. Pass the same
    ``created_at`` (default now) to ``write_sweep`` so the manifest's time is the name's."""
    created = (created_at or datetime.now(UTC)).astimezone(UTC)
    return results.new_run_dir(results_dir, name, created_at=created)


def summary(
    result: SweepResult,
    run_dir: Path | None,
    walkforward: WalkForwardResult | None = None,
    references: list[ReferenceBook] | None = None,
) -> dict[str, Any]:
    """The sweep's summary (also ``--json``'s output)."""
    top = [
        {**{name: value for name, value in row.items() if name != BOOK}, "same_as": result.same_as(int(position))}
        for position, row in result.ranked().head(result.study.top).iterrows()
    ]
    return json_ready(
        {
            "run_dir": str(run_dir) if run_dir is not None else None,
            "study": result.study.name,
            "strategy": result.study.strategy,
            "overlay": result.study.overlay,
            "series": f"{result.study.source}/{result.study.symbol}/{result.study.timeframe}",
            "combos": len(result.frame),
            "distinct_books": result.books,
            "bars": result.bars,
            "warmup_bars": result.warmup_bars,
            "seconds": round(result.seconds, 6),
            "bar_steps_per_second": round(result.bar_steps_per_second, 1),
            "setup_seconds": round(result.setup_seconds, 6),
            "executor": result.executor,
            "workers": result.workers,
            "metric": result.study.metric,
            "best": result.best(),
            "top": top,
            "reference_books": [book.to_dict() for book in references or ()],
            "walkforward": walkforward.to_dict() if walkforward is not None else None,
        }
    )


def write_sweep(
    result: SweepResult,
    run_dir: Path,
    *,
    data: dict[str, Any],
    walkforward: WalkForwardResult | None = None,
    references: list[ReferenceBook] | None = None,
    created_at: datetime | None = None,
    heatmap_png: Callable[[], bytes] | None = None,
) -> dict[str, Any]:
    """Write every file of the sweep into ``run_dir``; returns the summary written.
    ``created_at``: the time ``new_run_dir`` named the folder after (default now).
    ``heatmap_png``: the heatmap drawn elsewhere (``HeatmapProcess.png``), called last
    before the manifest; default: drawn here for a two-parameter grid."""
    result.frame.to_parquet(run_dir / "sweep.parquet", index=False)
    doc = summary(result, run_dir, walkforward, references)
    created = (created_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    write_json(run_dir / "summary.json", doc, default=str)
    if references:
        write_csv(equity_frame(references), run_dir / "equity.csv")
    if walkforward is not None:
        write_json(run_dir / "walkforward.json", walkforward.to_dict(), default=str)
    if heatmap_png is not None:
        (run_dir / HEATMAP).write_bytes(heatmap_png())
    elif (grid := heatmap_axes(result)) is not None:
        draw(heatmap_spec(result, grid), run_dir / HEATMAP)
    files = sorted(p.name for p in run_dir.iterdir() if p.name != MANIFEST)
    write_json(  # last, with the checksums of every other file
        run_dir / MANIFEST,
        {
            "run_id": run_dir.name,
            "created_at": created.isoformat(),
            "kind": "sweep",
            "study": result.study.to_dict(),
            "engine": "fast",
            "executor": result.executor,
            "workers": result.workers,
            "data": data,
            "versions": {name: version(name) for name in ("carryguard", "pandas", "numpy", "numba", "distributed")}
            | {"python": platform.python_version()},
            "seed": result.study.seed,
            CHECKSUMS: checksums(run_dir, files),
        },
        default=str,
    )
    return doc


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """``frame.to_csv(path, lineterminator="\\n")``, the same bytes, about 4x faster for float
    columns on a UTC index of whole seconds (pandas formats every timestamp and float
    through Python objects); any other frame goes through pandas."""
    index = frame.index
    plain = (
        isinstance(index, pd.DatetimeIndex)
        and str(index.tz) == "UTC"
        and not index.hasnans
        and all(dtype == np.float64 for dtype in frame.dtypes)
        and bool((index == index.floor("s")).all())
    )
    if not plain:
        frame.to_csv(path, lineterminator="\n")
        return
    times = np.datetime_as_string(index.tz_convert(None).to_numpy(), unit="s").tolist()
    columns = [[f"{time[:10]} {time[11:]}+00:00" for time in times]]
    columns += [_float_texts(frame[name].to_numpy()) for name in frame.columns]
    header = io.StringIO()
    csv.writer(header, lineterminator="\n").writerow([index.name or "", *frame.columns])
    body = "\n".join(map(",".join, zip(*columns, strict=True)))
    path.write_text(header.getvalue() + body + "\n", encoding="utf-8", newline="")


def _float_texts(values: np.ndarray) -> list[str]:
    """Each value as pandas writes it (repr of a float64, numpy's astype(str); NaN blank),
    formatted once per distinct value (an equity curve repeats itself while flat); zeros
    one by one (unique would merge -0.0 and 0.0)."""
    if (values == 0.0).any():
        return ["" if v != v else repr(v) for v in values.tolist()]
    distinct, at = np.unique(values, return_inverse=True)  # every NaN is one distinct value
    texts = ["" if v != v else repr(v) for v in distinct.tolist()]
    return [texts[i] for i in at.tolist()]


def top_rows(result: SweepResult, columns: list[str], *, one_column: bool = False) -> list[list[str]]:
    """The summary table's rows: rank, parameters (one ``compact`` cell with ``one_column``),
    the chosen metric columns, then the other combos of the same book (``same_as_cell``)."""
    rows = []
    for rank, (position, row) in enumerate(result.ranked().head(result.study.top).iterrows(), start=1):
        params = result.params(int(position))
        shown = [compact(params)] if one_column else [str(row[p]) for p in result.param_names]
        rows.append(
            [str(rank), *shown, *(cell(row[c]) for c in columns), same_as_cell(params, result.same_as(int(position)))]
        )
    return rows


def same_as_cell(params: dict[str, Any], others: list[dict[str, Any]]) -> str:
    """The other combos of one book, each by the parameters where it differs from
    ``params``: ``"ov.hysteresis=5.0; ov.hysteresis=10.0"`` ("" when the book is one combo)."""
    return "; ".join(compact({k: v for k, v in other.items() if params.get(k) != v}) for other in others)


def short(name: str) -> str:
    """A parameter's column header: ``overlay.stress`` -> ``ov.stress``."""
    return "ov." + name[len(OVERLAY_PREFIX) :] if name.startswith(OVERLAY_PREFIX) else name


def compact(params: dict[str, Any]) -> str:
    """``{"fast": 5, "overlay.stress": 0.5}`` -> ``"fast=5 ov.stress=0.5"``."""
    return " ".join(f"{short(k)}={v}" for k, v in params.items())


def cell(value: Any) -> str:
    """A number in the sweep's terminal tables: floats with 2 decimals, "n/a" for
    None/NaN (a metric with no value), anything else as text."""
    if value is None or (isinstance(value, (float, np.floating)) and not np.isfinite(value)):
        return "n/a"
    return f"{value:,.2f}" if isinstance(value, (float, np.floating)) else str(value)
