"""Crisis windows: the TOML list, user extensions, BTC's deepest drawdowns, per-book stats."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from synthetic_run import write_run

from carryguard.backtests.report.crisis import (
    DEFAULT_WINDOWS,
    CrisisWindow,
    crisis_table,
    deepest_drawdowns,
    load_windows,
    paired_table,
    regime_summary,
    run_windows,
    uncovered,
    window_stats,
    window_summary,
)
from carryguard.backtests.run.folder import BookKey, load_run
from carryguard.signals.errors import DataError


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("runs"))


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_load_windows_given_default_file_returns_the_six_named_episodes() -> None:
    # Act
    windows = load_windows(DEFAULT_WINDOWS)

    # Assert
    assert [(w.start.date().isoformat(), w.end.date().isoformat()) for w in windows] == [
        ("2024-07-10", "2024-08-09"),
        ("2025-10-06", "2025-11-30"),
        ("2022-12-19", "2023-01-06"),
        ("2020-02-20", "2020-03-20"),
        ("2022-05-05", "2022-06-30"),
        ("2022-11-06", "2022-11-21"),
    ]
    assert all(w.kind == "macro" and w.name for w in windows)


def test_run_windows_given_user_file_and_study_file_adds_both_to_defaults(run_dir: Path, tmp_path: Path) -> None:
    # Arrange
    extra = tmp_path / "mine.toml"
    extra.write_text('[[window]]\nname = "My episode"\nstart = 2022-08-01\nend = "2022-08-15"\n')
    folder = write_run(tmp_path / "runs")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["study"]["crisis_windows"] = [{"name": "Study episode", "start": "2022-09-01", "end": "2022-09-10"}]
    (folder / "manifest.json").write_text(json.dumps(manifest))

    # Act
    names = [w.name for w in run_windows(load_run(folder), extra)]

    # Assert
    assert names[:6] == [w.name for w in load_windows(DEFAULT_WINDOWS)]
    assert names[6:8] == ["Study episode", "My episode"]
    assert any(name.startswith("BTC/USDT drawdown") for name in names[8:])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[[window]]\nname = "x"\nstart = 2022-08-15\nend = 2022-08-01\n', "end 2022-08-01 is before start 2022-08-15"),
        ("[[window]]\nstart = 2022-08-01\nend = 2022-08-15\n", "needs a name"),
        ('[[window]]\nname = "x"\nstart = "soon"\nend = 2022-08-15\n', "start 'soon' is not a date"),
        ("[[window]\n", "not valid TOML"),
    ],
)
def test_load_windows_given_malformed_file_raises_data_error(tmp_path: Path, text: str, message: str) -> None:
    # Arrange
    path = tmp_path / "bad.toml"
    path.write_text(text)

    # Act / Assert
    with pytest.raises(DataError, match=message):
        load_windows(path)


def test_deepest_drawdowns_given_known_path_finds_non_overlapping_peak_to_trough() -> None:
    # Arrange: falls of -50% (d1->d2), -25% (d3->d4), -60% (d5->d7, then a rebound to 90), -5% (d9->d10)
    values = [100, 50, 120, 90, 130, 80, 52, 90, 140, 133, 150]
    close = pd.Series(values, index=pd.date_range("2021-01-01", periods=len(values), freq="D", tz="UTC"), dtype=float)

    # Act
    found = deepest_drawdowns(close, count=2, symbol="BTC/USDT")

    # Assert: the two deepest, in time order, each from its all-time high to its lowest close
    assert [(w.start.date().isoformat(), w.end.date().isoformat()) for w in found] == [
        ("2021-01-01", "2021-01-02"),
        ("2021-01-05", "2021-01-07"),
    ]
    assert [w.name for w in found] == ["BTC/USDT drawdown -50%", "BTC/USDT drawdown -60%"]
    assert all(w.kind == "drawdown" for w in found)


def test_deepest_drawdowns_given_five_requested_returns_at_most_the_episodes_there_are() -> None:
    # Arrange
    close = pd.Series([1.0, 2.0, 1.5, 3.0], index=pd.date_range("2021-01-01", periods=4, freq="D", tz="UTC"))

    # Act
    found = deepest_drawdowns(close)

    # Assert
    assert len(found) == 1 and found[0].start == day("2021-01-02") and found[0].end == day("2021-01-03")


def test_regime_summary_given_risk_readings_returns_most_frequent_and_most_severe() -> None:
    # Arrange
    index = pd.date_range("2022-01-01", periods=6, freq="D", tz="UTC")
    risk = pd.DataFrame(
        {"score": [30, 45, 50, 85, 55, 20.0], "regime": ["calm", "elevated", "elevated", "crisis", "elevated", "calm"]},
        index=index,
    )
    window = CrisisWindow("test", day("2022-01-02"), day("2022-01-05"))

    # Act
    summary = regime_summary(risk, window)

    # Assert
    assert summary == {"Regime (most)": "elevated", "Regime (max)": "crisis", "Max. Risk Score": 85.0}


def test_regime_summary_given_no_readings_says_not_available() -> None:
    # Arrange
    risk = pd.DataFrame({"score": [np.nan], "regime": [""]}, index=pd.DatetimeIndex([day("2022-01-02")], name="time"))

    # Act / Assert
    assert regime_summary(risk, CrisisWindow("x", day("2022-01-01"), day("2022-01-03")))["Regime (most)"] == "n/a"


def test_window_stats_given_synthetic_book_matches_hand_computation(run_dir: Path) -> None:
    # Arrange: a window whose first and last bars both move the equity, so an off-by-one at either end shows
    run = load_run(run_dir)
    key = BookKey("sma_cross", "BTC/USDT", "1d", "carry")
    frame = pd.read_csv(run_dir / "equity.csv", parse_dates=["time"])
    book = frame[(frame["strategy"] == "sma_cross") & (frame["overlay"] == "carry")].set_index("time")
    moved = book.index[1:][book["equity"].diff().iloc[1:].abs().to_numpy() > 1e-9]
    first, last = moved[40], moved[70]
    window = CrisisWindow("test", first, last)
    inside = book.loc[first:last]
    before = book["equity"].loc[:first].iloc[-2]
    path = pd.concat([pd.Series([before]), inside["equity"].reset_index(drop=True)])

    # Act
    stats = window_stats(run, key, window)

    # Assert
    assert stats["Return [%]"] == pytest.approx((inside["equity"].iloc[-1] / before - 1) * 100)
    assert stats["Max. Drawdown [%]"] == pytest.approx((path / path.cummax() - 1).min() * 100)
    assert stats["Avg. Exposure [%]"] == pytest.approx((1 - inside["cash"] / inside["equity"]).mean() * 100)
    assert stats["coverage"] == "full"


def test_crisis_table_given_synthetic_run_has_rows_only_for_windows_the_run_reaches(run_dir: Path) -> None:
    # Arrange
    run = load_run(run_dir)
    windows = run_windows(run)

    # Act
    rows = crisis_table(run, windows)

    # Assert
    covered = {"BoJ YCC band change", "Terra/Celsius", "FTX collapse"}
    assert {r["window"] for r in rows if r["kind"] == "macro"} == covered
    assert {w.name for w in uncovered(run, windows)} == {"Yen carry unwind", "JGB long-end surge", "COVID crash"}
    assert all(len([r for r in rows if r["window"] == name]) == 4 for name in covered)
    assert all(r["Regime (most)"] in ("calm", "elevated", "stress", "crisis") for r in rows)


def test_paired_table_given_crisis_rows_puts_overlay_twin_beside_and_subtracts(run_dir: Path) -> None:
    # Arrange
    run = load_run(run_dir)
    window = CrisisWindow("FTX collapse", day("2022-11-06"), day("2022-11-21"))
    rows = crisis_table(run, [window])
    by_book = {(r["base_strategy"], r["overlay"]): r for r in rows}

    # Act
    paired = paired_table(rows)

    # Assert
    assert len(rows) == 4 and len(paired) == 2
    for row in paired:
        plain, carry = by_book[(row["base_strategy"], "none")], by_book[(row["base_strategy"], row["overlay"])]
        assert row["overlay"] == "carry"
        for measure in ("Return [%]", "Max. Drawdown [%]", "Avg. Exposure [%]"):
            assert row[measure]["plain"] == plain[measure] and row[measure]["overlay"] == carry[measure]
            assert row[measure]["delta"] == pytest.approx(carry[measure] - plain[measure])
        assert row["Regime (most)"] == plain["Regime (most)"]


def test_paired_table_given_several_overlays_pairs_each_with_the_none_book(run_dir: Path) -> None:
    # Arrange: the synthetic run's rows, plus a third overlay's copy of each carry row with other values
    run = load_run(run_dir)
    rows = crisis_table(run, [CrisisWindow("FTX collapse", day("2022-11-06"), day("2022-11-21"))])
    extra = [
        {**r, "overlay": "trend", "Return [%]": r["Return [%]"] + 1.0, "Max. Drawdown [%]": -1.0}
        for r in rows
        if r["overlay"] == "carry"
    ]
    plain = {r["base_strategy"]: r for r in rows if r["overlay"] == "none"}

    # Act
    paired = paired_table(rows + extra)

    # Assert: one row per strategy and overlay (none excluded), each against that strategy's none book
    assert sorted((r["base_strategy"], r["overlay"]) for r in paired) == sorted(
        (s, o) for s in plain for o in ("carry", "trend")
    )
    for row in (r for r in paired if r["overlay"] == "trend"):
        twin = plain[row["base_strategy"]]
        assert row["Max. Drawdown [%]"]["delta"] == pytest.approx(-1.0 - twin["Max. Drawdown [%]"])
        assert row["Return [%]"]["plain"] == twin["Return [%]"]


def test_window_summary_given_paired_rows_counts_pairs_and_takes_medians(run_dir: Path) -> None:
    # Arrange
    run = load_run(run_dir)
    windows = [
        CrisisWindow("FTX collapse", day("2022-11-06"), day("2022-11-21")),
        CrisisWindow("Terra/Celsius", day("2022-05-05"), day("2022-06-30")),
    ]
    paired = paired_table(crisis_table(run, windows))

    # Act
    summary = window_summary(paired)

    # Assert: one row per window (one market here), counts and medians over its two strategy pairs
    assert [row["window"] for row in summary] == ["FTX collapse", "Terra/Celsius"]
    for row in summary:
        mine = [p for p in paired if p["window"] == row["window"]]
        d_return = [p["Return [%]"]["delta"] for p in mine]
        d_drawdown = [p["Max. Drawdown [%]"]["delta"] for p in mine]
        assert row["pairs"] == 2 and row["symbol"] == "BTC/USDT"
        assert row["shallower"] == sum(d > 1e-9 for d in d_drawdown) and row["deeper"] == sum(
            d < -1e-9 for d in d_drawdown
        )
        assert row["higher return"] == sum(d > 1e-9 for d in d_return)
        assert row["lower return"] == sum(d < -1e-9 for d in d_return)
        assert row["Median Δ Return [%]"] == pytest.approx(sum(d_return) / 2)
        assert row["Median Δ Max. Drawdown [%]"] == pytest.approx(sum(d_drawdown) / 2)
        assert row["Buy & Hold [%]"] == mine[0]["Buy & Hold [%]"] and row["Regime (max)"] == mine[0]["Regime (max)"]


def test_run_windows_given_malformed_study_windows_in_manifest_raises_data_error_naming_it(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["study"]["crisis_windows"] = [{"name": "bad", "start": "2024-02-01", "end": "2024-01-01"}]
    (folder / "manifest.json").write_text(json.dumps(manifest))

    # Act / Assert
    with pytest.raises(
        DataError, match=r"manifest\.json study\.crisis_windows: window #1 \(bad\): end 2024-01-01 is before start"
    ):
        run_windows(load_run(folder))
