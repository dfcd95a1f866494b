"""The sweep's ``heatmap.png``: the ranking metric over a two-parameter grid.

Drawing it costs mostly matplotlib's import (~0.5 s CPU). ``HeatmapProcess`` forks a process that imports
matplotlib at once, while this one imports pandas and the engines and loads the bars (the
``sweep`` command forks it first thing; this module imports only numpy), then waits for
the figure's data (``HeatmapSpec``) and draws it while this one finishes the
walk-forward and the reference books. It runs niced (``DRAWING_NICENESS``): it yields the
CPU to the sweep's workers and imports and draws mostly with a core they leave idle.
``draw`` alone draws in this process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
import warnings
from dataclasses import dataclass
from io import BytesIO
from multiprocessing.connection import Connection
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from carryguard.backtests.run import forked

if TYPE_CHECKING:
    from carryguard.backtests.sweep.evaluate import SweepResult

# The drawing process's niceness: the spec arrives while the sweep's workers still run the
# walk-forward; at full priority the drawing took CPU from them (~0.1 s of the command's wall time).
DRAWING_NICENESS = 10
WINDOW_PARAMS = frozenset({"fast", "slow", "lookback", "entry", "exit", "window", "period", "vol_window"})
# What the unitless metrics measure (the others carry their unit in the name, e.g. "Return [%]").
METRIC_MEANING = {
    "Sharpe Ratio": "annualised, no unit",
    "Sortino Ratio": "annualised, no unit",
    "Calmar Ratio": "CAGR / |max. drawdown|",
    "Profit Factor": "gross profit / gross loss",
    "# Trades": "round trips",
    "Turnover": "traded notional / mean equity",
}


@dataclass(frozen=True)
class HeatmapSpec:
    """Everything drawn, as plain data (sent to the drawing process): cell values
    (y x x, NaN blank), the cells' centres, the best combo's point and the labels."""

    values: np.ndarray
    x: np.ndarray
    y: np.ndarray
    best: tuple[float, float]
    best_label: str
    x_label: str
    y_label: str
    title: str
    colorbar_label: str


def heatmap_axes(result: SweepResult) -> tuple[str, str] | None:
    """(y, x) parameter names when the sweep is a grid over exactly two parameters."""
    varying = [name for name in result.param_names if result.frame[name].nunique() > 1]
    if result.study.search != "grid" or len(varying) != 2:
        return None
    return varying[0], varying[1]


def _label(name: str, timeframe: str) -> str:
    return f"{name} ({timeframe} bars)" if name in WINDOW_PARAMS else name


def metric_label(metric: str) -> str:
    """The colour bar's label: the metric's name with its unit or what it measures."""
    return f"{metric} ({METRIC_MEANING[metric]})" if metric in METRIC_MEANING else metric


def heatmap_spec(result: SweepResult, axes: tuple[str, str]) -> HeatmapSpec:
    """The heatmap of ``result``'s ranking metric over the ``axes`` (y, x) grid."""
    y_name, x_name = axes
    study, metric = result.study, result.study.metric
    table = result.frame.pivot_table(index=y_name, columns=x_name, values=metric, aggfunc="first")
    best = result.best()["params"]
    first, last = result.frame["Start"].iloc[0][:10], result.frame["End"].iloc[0][:10]
    return HeatmapSpec(
        values=table.to_numpy(dtype="float64"),
        x=table.columns.to_numpy(dtype="float64"),
        y=table.index.to_numpy(dtype="float64"),
        best=(best[x_name], best[y_name]),
        best_label=f"best: {y_name}={best[y_name]}, {x_name}={best[x_name]}",
        x_label=_label(x_name, study.timeframe),
        y_label=_label(y_name, study.timeframe),
        title=f"{study.name}: {metric} of {study.strategy} on {study.symbol} "
        f"{study.timeframe}\n{first} to {last}, {len(result.frame):,} combos",
        colorbar_label=metric_label(metric),
    )


def draw(spec: HeatmapSpec, target: Path | BinaryIO) -> None:
    """Write ``spec`` as a PNG to a file or a binary stream (blank cells: combos excluded by a constraint or with no
    value) on matplotlib's Agg canvas; no pyplot (its import and figure manager cost more
    than the drawing)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(10, 7), dpi=110)
    ax = figure.subplots()
    values = np.ma.masked_invalid(spec.values)
    mesh = ax.pcolormesh(_edges(spec.x), _edges(spec.y), values, cmap="viridis", shading="flat")
    ax.plot(*spec.best, marker="*", color="red", markersize=14, linestyle="none", label=spec.best_label)
    ax.set_xlabel(spec.x_label)
    ax.set_ylabel(spec.y_label)
    ax.set_title(spec.title)
    ax.legend(loc="upper right")
    figure.colorbar(mesh, ax=ax).set_label(spec.colorbar_label)
    figure.tight_layout()
    figure.savefig(target, format="png")


def _edges(centres: np.ndarray) -> np.ndarray:
    """Cell edges around sorted centres (half way between neighbours)."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])
    middle = (centres[1:] + centres[:-1]) / 2
    return np.concatenate([[2 * centres[0] - middle[0]], middle, [2 * centres[-1] - middle[-1]]])


class HeatmapProcess:
    """A forked process that imports matplotlib now and draws one heatmap when ``draw``
    sends it; ``png`` returns the image. Use as a context manager: leaving the block
    without ``draw`` (an error, or no two-parameter grid) ends the process unused."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(child, self._conn), daemon=True)
        forked.start(self._process)
        child.close()

    def draw(self, spec: HeatmapSpec) -> None:
        """Start drawing ``spec`` in the process (returns at once)."""
        self._conn.send(spec)

    def cancel(self) -> None:
        """End the process now, unused (e.g. the study is not a grid): no import left running."""
        self._process.terminate()

    def png(self) -> bytes:
        """The PNG drawn (waits for it); RuntimeError if the drawing process failed."""
        try:
            return bytes(self._conn.recv_bytes())
        except EOFError:
            self._process.join()
            raise RuntimeError(f"drawing the sweep heatmap failed (exit code {self._process.exitcode})") from None

    def __enter__(self) -> HeatmapProcess:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        if kind is not None:  # an error (e.g. a bad study file): do not wait for matplotlib's import
            self._process.terminate()
        self._conn.close()  # without a spec the process reads end of file and exits
        self._process.join()


def _serve(conn: Connection, parent_end: Connection) -> None:
    """In the forked process: import matplotlib, then draw what arrives (if anything).
    The parent's end, inherited by the fork, is closed first: else no end of file. SIGTERM
    (``cancel``) ends it whatever handler the parent had installed."""
    forked.default_sigterm()
    parent_end.close()
    os.nice(DRAWING_NICENESS)
    _import_matplotlib()  # the slow part: done while waiting
    try:
        spec = conn.recv()
    except EOFError:
        return
    image = BytesIO()
    draw(spec, image)
    conn.send_bytes(image.getvalue())


def _import_matplotlib() -> None:
    """Import ``matplotlib.figure`` without ``mpl_toolkits.mplot3d``, which matplotlib imports
    only to register its 3D projection (about a sixth of the import; a heatmap draws no 3D
    axes): blocked meanwhile, it costs matplotlib one warning, silenced here. For the
    drawing process only (this process's matplotlib then has no 3D projection)."""
    blocked = "mpl_toolkits.mplot3d" not in sys.modules
    if blocked:
        sys.modules["mpl_toolkits.mplot3d"] = None  # type: ignore[assignment]  # its import raises ImportError
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Unable to import Axes3D")
            import matplotlib.figure  # noqa: F401
    finally:
        if blocked:
            del sys.modules["mpl_toolkits.mplot3d"]
