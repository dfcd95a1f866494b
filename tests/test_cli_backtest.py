"""``carryguard backtest`` end to end on the real data: results layout, determinism, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.backtests.engine.metrics import METRIC_NAMES
from carryguard.backtests.run.study import load_study
from carryguard.strategies.base import REGISTRY

LAYOUT = {
    "equity.parquet": "time,strategy,symbol,timeframe,overlay,equity,cash,position",
    "exposure.parquet": "time,strategy,symbol,timeframe,overlay,strategy_exposure,risk_score,regime,multiplier,"
    "vol_scale,final_exposure",
    "fills.csv": "time,strategy,symbol,timeframe,overlay,side,qty,price,fee",
    "trades.csv": "strategy,symbol,timeframe,overlay,entry_time,exit_time,entry_price,exit_price,qty,pnl,return_pct,"
    "fees,is_open",
    "prices.parquet": "time,symbol,timeframe,open,high,low,close",
    "risk.csv": "time,score,regime",
}


def backtest(store_dir: Path, *args: str):
    return CliRunner().invoke(main, ["--data-dir", str(store_dir), "backtest", *args])


@pytest.fixture(scope="module")
def default_runs(real_store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The full default study, run twice into separate results folders."""
    folders = []
    for attempt in range(2):
        results = tmp_path_factory.mktemp(f"results{attempt}")
        outcome = backtest(real_store_dir, "--engine", "fast", "--results-dir", str(results), "--json")
        assert outcome.exit_code == 0, outcome.output + outcome.stderr
        folders.append(Path(json.loads(outcome.stdout)["run_dir"]))
    return folders


@pytest.mark.slow
def test_backtest_given_default_study_twice_writes_byte_identical_metrics(default_runs):
    # Arrange
    first, second = default_runs

    # Act
    texts = [(folder / "metrics.json").read_bytes() for folder in default_runs]

    # Assert
    assert first != second
    assert texts[0] == texts[1]


@pytest.mark.slow
def test_backtest_given_default_study_writes_every_book_in_the_results_layout(default_runs):
    # Arrange
    folder = default_runs[0]

    # Act
    metrics = json.loads((folder / "metrics.json").read_text())["results"]
    manifest = json.loads((folder / "manifest.json").read_text())
    headers = {
        name: ",".join(pq.read_schema(folder / name).names)
        if name.endswith(".parquet")
        else (folder / name).read_text().splitlines()[0]
        for name in LAYOUT
    }

    # Assert
    assert headers == LAYOUT
    assert len(metrics) == len(REGISTRY) * 2 * len(load_study().overlays)  # strategies x {BTC, ETH} x overlays
    keys = [(r["strategy"], r["symbol"], r["timeframe"], r["overlay"]) for r in metrics]
    assert keys == sorted(keys, key=lambda k: (*k[:3], k[3] != "none", k[3]))  # none first in each book
    assert {r["strategy"] for r in metrics if r["baseline"]} == {"dip_buy", "rsi_oversold", "dca_dips"}
    assert folder.name == manifest["run_id"] and folder.name.endswith("-carry_unwind")
    assert set(manifest) == {
        "run_id",
        "created_at",
        "study",
        "engine",
        "data",
        "warmup_bars",
        "versions",
        "seed",
        "checksums",
    }
    assert sorted(manifest["checksums"]) == sorted([*LAYOUT, "metrics.json"])
    # 137 daily bars are stored before 2018-01-01 (from 2017-08-17): longer warm-ups get those
    assert manifest["warmup_bars"]["binance/BTC-USDT/1d"] == {
        "buy_and_hold": 0,
        "dca": 0,
        "sma_cross": 99,
        "breakout": 20,
        "tsmom": 90,
        "dip_buy": 137,
        "rsi_oversold": 137,
        "dca_dips": 137,
        "carry": 137,
        "vol_target": 30,
        "trend": 137,
        "yen_shock": 0,  # reads only the USD/JPY moves at each close
        "carry_confirmed": 137,
        "vol_target*carry": 137,
    }
    assert {"binance/BTC-USDT/1d", "binance/ETH-USDT/1d", "mof/jgb"} <= set(manifest["data"])
    assert set(manifest["versions"]) == {"carryguard", "python", "pandas", "numpy", "backtrader"}


@pytest.mark.slow
def test_backtest_given_default_study_tables_agree_with_metrics(default_runs):
    # Arrange
    folder = default_runs[0]
    metrics = {
        (r["strategy"], r["symbol"], r["overlay"]): r["metrics"]
        for r in json.loads((folder / "metrics.json").read_text())["results"]
    }

    # Act
    equity = pd.read_parquet(folder / "equity.parquet")
    exposure = pd.read_parquet(folder / "exposure.parquet")
    trades = pd.read_csv(folder / "trades.csv")

    # Assert: last equity = Equity Final, trades counted, overlay product, no-overlay passthrough.
    last = equity.groupby(["strategy", "symbol", "overlay"])["equity"].last()
    for key, value in last.items():
        assert value == pytest.approx(metrics[key]["Equity Final [$]"], rel=1e-9)
    counts = trades.groupby(["strategy", "symbol", "overlay"]).size()
    for key, value in counts.items():
        assert value == metrics[key]["# Trades"]
    sized = exposure[exposure["overlay"] == "carry"]
    product = (sized["strategy_exposure"] * sized["multiplier"] * sized["vol_scale"]).clip(0, 1)
    assert (sized["final_exposure"] - product).abs().max() < 1e-12
    plain = exposure[exposure["overlay"] == "none"]
    assert (plain["final_exposure"] == plain["strategy_exposure"]).all()
    assert (sized["multiplier"] < 1).any()  # the overlay did cut exposure somewhere since 2018


def test_backtest_given_narrowing_options_prints_json_for_selected_books(real_store_dir, tmp_path):
    # Act
    outcome = backtest(
        real_store_dir,
        "--strategy",
        "sma_cross+carry",
        "--symbol",
        "BTC/USDT",
        "--timeframe",
        "4h",
        "--start",
        "2023-01-01",
        "--end",
        "2023-06-30",
        "--results-dir",
        str(tmp_path),
        "--json",
    )

    # Assert
    assert outcome.exit_code == 0, outcome.stderr
    document = json.loads(outcome.stdout)
    assert list(document) == ["run_dir", "results"]
    assert Path(document["run_dir"]).parent == tmp_path
    (result,) = document["results"]
    assert list(result) == ["strategy", "symbol", "timeframe", "overlay", "baseline", "metrics"]
    assert tuple(result["metrics"]) == METRIC_NAMES
    assert (result["strategy"], result["symbol"], result["timeframe"], result["overlay"]) == (
        "sma_cross",
        "BTC/USDT",
        "4h",
        "carry",
    )
    assert result["metrics"]["Start"] == "2023-01-01T00:00:00+00:00"
    assert result["metrics"]["End"] == "2023-06-30T00:00:00+00:00"


def test_backtest_given_table_output_shows_none_best_control_best_carry_and_marks_baselines(real_store_dir, tmp_path):
    # Act
    outcome = backtest(
        real_store_dir,
        "--strategy",
        "dip_buy",
        "--strategy",
        "buy_and_hold",
        "--symbol",
        "ETH/USDT",
        "--start",
        "2024-01-01",
        "--results-dir",
        str(tmp_path),
    )

    # Assert
    assert outcome.exit_code == 0, outcome.stderr
    header = next(line for line in outcome.stdout.splitlines() if "strategy" in line)
    assert " ".join(header.split()[1:]).replace("┃ ", "") == (
        "strategy market Sharpe MaxDD % control Sharpe MaxDD % carry-based Sharpe MaxDD % ┃"
    )
    assert max(len(line) for line in outcome.stdout.splitlines()) <= 120  # fits a 120-column terminal
    assert "dip_buy *" in outcome.stdout and "buy_and_hold *" not in outcome.stdout
    assert f"results: {tmp_path}" in outcome.stdout
    (folder,) = tmp_path.iterdir()
    best: dict[str, float] = {}
    for r in json.loads((folder / "metrics.json").read_text())["results"]:
        best[r["strategy"]] = max(best.get(r["strategy"], float("-inf")), r["metrics"]["Sharpe Ratio"])
    rows = [line for line in outcome.stdout.splitlines() if "ETH 1d" in line]
    assert [row.split()[1] for row in rows] == sorted(best, key=best.get, reverse=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--strategy", "moonshot"], "unknown strategy 'moonshot'"),
        (["--start", "2021-02-30"], "'--start': '2021-02-30' is not a calendar date"),
        (["--start", "2022-01-01", "--end", "2021-01-01"], "is not before end"),
        (["--engine", "warp"], "'--engine': unknown value 'warp'"),
    ],
)
def test_backtest_given_bad_usage_exits_2_with_message(real_store_dir, tmp_path, args, message):
    # Act
    outcome = backtest(real_store_dir, *args, "--results-dir", str(tmp_path))

    # Assert
    assert outcome.exit_code == 2
    assert message in outcome.stderr
    assert not list(tmp_path.iterdir())


def test_backtest_given_malformed_study_file_exits_1_naming_the_file(real_store_dir, tmp_path):
    # Arrange
    study = tmp_path / "broken.toml"
    study.write_text('name = "broken"\n[strategies]\nsma_cross = { fast = "ten" }\n')

    # Act
    outcome = backtest(real_store_dir, str(study), "--results-dir", str(tmp_path / "results"))

    # Assert
    assert outcome.exit_code == 1
    assert "broken.toml" in outcome.stderr and "strategies.sma_cross" in outcome.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--symbol", "DOGE/USDT"], "series binance/DOGE-USDT/1d is not in the store"),
        (["--start", "2031-01-01"], "binance/BTC-USDT/1d has 0 bar(s) in 2031-01-01..latest"),
    ],
)
def test_backtest_given_missing_data_exits_1_with_one_line(real_store_dir, tmp_path, args, message):
    # Act
    outcome = backtest(real_store_dir, "--strategy", "dca", *args, "--results-dir", str(tmp_path))

    # Assert
    assert outcome.exit_code == 1
    assert message in outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1
    assert not list(tmp_path.iterdir())


def test_backtest_given_empty_store_exits_1_naming_the_series(tmp_path):
    # Act
    outcome = backtest(tmp_path / "empty-store", "--strategy", "dca", "--results-dir", str(tmp_path / "results"))

    # Assert
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: series binance/BTC-USDT/1d is not in the store")
