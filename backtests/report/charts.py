"""The report's charts, drawn headless (matplotlib Agg) from a run folder.

One figure of each kind per symbol and timeframe. Equity and drawdown charts are small
multiples: one panel per strategy with the same axes, the book without an overlay (solid
blue, thicker) against the same book under every overlay of the run (one colour each, the
same colours as the interactive charts) and the market's buy & hold (grey), so each panel
answers "which overlay helped this strategy, and when?" (56 lines in one plot answer nothing).
Panels are laid out with fixed margins (matplotlib's constrained layout drew every figure
twice and took most of the PNG time). The exposure chart stacks the risk index with its
regimes as background bands, the overlay's risk multiplier, and a heatmap of every
overlay book's final exposure on the same date axis. Exposure rows are drawn at their
decision time (the bar's close, when the risk reading they used was taken, and from the
next open on they are held), not at the bar's open time as stored: drawn there, the
multiplier would seem to move a bar before the risk index did.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from carryguard.backtests.report.figures import new_figure, png_bytes
from carryguard.backtests.report.style import MARKET, PLAIN, REGIME_COLOURS, overlay_colour
from carryguard.backtests.run.folder import BookKey, RunFolder
from carryguard.signals.availability import timeframe_delta
from carryguard.signals.risk import REGIMES

WIDTH = 12.0  # inches; at DPI 100 the PNG is 1,200 px wide, the report's column
PANEL_HEIGHT = 2.4


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
        return png_bytes(self.figure)


def data_uri(png: bytes) -> str:
    """A PNG as a ``data:`` URI, to embed in HTML without a separate file."""
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


@dataclass(frozen=True)
class ChartJob:
    """A chart still to draw: ``draw`` builds its figure from the run (one job per PNG, so
    two processes can share the drawing one chart at a time)."""

    slug: str
    title: str
    builder: Callable[[RunFolder, list[BookKey]], Figure]
    books: list[BookKey]

    def draw(self, run: RunFolder) -> Chart:
        return Chart(self.slug, self.title, self.builder(run, self.books))


def chart_jobs(run: RunFolder) -> list[ChartJob]:
    """Equity, drawdown and exposure-vs-risk charts for every symbol/timeframe of the run, undrawn."""
    jobs = []
    for symbol, timeframe in _markets(run):
        books = [k for k in run.books if (k.symbol, k.timeframe) == (symbol, timeframe)]
        tag = f"{symbol.replace('/', '-')}_{timeframe}"
        jobs.append(ChartJob(f"equity_{tag}", f"Equity curves, {symbol} {timeframe}", equity_figure, books))
        jobs.append(ChartJob(f"drawdown_{tag}", f"Drawdowns, {symbol} {timeframe}", drawdown_figure, books))
        jobs.append(
            ChartJob(f"exposure_{tag}", f"Exposure vs risk index, {symbol} {timeframe}", exposure_figure, books)
        )
    return jobs


def run_charts(run: RunFolder) -> list[Chart]:
    """Equity, drawdown and exposure-vs-risk charts for every symbol/timeframe of the run."""
    return [job.draw(run) for job in chart_jobs(run)]


def _markets(run: RunFolder) -> list[tuple[str, str]]:
    return list(dict.fromkeys((k.symbol, k.timeframe) for k in run.books))


def _strategies(run: RunFolder, books: list[BookKey]) -> list[str]:
    """Strategy names of ``books``: the non-baselines first, each group in run order."""
    names = list(dict.fromkeys(k.strategy for k in books))
    return sorted(names, key=lambda name: name in run.baselines)


def _dates(ax: Axes, *, label: bool = True) -> None:
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if label:
        ax.set_xlabel("Date (UTC)")
    ax.grid(True, alpha=0.3)


def _panels(count: int) -> tuple[Figure, list[Axes]]:
    """A grid of ``count`` panels (two columns from two strategies on) sharing both axes,
    with fixed margins: the title above, the legend below."""
    columns = 1 if count == 1 else 2
    rows = math.ceil(count / columns)
    height = 1.5 + PANEL_HEIGHT * rows
    figure = new_figure(WIDTH, height)
    axes = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    figure.subplots_adjust(left=0.07, right=0.99, top=1 - 0.55 / height, bottom=0.95 / height, hspace=0.25, wspace=0.08)
    flat = list(axes.ravel())
    for spare in flat[count:]:
        spare.set_visible(False)
    for i, ax in enumerate(flat[:count]):
        lowest = i >= count - columns  # the lowest panel of its column: dates and their label under it
        _dates(ax, label=lowest)
        ax.tick_params(labelbottom=lowest)
    return figure, flat[:count]


def _panel_title(run: RunFolder, ax: Axes, strategy: str) -> None:
    # an explicit y keeps matplotlib from measuring every tick label to place the title (~20% of the drawing)
    ax.set_title(strategy + (" (baseline)" if strategy in run.baselines else ""), fontsize=10, loc="left", y=1.0)


def _legend(figure: Figure, handles: list) -> None:
    figure.legend(
        handles=handles, loc="lower center", ncols=min(len(handles), 5), fontsize=9, frameon=False, borderaxespad=0.3
    )


def _overlays(books: list[BookKey]) -> list[str]:
    """The overlays of ``books``: ``none`` first, then in run order."""
    return sorted(dict.fromkeys(k.overlay for k in books), key=lambda o: o != "none")


def _style(overlay: str, overlays: list[str]) -> dict[str, Any]:
    """Line style of an overlay's book: ``none`` solid and thicker, the others thin, one colour each."""
    return {"color": overlay_colour(overlay, overlays), "linewidth": 1.5 if overlay == "none" else 0.9}


def _line_handles(books: list[BookKey], market: str) -> list[Line2D]:
    """Legend entries: one per overlay (``none`` = without overlay) and the market."""
    overlays = _overlays(books)
    handles = [Line2D([], [], label="without overlay" if o == "none" else o, **_style(o, overlays)) for o in overlays]
    if market:
        handles.append(Line2D([], [], color=MARKET, linewidth=1.0, label=market))
    return handles


def _market_equity(run: RunFolder, books: list[BookKey]) -> pd.Series | None:
    """Buy & hold of the market from prices.csv, starting with the books' first equity."""
    prices = run.prices.get((books[0].symbol, books[0].timeframe))
    if prices is None or not len(prices):
        return None
    first = run.equity[books[0]]["equity"]
    close = prices["close"].loc[first.index[0] : first.index[-1]]
    return close / close.iloc[0] * first.iloc[0] if len(close) else None


def _dollars(value: float, _position: object = None) -> str:
    """``$3k``, ``$10k``, ``$1.5M``: short labels for a log-scale equity axis."""
    for size, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if value >= size:
            return f"${value / size:g}{suffix}"
    return f"${value:g}"


def equity_figure(run: RunFolder, books: list[BookKey]) -> Figure:
    """One log-scale panel per strategy: the book under every overlay, and the market's buy & hold."""
    names = _strategies(run, books)
    overlays = _overlays(books)
    figure, axes = _panels(len(names))
    market = _market_equity(run, books)
    with _autoscaled_once(axes):
        for ax, name in zip(axes, names, strict=False):
            if market is not None:
                ax.plot(_x(market.index), market.to_numpy(), color=MARKET, linewidth=0.9)
            for overlay in overlays[::-1]:  # ``none`` drawn last, on top
                key = _key(books, name, overlay)
                if key is not None:
                    equity = run.equity[key]["equity"]
                    ax.plot(_x(equity.index), equity.where(equity > 0).to_numpy(), **_style(overlay, overlays))
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(_dollars))
            # 1-2-5 labels are enough; the unlabelled minor ticks took a quarter of the chart
            ax.yaxis.set_minor_locator(NullLocator())
            _panel_title(run, ax, name)
    for ax in axes[:: 1 if len(axes) == 1 else 2]:
        ax.set_ylabel("Equity [$, log]")
    symbol, timeframe = books[0].symbol, books[0].timeframe
    figure.suptitle(f"Equity, {symbol} {timeframe}: each strategy without an overlay and under each overlay (log)")
    _legend(figure, _line_handles(books, f"{symbol} buy & hold" if market is not None else ""))
    return figure


def drawdown_figure(run: RunFolder, books: list[BookKey]) -> Figure:
    """One panel per strategy: drawdown from the running peak without (shaded) and under each overlay."""
    names = _strategies(run, books)
    overlays = _overlays(books)
    figure, axes = _panels(len(names))
    with _autoscaled_once(axes):
        for ax, name in zip(axes, names, strict=False):
            for overlay in overlays[::-1]:
                key = _key(books, name, overlay)
                if key is None:
                    continue
                equity = run.equity[key]["equity"]
                times, fall = _x(equity.index), _drawdown(equity.to_numpy(dtype="float64"))
                if overlay == "none":
                    ax.fill_between(times, fall, 0, color=PLAIN, alpha=0.25, linewidth=0)
                ax.plot(times, fall, **_style(overlay, overlays))
            _panel_title(run, ax, name)
    for ax in axes[:: 1 if len(axes) == 1 else 2]:
        ax.set_ylabel("Drawdown [%]")
    symbol, timeframe = books[0].symbol, books[0].timeframe
    figure.suptitle(f"Drawdown from the running equity peak, {symbol} {timeframe}")
    _legend(figure, _line_handles(books, ""))
    return figure


def exposure_figure(run: RunFolder, books: list[BookKey]) -> Figure:
    """Risk index with regime bands, each overlay's size factor (its multiplier x vol scale,
    the same for every strategy), and every overlay book's final exposure."""
    overlays = _overlays(books)
    overlay_books = sorted((k for k in books if k.sized and k in run.exposure), key=lambda k: overlays.index(k.overlay))
    shown = overlay_books or [k for k in books if k in run.exposure]
    rows = max(2.0, len(shown) * 0.11)
    height = 7.5 + rows
    figure = new_figure(WIDTH, height)
    top, middle, bottom = figure.subplots(3, 1, sharex=True, height_ratios=[2.6, 2.0, rows])
    figure.subplots_adjust(left=0.16, right=0.99, top=1 - 0.55 / height, bottom=2.3 / height, hspace=0.12)
    step = timeframe_delta(books[0].timeframe)
    start, end = run.equity[books[0]].index[[0, -1]] + step  # decision times: the first and last bar close
    risk = run.risk.loc[start:end] if len(run.risk) else run.risk
    for ax in (top, middle):
        _regime_bands(ax, risk)
        _dates(ax, label=False)
    if len(risk):
        top.plot(_x(risk.index), risk["score"].to_numpy(), color="black", linewidth=1.0, label="risk index score")
    else:
        top.text(0.5, 0.5, "no risk index in this run", transform=top.transAxes, ha="center")
    top.set_ylim(0, 100)
    top.set_ylabel("Risk index [0-100]")
    for overlay in dict.fromkeys(k.overlay for k in overlay_books):  # one path per overlay (any strategy's)
        exposure = run.exposure[next(k for k in overlay_books if k.overlay == overlay)]
        size = exposure["multiplier"].to_numpy() * exposure["vol_scale"].to_numpy() * 100.0
        middle.step(
            _x(exposure.index + step), size, where="post", label=f"{overlay} multiplier", **_style(overlay, overlays)
        )
    if not overlay_books:
        middle.text(0.5, 0.5, "no overlay book in this run", transform=middle.transAxes, ha="center")
    middle.set_ylim(-5, 105)
    middle.set_ylabel("Multiplier [%]")
    _dates(bottom)
    _exposure_heatmap(figure, bottom, run, shown, step)
    lines = [*top.get_legend_handles_labels()[0], *middle.get_legend_handles_labels()[0]]
    _legend(figure, [*lines, *(Patch(facecolor=REGIME_COLOURS[r], label=f"{r} regime") for r in REGIMES)])
    symbol, timeframe = books[0].symbol, books[0].timeframe
    figure.suptitle(
        f"Carry-unwind risk index, each overlay's multiplier (x vol scale) and the resulting exposure, "
        f"{symbol} {timeframe}"
    )
    return figure


def _exposure_heatmap(figure: Figure, ax: Axes, run: RunFolder, books: list[BookKey], step: pd.Timedelta) -> None:
    """One row per book: its final exposure (share of equity), each cell from the bar's
    close (decision) for one bar of length ``step``, 0 white to 100% dark."""
    if not books:
        return
    frame = pd.concat({str(k): run.exposure[k]["final_exposure"] for k in books}, axis=1).sort_index()
    times = frame.index + step
    edges = mdates.date2num(times.append(pd.DatetimeIndex([times[-1] + step])).tz_convert(None).to_pydatetime())
    mesh = ax.pcolorfast(edges, np.arange(len(books) + 1), frame.to_numpy().T * 100.0, cmap="Purples", vmin=0, vmax=100)
    ax.set_yticks(
        np.arange(len(books)) + 0.5,
        [k.label + (" *" if run.is_baseline(k) else "") for k in books],
        fontsize=8 if len(books) <= 40 else 5,
    )
    ax.set_ylim(len(books), 0)
    ax.set_ylabel("Book (* baseline)")
    ax.grid(False)
    inches = figure.get_figheight()
    bar = figure.add_axes((0.6, 1.45 / inches, 0.3, 0.12 / inches), label="<colorbar>")
    figure.colorbar(mesh, cax=bar, orientation="horizontal", label="Final exposure [% of equity]")


def _regime_bands(ax: Axes, risk: pd.DataFrame) -> None:
    """Shade each day by the risk index's regime (no shade where it is unknown)."""
    if not len(risk):
        return
    regime = risk["regime"].to_numpy()
    for name in REGIMES:
        days = regime == name
        days[1:] |= days[:-1]  # reach the next day's start, so adjacent bands leave no white seam
        ax.fill_between(
            _x(risk.index),
            0,
            1,
            where=days,
            step="post",
            color=REGIME_COLOURS[name],
            transform=ax.get_xaxis_transform(),
            linewidth=0,
        )


def _x(index: pd.Index) -> np.ndarray:
    """UTC times as naive datetime64 (matplotlib converts them ~10x faster than tz-aware pandas times)."""
    return pd.DatetimeIndex(index).tz_convert(None).to_numpy() if getattr(index, "tz", None) else np.asarray(index)


def _key(books: list[BookKey], strategy: str, overlay: str) -> BookKey | None:
    return next((k for k in books if k.strategy == strategy and k.overlay == overlay), None)


def _drawdown(equity: np.ndarray) -> np.ndarray:
    """Percent below the running peak (NaN where the equity is; a NaN does not reset the peak)."""
    return (equity / np.fmax.accumulate(equity) - 1.0) * 100.0


@contextmanager
def _autoscaled_once(axes: list[Axes]) -> Iterator[None]:
    """Autoscale ``axes`` (sharing both axes, no limits set) once, after their artists are
    added: else each ``fill_between`` and scale change re-scales every panel sharing its axes."""
    for ax in axes:
        ax.set_autoscale_on(False)
    yield
    for ax in axes:
        ax.set_autoscale_on(True)
        ax.autoscale_view()
