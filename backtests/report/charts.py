"""The report's charts, drawn headless (matplotlib Agg) from a run folder.

One figure of each kind per symbol and timeframe. Equity and drawdown charts are small
multiples: one panel per strategy with the same axes, the book without the overlay (solid
blue) against the same book with it (dashed orange) and the market's buy & hold (grey),
so each panel answers "did the overlay help this strategy, and when?" at a glance (16
lines in one plot answer nothing). The exposure chart stacks the risk index with its
regimes as background bands, the overlay's risk multiplier, and a heatmap of every
overlay book's final exposure on the same date axis. Exposure rows are drawn at their
decision time (the bar's close, when the risk reading they used was taken, and from the
next open on they are held), not at the bar's open time as stored: drawn there, the
multiplier would seem to move a bar before the risk index did.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, LogLocator

from carryguard.backtests.report.style import CARRY, MARKET, PLAIN, REGIME_COLOURS
from carryguard.backtests.run.folder import BookKey, RunFolder
from carryguard.signals.availability import timeframe_delta
from carryguard.signals.risk import REGIMES

CHARTED = ("none", "carry")  # the overlays drawn in the charts
WIDTH = 12.0  # inches; at DPI 100 the PNG is 1,200 px wide, the report's column
PANEL_HEIGHT = 2.4
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
        # the charts draw each strategy without and with the carry overlay (other policies: tables)
        books = [k for k in run.books if (k.symbol, k.timeframe) == (symbol, timeframe) and k.overlay in CHARTED]
        tag = f"{symbol.replace('/', '-')}_{timeframe}"
        charts.append(Chart(f"equity_{tag}", f"Equity curves, {symbol} {timeframe}", equity_figure(run, books)))
        charts.append(Chart(f"drawdown_{tag}", f"Drawdowns, {symbol} {timeframe}", drawdown_figure(run, books)))
        charts.append(
            Chart(f"exposure_{tag}", f"Exposure vs risk index, {symbol} {timeframe}", exposure_figure(run, books))
        )
    return charts


def close_all(charts: list[Chart]) -> None:
    for chart in charts:
        plt.close(chart.figure)


def _markets(run: RunFolder) -> list[tuple[str, str]]:
    return list(dict.fromkeys((k.symbol, k.timeframe) for k in run.books))


def _strategies(run: RunFolder, books: list[BookKey]) -> list[str]:
    """Strategy names of ``books``: the non-baselines first, each group in run order."""
    names = list(dict.fromkeys(k.strategy for k in books))
    return sorted(names, key=lambda name: name in run.baselines)


def _dates(ax: plt.Axes, *, label: bool = True) -> None:
    locator = mdates.AutoDateLocator(maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    if label:
        ax.set_xlabel("Date (UTC)")
    ax.grid(True, alpha=0.3)


def _panels(count: int) -> tuple[Figure, list[plt.Axes]]:
    """A grid of ``count`` panels (two columns from two strategies on) sharing both axes."""
    columns = 1 if count == 1 else 2
    rows = math.ceil(count / columns)
    figure, axes = plt.subplots(
        rows,
        columns,
        figsize=(WIDTH, 1.2 + PANEL_HEIGHT * rows),
        sharex=True,
        sharey=True,
        squeeze=False,
        layout="constrained",
    )
    flat = list(axes.ravel())
    for spare in flat[count:]:
        spare.set_visible(False)
    for i, ax in enumerate(flat[:count]):
        _dates(ax, label=i >= count - columns)  # the date label under the lowest panel of each column
        ax.tick_params(labelbottom=True)
    return figure, flat[:count]


def _panel_title(run: RunFolder, ax: plt.Axes, strategy: str) -> None:
    ax.set_title(strategy + (" (baseline)" if strategy in run.baselines else ""), fontsize=10, loc="left")


def _legend(figure: Figure, handles: list) -> None:
    figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=9, frameon=False)


def _line_handles(books: list[BookKey], market: str) -> list[Line2D]:
    """Legend entries: the two line styles (the second only when the run has overlay books) and the market."""
    handles = [Line2D([], [], color=PLAIN, linewidth=1.4, label="without overlay")]
    if any(k.sized for k in books):
        handles.append(Line2D([], [], color=CARRY, linewidth=1.4, linestyle="--", label="with +carry overlay"))
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
    """One log-scale panel per strategy: without vs with the overlay, and the market's buy & hold."""
    names = _strategies(run, books)
    figure, axes = _panels(len(names))
    market = _market_equity(run, books)
    for ax, name in zip(axes, names, strict=False):
        if market is not None:
            ax.plot(_x(market.index), market.to_numpy(), color=MARKET, linewidth=0.9)
        for key, colour, style in ((_key(books, name, "none"), PLAIN, "-"), (_key(books, name, "carry"), CARRY, "--")):
            if key is not None:
                equity = run.equity[key]["equity"]
                ax.plot(
                    _x(equity.index), equity.where(equity > 0).to_numpy(), color=colour, linestyle=style, linewidth=1.3
                )
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(FuncFormatter(_dollars))
        ax.yaxis.set_minor_formatter(FuncFormatter(lambda *_: ""))
        _panel_title(run, ax, name)
    for ax in axes[:: 1 if len(axes) == 1 else 2]:
        ax.set_ylabel("Equity [$, log]")
    symbol, timeframe = books[0].symbol, books[0].timeframe
    figure.suptitle(f"Equity, {symbol} {timeframe}: each strategy without and with the carry overlay (log scale)")
    _legend(figure, _line_handles(books, f"{symbol} buy & hold" if market is not None else ""))
    return figure


def drawdown_figure(run: RunFolder, books: list[BookKey]) -> Figure:
    """One panel per strategy: drawdown from the running peak without (shaded) and with the overlay."""
    names = _strategies(run, books)
    figure, axes = _panels(len(names))
    for ax, name in zip(axes, names, strict=False):
        plain, carry = _key(books, name, "none"), _key(books, name, "carry")
        if plain is not None:
            fall = _drawdown(run.equity[plain]["equity"])
            ax.fill_between(_x(fall.index), fall.to_numpy(), 0, color=PLAIN, alpha=0.25, linewidth=0)
            ax.plot(_x(fall.index), fall.to_numpy(), color=PLAIN, linewidth=0.9)
        if carry is not None:
            fall = _drawdown(run.equity[carry]["equity"])
            ax.plot(_x(fall.index), fall.to_numpy(), color=CARRY, linestyle="--", linewidth=1.2)
        _panel_title(run, ax, name)
    for ax in axes[:: 1 if len(axes) == 1 else 2]:
        ax.set_ylabel("Drawdown [%]")
    symbol, timeframe = books[0].symbol, books[0].timeframe
    figure.suptitle(f"Drawdown from the running equity peak, {symbol} {timeframe}")
    _legend(figure, _line_handles(books, ""))
    return figure


def exposure_figure(run: RunFolder, books: list[BookKey]) -> Figure:
    """Risk index with regime bands, the overlay's risk multiplier, and each overlay book's final exposure."""
    overlay_books = [k for k in books if k.sized and k in run.exposure]
    shown = overlay_books or [k for k in books if k in run.exposure]
    ratios = [3, 2, max(2, len(shown) * 0.45)]
    figure, (top, middle, bottom) = plt.subplots(
        3, 1, figsize=(WIDTH, 8.5 + 0.15 * len(shown)), sharex=True, height_ratios=ratios, layout="constrained"
    )
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
    if overlay_books:
        exposure = run.exposure[overlay_books[0]]
        decided = _x(exposure.index + step)
        middle.step(
            decided,
            exposure["multiplier"].to_numpy() * 100.0,
            where="post",
            color="#08306b",
            linewidth=1.0,
            label="risk multiplier",
        )
        if (exposure["vol_scale"] != 1.0).any():
            middle.step(
                decided,
                exposure["vol_scale"].to_numpy() * 100.0,
                where="post",
                color="#7b3294",
                linewidth=0.8,
                label="volatility scale",
            )
    else:
        middle.text(0.5, 0.5, "no overlay book in this run", transform=middle.transAxes, ha="center")
    middle.set_ylim(-5, 105)
    middle.set_ylabel("Multiplier [%]")
    _dates(bottom)
    _exposure_heatmap(figure, bottom, run, shown, step)
    lines = [*top.get_legend_handles_labels()[0], *middle.get_legend_handles_labels()[0]]
    _legend(figure, [*lines, *(Patch(facecolor=REGIME_COLOURS[r], label=f"{r} regime") for r in REGIMES)])
    symbol, timeframe = books[0].symbol, books[0].timeframe
    figure.suptitle(
        f"Carry-unwind risk index, the overlay's multiplier and the resulting exposure, {symbol} {timeframe}"
    )
    return figure


def _exposure_heatmap(figure: Figure, ax: plt.Axes, run: RunFolder, books: list[BookKey], step: pd.Timedelta) -> None:
    """One row per book: its final exposure (share of equity), each cell from the bar's
    close (decision) for one bar of length ``step``, 0 white to 100% dark."""
    if not books:
        return
    frame = pd.concat({str(k): run.exposure[k]["final_exposure"] for k in books}, axis=1).sort_index()
    times = frame.index + step
    edges = mdates.date2num(times.append(pd.DatetimeIndex([times[-1] + step])).tz_convert(None).to_pydatetime())
    mesh = ax.pcolormesh(
        edges,
        np.arange(len(books) + 1),
        frame.to_numpy().T * 100.0,
        cmap="Purples",
        vmin=0,
        vmax=100,
        shading="flat",
        rasterized=True,
    )
    ax.set_yticks(
        np.arange(len(books)) + 0.5, [k.label + (" *" if run.is_baseline(k) else "") for k in books], fontsize=8
    )
    ax.set_ylim(len(books), 0)
    ax.set_ylabel("Book (* baseline)")
    ax.grid(False)
    figure.colorbar(mesh, ax=ax, location="bottom", label="Final exposure [% of equity]", shrink=0.35, aspect=30)


def _regime_bands(ax: plt.Axes, risk: pd.DataFrame) -> None:
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


def _drawdown(equity: pd.Series) -> pd.Series:
    return (equity / equity.cummax() - 1.0) * 100.0
