"""`report.figures` (the PNG charts' rendering plumbing) and the panel layout of `report.charts`."""

from __future__ import annotations

import io

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from matplotlib.ticker import LogLocator
from PIL import Image

from carryguard.backtests.report import charts
from carryguard.backtests.report.figures import InView, new_figure, png_bytes, ticks_in_view


def _panels() -> tuple:
    """Two panels sharing a date x axis and a log y axis whose locators give ticks outside the view."""
    figure = new_figure(6.0, 4.0)
    axes = figure.subplots(2, 1, sharex=True, sharey=True)
    times = pd.date_range("2018-01-01", "2025-12-31", freq="D").to_numpy()
    values = np.exp(np.linspace(np.log(2_300.0), np.log(180_000.0), len(times)))
    for ax in axes:
        ax.plot(times, values)
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        locator = mdates.AutoDateLocator(maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
        ax.grid(True)
    return figure, axes


def _pixels(figure) -> np.ndarray:
    figure.canvas.draw()
    return np.asarray(figure.canvas.buffer_rgba()).copy()


def test_ticks_in_view_given_locators_reaching_outside_the_view_draws_the_same_pixels_with_fewer_ticks() -> None:
    # Arrange
    plain, _ = _panels()
    wrapped, axes = _panels()
    expected = _pixels(plain)

    # Act
    ticks_in_view(wrapped)
    drawn = _pixels(wrapped)

    # Assert: the same picture, and the locations outside the view were dropped, not just not drawn
    assert np.array_equal(drawn, expected)
    y_locator = axes[0].yaxis.get_major_locator()
    assert isinstance(y_locator, InView)
    low, high = axes[0].get_ylim()
    inside = [v for v in y_locator.inner() if low <= v <= high]
    assert list(y_locator()) == inside and len(inside) < len(y_locator.inner())


def test_png_bytes_given_an_opaque_figure_writes_savefigs_pixels_as_rgb_at_the_dpi() -> None:
    # Arrange
    figure, _ = _panels()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    expected = np.asarray(Image.open(buffer).convert("RGBA"))

    # Act
    image = Image.open(io.BytesIO(png_bytes(figure)))

    # Assert
    assert image.mode == "RGB" and (expected[..., 3] == 255).all()
    assert np.array_equal(np.asarray(image), expected[..., :3])
    assert round(image.info["dpi"][0]) == 100


@pytest.mark.parametrize(("count", "labelled"), [(1, [0]), (4, [2, 3]), (5, [3, 4])])
def test_panels_given_a_number_of_strategies_puts_dates_under_the_lowest_panel_of_each_column_only(
    count: int, labelled: list[int]
) -> None:
    # Act: five panels leave the right column a row shorter, its lowest panel above the empty cell
    _, axes = charts._panels(count)

    # Assert
    assert [i for i, ax in enumerate(axes) if ax.xaxis.get_tick_params(which="major")["labelbottom"]] == labelled
    assert [i for i, ax in enumerate(axes) if ax.get_xlabel() == "Date (UTC)"] == labelled
