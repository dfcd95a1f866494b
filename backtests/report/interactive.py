"""The report's interactive charts (plotly.js): zoom and hover on equity, drawdown, exposure vs
risk and the rolling metrics; monthly-return heatmaps in each book's tearsheet.

Figures are plain plotly.js dicts (no plotly.py figure objects: their validation took
most of the report's time) with numbers as base64 typed arrays (compact), turned into a
``<div>`` and a ``Plotly.newPlot`` call by ``fragment``; ``plotly_script`` gives the
library once, to inline in the page's head, so the file opens offline and loads nothing.
Times are milliseconds since the epoch on date axes (UTC). Exposure rows are drawn at
their decision time (the bar's close), as in the PNG charts.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from plotly.offline import get_plotlyjs

from carryguard.backtests.report.style import CARRY, MARKET, PLAIN, REGIME_COLOURS, overlay_colour
from carryguard.backtests.run.folder import BookKey, RunFolder
from carryguard.signals.availability import timeframe_delta

if TYPE_CHECKING:
    from carryguard.backtests.report.pages import Tearsheet

Figure = dict[str, Any]
CONFIG = {"responsive": True, "displaylogo": False, "modeBarButtonsToRemove": ["lasso2d", "select2d"]}
LAYOUT = {
    "margin": {"l": 60, "r": 20, "t": 40, "b": 40},
    "hovermode": "x unified",
    "paper_bgcolor": "white",
    "plot_bgcolor": "white",
    "font": {"size": 11},
}
MAX_POINTS = 1000  # longer series are thinned (every k-th bar) to keep the file small
BANDS = (("calm", 0, 40), ("elevated", 40, 60), ("stress", 60, 80), ("crisis", 80, 100))
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Year"]


def plotly_script() -> str:
    """plotly.js, to embed once in a ``<script>`` element."""
    return get_plotlyjs()


def fragment(figure: Figure, div_id: str) -> str:
    """A figure as a ``<div>`` and the script that draws it (plotly.js must be loaded before)."""
    height = figure["layout"].get("height", 450)
    payload = json.dumps([figure["data"], figure["layout"], CONFIG], separators=(",", ":")).replace("</", "<\\/")
    return (
        f'<div id="{div_id}" class="plotly-graph-div" style="height:{height}px;width:100%"></div>'
        f'<script>Plotly.newPlot("{div_id}", ...{payload});</script>'
    )


def typed(values: np.ndarray, dtype: str = "f8") -> dict[str, str]:
    """plotly.js's typed-array spec: little-endian binary, base64."""
    array = np.ascontiguousarray(values, dtype="<f8" if dtype == "f8" else "<f4")
    spec = {"dtype": dtype, "bdata": base64.b64encode(array.tobytes()).decode("ascii")}
    if array.ndim == 2:
        spec["shape"] = f"{array.shape[0]}, {array.shape[1]}"
    return spec


def _ms(index: pd.Index) -> np.ndarray:
    times = pd.DatetimeIndex(index)
    times = times.tz_convert("UTC") if times.tz is not None else times.tz_localize("UTC")
    return times.as_unit("ms").asi8.astype("float64")


def _thin(series: pd.Series) -> pd.Series:
    step = max(1, len(series) // MAX_POINTS)
    return series.iloc[::step] if step > 1 else series


def line(
    series: pd.Series, name: str, colour: str, *, dash: str = "solid", axis: int = 1, legend: bool = True
) -> Figure:
    thin = _thin(series)
    return {
        "type": "scatter",
        "mode": "lines",
        "x": typed(_ms(thin.index)),
        "y": typed(thin.to_numpy(dtype="float64"), "f4"),
        "name": name,
        "line": {"color": colour, "dash": dash, "width": 1.4},
        "legendgroup": name.removeprefix("drawdown "),
        "showlegend": legend,
        "xaxis": "x",
        "yaxis": "y" if axis == 1 else f"y{axis}",
        "hovertemplate": "%{y:.4~g}",
    }


def stacked(heights: list[float], height: int, titles: list[str], gap: float = 0.05) -> Figure:
    """A layout of panels stacked top to bottom sharing one date axis (``heights`` sum to 1)."""
    layout: Figure = {**LAYOUT, "height": height, "xaxis": {"type": "date", "anchor": f"y{len(heights)}"}}
    top = 1.0
    usable = 1.0 - gap * (len(heights) - 1)
    for number, (share, title) in enumerate(zip(heights, titles, strict=True), start=1):
        bottom = top - share * usable
        name = "yaxis" if number == 1 else f"yaxis{number}"
        layout[name] = {"domain": [max(bottom, 0.0), top], "title": {"text": title}, "anchor": "x"}
        top = bottom - gap
    return layout


def market_equity(run: RunFolder, key: BookKey) -> pd.Series | None:
    """The market's buy & hold from the book's first equity, on the book's bars."""
    prices = run.prices.get((key.symbol, key.timeframe))
    equity = run.equity[key]["equity"]
    if prices is None or not len(prices):
        return None
    close = prices["close"].loc[equity.index[0] : equity.index[-1]]
    return close / close.iloc[0] * equity.iloc[0] if len(close) else None


SHOWN = ("none", "carry")  # drawn at first; the other overlays are one click away in the legend


def strategies(run: RunFolder, books: list[BookKey]) -> list[tuple[str, list[BookKey]]]:
    """(strategy, its books: ``none`` first, then every overlay in run order), non-baselines first."""
    names = sorted(dict.fromkeys(k.strategy for k in books), key=lambda n: n in run.baselines)
    return [(n, sorted((k for k in books if k.strategy == n), key=lambda k: k.overlay != "none")) for n in names]


def equity_drawdown_figure(run: RunFolder, books: list[BookKey]) -> Figure:
    """Equity (log) and drawdown, one strategy shown at a time (a menu picks it), every overlay
    of the run a legend entry: without an overlay and carry drawn, the others a click away."""
    data: list[Figure] = []
    groups: list[tuple[str, list[bool]]] = []
    overlays = list(dict.fromkeys(k.overlay for k in sorted(books, key=lambda k: k.overlay != "none")))
    for number, (name, keys) in enumerate(strategies(run, books)):
        start = len(data)
        market = market_equity(run, keys[0]) if keys else None
        if market is not None:
            data.append(line(market, "buy & hold", MARKET))
        for key in keys:
            label = "without overlay" if key.overlay == "none" else key.overlay
            colour, dash = overlay_colour(key.overlay, overlays), "solid" if key.overlay in SHOWN else "dot"
            equity = run.equity[key]["equity"]
            data.append(line(equity.where(equity > 0), label, colour, dash=dash))
            fall = (equity / equity.cummax() - 1.0) * 100.0
            data.append(line(fall, f"drawdown {label}", colour, dash=dash, axis=2, legend=False))
        first = [trace["legendgroup"] in ("buy & hold", "without overlay", *SHOWN) for trace in data[start:]]
        for trace, shown in zip(data[start:], first, strict=True):
            trace["visible"] = (shown or "legendonly") if number == 0 else False
        groups.append((name + (" (baseline)" if name in run.baselines else ""), first))
    buttons, start = [], 0
    for label, first in groups:
        mask: list[bool | str] = [False] * len(data)
        mask[start : start + len(first)] = [shown or "legendonly" for shown in first]
        start += len(first)
        buttons.append({"label": label, "method": "restyle", "args": [{"visible": mask}]})
    layout = stacked([0.65, 0.35], 600, ["Equity [$, log]", "Drawdown [%]"])
    layout["yaxis"].update({"type": "log", "dtick": "D2"})
    layout["updatemenus"] = [{"buttons": buttons, "x": 0, "xanchor": "left", "y": 1.2, "yanchor": "top"}]
    layout["legend"] = {"orientation": "h", "y": 1.2, "x": 0.22, "xanchor": "left", "groupclick": "togglegroup"}
    return {"data": data, "layout": layout}


def exposure_figure(run: RunFolder, books: list[BookKey]) -> Figure:
    """Risk index on its regime bands, then per overlay (a legend entry; carry shown, the others a click
    away) its multiplier x vol scale and the final exposure of its books, one row per strategy."""
    shown = [k for k in books if k.sized and k in run.exposure] or [k for k in books if k in run.exposure]
    step = timeframe_delta(books[0].timeframe)
    first = run.equity[books[0]].index
    risk = run.risk.loc[first[0] + step : first[-1] + step] if len(run.risk) else run.risk
    layout = stacked([0.4, 0.22, 0.38], 640, ["Risk [0-100]", "Multiplier [%]", "Exposure [%]"])
    layout["yaxis"]["range"] = [0, 100]
    layout["yaxis2"]["range"] = [-5, 105]
    layout["yaxis3"]["autorange"] = "reversed"
    layout["shapes"] = [
        {
            "type": "rect",
            "xref": "x domain",
            "yref": "y",
            "x0": 0,
            "x1": 1,
            "y0": low,
            "y1": high,
            "layer": "below",
            "fillcolor": REGIME_COLOURS[name],
            "line": {"width": 0},
        }
        for name, low, high in BANDS
    ]
    layout["legend"] = {"orientation": "h", "y": 1.08, "x": 0}
    layout["margin"] = {**LAYOUT["margin"], "l": 140}  # type: ignore[dict-item]
    data: list[Figure] = []
    if len(risk):
        data.append(line(risk["score"], "risk index", "black"))
    overlays = list(dict.fromkeys(k.overlay for k in shown))
    for overlay in overlays:  # one legend entry each: its multiplier and its books' exposure; carry shown
        keys = [k for k in shown if k.overlay == overlay]
        visible = True if overlay in SHOWN or len(overlays) == 1 else "legendonly"
        colour = overlay_colour(overlay, overlays)
        decided = run.exposure[keys[0]].set_axis(run.exposure[keys[0]].index + step)
        size = decided["multiplier"] * decided["vol_scale"] * 100.0
        data.append({**line(size, f"{overlay} multiplier", colour, axis=2), "legendgroup": overlay, "visible": visible})
        frame = pd.concat({k.strategy: run.exposure[k]["final_exposure"] for k in keys}, axis=1).sort_index()
        frame = frame.iloc[:: max(1, len(frame) // MAX_POINTS)]
        data.append(
            {
                "type": "heatmap",
                "x": typed(_ms(frame.index + step)),
                "y": list(frame.columns),
                "z": typed(frame.to_numpy().T * 100.0, "f4"),
                "colorscale": [[0, "#ffffff"], [1, "#3f007d"]],
                "zmin": 0,
                "zmax": 100,
                "showscale": False,
                "name": f"{overlay} exposure",
                "legendgroup": overlay,
                "visible": visible,
                "xaxis": "x",
                "yaxis": "y3",
                "hovertemplate": f"%{{y}}+{overlay}: %{{z:.0f}}%<extra></extra>",
            }
        )
    return {"data": data, "layout": layout}


def rolling_figure(sheets: dict[str, Tearsheet]) -> Figure:
    """Rolling Sharpe (top) and volatility (bottom) of a strategy without and with the overlay."""
    data: list[Figure] = []
    for (label, sheet), colour, dash in zip(sheets.items(), (PLAIN, CARRY), ("solid", "dash"), strict=False):
        data.append(line(sheet.rolling["sharpe"], f"Sharpe {label}", colour, dash=dash))
        data.append(line(sheet.rolling["vol"], f"vol {label}", colour, dash=dash, axis=2))
    layout = stacked([0.5, 0.5], 380, ["Sharpe (180 d)", "Vol. [%]"], gap=0.08)
    layout["legend"] = {"orientation": "h", "y": 1.12, "x": 0}
    return {"data": data, "layout": layout}


def monthly_figure(sheets: dict[str, Tearsheet]) -> Figure:
    """Monthly and yearly returns heatmaps (years x months, %), one per book side by side."""
    count = len(sheets)
    rows = max(len(s.monthly) for s in sheets.values())
    layout: Figure = {**LAYOUT, "hovermode": "closest", "height": 80 + 24 * rows, "annotations": []}
    data: list[Figure] = []
    for number, (label, sheet) in enumerate(sheets.items(), start=1):
        left, width = (number - 1) / count, 1 / count
        suffix = "" if number == 1 else str(number)
        layout[f"xaxis{suffix}"] = {"domain": [left + 0.02, left + width - 0.02], "anchor": f"y{suffix}", "side": "top"}
        layout[f"yaxis{suffix}"] = {"anchor": f"x{suffix}", "autorange": "reversed", "type": "category"}
        layout["annotations"].append(
            {
                "text": f"<b>{label}</b>",
                "xref": "paper",
                "yref": "paper",
                "x": left + width / 2,
                "y": 1.0,
                "yanchor": "bottom",
                "yshift": 22,
                "showarrow": False,
            }
        )
        table = sheet.monthly.to_numpy(dtype="float64")
        data.append(
            {
                "type": "heatmap",
                "x": MONTHS,
                "y": [str(year) for year in sheet.monthly.index],
                "z": [[None if np.isnan(v) else round(float(v), 2) for v in row] for row in table],
                "text": [["" if np.isnan(v) else f"{v:+.1f}" for v in row] for row in table],
                "texttemplate": "%{text}",
                "textfont": {"size": 9},
                "colorscale": [[0, "#b3261e"], [0.5, "#ffffff"], [1, "#17702b"]],
                "zmid": 0,
                "zmin": -30,
                "zmax": 30,
                "showscale": False,
                "xaxis": f"x{suffix}",
                "yaxis": f"y{suffix}",
                "hovertemplate": "%{y} %{x}: %{z:+.2f}%<extra></extra>",
            }
        )
    layout["margin"] = {"l": 50, "r": 10, "t": 60, "b": 10}
    return {"data": data, "layout": layout}
