"""``carryguard check lookahead``: biased strategies are caught, every built-in passes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

import carryguard.strategies  # noqa: F401  (registers the built-ins)
from carryguard.backtests.cli import main
from carryguard.backtests.run.lookahead import check_decisions, cut_positions
from carryguard.backtests.run.runner import decision_times
from carryguard.signals.risk import RiskConfig, risk_at
from carryguard.strategies.base import REGISTRY
from carryguard.strategies.loader import make_strategy
from carryguard.strategies.overlay import CarryOverlay, OverlayConfig

BIASED = {
    # each uses the future in a way a careless user might
    "shift_back": "(bars['close'].shift(-1) > bars['close']).astype(float)",
    "centred_window": "(bars['close'] > bars['close'].rolling(21, center=True, min_periods=1).mean()).astype(float)",
    "full_sample_normalisation": "((bars['close'] / bars['close'].max()) > 0.5).astype(float)",
    "future_high": "(bars['close'] >= bars['close'][::-1].cummax()[::-1] * 0.8).astype(float)",
}


def biased_file(folder: Path, name: str) -> Path:
    path = folder / f"{name}.py"
    path.write_text(
        "from dataclasses import dataclass\nfrom typing import ClassVar\n\n"
        + textwrap.dedent(f"""
        @dataclass(frozen=True)
        class Biased:
            warmup_bars: ClassVar[int] = 0
            def target_exposure(self, bars):
                return {BIASED[name]}
        """)
    )
    return path


def check(store_dir: Path, *args: str):
    return CliRunner().invoke(main, ["--data-dir", str(store_dir), "check", "lookahead", *args])


@pytest.mark.parametrize("name", sorted(BIASED))
def test_check_lookahead_given_biased_strategy_exits_1_naming_the_first_changed_bar(real_store_dir, tmp_path, name):
    # Arrange
    path = biased_file(tmp_path, name)
    # Act
    outcome = check(real_store_dir, "--strategy", f"{path}:Biased", "--cuts", "20")
    as_json = check(real_store_dir, "--strategy", f"{path}:Biased", "--cuts", "20", "--json")
    # Assert
    assert outcome.exit_code == 1, outcome.output
    assert outcome.stdout.startswith("look-ahead: ") and "strategy_exposure at bar" in outcome.stdout
    finding = json.loads(as_json.stdout)["finding"]
    assert as_json.exit_code == 1 and finding["column"] == "strategy_exposure" and finding["full"] != finding["changed"]
    assert finding["bar"] <= finding["cut"]


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_check_decisions_given_builtin_strategy_and_carry_overlay_finds_no_lookahead(shared_store, name):
    # Arrange
    bars = shared_store.read("binance/BTC-USDT/1d")
    risk = risk_at(shared_store, decision_times(bars, "1d"), RiskConfig())
    overlay = CarryOverlay(OverlayConfig(vol_target=0.6))
    # Act
    finding, cuts = check_decisions(make_strategy(name), bars, cuts=12, overlay=overlay, risk=risk)
    # Assert
    assert finding is None and cuts == 12


def test_check_lookahead_given_clean_strategy_prints_no_lookahead_and_exits_0(real_store_dir):
    # Act
    outcome = check(
        real_store_dir, "--strategy", "sma_cross", "--param", "fast=10", "--cuts", "15", "--overlay", "carry"
    )
    # Assert
    assert outcome.exit_code == 0, outcome.output
    assert outcome.stdout.startswith("no look-ahead found at 15 cuts (strategy and carry overlay")


def test_cut_positions_given_warmup_spread_cuts_after_it_and_never_on_the_last_bar():
    # Act
    positions = cut_positions(100, 30, 5)
    # Assert
    assert positions == [30, 47, 64, 81, 98]
    assert cut_positions(2, 0, 5) == []
