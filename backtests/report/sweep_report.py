"""``SWEEP_DIR/report.html``: a sweep folder as one self-contained, interactive page.

Read from the sweep folder alone (``sweep.parquet``, ``summary.json``, ``equity.csv`` and
with walk-forward ``walkforward.json``): the best books, each one row naming every combo
that makes it (the sweep's ``book`` column: e.g. a hysteresis that never binds); one
heatmap per pair of varying parameters (the best value of the metric over the other
parameters), so any number of parameters is drawn; the walk-forward folds and the
out-of-sample metrics against the in-sample ones; the stitched out-of-sample equity
against the in-sample best and the untuned default over the whole window
(``sweep.reference``).
"""

from __future__ import annotations

import json
import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from carryguard.backtests.report.html import templates
from carryguard.backtests.report.interactive import LAYOUT, fragment, line, plotly_script, stacked
from carryguard.backtests.report.style import CARRY, MARKET, PLAIN
from carryguard.backtests.sweep.evaluate import BOOK
from carryguard.backtests.sweep.reference import DEFAULT, IN_SAMPLE_BEST, OUT_OF_SAMPLE

FIRST_METRIC = "Start"  # sweep.parquet: the parameter columns come before it
TOP = 15
HEADLINE = ("Sharpe Ratio", "Return [%]", "Max. Drawdown [%]", "Calmar Ratio", "# Trades")


def parameters(frame: pd.DataFrame) -> list[str]:
    """The parameter columns of sweep.parquet (those before the first metric)."""
    return list(frame.columns[: list(frame.columns).index(FIRST_METRIC)])


def merged_top(frame: pd.DataFrame, metric: str, count: int = TOP) -> list[dict[str, object]]:
    """The best ``count`` distinct books by ``metric``, each with every combo that makes it
    (``BOOK``; a folder written before that column: each combo its own book)."""
    params = parameters(frame)
    metrics = [c for c in frame.columns if c not in params and c != BOOK]
    books = frame[BOOK] if BOOK in frame else pd.Series(range(len(frame)), index=frame.index)
    rows = []
    for book, group in frame.groupby(books, sort=False):
        first = frame.iloc[int(book)]
        combos = [", ".join(f"{p}={_plain(r[p])}" for p in params) for _, r in group.iterrows()]
        rows.append({"combos": combos, "metrics": {m: first[m] for m in metrics}, "score": first[metric]})
    rows.sort(key=lambda r: -math.inf if pd.isna(r["score"]) else float(r["score"]), reverse=True)
    return rows[:count]


def _plain(value: object) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def pair_heatmaps(frame: pd.DataFrame, metric: str) -> list[str]:
    """One heatmap per pair of varying parameters: the best ``metric`` over the other parameters."""
    varying = [p for p in parameters(frame) if frame[p].nunique() > 1]
    figures = []
    for y, x in combinations(varying, 2):
        grid = frame.pivot_table(index=y, columns=x, values=metric, aggfunc="max")
        values = grid.to_numpy(dtype="float64")
        figure = {
            "data": [
                {
                    "type": "heatmap",
                    "x": list(range(len(grid.columns))),
                    "y": list(range(len(grid.index))),
                    "z": [[None if np.isnan(v) else round(float(v), 4) for v in row] for row in values],
                    "text": [["" if np.isnan(v) else f"{v:.2f}" for v in row] for row in values],
                    "texttemplate": "%{text}",
                    "colorscale": [[0, "#b3261e"], [0.5, "#ffffff"], [1, "#17702b"]],
                    "colorbar": {"title": {"text": metric}},
                    "customdata": [[f"{y}={_plain(a)} {x}={_plain(b)}" for b in grid.columns] for a in grid.index],
                    "hovertemplate": "%{customdata}: %{z:.3f}<extra></extra>",
                }
            ],
            "layout": {
                **LAYOUT,
                "hovermode": "closest",
                "height": 320,
                "margin": {"l": 70, "r": 20, "t": 50, "b": 50},
                "title": {"text": f"best {metric} by {y} and {x}", "font": {"size": 12}, "x": 0, "y": 0.98},
                "xaxis": {
                    "title": {"text": x},
                    "tickvals": list(range(len(grid.columns))),
                    "ticktext": [_plain(v) for v in grid.columns],
                },
                "yaxis": {
                    "title": {"text": y},
                    "tickvals": list(range(len(grid.index))),
                    "ticktext": [_plain(v) for v in grid.index],
                },
            },
        }
        figures.append(fragment(figure, f"pair-{y}-{x}".replace(".", "_")))
    return figures


COLOURS = {OUT_OF_SAMPLE: CARRY, IN_SAMPLE_BEST: PLAIN, DEFAULT: MARKET}
LABELS = {
    OUT_OF_SAMPLE: "out-of-sample (walk-forward picks joined)",
    IN_SAMPLE_BEST: "in-sample best (whole window)",
    DEFAULT: "default, untuned (whole window)",
}


def equity_figure(folder: Path) -> str | None:
    """The stitched out-of-sample equity against the in-sample best and the default (log
    scale), or None for a folder without ``equity.csv``."""
    path = folder / "equity.csv"
    if not path.is_file():
        return None
    frame = pd.read_csv(path, index_col="time", parse_dates=["time"])
    layout = stacked([1.0], 380, ["Equity [$, log]"])
    layout["yaxis"]["type"] = "log"
    data = [
        line(
            frame[name].dropna(),
            LABELS.get(name, name),
            COLOURS.get(name, PLAIN),
            dash="solid" if name == OUT_OF_SAMPLE else "dot",
        )
        for name in frame.columns
    ]
    return fragment({"data": data, "layout": layout}, "equity-chart")  # the section is "equity"


def write_sweep_report(folder: Path) -> Path:
    """Write ``folder/report.html`` for the sweep folder ``folder``."""
    frame = pd.read_parquet(folder / "sweep.parquet")
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    walk_path = folder / "walkforward.json"
    walk = json.loads(walk_path.read_text(encoding="utf-8")) if walk_path.is_file() else None
    metric = str(summary.get("metric", "Sharpe Ratio"))
    html = (
        templates()
        .get_template("sweep.html")
        .render(
            summary=summary,
            metric=metric,
            headline=[m for m in dict.fromkeys((metric, *HEADLINE)) if m in frame.columns],
            top=merged_top(frame, metric),
            combos=len(frame),
            pairs=pair_heatmaps(frame, metric),
            walk=walk,
            folds=_folds(walk),
            equity=equity_figure(folder),
            references=summary.get("reference_books", []),
            labels=LABELS,
            plotly_js=plotly_script(),
        )
    )
    path = folder / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def _folds(walk: dict | None) -> list[dict[str, object]]:
    """The folds with their test length in days (a short last fold is marked)."""
    if not walk:
        return []
    rows = []
    test_days = pd.Timedelta(str(walk.get("test", "0D"))) / pd.Timedelta(days=1)
    for fold in walk["folds"]:
        days = (pd.Timestamp(fold["test_end"]) - pd.Timestamp(fold["test_start"])) / pd.Timedelta(days=1) + 1
        rows.append({**fold, "days": days, "short": days < test_days / 2})
    return rows
