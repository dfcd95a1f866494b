"""`carryguard report`: one self-contained HTML file and chart PNGs, from the run folder alone."""

from __future__ import annotations

import json
import re
from html import unescape
from html.parser import HTMLParser
from pathlib import Path

import matplotlib.dates as mdates
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from plotly.offline import get_plotlyjs
from synthetic_run import write_run

from carryguard.backtests.cli import main
from carryguard.backtests.report.bootstrap import BootstrapConfig, Interval, OverlayEffect
from carryguard.backtests.report.charts import run_charts
from carryguard.backtests.report.html import at_a_glance, number, render, write_report
from carryguard.backtests.report.style import CARRY, PLAIN
from carryguard.backtests.run.folder import BookKey, load_run
from carryguard.signals.store import Store

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    folder = write_run(tmp_path_factory.mktemp("runs"))
    return write_report(folder, bootstrap=BootstrapConfig(n_boot=300))


class References(HTMLParser):
    """Every tag name and every src/href attribute of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.links += [value or "" for name, value in attrs if name in ("src", "href", "srcset", "poster", "data")]


def test_write_report_given_run_writes_html_and_a_png_per_chart(report) -> None:
    # Assert
    assert report.html.name == "report.html" and report.html.is_file()
    assert sorted(p.name for p in report.charts) == [
        "drawdown_BTC-USDT_1d.png",
        "equity_BTC-USDT_1d.png",
        "exposure_BTC-USDT_1d.png",
    ]
    for path in report.charts:
        assert path.parent == report.html.parent and path.read_bytes().startswith(PNG_MAGIC)


def without_plotly_js(html: str) -> str:
    """The page without the inlined plotly.js library (its source holds URLs and percentages of its own)."""
    return re.sub(r"<script>/\*\*\s*\n?\s*\* plotly\.js.*?</script>", "", html, count=1, flags=re.S)


def test_write_report_given_run_embeds_plotly_js_once_and_draws_every_chart_with_it(report) -> None:
    # Arrange
    html = report.html.read_text(encoding="utf-8")
    page = without_plotly_js(html)

    # Act
    libraries = html.count(get_plotlyjs()[:200])
    drawn = re.findall(r'Plotly\.newPlot\("([\w-]+)"', page)

    # Assert: the library once, before any figure; overview figures per market and two per tearsheet
    assert libraries == 1 and len(page) < len(html) - 1_000_000
    assert html.index(get_plotlyjs()[:200]) < html.index("Plotly.newPlot(")
    assert {"equity-BTC-USDT-1d", "exposure-BTC-USDT-1d"} <= set(drawn)
    assert {"rolling-sma_cross-BTC-USDT-1d", "monthly-dip_buy-BTC-USDT-1d"} <= set(drawn)
    assert len(drawn) == len(set(drawn)) == 2 + 2 * 2


def test_write_report_given_run_references_nothing_outside_the_file(report) -> None:
    # Arrange
    html = report.html.read_text(encoding="utf-8")
    parser = References()

    # Act
    parser.feed(without_plotly_js(html))

    # Assert: in-page links, and the PNGs written beside the report; no external script, style or frame
    assert parser.links, "expected in-page links"
    outside = [link for link in parser.links if not link.startswith("#")]
    assert sorted(outside) == sorted(p.name for p in report.charts)
    assert not {"link", "iframe", "object", "embed", "img"} & set(parser.tags)
    assert not re.search(r"https?://|@import|url\(|<script[^>]+src=", without_plotly_js(html))


def test_write_report_given_run_holds_every_section_and_the_manifest_facts(report) -> None:
    # Arrange
    html = without_plotly_js(report.html.read_text(encoding="utf-8"))

    # Assert
    for heading in ("Summary", "Charts", "Tearsheets", "Crisis windows", "Confidence", "Study and data"):
        assert f">{heading}</h2>" in html, heading
    order = [
        html.index(f'id="{section}"') for section in ("verdict", "summary", "charts", "tearsheets", "crisis", "study")
    ]
    assert order == sorted(order)
    assert "binance/BTC-USDT/1d" in html and "abc123" in html  # data fingerprint
    assert (
        "<td>name</td><td>synthetic</td>" in html and '"name": "synthetic"' not in html
    )  # settings as a table, not JSON
    assert "seed 7" in html and "300 resamples" in html
    assert "Terra/Celsius" in html and "COVID crash (2020-02-20 .. 2020-03-20)" in html  # covered / outside
    assert 'dip_buy</a><span class="tag">baseline</span>' in html
    assert "Over the whole run the overlay raised the Sharpe ratio in " in html and " of 2 strategy pairs" in html
    assert "lowered the total return in " in html
    assert "In the crisis windows (each window x strategy, against the same strategy without an overlay)" in html
    assert "not distinguishable from zero" in html or "overlay makes it" in html
    for name in ("Monthly and yearly returns", "Five worst drawdowns", "Rolling Sharpe and volatility", "Round trips"):
        assert name in html, name
    assert "Alpha vs buy &amp; hold (ann.) [%]" in html and "Beta vs buy &amp; hold" in html


def test_render_given_verdict_lines_puts_them_first_in_the_header(report) -> None:
    # Arrange
    run = load_run(report.html.parent)
    lines = ["Verdict: the overlay is worth keeping on sma_cross", "and nowhere else"]

    # Act
    html = render(run, effects=[], windows=None, bootstrap=BootstrapConfig(n_boot=100), verdict_lines=lines)

    # Assert: both lines, in order, inside the verdict box and before the at-a-glance sentences and the summary
    box = html[html.index('id="verdict"') : html.index('id="summary"')]
    assert box.index(lines[0]) < box.index(lines[1]) < box.index("Over the whole run")


def test_at_a_glance_given_pairs_effects_and_windows_counts_and_names_episodes() -> None:
    # Arrange: three pairs (Sharpe higher in one, drawdown shallower in two), one distinguishable lower Sharpe,
    # three windows: one where the overlay helped, one where it hurt, one mixed (neither)
    summary = [
        {"overlay": False, "Δ Sharpe Ratio": None, "Δ Max. Drawdown [%]": None},
        {"overlay": True, "Δ Sharpe Ratio": 0.2, "Δ Max. Drawdown [%]": 5.0, "Δ Return [%]": -3.0},
        {"overlay": True, "Δ Sharpe Ratio": -0.1, "Δ Max. Drawdown [%]": -1.0, "Δ Return [%]": -0.5},
        {"overlay": True, "Δ Sharpe Ratio": -0.3, "Δ Max. Drawdown [%]": 2.0, "Δ Return [%]": 4.0},
    ]
    book = BookKey("a", "BTC/USDT", "1d", True)
    effects = [
        OverlayEffect(book, 100, Interval(0.2, -0.1, 0.5), Interval(5.0, 1.0, 9.0)),
        OverlayEffect(book, 100, Interval(-0.1, -0.3, -0.05), Interval(-1.0, -4.0, 2.0)),
    ]
    window = {"symbol": "BTC/USDT", "pairs": 2, "overlay": "carry"}
    by_window = [
        {
            **window,
            "window": "Calm-ish",
            "shallower": 2,
            "deeper": 0,
            "higher return": 1,
            "lower return": 1,
            "Median Δ Return [%]": 0.5,
            "Median Δ Max. Drawdown [%]": 3.0,
        },
        {
            **window,
            "window": "Rally",
            "shallower": 0,
            "deeper": 1,
            "higher return": 0,
            "lower return": 2,
            "Median Δ Return [%]": -4.0,
            "Median Δ Max. Drawdown [%]": -0.5,
        },
        {
            **window,
            "window": "Mixed",
            "shallower": 1,
            "deeper": 1,
            "higher return": 1,
            "lower return": 0,
            "Median Δ Return [%]": 1.0,
            "Median Δ Max. Drawdown [%]": 0.5,
        },
    ]

    # Act
    lines = at_a_glance(summary, effects, by_window)

    # Assert
    assert lines[0] == (
        "Over the whole run the overlay raised the Sharpe ratio in 1 of 3 strategy pairs, made the "
        "max. drawdown shallower in 2 of 3, and lowered the total return in 2 of 3."
    )
    assert "Sharpe effect distinguishable in 1 of 2 pairs (0 higher, 1 lower)" in lines[1]
    assert "drawdown effect distinguishable in 1 of 2 pairs (1 shallower, 0 deeper)" in lines[1]
    assert "carry: drawdown shallower in 3 of 6, deeper in 2, return higher in 2, lower in 3" in lines[2]
    assert lines[3] == (
        "The carry overlay helped (shallower drawdown in most pairs, median return not lower): Calm-ish (BTC/USDT). "
        "Hurt (lower median return, drawdown not shallower): Rally (BTC/USDT)."
    )


def test_run_charts_given_run_draw_titled_labelled_log_equity_panels_of_the_books(tmp_path: Path) -> None:
    # Arrange
    run = load_run(write_run(tmp_path))
    plain = run.equity[BookKey("sma_cross", "BTC/USDT", "1d", "none")]["equity"]
    carry = run.equity[BookKey("sma_cross", "BTC/USDT", "1d", "carry")]["equity"]

    # Act
    charts = {chart.kind: chart for chart in run_charts(run)}

    # Assert: every chart has a title, a legend, unit-labelled y axes and dates on x
    assert set(charts) == {"equity", "drawdown", "exposure"}
    for chart in charts.values():
        axes = [ax for ax in chart.figure.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
        assert chart.figure.get_suptitle() and chart.figure.legends, chart.slug
        assert all(
            re.search(r"\[.+\]", ax.get_ylabel())
            for ax in axes
            if ax.get_lines() and ax.get_subplotspec().is_first_col()
        )
        assert all(isinstance(ax.xaxis.get_major_formatter(), mdates.ConciseDateFormatter) for ax in axes)
        assert any(ax.get_xlabel() == "Date (UTC)" for ax in axes)
    equity_panel = next(ax for ax in charts["equity"].figure.axes if ax.get_title(loc="left") == "sma_cross")
    assert equity_panel.get_yscale() == "log"
    drawn = {line.get_color(): line.get_ydata() for line in equity_panel.get_lines()}
    assert np.allclose(np.asarray(drawn[PLAIN], dtype=float), plain.to_numpy())
    assert np.allclose(np.asarray(drawn[CARRY], dtype=float), carry.to_numpy())


def test_equity_figure_given_every_overlay_draws_none_and_carry_and_the_rest_one_click_away(tmp_path: Path) -> None:
    # Arrange: the synthetic run's books, plus a trend book per strategy (a copy of the carry book's equity)
    from carryguard.backtests.report.interactive import equity_drawdown_figure

    run = load_run(write_run(tmp_path))
    for key in [k for k in run.books if k.overlay == "carry"]:
        run.equity[key.with_overlay("trend")] = run.equity[key]
    books = [*run.books, *(k.with_overlay("trend") for k in run.books if k.overlay == "carry")]

    # Act
    figure = equity_drawdown_figure(run, books)

    # Assert: the first strategy's traces: market, none and carry shown, trend in the legend only; the menu
    # shows each strategy's own traces the same way and hides the others
    names = [t["name"] for t in figure["data"]]
    assert {"without overlay", "carry", "trend", "drawdown trend", "buy & hold"} <= set(names)
    first = [t for t in figure["data"] if t["visible"] is not False]
    assert {t["name"]: t["visible"] for t in first if t["showlegend"]} == {
        "buy & hold": True,
        "without overlay": True,
        "carry": True,
        "trend": "legendonly",
    }
    for button in figure["layout"]["updatemenus"][0]["buttons"]:
        visible = button["args"][0]["visible"]
        assert visible.count("legendonly") == 2 and visible.count(True) == 5  # equity + drawdown traces


def test_exposure_chart_given_run_draws_the_multiplier_at_decision_times_beside_the_risk_index(tmp_path: Path) -> None:
    # Arrange: exposure.csv rows are bar OPEN times; the risk reading they used is taken at the close
    run = load_run(write_run(tmp_path))
    key = BookKey("sma_cross", "BTC/USDT", "1d", "carry")
    opened = run.exposure[key].index

    # Act
    chart = next(c for c in run_charts(run) if c.kind == "exposure")

    # Assert: the multiplier steps at each bar's close (open + 1 day), the index's own time axis
    middle = next(ax for ax in chart.figure.axes if ax.get_ylabel() == "Multiplier [%]")
    line = next(line for line in middle.get_lines() if line.get_label() == "carry multiplier")
    drawn = mdates.date2num(np.asarray(line.get_xdata()))
    expected = mdates.date2num((opened + pd.Timedelta(days=1)).tz_convert(None).to_pydatetime())
    assert np.allclose(drawn, expected)


def test_write_report_given_90_percent_bootstrap_labels_every_interval_90_percent(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)

    # Act
    html = write_report(folder, bootstrap=BootstrapConfig(n_boot=100, confidence=0.9)).html.read_text(encoding="utf-8")

    # Assert: the summary sentence, the table headers and the note all say 90%, none 95%
    text = unescape(without_plotly_js(html))
    assert "How sure (90% paired block-bootstrap interval excludes 0)" in text
    assert text.count("<th>90% interval</th>") == 2 and "90% percentile intervals" in text
    assert "95%" not in text


def test_write_report_given_same_folder_twice_is_byte_identical(report) -> None:
    # Arrange
    first = report.html.read_bytes()
    pngs = {path.name: path.read_bytes() for path in report.charts}

    # Act
    again = write_report(report.html.parent, bootstrap=BootstrapConfig(n_boot=300))

    # Assert: the page and every PNG
    assert again.html.read_bytes() == first
    assert {path.name: path.read_bytes() for path in again.charts} == pngs


def test_cli_report_given_extra_windows_adds_them_and_prints_json(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)
    extra = tmp_path / "mine.toml"
    extra.write_text('[[window]]\nname = "Summer lull"\nstart = 2022-07-01\nend = 2022-07-31\n')

    # Act
    result = CliRunner().invoke(main, ["report", str(folder), "--windows", str(extra), "--resamples", "200", "--json"])

    # Assert
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    assert out["report"] == str(folder / "report.html") and len(out["charts"]) == 3
    assert [(e["strategy"], e["overlay"]) for e in out["overlay_effects"]] == [
        ("sma_cross", "carry"),
        ("dip_buy", "carry"),
    ]
    low, high = out["overlay_effects"][0]["sharpe_effect"][1:]
    assert out["overlay_effects"][0]["sharpe_distinguishable"] == (not low <= 0 <= high)
    assert "Summer lull" in (folder / "report.html").read_text(encoding="utf-8")


def test_cli_report_given_run_without_overlay_says_there_is_nothing_to_bootstrap(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path, overlays=(False,))

    # Act
    result = CliRunner().invoke(main, ["report", str(folder), "--resamples", "100"])

    # Assert
    assert result.exit_code == 0, result.output
    assert "no overlay / no-overlay pairs in this run" in result.output
    assert "No overlay / no-overlay pairs in this run." in (folder / "report.html").read_text(encoding="utf-8")


def test_cli_report_given_missing_file_exits_1_with_one_line(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)
    (folder / "exposure.csv").unlink()

    # Act
    result = CliRunner().invoke(main, ["report", str(folder)])

    # Assert
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {folder / 'exposure.csv'}: missing; rerun `carryguard backtest` to rewrite the run folder"
    ]


@pytest.mark.slow
def test_report_given_real_backtest_run_compares_and_reports(shared_store: Store, tmp_path: Path) -> None:
    # Arrange: a small real run (BTC/USDT daily, two strategies with and without the overlay)
    runner = CliRunner()
    strategies = [
        arg for name in ("sma_cross", "dip_buy") for arg in ("--strategy", name, "--strategy", f"{name}+carry")
    ]
    backtest = runner.invoke(
        main,
        [
            "--data-dir",
            str(shared_store.root),
            "backtest",
            *strategies,
            "--symbol",
            "BTC/USDT",
            "--results-dir",
            str(tmp_path),
            "--json",
        ],
    )
    assert backtest.exit_code == 0, backtest.output
    run_dir = Path(json.loads(backtest.output)["run_dir"])

    # Act
    compared = runner.invoke(main, ["compare", str(run_dir), "--json"])
    reported = runner.invoke(main, ["report", str(run_dir), "--resamples", "500", "--json"])

    # Assert
    assert compared.exit_code == 0 and reported.exit_code == 0, compared.output + reported.output
    metrics = {
        (r["strategy"], r["overlay"]): r["metrics"]
        for r in json.loads((run_dir / "metrics.json").read_text())["results"]
    }
    rows = json.loads(compared.output)
    assert len(rows) == 4
    for row in rows:
        assert row["Sharpe Ratio"] == pytest.approx(metrics[(row["base_strategy"], row["overlay"])]["Sharpe Ratio"])
    effects = json.loads(reported.output)["overlay_effects"]
    assert sorted(e["strategy"] for e in effects) == ["dip_buy", "sma_cross"]
    assert all(e["sharpe_effect"][1] <= e["sharpe_effect"][2] for e in effects)
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    yen = re.findall(r"Yen carry unwind.*?</tr>", html, flags=re.S)  # the by-window row, then one per pair
    assert len(yen) == 3 and all(re.search(r"regime-(calm|elevated|stress|crisis)", row) for row in yen)
    assert "BTC/USDT drawdown -" in html


@pytest.mark.parametrize(
    ("value", "kwargs", "expected"),
    [
        (1234.567, {}, "1,234.57"),
        (0.004, {"signed": True}, "0.00"),
        (-0.3, {"signed": True}, "-0.30"),
        (float("nan"), {}, "—"),
        (None, {}, "—"),
        ("2018-01-01T00:00:00+00:00", {}, "2018-01-01"),
        ("2926 days 00:00:00", {}, "2926 days"),
        ("2024-01-01T04:00:00+00:00", {}, "2024-01-01T04:00:00+00:00"),
    ],
)
def test_number_given_cell_value_formats_it_for_the_tables(value: object, kwargs: dict, expected: str) -> None:
    # Act / Assert
    assert number(value, **kwargs) == expected
