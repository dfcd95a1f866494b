"""Your own strategy: loading by path/module/entry point, protocol and output checks, the template."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.strategies.loader import (
    StrategyCodeError,
    StrategyError,
    checked_exposure,
    make_strategy,
    strategy_class,
)
from carryguard.strategies.template import render

HEADER = "from dataclasses import dataclass\nfrom typing import ClassVar\nimport pandas as pd\n\n"


def write(folder: Path, name: str, body: str) -> Path:
    path = folder / name
    path.write_text(HEADER + textwrap.dedent(body), encoding="utf-8")
    return path


def cli(store_dir: Path, *args: str):
    return CliRunner().invoke(main, ["--data-dir", str(store_dir), *args])


def bars(n: int = 40) -> pd.DataFrame:
    index = pd.date_range("2024-01-01", periods=n, freq="1D", tz="UTC", name="time")
    close = 100.0 + np.arange(n, dtype=float)
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": 1.0}, index=index
    )


@pytest.fixture()
def template_file(tmp_path: Path) -> Path:
    file_name, source = render("my_trend")
    path = tmp_path / file_name
    path.write_text(source, encoding="utf-8")
    return path


def test_strategy_class_given_file_spec_loads_the_class_and_its_defaults(template_file: Path) -> None:
    # Act
    strategy = make_strategy(f"{template_file}:MyTrend", window=10)
    # Assert
    assert type(strategy).__name__ == "MyTrend" and strategy.window == 10 and strategy.warmup_bars == 10
    exposure = checked_exposure(strategy, bars())
    assert exposure.iloc[:9].eq(0.0).all() and exposure.iloc[10:].eq(1.0).all()


def test_strategy_class_given_relative_file_reads_it_from_base_dir(template_file: Path) -> None:
    # Act
    cls = strategy_class("my_trend.py:MyTrend", base_dir=template_file.parent)
    # Assert
    assert cls.__name__ == "MyTrend"


def test_strategy_class_given_module_spec_imports_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    package = tmp_path / "mypkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "rules.py").write_text(render("always_in")[1])
    monkeypatch.syspath_prepend(str(tmp_path))
    # Act
    cls = strategy_class("mypkg.rules:AlwaysIn")
    # Assert
    assert cls.__name__ == "AlwaysIn"


@pytest.mark.parametrize(
    ("spec", "body", "message"),
    [
        ("missing.py:X", None, "strategy file .*missing.py not found"),
        (
            "s.py:Nope",
            "@dataclass(frozen=True)\nclass Real:\n    warmup_bars: ClassVar[int] = 0\n",
            "has no class 'Nope'.*Real",
        ),
        (
            "s.py:S",
            "@dataclass(frozen=True)\nclass S:\n    warmup_bars: ClassVar[int] = 0\n",
            "S does not fit the strategy protocol: it has no target_exposure",
        ),
        (
            "s.py:S",
            "@dataclass(frozen=True)\nclass S:\n    def target_exposure(self, bars):\n        return bars['close']*0\n",
            "S does not fit the strategy protocol: it has no warmup_bars",
        ),
        (
            "s.py:S",
            "class S:\n    warmup_bars = 0\n    def target_exposure(self, bars):\n        return bars['close']*0\n",
            "S does not fit the strategy protocol: it is not a frozen dataclass",
        ),
        ("smacross", None, "unknown strategy 'smacross'; did you mean 'sma_cross'"),
        ("nosuchpackage_xyz.mod:S", None, "cannot import module 'nosuchpackage_xyz.mod'"),
    ],
)
def test_strategy_class_given_bad_spec_raises_naming_what_is_wrong(tmp_path, spec, body, message) -> None:
    # Arrange
    if body is not None:
        write(tmp_path, spec.split(":")[0], body)
    # Act / Assert
    with pytest.raises(StrategyError, match=message):
        strategy_class(spec, base_dir=tmp_path)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("bars['close'] * 0 + 1.5", r"exposure 1.5 at bar 2024-01-01 00:00:00\+00:00 is outside \[0, 1\]"),
        ("(bars['close'] * 0).where(bars['close'] < 120)", r"NaN at bar 2024-01-21 00:00:00\+00:00 \(bar 20"),
        ("list(bars['close'])", "returned list, not a pandas Series"),
        ("bars['close'].iloc[1:] * 0", "returned 39 values for 40 bars"),
    ],
)
def test_checked_exposure_given_bad_output_names_the_first_bad_bar(tmp_path, expression, message) -> None:
    # Arrange
    body = f"""
    @dataclass(frozen=True)
    class Bad:
        warmup_bars: ClassVar[int] = 3
        def target_exposure(self, bars):
            return {expression}
    """
    path = write(tmp_path, "bad.py", body)
    strategy = make_strategy(f"{path}:Bad")
    # Act / Assert
    with pytest.raises(StrategyError, match=message):
        checked_exposure(strategy, bars())


def test_checked_exposure_given_nan_inside_warmup_reads_flat(tmp_path) -> None:
    # Arrange
    body = """
    @dataclass(frozen=True)
    class Warm:
        warmup_bars: ClassVar[int] = 5
        def target_exposure(self, bars):
            return bars['close'].rolling(5).mean() * 0 + 1
    """
    strategy = make_strategy(f"{write(tmp_path, 'warm.py', body)}:Warm")
    # Act
    exposure = checked_exposure(strategy, bars())
    # Assert
    assert exposure.iloc[:4].eq(0.0).all() and exposure.iloc[4:].eq(1.0).all()


def test_backtest_given_strategy_raising_prints_its_traceback_and_exits_1(real_store_dir, tmp_path) -> None:
    # Arrange
    body = """
    @dataclass(frozen=True)
    class Boom:
        warmup_bars: ClassVar[int] = 0
        def target_exposure(self, bars):
            return helper(bars)

    def helper(bars):
        return bars['close'] / 0 * {}['missing_key']
    """
    path = write(tmp_path, "boom.py", body)
    # Act
    outcome = cli(
        real_store_dir,
        "backtest",
        "--strategy",
        f"{path}:Boom",
        "--symbol",
        "BTC/USDT",
        "--results-dir",
        str(tmp_path / "r"),
        "--no-overlay",
    )
    # Assert
    assert outcome.exit_code == 1
    assert "Traceback" in outcome.stderr and "in helper" in outcome.stderr and "boom.py" in outcome.stderr
    last = outcome.stderr.strip().splitlines()[-1]
    assert last.startswith("error: strategy") and "raised KeyError in target_exposure: 'missing_key'" in last
    assert "internal error" not in outcome.stderr


def test_strategy_code_error_given_exception_in_init_keeps_the_user_frames(tmp_path) -> None:
    # Arrange
    body = """
    @dataclass(frozen=True)
    class Init:
        warmup_bars: ClassVar[int] = 0
        def __post_init__(self):
            raise RuntimeError('broken setup')
        def target_exposure(self, bars):
            return bars['close'] * 0
    """
    path = write(tmp_path, "init.py", body)
    # Act / Assert
    with pytest.raises(StrategyCodeError) as caught:
        make_strategy(f"{path}:Init")
    assert "broken setup" in str(caught.value) and "__post_init__" in caught.value.user_traceback


def test_backtest_given_user_file_gives_equal_results_in_both_engines(real_store_dir, template_file, tmp_path) -> None:
    # Act
    runs = {}
    for engine in ("fast", "backtrader"):
        outcome = cli(
            real_store_dir,
            "backtest",
            "--strategy",
            f"{template_file}:MyTrend",
            "--symbol",
            "BTC/USDT",
            "--engine",
            engine,
            "--overlays",
            "none,carry",
            "--results-dir",
            str(tmp_path / engine),
            "--json",
        )
        assert outcome.exit_code == 0, outcome.stderr
        runs[engine] = json.loads(outcome.stdout)["results"]
    # Assert
    assert [r["overlay"] for r in runs["fast"]] == ["none", "carry"]
    for fast, reference in zip(runs["fast"], runs["backtrader"], strict=True):
        assert fast["strategy"] == f"{template_file}:MyTrend"
        assert fast["metrics"]["# Trades"] == reference["metrics"]["# Trades"] > 10
        assert fast["metrics"]["Equity Final [$]"] == pytest.approx(reference["metrics"]["Equity Final [$]"], rel=1e-9)


def test_study_given_user_strategy_file_reads_it_beside_the_study(real_store_dir, template_file, tmp_path) -> None:
    # Arrange
    study = template_file.parent / "study.toml"
    study.write_text(
        'name = "mine"\nwith_overlay = [false]\n[data]\nsymbols = ["BTC/USDT"]\nstart = "2022-01-01"\n'
        '[strategies]\n"my_trend.py:MyTrend" = { window = 20 }\n'
    )
    # Act
    outcome = cli(real_store_dir, "backtest", str(study), "--results-dir", str(tmp_path / "r"), "--json")
    # Assert
    assert outcome.exit_code == 0, outcome.stderr
    (result,) = json.loads(outcome.stdout)["results"]
    assert result["strategy"].endswith("my_trend.py:MyTrend") and result["metrics"]["# Trades"] > 0


def test_strategies_given_json_lists_builtins_with_parameters_and_defaults(real_store_dir) -> None:
    # Act
    outcome = cli(real_store_dir, "strategies", "--json")
    # Assert
    assert outcome.exit_code == 0
    rows = {row["strategy"]: row for row in json.loads(outcome.stdout)}
    assert rows["sma_cross"]["parameters"] == {"fast": 20, "slow": 100} and not rows["sma_cross"]["baseline"]
    assert rows["dip_buy"]["baseline"] and rows["dip_buy"]["source"] == "built-in"


def test_strategies_new_given_name_writes_a_template_that_backtests_as_written(real_store_dir, tmp_path) -> None:
    # Act
    written = cli(real_store_dir, "strategies", "new", "golden_goose", "--dir", str(tmp_path))
    again = cli(real_store_dir, "strategies", "new", "golden_goose", "--dir", str(tmp_path))
    run = cli(
        real_store_dir,
        "backtest",
        "--strategy",
        f"{tmp_path / 'golden_goose.py'}:GoldenGoose",
        "--symbol",
        "ETH/USDT",
        "--results-dir",
        str(tmp_path / "r"),
        "--json",
    )
    # Assert
    assert written.exit_code == 0 and (tmp_path / "golden_goose.py").is_file()
    assert again.exit_code == 2 and "--force" in again.stderr
    assert run.exit_code == 0, run.stderr


def test_strategies_given_entry_point_of_an_installed_package_lists_and_runs_it(tmp_path) -> None:
    # Arrange: a package with a dist-info that registers a strategy, on PYTHONPATH
    site = tmp_path / "site"
    (site / "ep_pkg").mkdir(parents=True)
    (site / "ep_pkg" / "__init__.py").write_text(render("from_plugin")[1])
    info = site / "ep_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: ep-pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[carryguard.strategies]\nplugin_trend = ep_pkg:FromPlugin\n")
    env = dict(os.environ, PYTHONPATH=str(site))
    # Act
    listed = subprocess.run(
        [sys.executable, "-m", "carryguard.backtests.cli", "strategies", "--json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    # Assert
    assert listed.returncode == 0, listed.stderr
    rows = {row["strategy"]: row for row in json.loads(listed.stdout)}
    assert rows["plugin_trend"]["source"] == "ep_pkg:FromPlugin" and rows["plugin_trend"]["parameters"] == {
        "window": 50
    }


def test_paper_run_given_user_strategy_file_decides_bars_against_the_emulator(
    shared_data, real_store_dir, template_file, tmp_path, monkeypatch
) -> None:
    # Arrange: real 4h bars served by the local Binance emulator (a new book decides the last closed bar)
    from tests.fakes.binance import BinanceEmulator
    from tests.paper_support import FIRST_DECISION, STEP, replay_bars

    replay = replay_bars(shared_data, decisions=10)
    state = tmp_path / "paper.db"
    with BinanceEmulator({("BTCUSDT", "4h"): replay}, now=FIRST_DECISION + STEP * 5 + pd.Timedelta(seconds=5)) as ex:
        monkeypatch.setenv("CARRYGUARD_BINANCE_URL", ex.url)
        # Act
        outcome = cli(
            real_store_dir,
            "paper",
            "run",
            "--symbol",
            "BTC/USDT",
            "--timeframe",
            "4h",
            "--strategy",
            f"{template_file}:MyTrend",
            "--param",
            "window=30",
            "--history",
            "300",
            "--poll",
            "0.01",
            "--state",
            str(state),
            "--once",
        )
        status = cli(real_store_dir, "paper", "status", "--state", str(state), "--json")
    # Assert
    assert outcome.exit_code == 0, outcome.output + outcome.stderr
    assert "decided 1 bar(s)" in outcome.output, outcome.output
    (book,) = json.loads(status.stdout)
    assert book["strategy"] == "my_trend+carry" and book["decisions"] == 1


def test_backtest_given_slow_strategy_names_it_on_stderr(real_store_dir, tmp_path, monkeypatch) -> None:
    # Arrange: any strategy counts as slow when the limit is 0 s
    from carryguard.backtests.run import runner

    monkeypatch.setattr(runner, "SLOW_STRATEGY_SECONDS", 0.0)
    # Act
    outcome = cli(
        real_store_dir,
        "backtest",
        "--strategy",
        "sma_cross",
        "--symbol",
        "BTC/USDT",
        "--overlays",
        "none",
        "--start",
        "2024-01-01",
        "--results-dir",
        str(tmp_path / "r"),
    )
    # Assert
    assert outcome.exit_code == 0, outcome.stderr
    assert "note: strategy sma_cross took" in outcome.stderr and "cannot speed it up" in outcome.stderr
