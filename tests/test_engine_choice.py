"""The default engine, `--engine backtrader` one flag away, and `--verify N` (re-run N books
on the other engine and hold them to the parity tests' tolerances)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.backtests.engine import DEFAULT_ENGINE, ENGINE_NAMES
from carryguard.backtests.engine.book import Book
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.fast import run_fast
from carryguard.backtests.run import runner

SMALL = (
    "--strategy",
    "sma_cross",
    "--strategy",
    "dip_buy",
    "--symbol",
    "BTC/USDT",
    "--start",
    "2023-01-01",
    "--overlays",
    "none,carry",
)


def backtest(store_dir: Path, results: Path, *args: str):
    return CliRunner().invoke(main, ["--data-dir", str(store_dir), "backtest", "--results-dir", str(results), *args])


def test_engines_given_registry_names_match_what_the_cli_offers() -> None:
    assert tuple(runner.ENGINES) == ENGINE_NAMES
    assert DEFAULT_ENGINE in ENGINE_NAMES


@pytest.mark.parametrize(
    ("args", "ran", "checked_on"),
    [((), DEFAULT_ENGINE, "backtrader"), (("--engine", "backtrader"), "backtrader", "fast")],
)
def test_backtest_given_verify_reruns_books_on_the_other_engine_and_reports_parity(
    real_store_dir: Path, tmp_path: Path, args: tuple[str, ...], ran: str, checked_on: str
) -> None:
    # Act
    outcome = backtest(real_store_dir, tmp_path, *SMALL, *args, "--verify", "3", "--json")

    # Assert: 3 of the 4 books re-run on the other engine, same fills, equity to rounding
    assert outcome.exit_code == 0, outcome.output + outcome.stderr
    document = json.loads(outcome.stdout)
    manifest = json.loads((Path(document["run_dir"]) / "manifest.json").read_text())
    assert manifest["engine"] == ran
    checks = document["verify"]
    assert [c["label"] for c in checks] == [
        "sma_cross BTC/USDT 1d",
        "sma_cross+carry BTC/USDT 1d",
        "dip_buy BTC/USDT 1d",
    ]
    assert {c["engine"] for c in checks} == {checked_on}
    assert all(c["ok"] and c["fills"][0] == c["fills"][1] > 0 for c in checks)
    assert all(c["worst_bar_gap"] <= runner.PARITY_BAR for c in checks)


def test_backtest_given_verify_table_prints_one_row_per_book(real_store_dir: Path, tmp_path: Path) -> None:
    # Act
    outcome = backtest(real_store_dir, tmp_path, *SMALL, "--verify", "2")

    # Assert
    assert outcome.exit_code == 0, outcome.output + outcome.stderr
    assert f"{DEFAULT_ENGINE} vs backtrader (2 books)" in outcome.stdout
    assert outcome.stdout.count(" ok ") == 2


def test_backtest_given_engines_that_disagree_verify_exits_1_naming_the_books(
    real_store_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: a "backtrader" that charges twice the commission (what a drifted engine looks like)
    def drifted(bars: pd.DataFrame, target: pd.Series, config: ExecutionConfig) -> Book:
        return run_fast(bars, target, replace(config, commission=config.commission * 2))

    monkeypatch.setitem(runner.ENGINES, "backtrader", drifted)

    # Act
    outcome = backtest(real_store_dir, tmp_path, *SMALL, "--verify", "1")

    # Assert
    assert outcome.exit_code == 1
    assert "DIFFERS" in outcome.stdout
    assert outcome.stderr.splitlines() == ["error: 1 book(s) differ between the engines: sma_cross BTC/USDT 1d"]
