"""`report.pngs`: the report's PNG charts drawn by a forked child and this process together."""

from __future__ import annotations

import os

import pytest
from synthetic_run import write_run

from carryguard.backtests.report import charts
from carryguard.backtests.report.pngs import PngDrawing
from carryguard.backtests.run.folder import RunFolder, load_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> RunFolder:
    return load_run(write_run(tmp_path_factory.mktemp("runs")))


def _expected(run: RunFolder) -> dict[str, bytes]:
    return {f"{chart.slug}.png": chart.png() for chart in charts.run_charts(run)}


def _idle_child(self: PngDrawing) -> None:
    """A child that claims no chart: this process must draw them all."""
    self._send.send(("ok", None))


def _dying_child(self: PngDrawing) -> None:
    os._exit(3)


def test_png_drawing_given_a_child_that_draws_nothing_draws_every_chart_here_with_the_same_bytes(
    run: RunFolder, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    monkeypatch.setattr(PngDrawing, "_draw_in_child", _idle_child)
    for old in run.path.glob("*.png"):
        old.unlink()

    # Act
    with PngDrawing(run) as drawing:
        paths = drawing.finish()

    # Assert: every chart once, in chart order, byte for byte what the figures give
    assert [p.name for p in paths] == [f"{job.slug}.png" for job in charts.chart_jobs(run)]
    assert {p.name: p.read_bytes() for p in paths} == _expected(run)


def test_png_drawing_given_child_and_this_process_write_the_bytes_each_figure_gives(run: RunFolder) -> None:
    # Act
    with PngDrawing(run) as drawing:
        paths = drawing.finish()

    # Assert
    assert {p.name: p.read_bytes() for p in paths} == _expected(run)


def test_png_drawing_given_a_chart_that_fails_raises_its_error(run: RunFolder, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: whichever process claims the exposure chart fails on it
    def broken(run: RunFolder, books: list) -> None:
        raise ValueError("no exposure to draw")

    monkeypatch.setattr(charts, "exposure_figure", broken)

    # Act / Assert
    with pytest.raises(ValueError, match="no exposure to draw"), PngDrawing(run) as drawing:
        drawing.finish()


def test_png_drawing_given_the_child_dies_says_so(run: RunFolder, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    monkeypatch.setattr(PngDrawing, "_draw_in_child", _dying_child)

    # Act / Assert
    with pytest.raises(RuntimeError, match=r"PNG chart process died \(exit code 3\)"), PngDrawing(run) as drawing:
        drawing.finish()


def test_png_drawing_given_an_error_before_finish_stops_the_child(run: RunFolder) -> None:
    # Act
    with pytest.raises(KeyError), PngDrawing(run) as drawing:
        child = drawing._child
        raise KeyError("the report failed elsewhere")

    # Assert
    assert not child.is_alive()
