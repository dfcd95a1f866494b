"""Chart of the risk index with its regime bands and the markets behind it (PNG)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

REGIME_COLOURS = ("#d9f2d9", "#fff3c4", "#ffd8a8", "#ffb3b3")  # calm, elevated, stress, crisis
LEGEND = {"loc": "upper left", "bbox_to_anchor": (1.01, 1.0), "fontsize": 8}  # right of the plot, never over data


def plot_risk(
    path: Path,
    score: pd.Series,
    *,
    thresholds: tuple[float, float, float],
    jgb: pd.DataFrame,
    usdjpy: pd.Series,
    btc: pd.Series | None,
    btc_label: str = "BTC",
    title: str,
) -> Path:
    """Write a PNG: the 0-100 index over regime bands, then JGB 20Y/40Y (%), USD/JPY and
    BTC (log scale) on the same dated x axis. Series are plotted against their data
    dates; the caller passes only data usable at the reading's time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    panels = 4 if btc is not None and not btc.empty else 3
    fig, axes = plt.subplots(
        panels,
        1,
        sharex=True,
        figsize=(11, 2.4 * panels + 1.2),
        gridspec_kw={"height_ratios": [2] + [1] * (panels - 1)},
    )
    ax = axes[0]
    bounds = (0.0, *thresholds, 100.0)
    names = ("calm", "elevated", "stress", "crisis")
    for low, high, colour, name in zip(bounds[:-1], bounds[1:], REGIME_COLOURS, names, strict=False):
        ax.axhspan(low, high, color=colour, alpha=0.8, label=f"{name} ({low:.0f}-{high:.0f})", lw=0)
    ax.plot(score.index, score.to_numpy(), color="black", lw=0.9, label="risk score")
    ax.set_ylim(0, 100)
    ax.set_ylabel("score (0-100)")
    ax.set_title(title)
    ax.legend(**LEGEND)
    for tenor, colour in (("20Y", "tab:blue"), ("40Y", "tab:red")):
        if tenor in jgb.columns:
            axes[1].plot(jgb.index, jgb[tenor].to_numpy(), color=colour, lw=0.9, label=f"JGB {tenor}")
    axes[1].set_ylabel("yield (%)")
    axes[1].legend(**LEGEND)
    axes[2].plot(usdjpy.index, usdjpy.to_numpy(), color="tab:purple", lw=0.9, label="USD/JPY")
    axes[2].set_ylabel("JPY per USD")
    axes[2].legend(**LEGEND)
    if btc is not None and panels == 4:
        axes[3].plot(btc.index, btc.to_numpy(), color="tab:orange", lw=0.9, label=btc_label)
        axes[3].set_yscale("log")
        axes[3].yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
        axes[3].yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}" if f"{v:.0f}"[0] in "25" else ""))
        axes[3].set_ylabel("USD (log)")
        axes[3].legend(**LEGEND)
    for axis in axes:
        axis.grid(alpha=0.3)
    return _save(fig, axes, path)


def plot_validation(
    path: Path, scores: pd.DataFrame, events: dict[str, pd.DatetimeIndex], thresholds: tuple[float, float, float]
) -> Path:
    """Write a PNG: one panel per index version (columns of ``scores``) over the regime
    bands, with each event set's episode starts marked as coloured ticks."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(scores.columns), 1, sharex=True, figsize=(11, 2.8 * len(scores.columns) + 1))
    axes = list(axes) if len(scores.columns) > 1 else [axes]
    bounds = (0.0, *thresholds, 100.0)
    marks = dict(zip(events, ("tab:red", "tab:orange", "tab:blue", "tab:green"), strict=False))
    for ax, name in zip(axes, scores.columns, strict=True):
        for low, high, colour in zip(bounds[:-1], bounds[1:], REGIME_COLOURS, strict=False):
            ax.axhspan(low, high, color=colour, alpha=0.8, lw=0)
        ax.plot(scores.index, scores[name].to_numpy(), color="black", lw=0.7, label=f"index {name}")
        for k, (kind, starts) in enumerate(events.items()):
            level = 100 - 6 * (k + 1)
            ax.plot(starts, [level] * len(starts), "v", color=marks[kind], ms=6, label=f"{kind} episode start")
        ax.set_ylim(0, 100)
        ax.set_ylabel("score (0-100)")
        ax.legend(**LEGEND)
        ax.grid(alpha=0.3)
    axes[0].set_title(f"Risk index and events, {scores.index[0]:%Y-%m-%d} to {scores.index[-1]:%Y-%m-%d}")
    return _save(fig, axes, path)


def _save(fig: Figure, axes: Sequence[Axes], path: Path) -> Path:
    """Label the shared date axis, lay the figure out and write it as a PNG (parents made), then close it."""
    import matplotlib.pyplot as plt

    axes[-1].set_xlabel("date (UTC)")
    fig.autofmt_xdate()
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
