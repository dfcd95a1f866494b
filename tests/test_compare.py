"""Loading run folders and the side-by-side comparison (`carryguard compare`)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from synthetic_run import write_run

from carryguard.backtests.cli import main
from carryguard.backtests.report.compare import DELTAS, HEADLINE, compare_runs, resolve_metric
from carryguard.backtests.run.folder import BookKey, load_run
from carryguard.signals.errors import DataError


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def later_run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Starts two months later and runs a month longer: the common window is 2022-03-01..2023-03-31."""
    return write_run(tmp_path_factory.mktemp("runs_b"), start="2022-03-01", days=426, seed=11, name="later")


def metrics_json(folder: Path) -> dict[BookKey, dict]:
    return {
        BookKey(r["strategy"], r["symbol"], r["timeframe"], r["overlay"]): r["metrics"]
        for r in json.loads((folder / "metrics.json").read_text())["results"]
    }


def test_load_run_given_synthetic_folder_returns_books_frames_and_baselines(run_dir: Path) -> None:
    # Act
    run = load_run(run_dir)

    # Assert
    assert run.run_id == run_dir.name
    assert set(run.books) == set(metrics_json(run_dir))
    assert run.baselines == {"dip_buy"}
    key = BookKey("sma_cross", "BTC/USDT", "1d", "carry")
    equity = run.equity[key]
    assert str(equity.index.tz) == "UTC" and equity.index.is_monotonic_increasing and len(equity) == 455
    assert list(equity.columns) == ["equity", "cash", "position"]
    assert set(run.exposure[key]["regime"]) <= {"calm", "elevated", "stress", "crisis"}
    assert list(run.prices) == [("BTC/USDT", "1d")]
    assert len(run.risk) == 455 and run.risk["score"].dtype == "float64"


@pytest.mark.parametrize(
    "name", ["manifest.json", "metrics.json", "equity.csv", "exposure.csv", "trades.csv", "prices.csv", "risk.csv"]
)
def test_load_run_given_missing_file_raises_data_error_naming_it(tmp_path: Path, name: str) -> None:
    # Arrange
    folder = write_run(tmp_path)
    (folder / name).unlink()

    # Act / Assert
    with pytest.raises(DataError, match=name if name != "manifest.json" else "not a run folder"):
        load_run(folder)


def test_load_run_given_bad_timestamp_raises_data_error_naming_file_and_row(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)
    lines = (folder / "equity.csv").read_text().splitlines()
    lines[3] = "not-a-date" + lines[3][lines[3].index(",") :]
    (folder / "equity.csv").write_text("\n".join(lines) + "\n")

    # Act / Assert
    with pytest.raises(DataError, match=r"equity\.csv: row 4: time 'not-a-date' is not a timestamp"):
        load_run(folder)


def test_load_run_given_text_in_numeric_column_raises_data_error(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)
    frame = pd.read_csv(folder / "risk.csv", dtype=str)
    frame.loc[5, "score"] = "high"
    frame.to_csv(folder / "risk.csv", index=False)

    # Act / Assert
    with pytest.raises(DataError, match=r"risk\.csv: row 7: score 'high' is not a number"):
        load_run(folder)


def test_load_run_given_truncated_metrics_json_raises_data_error(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)
    text = (folder / "metrics.json").read_text()
    (folder / "metrics.json").write_text(text[: len(text) // 2])

    # Act / Assert
    with pytest.raises(DataError, match=r"metrics\.json: not valid JSON"):
        load_run(folder)


def test_load_run_given_missing_column_raises_data_error(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)
    pd.read_csv(folder / "prices.csv").drop(columns=["close"]).to_csv(folder / "prices.csv", index=False)

    # Act / Assert
    with pytest.raises(DataError, match=r"prices\.csv: missing column\(s\) close"):
        load_run(folder)


def test_load_run_given_book_without_equity_raises_data_error(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)
    frame = pd.read_csv(folder / "equity.csv")
    frame[frame["strategy"] != "dip_buy"].to_csv(folder / "equity.csv", index=False)

    # Act / Assert
    with pytest.raises(DataError, match=r"no rows for dip_buy"):
        load_run(folder)


def test_compare_runs_given_one_run_uses_metrics_json_and_overlay_deltas(run_dir: Path) -> None:
    # Arrange
    expected = metrics_json(run_dir)

    # Act
    comparison = compare_runs([load_run(run_dir)])

    # Assert
    assert not comparison.aligned
    assert comparison.note == "same period 2022-01-01..2023-03-31 for every run, metrics as written by the backtest"
    assert len(comparison.rows) == 4
    for row in comparison.rows:
        key = BookKey(row["base_strategy"], row["symbol"], row["timeframe"], row["overlay"])
        for name in HEADLINE:
            assert row[name] == pytest.approx(expected[key][name])
        assert row["baseline"] == (key.strategy == "dip_buy")
        for name, delta in zip(HEADLINE, DELTAS, strict=False):
            if key.sized:
                assert row[delta] == pytest.approx(expected[key][name] - expected[key.pair][name])
            else:
                assert row[delta] is None


def test_compare_runs_given_sort_keeps_pairs_together_best_first(run_dir: Path) -> None:
    # Arrange
    expected = metrics_json(run_dir)
    best = {s: max(v["Return [%]"] for k, v in expected.items() if k.strategy == s) for s in ("sma_cross", "dip_buy")}

    # Act
    rows = compare_runs([load_run(run_dir)], sort="return").rows

    # Assert
    order = sorted(best, key=best.get, reverse=True)
    assert [r["strategy"] for r in rows] == [order[0], f"{order[0]}+carry", order[1], f"{order[1]}+carry"]


def test_compare_runs_given_different_periods_aligns_on_common_window_and_recomputes(
    run_dir: Path, later_run_dir: Path
) -> None:
    # Arrange
    runs = [load_run(run_dir), load_run(later_run_dir)]
    key = BookKey("sma_cross", "BTC/USDT", "1d", "none")
    equity = pd.read_csv(run_dir / "equity.csv", parse_dates=["time"])
    equity = equity[(equity["strategy"] == "sma_cross") & (equity["overlay"] == "none")].set_index("time")["equity"]
    window = equity.loc["2022-03-01":"2023-03-31"]
    returns = window.pct_change().dropna()

    # Act
    comparison = compare_runs(runs)

    # Assert
    assert comparison.aligned
    assert [t.date().isoformat() for t in comparison.window] == ["2022-03-01", "2023-03-31"]
    assert "ALIGNED on the common window 2022-03-01..2023-03-31" in comparison.note
    row = next(r for r in comparison.rows if r["run"] == runs[0].run_id and r["strategy"] == key.label)
    assert row["aligned"] and row["start"].startswith("2022-03-01") and row["end"].startswith("2023-03-31")
    assert row["Return [%]"] == pytest.approx((window.iloc[-1] / window.iloc[0] - 1) * 100)
    assert row["Max. Drawdown [%]"] == pytest.approx(((window / window.cummax()) - 1).min() * 100)
    assert row["Sharpe Ratio"] == pytest.approx(returns.mean() / returns.std() * np.sqrt(365))
    years = len(returns) / 365
    assert row["CAGR [%]"] == pytest.approx(((window.iloc[-1] / window.iloc[0]) ** (1 / years) - 1) * 100)
    assert row["Return [%]"] != pytest.approx(metrics_json(run_dir)[key]["Return [%]"])


def test_compare_runs_given_disjoint_periods_raises_data_error(run_dir: Path, tmp_path: Path) -> None:
    # Arrange
    other = write_run(tmp_path, start="2024-01-01", days=100, name="disjoint")

    # Act / Assert
    with pytest.raises(DataError, match="do not overlap"):
        compare_runs([load_run(run_dir), load_run(other)])


def test_resolve_metric_given_alias_or_unknown_name_maps_or_raises() -> None:
    # Act / Assert
    assert resolve_metric("maxdd") == "Max. Drawdown [%]"
    assert resolve_metric("sharpe ratio") == "Sharpe Ratio"
    assert resolve_metric("MaxDD %") == "Max. Drawdown [%]" and resolve_metric("Δ Sharpe") == "Δ Sharpe Ratio"
    assert resolve_metric("Δ Max. Drawdown [%]") == "Δ Max. Drawdown [%]"
    with pytest.raises(ValueError, match="unknown metric 'alpha'"):
        resolve_metric("alpha")


def test_cli_compare_given_json_prints_the_table_rows(run_dir: Path, later_run_dir: Path) -> None:
    # Act
    result = CliRunner().invoke(main, ["compare", str(run_dir), str(later_run_dir), "--json"])

    # Assert
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert len(rows) == 8 and all(row["aligned"] for row in rows)
    assert {row["run"] for row in rows} == {run_dir.name, later_run_dir.name}
    assert {"strategy", "overlay", "baseline", *HEADLINE, *DELTAS} <= set(rows[0])


def test_cli_compare_given_table_marks_baselines_and_alignment(run_dir: Path, later_run_dir: Path) -> None:
    # Act
    result = CliRunner().invoke(main, ["compare", str(run_dir), str(later_run_dir), "--sort", "maxdd", "--books"])

    # Assert
    assert result.exit_code == 0, result.output
    assert "ALIGNED on the common window 2022-03-01..2023-03-31" in result.output
    assert "dip_buy+carry *" in result.output and "* bottom-fishing baseline" in result.output
    assert f"#1 = {run_dir} (2022-01-01..2023-03-31)" in result.output and "Δ Sharpe" in result.output


def test_cli_compare_given_json_and_table_prints_the_same_rows_in_the_same_order(
    run_dir: Path, later_run_dir: Path
) -> None:
    # Arrange
    runner = CliRunner()
    args = ["compare", str(run_dir), str(later_run_dir), "--sort", "return", "--books"]

    # Act
    table = runner.invoke(main, [*args, "--wide"]).output
    rows = json.loads(runner.invoke(main, [*args, "--json"]).output)

    # Assert: each table line (run, strategy, ..., Return %, ..., Δ Sharpe) matches the JSON row at its position
    lines = [[cell.strip() for cell in line.split("│")[1:-1]] for line in table.splitlines() if line.startswith("│")]
    number = {run_dir.name: "#1", later_run_dir.name: "#2"}
    assert len(lines) == len(rows) == 8
    for cells, row in zip(lines, rows, strict=False):
        assert cells[0] == number[row["run"]]
        assert cells[1] == row["strategy"] + (" *" if row["baseline"] else "")
        assert cells[4] == f"{row['Return [%]']:,.2f}" and cells[7] == f"{row['Sharpe Ratio']:.2f}"
        assert cells[11] == ("—" if row["Δ Sharpe Ratio"] is None else f"{row['Δ Sharpe Ratio']:+.2f}")


def test_cli_compare_given_unknown_sort_exits_2(run_dir: Path) -> None:
    # Act
    result = CliRunner().invoke(main, ["compare", str(run_dir), "--sort", "alpha"])

    # Assert
    assert result.exit_code == 2
    assert "unknown metric 'alpha'" in result.output


def test_cli_compare_given_folder_that_is_not_a_run_exits_1_with_one_line(tmp_path: Path) -> None:
    # Act
    result = CliRunner().invoke(main, ["compare", str(tmp_path)])

    # Assert
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {tmp_path}: not a run folder (no metrics.json); "
        "pass a backtest run folder (from `carryguard backtest`)"
    ]


def test_load_run_given_folder_written_before_policies_reads_true_false_as_carry_none(run_dir: Path) -> None:
    # Arrange: the older layout, overlay true/false in every per-book table and metrics.json
    for name in ("equity.csv", "exposure.csv", "trades.csv", "fills.csv"):
        frame = pd.read_csv(run_dir / name)
        frame["overlay"] = frame["overlay"] == "carry"
        frame.to_csv(run_dir / name, index=False)
    document = json.loads((run_dir / "metrics.json").read_text())
    for result in document["results"]:
        result["overlay"] = result["overlay"] == "carry"
    (run_dir / "metrics.json").write_text(json.dumps(document))

    # Act
    run = load_run(run_dir)

    # Assert
    assert {key.overlay for key in run.books} == {"none", "carry"}
    assert set(run.equity) == set(run.books)
