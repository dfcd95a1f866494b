"""Study files: the default study, every kind of malformed file, command-line narrowing."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.run.narrow import narrow
from carryguard.backtests.run.study import StudyError, load_study, parse_study
from carryguard.signals.risk import RiskConfig
from carryguard.strategies.base import REGISTRY
from carryguard.strategies.overlay import OverlayConfig

MINIMAL = 'name = "t"\n[strategies]\nsma_cross = { fast = 10, slow = 30 }\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_load_study_given_no_path_loads_default_with_every_strategy_and_the_controls():
    # Act
    study = load_study()

    # Assert
    assert study.name == "carry_unwind"
    assert study.symbols == ("BTC/USDT", "ETH/USDT") and study.timeframes == ("1d",)
    assert study.start == pd.Timestamp("2018-01-01", tz="UTC") and study.end is None
    assert {s.name for s in study.strategies} == set(REGISTRY)
    assert study.overlays[:4] == ("none", "vol_target", "trend", "carry")
    assert {"yen_shock", "carry_confirmed", "vol_target*carry"} <= set(study.overlays)
    assert study.policy("trend").days == 200 and study.policy("vol_target").target == 0.6
    assert study.execution == ExecutionConfig(cash=10_000.0, commission=0.001, slippage_bps=5.0, rebalance_band=0.05)


def test_load_study_given_minimal_file_fills_documented_defaults(tmp_path):
    # Act
    study = load_study(write(tmp_path, MINIMAL))

    # Assert
    assert study.source == "binance" and study.symbols == ("BTC/USDT", "ETH/USDT")
    assert study.strategies[0].name == "sma_cross" and dict(study.strategies[0].params) == {"fast": 10, "slow": 30}
    assert study.execution == ExecutionConfig()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "t"\n[strategies\n', "not valid TOML"),
        ('name = "t"\ncolour = "red"\n[strategies]\ndca = {}\n', "unknown key 'colour'"),
        ('name = "a b"\n[strategies]\ndca = {}\n', "'name' must be"),
        ('name = "t"\n', "'strategies' must be a table"),
        ('name = "t"\n[strategies]\nmoon = {}\n', "strategies.moon: unknown strategy 'moon'"),
        ('name = "t"\n[strategies]\nsma_cross = { fastest = 3 }\n', "has no parameter 'fastest'"),
        ('name = "t"\n[strategies]\nsma_cross = 5\n', "strategies.sma_cross must be a table"),
        (
            'name = "t"\n[data]\nstart = "2020-02-30"\n[strategies]\ndca = {}\n',
            "[data] start: '2020-02-30' is not a calendar date",
        ),
        ('name = "t"\n[data]\nstart = 2021-01-01\nend = 2020-01-01\n[strategies]\ndca = {}\n', "is not before end"),
        ('name = "t"\n[data]\ntimeframes = ["1y"]\n[strategies]\ndca = {}\n', "unknown timeframe '1y'"),
        ('name = "t"\n[data]\nsymbols = ["btcusdt"]\n[strategies]\ndca = {}\n', "bad symbol 'btcusdt'"),
        ('name = "t"\n[data]\nsymbols = []\n[strategies]\ndca = {}\n', "[data] symbols must be a non-empty list"),
        (
            'name = "t"\n[data]\nsymbol = "BTC/USDT"\n[strategies]\ndca = {}\n',
            "unknown key 'symbol' (did you mean 'symbols'?)",
        ),
        ('name = "t"\n[data]\nstart = "05/08/2024"\n[strategies]\ndca = {}\n', "is ambiguous; write 2024-08-05"),
        ('name = "t"\n[strategies]\ndca = {}\n[execution]\ncash = "lots"\ncomission = 1\n', "2 problems"),
        ('name = "t"\n[strategies]\ndca = {}\n[execution]\ncash = nan\n', "cash = nan: should be a finite number"),
        ('name = "t"\nsymbols = ["BTC/USDT"]\n[strategies]\ndca = {}\n', "key 'symbols' now lives in [data] symbols"),
        (
            'name = "t"\n[strategies]\ndca = {}\n[sweep]\nsymbol = "BTC/USDT"\n',
            "[sweep] symbol now lives in [data] symbols",
        ),
        (
            'name = "t"\nwith_overlay = ["yes"]\n[strategies]\ndca = {}\n',
            "with_overlay.0 = 'yes': should be true or false",
        ),
        ('name = "t"\n[strategies]\ndca = {}\n[execution]\ncommission = 0.5\n', "[execution]: commission must be in"),
        ('name = "t"\n[strategies]\ndca = {}\n[execution]\nfee = 1\n', "[execution]"),
        ('name = "t"\n[strategies]\ndca = {}\n[overlay]\nwobble = 1\n', "[overlay]: unknown key 'wobble'"),
        ('name = "t"\n[strategies]\ndca = {}\n[risk]\nwobble = 1\n', "[risk]"),
    ],
)
def test_load_study_given_malformed_file_raises_one_line_study_error_naming_file(tmp_path, text, message):
    # Arrange
    path = write(tmp_path, text)

    # Act
    with pytest.raises(StudyError) as caught:
        load_study(path)

    # Assert
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_load_study_given_missing_file_raises_study_error(tmp_path):
    # Act / Assert
    with pytest.raises(StudyError, match="not found"):
        load_study(tmp_path / "nope.toml")


def test_narrow_given_carry_spec_keeps_only_that_strategy_with_overlay():
    # Arrange
    study = load_study()

    # Act
    narrowed = narrow(
        study,
        strategies=("sma_cross+carry",),
        symbols=("BTC/USDT",),
        start=pd.Timestamp("2020-01-01", tz="UTC"),
        end=pd.Timestamp("2021-01-01", tz="UTC"),
    )

    # Assert
    assert [s.name for s in narrowed.strategies] == ["sma_cross"]
    assert narrowed.overlays == ("carry",)
    assert narrowed.symbols == ("BTC/USDT",)
    assert narrowed.start == pd.Timestamp("2020-01-01", tz="UTC")
    assert narrowed.end == pd.Timestamp("2021-01-01", tz="UTC")


def test_narrow_given_strategy_missing_from_study_adds_it_with_defaults():
    # Arrange
    study = parse_study({"name": "t", "strategies": {"dca": {}}})

    # Act
    narrowed = narrow(study, strategies=("tsmom", "dca"))

    # Assert
    assert [s.name for s in narrowed.strategies] == ["tsmom", "dca"]
    assert narrowed.overlays == ("none", "carry")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"strategies": ("nope",)}, "unknown strategy 'nope'"),
        ({"strategies": ("dca+leverage",)}, "unknown overlay 'leverage'"),
        ({"strategies": ("dca+",)}, "bad strategy spec"),
        ({"overlays": ("vol_target*vol_target",)}, "repeats a policy"),
        (
            {"start": pd.Timestamp("2024-01-01", tz="UTC"), "end": pd.Timestamp("2023-01-01", tz="UTC")},
            "not before end",
        ),
        ({"timeframes": ("5x",)}, "unknown timeframe"),
    ],
)
def test_narrow_given_bad_option_raises_study_error(options, message):
    # Act / Assert
    with pytest.raises(StudyError, match=re.escape(message)):
        narrow(load_study(), **options)


def test_load_study_given_crisis_windows_file_copies_its_windows_for_the_manifest(tmp_path):
    # Arrange
    (tmp_path / "episodes.toml").write_text('[[window]]\nname = "x"\nstart = 2024-01-01\nend = 2024-01-31\n')
    study_file = tmp_path / "s.toml"
    study_file.write_text('name = "s"\ncrisis_windows = "episodes.toml"\n[strategies.buy_and_hold]\n')

    # Act
    study = load_study(study_file)

    # Assert
    assert study.crisis_windows == (("x", "2024-01-01", "2024-01-31"),)
    assert study.to_dict()["crisis_windows"] == [{"name": "x", "start": "2024-01-01", "end": "2024-01-31"}]


def test_load_study_given_missing_crisis_windows_file_raises_naming_it(tmp_path):
    # Arrange
    study_file = tmp_path / "s.toml"
    study_file.write_text('name = "s"\ncrisis_windows = "nope.toml"\n[strategies.buy_and_hold]\n')

    # Act / Assert
    with pytest.raises(StudyError, match=r"crisis_windows file .*nope\.toml not found"):
        load_study(study_file)


def test_load_study_given_unknown_risk_setting_names_the_table_once(tmp_path):
    # Arrange
    path = tmp_path / "risky.toml"
    path.write_text('name = "risky"\n[strategies]\ndca = {}\n[risk]\nfoo = 1\n')
    # Act
    with pytest.raises(StudyError) as caught:
        load_study(path)
    # Assert
    assert str(caught.value).startswith(f"{path}: [risk]: unknown key 'foo'")


def test_load_study_given_sweep_study_returns_its_base_study():
    # Arrange
    shipped = Path(__file__).resolve().parents[1] / "backtests" / "studies" / "sweep_overlay_1d.toml"

    # Act
    study = load_study(shipped)

    # Assert
    assert study.name == "sweep_overlay_1d" and [s.name for s in study.strategies] == ["sma_cross"]
    assert study.symbols == ("BTC/USDT",) and study.overlays == ("carry",)


def test_load_study_given_no_name_uses_the_file_name(tmp_path):
    # Arrange
    path = tmp_path / "my-study.toml"
    path.write_text("[strategies]\ndca = {}\n")

    # Act / Assert
    assert load_study(path).name == "my-study"


def test_load_study_given_typed_tables_holds_typed_configs(tmp_path):
    # Arrange
    text = (
        MINIMAL + "[overlay]\nstress_at = 65\nvol_target = 0.6\n[risk]\nzscore_window = 500\n[execution]\ncash = 500\n"
    )

    # Act
    study = load_study(write(tmp_path, text))

    # Assert
    assert study.overlay == OverlayConfig(stress_at=65.0, vol_target=0.6)
    assert study.risk == RiskConfig(zscore_window=500)
    assert study.execution == ExecutionConfig(cash=500.0)


def test_cli_backtest_given_schema_flag_prints_the_study_json_schema():
    # Act
    result = CliRunner().invoke(main, ["backtest", "--schema"])

    # Assert
    assert result.exit_code == 0, result.output
    schema = json.loads(result.output)
    assert set(schema["properties"]) >= {"name", "data", "strategies", "overlay", "risk", "execution", "params"}
    assert schema["properties"]["execution"]["properties"]["commission"]["type"] == "number"
    assert schema["properties"]["data"]["additionalProperties"] is False


def test_cli_backtest_given_sweep_study_runs_its_base_and_says_so(real_store_dir, tmp_path):
    # Arrange
    shipped = Path(__file__).resolve().parents[1] / "backtests" / "studies" / "sweep_overlay_1d.toml"
    args = ["--data-dir", str(real_store_dir), "backtest", str(shipped), "--engine", "fast", "--json"]

    # Act
    result = CliRunner().invoke(main, [*args, "--results-dir", str(tmp_path)])

    # Assert
    assert result.exit_code == 0, result.output
    assert "is a sweep study ([params]); backtesting its base settings" in result.stderr
    (book,) = json.loads(result.stdout)["results"]
    assert (book["strategy"], book["symbol"], book["timeframe"], book["overlay"]) == (
        "sma_cross",
        "BTC/USDT",
        "1d",
        "carry",
    )


def test_parse_study_given_overlays_and_their_tables_builds_each_policy():
    # Act
    study = parse_study(
        {
            "name": "t",
            "strategies": {"dca": {}},
            "overlays": ["none", "trend", "vol_target*carry"],
            "overlay": {"hysteresis": 2.0, "trend": {"days": 50}, "vol_target": {"target": 0.5}},
        }
    )

    # Assert
    assert study.overlays == ("none", "trend", "vol_target*carry")
    assert study.policy("trend").days == 50
    product = study.policy("vol_target*carry")
    assert [part.name for part in product.parts] == ["vol_target", "carry"]
    assert product.parts[0].target == 0.5 and product.parts[1].config.hysteresis == 2.0
    assert study.to_dict()["overlay"]["trend"] == {"days": 50, "below": 0.0}


@pytest.mark.parametrize("modes, expected", [([False, True], ("none", "carry")), ([True], ("carry",))])
def test_parse_study_given_legacy_with_overlay_maps_to_none_and_carry(modes, expected):
    study = parse_study({"name": "t", "strategies": {"dca": {}}, "with_overlay": modes})

    assert study.overlays == expected


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"overlays": ["carry", "lunar"]}, "unknown overlay 'lunar'"),
        ({"overlays": ["trend"], "with_overlay": [True]}, "not both"),
        ({"overlays": ["trend"], "overlay": {"trend": {"days": "long"}}}, "days must be a number"),
    ],
)
def test_parse_study_given_bad_overlays_raises_study_error_naming_it(data, message):
    with pytest.raises(StudyError, match=message):
        parse_study({"name": "t", "strategies": {"dca": {}}} | data)
