"""Rendering plumbing of the report's PNG charts: a headless figure, ticks made only where
they are seen, and the PNG bytes.

- Figures are plain ``matplotlib.figure.Figure`` objects on an Agg canvas, not pyplot's: no
  global figure registry to fill and close (the charts are drawn in a forked process too).
- matplotlib builds a Tick (five artists: two marks, a grid line, two labels) for every
  location a locator gives, in view or not, and draws only those in view; a date or log
  locator gives several outside the view on every axis. ``InView`` keeps the inner
  locator's locations inside the view, computed once for all axes that share it: the
  ticks drawn are the same, the ones never seen are not built.
- The PNG is the Agg canvas's pixels without the alpha channel (the figures are opaque),
  zlib level 1: the same pixels as ``savefig``, written in about half the time and no
  bigger (the colour filtering, not the zlib level, does most of the compression here).
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import Locator, NullLocator
from PIL import Image

DPI = 100


def new_figure(width: float, height: float) -> Figure:
    """A figure of ``width`` x ``height`` inches at ``DPI`` on its own Agg canvas."""
    figure = Figure(figsize=(width, height), dpi=DPI)
    FigureCanvasAgg(figure)
    return figure


def png_bytes(figure: Figure) -> bytes:
    """Draw ``figure`` (ticks in view only) and give it as PNG bytes (RGB, ``DPI`` recorded)."""
    ticks_in_view(figure)
    canvas = FigureCanvasAgg(figure) if not isinstance(figure.canvas, FigureCanvasAgg) else figure.canvas
    canvas.draw()
    pixels = np.asarray(canvas.buffer_rgba())[..., :3]
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="png", dpi=(DPI, DPI), compress_level=1)
    return buffer.getvalue()


class InView(Locator):
    """``inner``'s locations inside the view of ``axis`` only (within matplotlib's own
    tolerance for drawing a tick), computed once per view limits: axes sharing an axis
    share this locator."""

    def __init__(self, inner: Locator, axis: Axis) -> None:
        self.inner = inner
        self._owner = axis
        self._cached: tuple[tuple[float, float], list[float]] | None = None
        self.set_axis(axis)

    def set_axis(self, axis: Any) -> None:
        super().set_axis(axis)
        self.inner.set_axis(axis)
        if isinstance(axis, Axis):
            self._owner = axis

    def __call__(self) -> Sequence[float]:
        low, high = sorted(self._owner.get_view_interval())
        if self._cached is None or self._cached[0] != (low, high):
            locations = np.asarray(self.inner(), dtype=float)
            transform = self._owner.get_transform()
            with np.errstate(invalid="ignore", divide="ignore"):
                placed = transform.transform(locations) if len(locations) else locations
                ends = np.sort(transform.transform(np.array([low, high], dtype=float)))
            slack = (ends[1] - ends[0]) * 1e-10
            kept = locations[(placed >= ends[0] - slack) & (placed <= ends[1] + slack)]
            self._cached = ((low, high), kept.tolist())
        return self._cached[1]

    def tick_values(self, vmin: float, vmax: float) -> Any:
        return self.inner.tick_values(vmin, vmax)

    def nonsingular(self, v0: float, v1: float) -> tuple[float, float]:
        return self.inner.nonsingular(v0, v1)

    def view_limits(self, vmin: float, vmax: float) -> tuple[float, float]:
        return self.inner.view_limits(vmin, vmax)


def ticks_in_view(figure: Figure) -> None:
    """Wrap every axis' major and minor locator of ``figure`` in ``InView`` (once per shared ticker)."""
    for ax in figure.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for ticker in (axis.major, axis.minor):
                if ticker.locator is not None and not isinstance(ticker.locator, InView | NullLocator):
                    ticker.locator = InView(ticker.locator, axis)
