"""Round trips with the cause of each exposure change, `latest`, the wrong folder kind, staleness."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from synthetic_run import write_run

from carryguard.backtests.cli import main
from carryguard.backtests.cli.freshness import freshness
from carryguard.backtests.report.trades import fill_causes
from carryguard.backtests.run.folder import BookKey, load_run

BOOK = BookKey("sma_cross", "BTC/USDT", "1d", "carry")


def with_fills(folder: Path, times: list[pd.Timestamp]) -> None:
    """fills.csv with one fill of BOOK at each of ``times`` (bar opens)."""
    rows = [
        {
            "time": t.isoformat(),
            "strategy": "sma_cross",
            "symbol": "BTC/USDT",
            "timeframe": "1d",
            "overlay": True,
            "side": "buy",
            "qty": 0.1,
            "price": 100.0,
            "fee": 0.1,
        }
        for t in times
    ]
    pd.DataFrame(rows).to_csv(folder / "fills.csv", index=False)


def test_fill_causes_given_entry_overlay_changes_and_exit_names_each_cause(tmp_path: Path) -> None:
    # Arrange: from the synthetic exposure, an entry of the strategy, the bars inside that position where
    # only the overlay's multiplier changed, then the exit; each fill at the next bar's open
    folder = write_run(tmp_path)
    exposure = load_run(folder).exposure[BOOK]
    held = exposure["strategy_exposure"].to_numpy()
    multiplier = exposure["multiplier"].to_numpy()
    starts = [i for i in range(1, len(held)) if held[i] > 0 and held[i - 1] == 0]
    for entry in starts:  # the first position inside which the multiplier moves
        exit_ = entry + int(np.argmax(held[entry:] == 0))
        changes = [i for i in range(entry + 1, exit_) if multiplier[i] != multiplier[i - 1]]
        if changes and exit_ > entry:
            break
    assert changes, "the synthetic run should move the multiplier inside a position"
    decisions = [entry, *changes, exit_]
    times = [exposure.index[i] + pd.Timedelta(days=1) for i in decisions]
    with_fills(folder, times)

    # Act
    causes = fill_causes(load_run(folder), BOOK)["cause"].tolist()

    # Assert
    expected_middle = ["overlay cut" if multiplier[i] < multiplier[i - 1] else "overlay restore" for i in changes]
    assert causes == ["signal", *expected_middle, "signal"]


def test_fill_causes_given_nothing_changed_since_the_last_fill_says_rebalance_band(tmp_path: Path) -> None:
    # Arrange: two fills decided on bars with the same strategy exposure and multiplier (drift only)
    folder = write_run(tmp_path)
    exposure = load_run(folder).exposure[BOOK]
    same = exposure[["strategy_exposure", "multiplier"]]
    held = np.flatnonzero((same["strategy_exposure"] > 0).to_numpy())
    pair = next(i for i in held if i + 1 in held and same.iloc[i + 1].equals(same.iloc[i]))
    with_fills(folder, [exposure.index[pair] + pd.Timedelta(days=1), exposure.index[pair + 1] + pd.Timedelta(days=1)])

    # Act
    causes = fill_causes(load_run(folder), BOOK)["cause"].tolist()

    # Assert
    assert causes[1] == "rebalance band"


def test_cli_trades_given_latest_and_book_prints_round_trips_as_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: `latest` looks under ./results
    write_run(tmp_path / "results", start="2021-01-01")
    newest = write_run(tmp_path / "results", start="2022-01-01")
    monkeypatch.chdir(tmp_path)

    # Act
    result = CliRunner().invoke(main, ["trades", "latest", "--book", "sma_cross+carry", "--json"])

    # Assert
    assert result.exit_code == 0, result.output
    books = json.loads(result.output)
    assert [b["book"] for b in books] == ["sma_cross+carry BTC/USDT 1d"]
    trip = books[0]["round_trips"][0]
    assert trip["entry_time"].startswith("2022-01-02") and trip["exit_cause"] == "open"
    assert set(trip) >= {"entry_price", "exit_price", "return_pct", "duration_days", "entry_cause", "resizes"}
    assert newest.name.startswith("20220101")


def test_cli_trades_given_misspelt_book_names_the_nearest(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)

    # Act
    result = CliRunner().invoke(main, ["trades", str(folder), "--book", "sma_cros"])

    # Assert
    assert result.exit_code == 2 and "did you mean 'sma_cross'?" in result.output


def test_cli_report_given_sweep_folder_says_what_it_is_and_what_was_expected(tmp_path: Path) -> None:
    # Arrange
    (tmp_path / "summary.json").write_text("{}")
    (tmp_path / "sweep.parquet").write_bytes(b"")

    # Act
    result = CliRunner().invoke(main, ["compare", str(tmp_path)])

    # Assert: one line, exit 1, naming the kind found and the kind expected
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {tmp_path}: a sweep folder (from `carryguard sweep`); "
        "pass a backtest run folder (from `carryguard backtest`)"
    ]


def test_freshness_given_reading_older_than_max_age_is_not_fresh() -> None:
    # Arrange
    as_of = pd.Timestamp("2026-06-27", tz="UTC")

    # Act
    old = freshness(as_of, 3.0, now=pd.Timestamp("2026-07-01 12:00", tz="UTC"))
    new = freshness(as_of, 3.0, now=pd.Timestamp("2026-06-29", tz="UTC"))

    # Assert
    assert old.to_json() == {"age_days": 4.5, "fresh": False, "max_age_days": 3.0}
    assert new.fresh and "4.5 days ago" in old.warning()
