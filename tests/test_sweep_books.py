"""Sweeps: combos that make the same book are one row (ranked once, naming the others), and
the reference books (out-of-sample, in-sample best, untuned default) in the sweep folder,
the terminal and the report."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.backtests.engine.fast import run_fast
from carryguard.backtests.run.runner import decision_times, run_study
from carryguard.backtests.run.study import parse_study
from carryguard.backtests.sweep.chunk import load_risk
from carryguard.backtests.sweep.evaluate import BOOK, run_sweep
from carryguard.backtests.sweep.output import same_as_cell, summary
from carryguard.backtests.sweep.reference import DEFAULT, IN_SAMPLE_BEST, OUT_OF_SAMPLE, equity_frame, reference_books
from carryguard.backtests.sweep.study import study_from_dict
from carryguard.backtests.sweep.walkforward import walk_forward
from carryguard.signals.risk import risk_at
from carryguard.strategies.loader import make_strategy
from carryguard.strategies.overlay import CarryOverlay, OverlayConfig

# vol_window only sizes with a vol target, and the study sets none: it provably changes nothing.
NO_EFFECT = {"fast": [5, 10], "slow": [30, 60], "overlay": {"stress": [0.0, 0.5], "vol_window": [10, 20, 30]}}


def study_doc(params: dict, **tables: object) -> dict:
    return {
        "name": "books",
        "data": {"symbols": ["BTC/USDT"], "timeframes": ["1d"]},
        "strategies": {"sma_cross": {}},
        "params": params,
        "sweep": {"constraints": ["fast < slow"], "top": 20},
        **tables,
    }


@pytest.fixture(scope="module")
def daily(shared_store) -> pd.DataFrame:
    return shared_store.read("binance/BTC-USDT/1d")


@pytest.fixture(scope="module")
def merged(daily, shared_store):
    study = study_from_dict(study_doc(NO_EFFECT))
    return run_sweep(study, bars=daily, risk=load_risk(shared_store, daily, "1d"), workers=1)


def test_run_sweep_given_a_parameter_without_effect_ranks_one_row_per_book_naming_every_combo(merged):
    # Assert: 24 combos, vol_window (3 values) changes nothing, stress does: 24 / 3 = 8 books
    frame = merged.frame
    assert len(frame) == 24 and merged.books == 8
    ranked = merged.ranked()
    assert len(ranked) == 8
    assert not ranked.duplicated(["fast", "slow", "overlay.stress"]).any()  # each book once in the ranking
    for position in ranked.index:
        params = merged.params(int(position))
        others = merged.same_as(int(position))
        windows = sorted(o["overlay.vol_window"] for o in others)
        assert windows == sorted({10, 20, 30} - {params["overlay.vol_window"]})
        assert all(
            {k: v for k, v in o.items() if k != "overlay.vol_window"}
            == {k: v for k, v in params.items() if k != "overlay.vol_window"}
            for o in others
        )
    # merged combos really are one book: every metric equal; stress always changes the book
    metrics = [c for c in frame.columns if c not in merged.param_names and c != BOOK]
    for _, group in frame.groupby(BOOK):
        assert len(group) == 3 and (group[metrics].nunique() == 1).all()
    assert frame.groupby(["fast", "slow"])["Equity Final [$]"].nunique().min() == 2


def test_summary_given_merged_books_lists_the_same_as_combos_and_counts_each_book_once(merged):
    # Act
    doc = summary(merged, None)

    # Assert
    assert doc["combos"] == 24 and doc["distinct_books"] == 8 and len(doc["top"]) == 8
    assert all(len(row["same_as"]) == 2 and BOOK not in row for row in doc["top"])
    assert doc["best"]["params"] == {k: doc["top"][0][k] for k in merged.param_names}
    assert doc["best"]["same_as"] == doc["top"][0]["same_as"]
    assert same_as_cell(doc["top"][0] | {"overlay.vol_window": 10}, doc["top"][0]["same_as"]) in (
        "ov.vol_window=20; ov.vol_window=30",
        "ov.vol_window=30; ov.vol_window=20",
    )


def test_reference_books_given_sweep_equal_one_book_runs_of_the_best_and_default_combos(daily, merged, shared_store):
    # Act
    books = reference_books(merged, bars=daily, risk=load_risk(shared_store, daily, "1d"), first=0)

    # Assert: no walk-forward, so two books; the best equals its sweep row, the default is sma_cross(20, 100)
    # with the default overlay (the study sets no [overlay]), which is none of the combos
    assert [b.name for b in books] == [IN_SAMPLE_BEST, DEFAULT]
    best, default = books
    assert best.equity.iloc[-1] == pytest.approx(merged.best()["metrics"]["Equity Final [$]"], rel=1e-12)
    assert default.params == {
        "fast": 20,
        "slow": 100,
        "overlay.stress": 0.25,
        "overlay.vol_window": 30,
    }
    exposure = make_strategy("sma_cross").target_exposure(daily)
    target = CarryOverlay(OverlayConfig()).apply(exposure, risk_at(shared_store, decision_times(daily, "1d")), daily)
    alone = run_fast(daily, target["final_exposure"])
    np.testing.assert_allclose(default.equity, alone.equity, rtol=1e-12)


WF_STUDY = {
    "params": {"fast": [5, 20, 50], "slow": [30, 100, 200]},
    "walkforward": {"mode": "rolling", "train": "730D", "test": "365D"},
}


def test_walk_forward_given_bars_changed_after_a_fold_its_stitched_segment_is_unchanged(daily):
    # Arrange: the same bars, except every price after the second fold's test window is
    # scaled by a factor that wanders (a different future).
    study = study_from_dict(study_doc(WF_STUDY["params"], walkforward=WF_STUDY["walkforward"]))
    full = walk_forward(study, bars=daily, workers=1)
    end = full.folds[1].test[1]
    rng = np.random.default_rng(3)
    changed = daily.copy()
    scale = np.exp(np.cumsum(rng.normal(0.0, 0.05, len(daily) - end)))
    for column in ("open", "high", "low", "close"):
        changed.iloc[end:, changed.columns.get_loc(column)] *= scale

    # Act
    other = walk_forward(study, bars=changed, workers=1)

    # Assert: the stitched equity up to that fold's test end is the same; after it, not
    last = daily.index[end - 1]
    pd.testing.assert_series_equal(other.oos_equity.loc[:last], full.oos_equity.loc[:last])
    assert not np.allclose(other.oos_equity.loc[last:].iloc[1:], full.oos_equity.loc[last:].iloc[1:])
    assert other.oos_equity.index[0] == daily.index[full.folds[0].test[0]]  # it starts at the first test bar
    swept = run_sweep(study, bars=daily, workers=1)
    frame = equity_frame(reference_books(swept, bars=daily, risk=None, first=0, walkforward=full))
    pd.testing.assert_series_equal(
        frame[OUT_OF_SAMPLE].dropna(), full.oos_equity.rename(OUT_OF_SAMPLE), check_freq=False
    )


STUDY_TOML = """
name = "books"
with_overlay = [true]
[data]
symbols = ["BTC/USDT"]
[strategies]
sma_cross = {}
[params]
fast = [5, 10]
slow = [30, 60]
[params.overlay]
vol_window = [10, 20, 30]
[sweep]
top = 3
constraints = ["fast < slow"]
[walkforward]
mode = "anchored"
train = "1095D"
test = "365D"
"""


def test_cli_sweep_and_report_given_a_parameter_without_effect_show_merged_rows_and_three_books(
    real_store_dir, tmp_path
):
    # Arrange
    study = tmp_path / "study.toml"
    study.write_text(STUDY_TOML)
    results = tmp_path / "results"

    # Act
    outcome = CliRunner().invoke(
        main,
        ["--data-dir", str(real_store_dir), "sweep", str(study), "--workers", "1", "--results-dir", str(results)],
    )
    run_dir = next(results.iterdir())
    report = CliRunner().invoke(main, ["--data-dir", str(real_store_dir), "report", str(run_dir)])

    # Assert: 12 combos are 4 books (vol_window changes nothing), each row names the two others
    assert outcome.exit_code == 0, outcome.output
    out = outcome.stdout
    assert "Top 3 of 4 distinct books (12 combos)" in out
    assert out.count("ov.vol_window=20; ov.vol_window=30") == 3
    doc = json.loads((run_dir / "summary.json").read_text())
    assert [len(row["same_as"]) for row in doc["top"]] == [2, 2, 2]
    books = {b["name"]: b for b in doc["reference_books"]}
    assert list(books) == [OUT_OF_SAMPLE, IN_SAMPLE_BEST, DEFAULT]
    for name, book in books.items():  # one line each: name, span, Return, Sharpe, MaxDD
        line = next(row for row in out.splitlines() if row.startswith(f"│ {name} "))
        numbers = [f"{book[m]:,.2f}" for m in ("Return [%]", "Sharpe Ratio", "Max. Drawdown [%]")]
        assert all(n in line for n in numbers), (line, numbers)
    walk = doc["walkforward"]
    assert books[OUT_OF_SAMPLE]["start"] == walk["folds"][0]["test_start"]
    assert books[OUT_OF_SAMPLE]["end"] == walk["folds"][-1]["test_end"]
    equity = pd.read_csv(run_dir / "equity.csv", index_col="time", parse_dates=["time"])
    assert list(equity.columns) == [OUT_OF_SAMPLE, IN_SAMPLE_BEST, DEFAULT]
    assert equity[OUT_OF_SAMPLE].dropna().iloc[-1] == pytest.approx(walk["out_of_sample"]["Equity Final [$]"])
    assert equity[IN_SAMPLE_BEST].iloc[-1] == pytest.approx(doc["best"]["metrics"]["Equity Final [$]"])
    # the report: the merged rows and the three named series in one chart
    assert report.exit_code == 0, report.output
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    page = re.sub(r"<script>/\*\*.*?</script>", "", html, count=1, flags=re.S)
    assert page.count("(3 combos, one book)") == 4
    figure = json.loads(re.search(r'Plotly\.newPlot\("equity-chart", \.\.\.(\[.*?\])\);</script>', page).group(1))
    assert [trace["name"] for trace in figure[0]] == [
        "out-of-sample (walk-forward picks joined)",
        "in-sample best (whole window)",
        "default, untuned (whole window)",
    ]


SHORT_WINDOWS = """
name = "short"
[data]
symbols = ["BTC/USDT"]
start = "2021-01-01"
[strategies]
sma_cross = {}
[params]
fast = [3, 5]
slow = [10]
"""


def test_cli_sweep_given_default_slower_than_every_combo_warms_it_up_like_its_backtest(
    real_store_dir, shared_store, tmp_path
):
    # Arrange: the combos need 9 warm-up bars, the untuned default (sma_cross 20/100) 99
    study = tmp_path / "study.toml"
    study.write_text(SHORT_WINDOWS)
    base = parse_study(
        {"name": "b", "data": {"symbols": ["BTC/USDT"], "start": "2021-01-01"}, "strategies": {"sma_cross": {}}}
    )
    expected = run_study(base, shared_store, engine="fast").results[0].metrics

    # Act
    outcome = CliRunner().invoke(
        main,
        [
            "--data-dir",
            str(real_store_dir),
            "sweep",
            str(study),
            "--workers",
            "1",
            "--results-dir",
            str(tmp_path),
            "--json",
        ],
    )

    # Assert
    assert outcome.exit_code == 0, outcome.output
    doc = json.loads(outcome.stdout)
    default = doc["reference_books"][-1]
    assert default["name"] == DEFAULT and default["params"] == {"fast": 20, "slow": 100}
    assert default["start"] == expected["Start"] and doc["warmup_bars"] == 99
    for metric in ("Return [%]", "Sharpe Ratio", "Max. Drawdown [%]"):
        assert default[metric] == pytest.approx(expected[metric], rel=1e-9)
