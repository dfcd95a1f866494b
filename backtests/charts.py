"""The report's charts, drawn headless (matplotlib Agg) from a run folder.

One figure of each kind per symbol and timeframe: equity curves (log scale; solid without
the overlay, dashed with it, one colour per strategy, baselines labelled), drawdowns,
and exposure against the risk index with its regimes as background bands.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from backtests.run_folder import REGIMES, BookKey, RunFolder  # noqa: E402

REGIME_COLOURS = {"calm": "#d9f0d3", "elevated": "#fff2b3", "stress": "#fdd0a2", "crisis": "#f4a6a6"}
SIZE = (12.0, 5.0)
OUTSIDE = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": 8}  # legend right of the plot
DPI = 100


@dataclass(frozen=True)
class Chart:
    """A drawn chart: ``slug`` names its PNG file, ``title`` its heading in the report."""

    slug: str
    title: str
    figure: Figure

    @property
    def kind(self) -> str:
        """``equity``, ``drawdown`` or ``exposure``."""
        return self.slug.split("_")[0]

    def png(self) -> bytes:
        buffer = io.BytesIO()
        self.figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
        return buffer.getvalue()


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI, to embed in HTML without a separate file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def run_charts(run: RunFolder) -> list[Chart]:
    """Equity, drawdown and exposure-vs-risk charts for every symbol/timeframe of the run."""
    charts = []
    for symbol, timeframe in _markets(run):
        books = [k for k in run.books if (k.symbol, k.timeframe) == (symbol, timeframe)]
        tag = f"{symbol.replace('/', '-')}_{timeframe}"
        charts.append(Chart(f"equity_{tag}", f"Equity curves, {symbol} {timeframe}", equity_figure(run, books)))
        charts.append(Chart(f"drawdown_{tag}", f"Drawdowns, {symbol} {timeframe}", drawdown_figure(run, books)))
        charts.append(Chart(f"exposure_{tag}", f"Exposure vs risk index, {symbol} {timeframe}",
                            exposure_figure(run, books)))
    return charts


def close_all(charts: list[Chart]) -> None:
    for chart in charts:
        plt.close(chart.figure)


def _markets(run: RunFolder) -> list[tuple[str, str]]:
    return list(dict.fromkeys((k.symbol, k.timeframe) for k in run.books))


def _colours(books: list[BookKey]) -> dict[str, tuple]:
    names = list(dict.fromkeys(k.strategy for k in books))
    palette = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: palette(i % palette.N) for i, name in enumerate(names)}


def _label(run: RunFolder, key: BookKey) -> str:
    return key.label + (" (baseline)" if run.is_baseline(key) else "")


def _style(run: RunFolder, key: BookKey, colours: dict[str, tuple]) -> dict[str, object]:
    return {"color": colours[key.strategy], "linestyle": "--" if key.overlay else "-",
            "linewidth": 1.0 if run.is_baseline(key) else 1.6, "label": _label(run, key)}


def _dates(ax: plt.Axes) -> None:
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("Date (UTC)")
    ax.grid(True, alpha=0.3)


def _new(rows: int = 1) -> tuple[Figure, list[plt.Axes]]:
    figure, axes = plt.subplots(rows, 1, figsize=(SIZE[0], SIZE[1] * (1 if rows == 1 else 1.4)), sharex=True,
                                squeeze=False, layout="constrained")
    return figure, list(axes[:, 0])


def equity_figure(run: RunFolder, books: list[BookKey]) -> Figure:
    figure, (ax,) = _new()
    colours = _colours(books)
    for key in books:
        equity = run.equity[key]["equity"]
        ax.plot(equity.index, equity.where(equity > 0), **_style(run, key, colours))
    ax.set_yscale("log")
    ax.set_title(f"Equity, {books[0].symbol} {books[0].timeframe} (solid: no overlay, dashed: +carry overlay)")
    ax.set_ylabel("Equity [$] (log scale)")
    ax.legend(**OUTSIDE)
    _dates(ax)
    return figure


def drawdown_figure(run: RunFolder, books: list[BookKey]) -> Figure:
    figure, (ax,) = _new()
    colours = _colours(books)
    for key in books:
        equity = run.equity[key]["equity"]
        ax.plot(equity.index, (equity / equity.cummax() - 1.0) * 100.0, **_style(run, key, colours))
    ax.set_title(f"Drawdown from the running peak, {books[0].symbol} {books[0].timeframe}")
    ax.set_ylabel("Drawdown [%]")
    ax.legend(**OUTSIDE)
    _dates(ax)
    return figure


def exposure_figure(run: RunFolder, books: list[BookKey]) -> Figure:
    figure, (top, bottom) = _new(rows=2)
    overlay_books = [k for k in books if k.overlay and k in run.exposure] or [k for k in books if k in run.exposure]
    risk = run.risk
    if len(risk):
        start, end = run.equity[books[0]].index[[0, -1]]
        risk = risk.loc[start:end]
    for ax in (top, bottom):
        _regime_bands(ax, risk)
    if len(risk):
        top.plot(risk.index, risk["score"], color="black", linewidth=1.2, label="risk index score")
    else:
        top.text(0.5, 0.5, "no risk index in this run", transform=top.transAxes, ha="center")
    top.set_ylim(0, 100)
    top.set_ylabel("Risk index [0-100]")
    top.set_title(f"Carry-unwind risk index and exposure, {books[0].symbol} {books[0].timeframe}")
    handles = [Patch(facecolor=REGIME_COLOURS[r], label=r) for r in REGIMES]
    top.legend(handles=[*top.get_legend_handles_labels()[0], *handles], title="regime bands", **OUTSIDE)
    colours = _colours(books)
    for key in overlay_books:
        exposure = run.exposure[key]["final_exposure"] * 100.0
        bottom.step(exposure.index, exposure, where="post", color=colours[key.strategy], linewidth=1.0, alpha=0.8,
                    label=_label(run, key) + " final exposure")
    if overlay_books and overlay_books[0].overlay:
        multiplier = run.exposure[overlay_books[0]]["multiplier"] * 100.0
        bottom.step(multiplier.index, multiplier, where="post", color="black", linewidth=1.4, label="risk multiplier")
    bottom.set_ylim(-5, 105)
    bottom.set_ylabel("Exposure [% of equity]")
    bottom.legend(**OUTSIDE)
    _dates(top)
    top.set_xlabel("")
    _dates(bottom)
    return figure


def _regime_bands(ax: plt.Axes, risk: pd.DataFrame) -> None:
    """Shade each day by the risk index's regime (no shade where it is unknown)."""
    if not len(risk):
        return
    regime = risk["regime"].to_numpy()
    for name in REGIMES:
        days = regime == name
        days[1:] |= days[:-1]  # reach the next day's start, so adjacent bands leave no white seam
        ax.fill_between(risk.index, 0, 1, where=days, step="post", color=REGIME_COLOURS[name],
                        transform=ax.get_xaxis_transform(), linewidth=0)
