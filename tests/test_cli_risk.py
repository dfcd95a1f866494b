"""``carryguard risk`` and ``carryguard signals`` on the real-data store."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.signals.risk import RiskConfig, risk_at
from carryguard.signals.store import Store


def run(store: Store | Path, *args: str):
    root = store.root if isinstance(store, Store) else store
    return CliRunner().invoke(main, ["--data-dir", str(root), *args])


def test_risk_json_given_no_as_of_reads_latest_supported_time_with_exact_shape(shared_store):
    # Act
    result = run(shared_store, "risk", "--json")

    # Assert: the newest time every input has published (the Yahoo JPY=X close of 2026-06-26 is
    # a snapshot at 01:00 London that day, 00:00 UTC)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # stderr: the wall-clock staleness warning (the sample data is old)
    assert list(data) == [
        "as_of",
        "version",
        "score",
        "regime",
        "components",
        "stale",
        "overlays",
        "age_days",
        "fresh",
        "max_age_days",
    ]
    assert list(data["overlays"]) == ["carry", "yen_shock"]
    assert all(list(o) == ["multiplier", "reason"] and 0 <= o["multiplier"] <= 1 for o in data["overlays"].values())
    assert data["as_of"] == "2026-06-26T00:00:00+00:00" and data["version"] == 2
    assert data["fresh"] is False and data["age_days"] > 3 and "days ago" in result.stderr
    assert [c["name"] for c in data["components"]] == list(RiskConfig().components())
    assert all(list(c) == ["name", "value", "zscore", "contribution", "data_date"] for c in data["components"])
    assert 0 <= data["score"] <= 100 and data["stale"] == []


def test_risk_given_as_of_prints_score_components_and_data_dates(shared_store):
    # Act
    result = run(shared_store, "risk", "--as-of", "2024-08-05")

    # Assert
    assert result.exit_code == 0, result.output
    assert "v2 as of 2024-08-05 00:00 UTC" in result.output
    assert "crisis" in result.output or "stress" in result.output
    for name in RiskConfig().components():
        assert name in result.output
    assert "input mof/jgb: data date 2024-08-02" in result.output
    assert "cross-check USD/JPY" in result.output
    assert "weight" in result.output and "% yield" in result.output and "pp in 20d" in result.output


def test_risk_json_given_yahoo_bad_print_day_uses_previous_close(shared_store):
    # Act: Yahoo's 2008-04-08 bar (close 108.18) lies wholly ~5% above the prior close
    result = run(shared_store, "risk", "--as-of", "2008-04-09", "--json")

    # Assert: the command applies the point-in-time bad-print filter like risk_at on the store
    assert result.exit_code == 0, result.output
    yen = next(c for c in json.loads(result.output)["components"] if c["name"] == "yen_strength")
    assert yen["value"] < 104 and yen["data_date"] == "2008-04-07"


def test_risk_plot_given_file_writes_png(shared_store, tmp_path):
    # Arrange
    target = tmp_path / "charts" / "risk.png"

    # Act
    result = run(shared_store, "risk", "--as-of", "2025-11-20", "--plot", str(target), "--plot-start", "2024-01-01")

    # Assert
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and target.stat().st_size > 20_000


def test_signals_given_window_and_csv_writes_one_row_per_day(shared_store, tmp_path):
    # Arrange
    out = tmp_path / "signals.csv"

    # Act
    result = run(shared_store, "signals", "--start", "2024-07-01", "--end", "2024-08-31", "--out", str(out))

    # Assert
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, index_col="time", parse_dates=["time"])
    assert len(table) == 62
    expected = {"score", "regime", "jgb_momentum_zscore", "carry_spread_contribution", "jgb_date", "stale"}
    assert expected <= set(table.columns)
    assert table.loc[pd.Timestamp("2024-08-05", tz="UTC"), "regime"] in ("stress", "crisis")


def test_signals_given_window_equals_risk_at_on_the_store(shared_store, tmp_path):
    # Arrange: a window holding the 2008 Yahoo bad prints
    out = tmp_path / "signals.csv"
    days = pd.date_range("2008-03-25", "2008-04-15", freq="D", tz="UTC", name="time")

    # Act
    result = run(shared_store, "signals", "--start", "2008-03-25", "--end", "2008-04-15", "--out", str(out))

    # Assert
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out, index_col="time", parse_dates=["time"])
    expected = risk_at(shared_store, days)
    np.testing.assert_allclose(table["score"].to_numpy(), expected["score"].to_numpy(), rtol=0, atol=1e-9)


def test_signals_given_parquet_out_round_trips(shared_store, tmp_path):
    # Arrange
    out = tmp_path / "signals.parquet"

    # Act
    result = run(shared_store, "signals", "--start", "2025-11-01", "--end", "2025-11-30", "--out", str(out))

    # Assert
    assert result.exit_code == 0, result.output
    table = pd.read_parquet(out)
    assert len(table) == 30 and str(table.index.tz) == "UTC"


def test_risk_given_empty_store_exits_1_naming_series_and_fix(tmp_path):
    # Act
    result = run(tmp_path / "empty", "risk")

    # Assert
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1
    assert "series mof/jgb is not in the store" in lines[0] and "carryguard data import DIR" in lines[0]


def test_risk_given_bad_date_is_a_usage_error(shared_store):
    # Act
    result = run(shared_store, "risk", "--as-of", "last tuesday")

    # Assert
    assert result.exit_code == 2
    assert "--as-of" in result.output


def test_signals_given_unknown_out_suffix_is_a_usage_error(shared_store, tmp_path):
    # Act
    result = run(shared_store, "signals", "--out", str(tmp_path / "signals.txt"))

    # Assert
    assert result.exit_code == 2
    assert ".csv or .parquet" in result.output


def test_risk_plot_given_non_png_name_is_a_usage_error(shared_store, tmp_path):
    # Act
    result = run(shared_store, "risk", "--plot", str(tmp_path / "risk"))

    # Assert
    assert result.exit_code == 2
    assert "--plot" in result.output and ".png" in result.output


def test_risk_plot_given_unwritable_path_exits_1_with_one_line(shared_store, tmp_path):
    # Arrange: the chart's folder would have to be created below a regular file
    blocker = tmp_path / "file"
    blocker.write_text("")

    # Act
    result = run(shared_store, "risk", "--as-of", "2024-08-05", "--plot", str(blocker / "risk.png"))

    # Assert
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot write") and "Traceback" not in result.output


def test_risk_given_require_fresh_and_an_old_reading_exits_1_with_one_line(shared_store):
    # Act: the sample data ends in mid 2026, far more than --max-age days before the wall clock
    strict = run(shared_store, "risk", "--require-fresh", "--max-age", "3")
    lenient = run(shared_store, "risk", "--max-age", "100000")

    # Assert
    assert strict.exit_code == 1 and strict.stdout == ""
    assert (
        strict.stderr.startswith("error: the risk reading is from 2026-06-26 00:00 UTC")
        and strict.stderr.count("\n") == 1
    )
    assert lenient.exit_code == 0 and "warning" not in lenient.stderr
