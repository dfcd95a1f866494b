"""The overlay inside freqtrade: the mixin's decisions, and the real freqtrade's backtesting end to end.

The end-to-end test runs freqtrade in its own virtualenv (``$CARRYGUARD_FREQTRADE`` names
its ``freqtrade`` executable; else ``<repo>/.venv-freqtrade`` is made with pip once), on
the shared BTC/USDT daily bars converted to freqtrade's JSON data format, offline: the
exchange's markets come from the local Binance emulator.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from datetime import UTC, datetime, timedelta
from pathlib import Path

import ccxt
import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.signals.sources.ccxt_source import rebase_urls
from carryguard.signals.store import Store
from carryguard.strategies.freqtrade_overlay import CarryguardOverlay
from tests.conftest import REPO
from tests.fakes.binance import BinanceEmulator

UTC = UTC


class Base:
    """Stands in for freqtrade's IStrategy in the unit tests: plain stake, always confirm."""

    def custom_stake_amount(self, pair, current_time, current_rate, proposed_stake, *args, **kwargs):
        return proposed_stake

    def confirm_trade_entry(self, *args, **kwargs):
        return True


def write_history(path: Path, rows: list[tuple[str, str, str, str]]) -> None:
    path.write_text("time,score,regime,version,stale,carry\n" + "".join(f"{t},{s},{r},2,,{m}\n" for t, s, r, m in rows))


def overlay(path: Path, **settings: object) -> CarryguardOverlay:
    cls = type("Sized", (CarryguardOverlay, Base), {"carryguard_risk_file": str(path), **settings})
    return cls()


def at(day: int, hour: int = 0) -> datetime:
    return datetime(2024, 8, day, hour, tzinfo=UTC)


def test_mixin_given_fresh_readings_sizes_by_the_last_reading_at_or_before_the_candle(tmp_path) -> None:
    # Arrange
    path = tmp_path / "risk.csv"
    write_history(
        path,
        [("2024-08-01T00:00:00+00:00", "30", "calm", "1.0"), ("2024-08-02T00:00:00+00:00", "45", "elevated", "0.75")],
    )
    sized = overlay(path)
    # Act / Assert
    assert sized.custom_stake_amount("BTC/USDT", at(1, 12), 1.0, 1000.0, 10.0, 1e6, 1.0, None, "long") == 1000.0
    assert sized.custom_stake_amount("BTC/USDT", at(2), 1.0, 1000.0, 10.0, 1e6, 1.0, None, "long") == 750.0
    assert sized.confirm_trade_entry("BTC/USDT", "market", 1.0, 1.0, "GTC", at(2, 5), None, "long") is True


def test_mixin_given_missing_stale_or_empty_reading_fails_closed_and_logs_why(tmp_path, caplog) -> None:
    # Arrange
    path = tmp_path / "risk.csv"
    write_history(path, [("2024-08-01T00:00:00+00:00", "30", "calm", "1.0"), ("2024-08-03T00:00:00+00:00", "", "", "")])
    sized = overlay(path, carryguard_max_age_hours=24.0)
    # Act
    before_first = sized.confirm_trade_entry(
        "BTC/USDT", "market", 1.0, 1.0, "GTC", at(1) - timedelta(hours=1), None, "long"
    )
    stale = sized.custom_stake_amount("BTC/USDT", at(2, 6), 1.0, 1000.0, 10.0, 1e6, 1.0, None, "long")
    empty = sized.carryguard_decision(at(3, 1))
    no_file = overlay(tmp_path / "absent.csv").carryguard_decision(at(3))
    # Assert
    assert before_first is False and stale == 0.0 and not empty.allowed and not no_file.allowed
    assert "30 h old (max 24 h)" in caplog.text and "no new entry (fail closed)" in caplog.text
    assert "no carry multiplier" in empty.reason and "absent.csv" in no_file.reason


def test_mixin_given_fail_open_trades_the_plain_stake_and_vetoes_chosen_regimes(tmp_path) -> None:
    # Arrange
    path = tmp_path / "risk.csv"
    write_history(
        path,
        [("2024-08-01T00:00:00+00:00", "85", "crisis", "0.0"), ("2024-08-02T00:00:00+00:00", "65", "stress", "0.25")],
    )
    open_ = overlay(path, carryguard_fail_open=True)
    strict = overlay(path, carryguard_veto_regimes=("crisis", "stress"))
    # Act / Assert
    assert (
        open_.custom_stake_amount("BTC/USDT", at(1) - timedelta(days=1), 1.0, 1000.0, 10.0, 1e6, 1.0, None, "long")
        == 1000.0
    )
    assert open_.carryguard_decision(at(1, 3)).allowed is False  # crisis is vetoed by default
    assert open_.custom_stake_amount("BTC/USDT", at(2), 1.0, 1000.0, 10.0, 1e6, 1.0, None, "long") == 250.0
    assert strict.confirm_trade_entry("BTC/USDT", "market", 1.0, 1.0, "GTC", at(2, 2), None, "long") is False


def test_mixin_given_file_rewritten_rereads_it(tmp_path) -> None:
    # Arrange
    path = tmp_path / "risk.csv"
    write_history(path, [("2024-08-01T00:00:00+00:00", "30", "calm", "1.0")])
    sized = overlay(path)
    assert sized.carryguard_decision(at(1)).multiplier == 1.0
    # Act
    write_history(
        path,
        [
            ("2024-08-01T00:00:00+00:00", "45", "elevated", "0.75"),
            ("2024-08-02T00:00:00+00:00", "45", "elevated", "0.75"),
        ],
    )
    # Assert
    assert sized.carryguard_decision(at(1)).multiplier == 0.75


# --- the real freqtrade -------------------------------------------------------------------------------

STRATEGIES = '''
from carryguard_overlay import CarryguardOverlay
from freqtrade.strategy import IStrategy


class PlainTrend(IStrategy):
    """Long above the 50-day mean, out below it."""

    INTERFACE_VERSION = 3
    timeframe = "1d"
    minimal_roi = {"0": 100.0}
    stoploss = -0.99
    startup_candle_count = 50

    def populate_indicators(self, dataframe, metadata):
        dataframe["mean"] = dataframe["close"].rolling(50).mean()
        return dataframe

    def populate_entry_trend(self, dataframe, metadata):
        dataframe.loc[dataframe["close"] > dataframe["mean"], "enter_long"] = 1
        return dataframe

    def populate_exit_trend(self, dataframe, metadata):
        dataframe.loc[dataframe["close"] < dataframe["mean"], "exit_long"] = 1
        return dataframe


class SizedTrend(CarryguardOverlay, PlainTrend):
    carryguard_risk_file = "RISK_FILE"
    carryguard_veto_regimes = ("stress", "crisis")
'''


def freqtrade_executable() -> Path:
    """freqtrade in its own virtualenv (made once); skip only if it cannot be installed."""
    given = os.environ.get("CARRYGUARD_FREQTRADE")
    if given:
        return Path(given)
    home = REPO / ".venv-freqtrade"
    executable = home / "bin" / "freqtrade"
    if not executable.is_file():
        venv.create(home, with_pip=True)
        install = subprocess.run(
            [str(home / "bin" / "python"), "-m", "pip", "install", "-q", "freqtrade"],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
        if install.returncode != 0 or not executable.is_file():
            pytest.skip(f"freqtrade could not be installed in {home}: {install.stderr.strip().splitlines()[-1:]}")
    return executable


@pytest.mark.slow
def test_freqtrade_backtesting_given_mixin_sizes_every_entry_by_the_exported_multiplier(real_store_dir, tmp_path):
    # Arrange: data in freqtrade's format, the exported risk history, the strategies and a config
    freqtrade = freqtrade_executable()
    user = tmp_path / "user_data"
    (user / "data" / "binance").mkdir(parents=True)
    (user / "strategies").mkdir()
    bars = Store(real_store_dir).read("binance/BTC-USDT/1d")
    candles = [[int(t.value // 1_000_000), r.open, r.high, r.low, r.close, r.volume] for t, r in bars.iterrows()]
    (user / "data" / "binance" / "BTC_USDT-1d.json").write_text(json.dumps(candles))
    risk_file = tmp_path / "carryguard_risk.csv"
    exported = CliRunner().invoke(main, ["--data-dir", str(real_store_dir), "risk", "--export", str(risk_file)])
    installed = CliRunner().invoke(main, ["strategies", "freqtrade", str(user / "strategies")])
    assert exported.exit_code == 0 and installed.exit_code == 0, exported.stderr + installed.stderr
    (user / "strategies" / "trend.py").write_text(STRATEGIES.replace("RISK_FILE", str(risk_file)))
    with BinanceEmulator({("BTCUSDT", "1d"): bars}) as exchange:
        urls = rebase_urls(ccxt.binance().urls["api"], exchange.url, "binance.com")
        ccxt_config = {"urls": {"api": urls}, "options": {"fetchMarkets": {"types": ["spot"]}}}
        config = {
            "max_open_trades": 1,
            "stake_currency": "USDT",
            "stake_amount": 1000,
            "dry_run": True,
            "dry_run_wallet": 1_000_000,
            "trading_mode": "spot",
            "timeframe": "1d",
            "dataformat_ohlcv": "json",
            "entry_pricing": {"price_side": "same"},
            "exit_pricing": {"price_side": "same"},
            "exchange": {
                "name": "binance",
                "pair_whitelist": ["BTC/USDT"],
                "ccxt_config": ccxt_config,
                "ccxt_async_config": ccxt_config,
            },
            "pairlists": [{"method": "StaticPairList"}],
        }
        (tmp_path / "config.json").write_text(json.dumps(config))
        # Act
        outcome = subprocess.run(
            [
                str(freqtrade),
                "backtesting",
                "--config",
                str(tmp_path / "config.json"),
                "--userdir",
                str(user),
                "--strategy-list",
                "PlainTrend",
                "SizedTrend",
                "--timerange",
                "20180301-20260101",
                "--export",
                "trades",
                "--cache",
                "none",
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
            cwd=tmp_path,
        )
    # Assert
    assert outcome.returncode == 0, outcome.stdout[-3000:] + outcome.stderr[-3000:]
    trades = load_trades(user / "backtest_results")
    risk = pd.read_csv(risk_file, parse_dates=["time"]).set_index("time")
    plain, sized = trades["PlainTrend"], trades["SizedTrend"]
    assert len(plain) > 10 and all(abs(t["stake_amount"] - 1000.0) <= step(t) for t in plain)
    vetoed_plain = 0
    for trade in plain:
        reading = risk.loc[: pd.Timestamp(trade["open_date"])].iloc[-1]
        vetoed_plain += reading["regime"] in ("stress", "crisis")
    assert vetoed_plain > 0, "the period must hold plain entries that the mixin would veto"
    for trade in sized:
        reading = risk.loc[: pd.Timestamp(trade["open_date"])].iloc[-1]
        assert reading["regime"] not in ("stress", "crisis"), trade
        assert abs(trade["stake_amount"] - 1000.0 * reading["carry"]) <= step(trade), trade
    print(
        f"freqtrade {freqtrade_version(freqtrade)}: {len(plain)} plain entries, {vetoed_plain} in vetoed regimes; "
        f"{len(sized)} sized entries, stakes {sorted({round(t['stake_amount'], 2) for t in sized})}"
    )


def step(trade: dict) -> float:
    """freqtrade rounds the amount down to the market's step (0.00001 BTC): the stake may
    fall short of the asked one by up to one step's value."""
    return trade["open_rate"] * 1e-5 + 1e-9


def load_trades(folder: Path) -> dict[str, list[dict]]:
    """Trades per strategy from freqtrade's newest backtest result (a .json or a .zip holding one)."""
    import zipfile

    last = json.loads((folder / ".last_result.json").read_text())["latest_backtest"]
    path = folder / last
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as archive:
            name = next(
                n for n in archive.namelist() if n.endswith(".json") and "_config" not in n and "market_change" not in n
            )
            document = json.loads(archive.read(name))
    else:
        document = json.loads(path.read_text())
    return {name: result["trades"] for name, result in document["strategy"].items()}


def freqtrade_version(executable: Path) -> str:
    out = subprocess.run([str(executable), "--version"], capture_output=True, text=True, check=False).stdout
    return next((line.split()[-1] for line in out.splitlines() if line.startswith("Freqtrade Version")), "?")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-s"]))
