"""The report renders offline in headless Chromium and its plotly charts are drawn (not blank).

Chromium (Debian package ``chromium``, installed by ``.ci/run``) is required: without it
this test FAILS, it does not skip. The network is cut off: every request would go to a
proxy on 127.0.0.1:9 (nothing listens there), so only what is inlined in the file can render.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image
from synthetic_run import write_run

from carryguard.backtests.report.bootstrap import BootstrapConfig
from carryguard.backtests.report.html import write_report

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--proxy-server=127.0.0.1:9",
    "--proxy-bypass-list=<-loopback>",
    "--window-size=1400,4200",
)
TAB_BLUE = np.array([0x1F, 0x77, 0xB4])  # the "without overlay" line colour: only the charts use it
CRISIS_BAND = np.array([0xF4, 0xA6, 0xA6])  # the risk chart's crisis band


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed: run `apt-get install -y chromium` (.ci/run installs it)", pytrace=False)
    return path


def screenshot(html: Path, tmp_path: Path) -> np.ndarray:
    """RGB bytes (height x width x 3) of a headless Chromium screenshot of ``html``."""
    png = tmp_path / f"{html.stem}.png"
    command = [
        chromium(),
        *CHROMIUM_FLAGS,
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={png}",
        html.resolve().as_uri(),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    assert done.returncode == 0 and png.is_file(), done.stderr[-2000:]
    return (image.imread(png)[:, :, :3] * 255).round().astype(np.int16)


def pixels_near(picture: np.ndarray, colour: np.ndarray, tolerance: int = 10) -> int:
    return int((np.abs(picture - colour).max(axis=2) <= tolerance).sum())


def bands(picture: np.ndarray, colour: np.ndarray, *, gap: int = 60) -> list[tuple[int, int]]:
    """Vertical extents (first row, last row) of the page regions holding ``colour``,
    split where more than ``gap`` rows hold none: one band per chart that draws it."""
    rows = np.flatnonzero((np.abs(picture - colour).max(axis=2) <= 10).any(axis=1))
    if not len(rows):
        return []
    cuts = np.flatnonzero(np.diff(rows) > gap)
    return list(zip(np.r_[rows[0], rows[cuts + 1]].tolist(), np.r_[rows[cuts], rows[-1]].tolist(), strict=False))


def distinct_colours(picture: np.ndarray) -> int:
    return len(np.unique((picture[:, :, 0].astype(np.int32) << 16) | (picture[:, :, 1] << 8) | picture[:, :, 2]))


def non_white_share(picture: np.ndarray) -> float:
    return float((picture < 247).any(axis=2).mean())


@pytest.fixture(scope="module")
def report_html(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = write_run(tmp_path_factory.mktemp("runs"))
    return write_report(folder, bootstrap=BootstrapConfig(n_boot=200)).html


@pytest.mark.slow
def test_report_given_headless_chromium_offline_draws_the_charts(report_html: Path, tmp_path: Path) -> None:
    # Act
    picture = screenshot(report_html, tmp_path)

    # Assert: plotly (inlined, nothing fetched) draws the equity and drawdown panels' blue lines (regions
    # over 150 rows in all), and the exposure figure below them its crisis band; a rich palette; not blank
    lines, crisis = bands(picture, TAB_BLUE), bands(picture, CRISIS_BAND)
    assert sum(last - first for first, last in lines) > 150, lines
    assert any(first > lines[0][1] and last - first > 20 for first, last in crisis), crisis
    assert pixels_near(picture, TAB_BLUE) > 1_000
    assert pixels_near(picture, CRISIS_BAND) > 20_000
    # (the synthetic page drew 2,867 colours and 20% non-white; without plotly.js 1,113 and 13%)
    assert distinct_colours(picture) > 2_000 and non_white_share(picture) > 0.15


@pytest.mark.slow
def test_report_given_no_plotly_js_fails_the_same_checks(report_html: Path, tmp_path: Path) -> None:
    # Arrange: the same page without the inlined plotly.js (what a broken or blocked library would look like)
    broken = tmp_path / "broken.html"
    html = report_html.read_text(encoding="utf-8")
    start = html.index("<script>/**")
    broken.write_text(html[:start] + html[html.index("</script>", start) + len("</script>") :], encoding="utf-8")

    # Act
    picture = screenshot(broken, tmp_path)

    # Assert: each check above would catch it
    assert sum(last - first for first, last in bands(picture, TAB_BLUE)) < 150
    assert pixels_near(picture, TAB_BLUE) < 1_000
    assert pixels_near(picture, CRISIS_BAND) < 20_000
