"""The sweep heatmap drawn in a forked process (``HeatmapProcess``) and in this one."""

from __future__ import annotations

import os
import signal
import time
from io import BytesIO

import numpy as np
import pytest

from carryguard.backtests.sweep.heatmap import DRAWING_NICENESS, HeatmapProcess, HeatmapSpec, draw


def _spec() -> HeatmapSpec:
    values = np.arange(12, dtype="float64").reshape(3, 4)
    values[0, 3] = np.nan  # a blank cell (excluded combo)
    return HeatmapSpec(
        values=values,
        x=np.array([2.0, 4.0, 6.0, 8.0]),
        y=np.array([10.0, 20.0, 30.0]),
        best=(8.0, 30.0),
        best_label="best: slow=30, fast=8",
        x_label="fast (1d bars)",
        y_label="slow (1d bars)",
        title="t: Sharpe Ratio",
        colorbar_label="Sharpe Ratio (annualised, no unit)",
    )


def test_heatmap_process_given_spec_returns_the_png_drawn_in_process():
    # Arrange
    here = BytesIO()
    draw(_spec(), here)

    # Act
    with HeatmapProcess() as drawer:
        drawer.draw(_spec())
        png = drawer.png()

    # Assert
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png == here.getvalue()


def test_heatmap_process_given_started_runs_niced_below_the_parent():
    # Arrange
    parent = os.getpriority(os.PRIO_PROCESS, 0)

    wanted = min(parent + DRAWING_NICENESS, 19)

    # Act: the child waits for a spec, so it is alive while polled (it renices itself first thing)
    with HeatmapProcess() as drawer:
        pid = drawer._process.pid
        assert pid is not None
        deadline = time.monotonic() + 30
        while (child := os.getpriority(os.PRIO_PROCESS, pid)) != wanted and time.monotonic() < deadline:
            time.sleep(0.01)

    # Assert
    assert child == wanted


def test_heatmap_process_given_no_spec_ends_on_leaving_the_block():
    # Arrange
    drawer = HeatmapProcess()

    # Act
    with drawer:
        pass

    # Assert
    assert drawer._process.exitcode == 0  # ended unused, not killed or hanging


def test_heatmap_process_given_failing_draw_raises_runtime_error():
    # Arrange
    broken = HeatmapSpec(**{**_spec().__dict__, "x": np.array([1.0])})  # edges do not fit the values

    # Act / Assert
    with HeatmapProcess() as drawer, pytest.raises(RuntimeError, match="heatmap"):
        drawer.draw(broken)
        drawer.png()


def test_heatmap_process_given_cancel_ends_at_once_unused():
    # Arrange
    drawer = HeatmapProcess()

    # Act
    with drawer:
        drawer.cancel()

    # Assert
    assert drawer._process.exitcode is not None and not drawer._process.is_alive()


def test_heatmap_process_given_error_in_the_block_ends_it_at_once():
    # Arrange
    drawer = HeatmapProcess()

    # Act
    with pytest.raises(ValueError, match="bad study"), drawer:
        raise ValueError("bad study")

    # Assert
    assert drawer._process.exitcode is not None and drawer._process.exitcode != 0


def test_heatmap_process_given_parent_ignores_sigterm_still_ends_on_cancel():
    # Arrange: a parent whose SIGTERM handler the fork inherits (e.g. a paper run in-process)
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        drawer = HeatmapProcess()
    finally:
        signal.signal(signal.SIGTERM, previous)

    # Act
    drawer.cancel()
    drawer._process.join(timeout=30)

    # Assert
    assert drawer._process.exitcode == -signal.SIGTERM
