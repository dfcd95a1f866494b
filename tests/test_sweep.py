"""Sweeps: study parsing and combos, results equal to one-book runs, executors agree
(local processes, Dask ``LocalCluster``), and the ``carryguard sweep`` command."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import UTC
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner, Result

from carryguard.backtests.cli import main
from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.fast import run_fast
from carryguard.backtests.engine.metrics import compute_metrics
from carryguard.backtests.run.runner import decision_times, run_study
from carryguard.backtests.run.study import parse_study
from carryguard.backtests.sweep import study as sweep_study
from carryguard.backtests.sweep.chunk import SweepData, combo_target, load_risk, validate_combos
from carryguard.backtests.sweep.evaluate import run_sweep
from carryguard.backtests.sweep.study import combos, load_sweep_study, study_from_dict
from carryguard.signals.errors import CarryguardError
from carryguard.signals.risk import RiskConfig, risk_at
from carryguard.strategies.loader import make_strategy
from carryguard.strategies.overlay import HYSTERESIS_WARMUP, CarryOverlay, OverlayConfig
from tests.metrics_support import assert_metrics_equal

SHIPPED = Path(__file__).resolve().parents[1] / "backtests" / "studies" / "sweep_sma_4h.toml"


def sweep_doc(strategy: str = "sma_cross", params: dict | None = None, **tables: object) -> dict:
    """A sweep study document on BTC/USDT daily bars (new dialect)."""
    return {
        "name": "t",
        "data": {"symbols": ["BTC/USDT"], "timeframes": ["1d"]},
        "strategies": {strategy: {}},
        "params": params if params is not None else {"fast": [5]},
        **tables,
    }


def sma_study(**sweep: object) -> dict:
    return sweep_doc(
        params={"fast": {"start": 5, "stop": 25, "step": 10}, "slow": [10, 30, 60]},
        sweep={"constraints": ["fast < slow"], **sweep},
    )


@pytest.fixture(scope="module")
def daily(shared_store) -> pd.DataFrame:
    return shared_store.read("binance/BTC-USDT/1d")


def test_combos_given_grid_with_constraint_keep_order_and_drop_violations():
    # Arrange
    study = study_from_dict(sma_study())

    # Act
    out = combos(study)

    # Assert: fast in (5, 15, 25) x slow in (10, 30, 60), fast < slow, last parameter fastest
    assert out == [
        {"fast": 5, "slow": 10},
        {"fast": 5, "slow": 30},
        {"fast": 5, "slow": 60},
        {"fast": 15, "slow": 30},
        {"fast": 15, "slow": 60},
        {"fast": 25, "slow": 30},
        {"fast": 25, "slow": 60},
    ]


def test_combos_given_random_search_are_seeded_distinct_and_constrained():
    # Arrange
    document = sma_study(search="random", samples=40, seed=11)
    document["params"] = {
        "fast": {"start": 2, "stop": 60},
        "slow": {"start": 10, "stop": 300},
        "x": {"low": 0.1, "high": 0.9},
    }

    # Act
    first, again = combos(study_from_dict(document)), combos(study_from_dict(document))
    other_seed = combos(study_from_dict({**document, "sweep": {**document["sweep"], "seed": 12}}))

    # Assert
    assert first == again and first != other_seed
    assert len(first) == 40 and len({tuple(c.values()) for c in first}) == 40
    assert all(c["fast"] < c["slow"] and 0.1 <= c["x"] <= 0.9 for c in first)


@pytest.mark.parametrize(
    "document, message",
    [
        (sweep_doc(sweep={"metric": "Start"}), "cannot rank by metric"),
        (sweep_doc(extra={}), "unknown key 'extra'"),
        (sweep_doc(sweep={"bogus": 1}), "[sweep]: unknown key 'bogus'"),
        (sweep_doc(sweep={"constraints": ["fast <> slow"]}), "bad constraint"),
        (sweep_doc(data={"symbols": ["BTC/USDT"], "start": "garbage"}), "'garbage' is not a date"),
        (sweep_doc(sweep={"samples": "x"}), "samples = 'x': should be a whole number"),
        (sweep_doc(execution={"fee": 1}), "[execution]: unknown key 'fee'"),
        (sweep_doc(params={"fast": [5], "overlay": {"stres": [0.5]}}), "did you mean 'stress'"),
        (sweep_doc(data={"symbols": ["BTC/USDT", "ETH/USDT"]}), "one series, but [data] symbols lists"),
        (sweep_doc(with_overlay=[False, True]), "set with_overlay = [true] or [false]"),
        (sweep_doc(overlay_params={"stress": [0.5]}), "'overlay_params' now lives in [params.overlay]"),
        ({**sweep_doc(), "sweep": {"strategy": "sma_cross"}}, "[sweep] strategy now lives in [strategies]"),
    ],
)
def test_study_from_dict_given_bad_table_raises_value_error(document, message):
    # Act / Assert
    with pytest.raises(ValueError, match=re.escape(message)):
        combos(study_from_dict(document))


def test_study_from_dict_given_the_documented_example_builds_every_table():
    # Arrange: the TOML example of backtests/sweep/study.py's docstring
    document = tomllib.loads(sweep_study.__doc__.split("```toml")[1].split("```")[0])

    # Act
    study = study_from_dict(document)

    # Assert
    assert study.overlay and study.risk_config().zscore_window == 500 and study.walkforward is not None
    assert {"fast", "slow", "overlay.stress"} == set(combos(study)[0])


def test_load_sweep_study_given_shipped_sma_4h_has_2000_pairs_on_whole_4h_history():
    # Act
    study = load_sweep_study(SHIPPED)

    # Assert
    assert (study.strategy, study.symbol, study.timeframe, study.start, study.end) == (
        "sma_cross",
        "BTC/USDT",
        "4h",
        None,
        None,
    )
    pairs = combos(study)
    assert len(pairs) >= 2_000 and all(p["fast"] < p["slow"] for p in pairs)


@pytest.mark.parametrize("path", sorted(SHIPPED.parent.glob("sweep_*.toml")), ids=lambda p: p.stem)
def test_load_sweep_study_given_shipped_studies_every_combo_builds(path):
    # Act
    study = load_sweep_study(path)
    todo = combos(study)

    # Assert: strategies and overlay configs accept every combo (else the sweep would stop).
    validate_combos(study.strategy, todo)
    assert len(todo) >= (study.samples if study.search == "random" else 2)


def test_load_sweep_study_given_bad_toml_raises_error_naming_file(tmp_path):
    # Arrange
    path = tmp_path / "broken.toml"
    path.write_text("[sweep\nstrategy = 1\n")

    # Act / Assert
    with pytest.raises(CarryguardError, match=r"broken\.toml"):
        load_sweep_study(path)


def one_book_metrics(bars: pd.DataFrame, target: pd.Series, timeframe: str = "1d") -> dict:
    return compute_metrics(run_fast(bars, target), bars, timeframe=timeframe)


def test_run_sweep_given_sma_grid_rows_equal_one_book_runs(daily):
    # Arrange
    study = study_from_dict(sma_study())

    # Act
    result = run_sweep(study, bars=daily, workers=1)

    # Assert
    assert list(result.frame.columns[:2]) == ["fast", "slow"] and len(result.frame) == 7
    for _, row in result.frame.iterrows():
        target = make_strategy("sma_cross", fast=int(row["fast"]), slow=int(row["slow"])).target_exposure(daily)
        assert_metrics_equal(one_book_metrics(daily, target), row)
    best = result.frame["Sharpe Ratio"].max()
    assert result.best()["metrics"]["Sharpe Ratio"] == best


def test_run_sweep_given_sampled_pairs_of_shipped_4h_study_rows_equal_one_book_runs(shared_store):
    # Arrange: a few pairs of the shipped study on the whole 4h history (the SMA kernel path);
    # (6, 10) is a pair where SMAs from a plain cumsum flip one bar's signal vs the strategy.
    study = load_sweep_study(SHIPPED)
    bars = shared_store.read("binance/BTC-USDT/4h")
    sampled = [{"fast": 6, "slow": 10}, {"fast": 2, "slow": 500}, {"fast": 42, "slow": 260}, {"fast": 100, "slow": 110}]
    assert all(pair in combos(study) for pair in sampled)

    # Act
    result = run_sweep(study, bars=bars, workers=1, combos=sampled)

    # Assert
    for (_, row), pair in zip(result.frame.iterrows(), sampled, strict=False):
        target = make_strategy("sma_cross", **pair).target_exposure(bars)
        expected = compute_metrics(run_fast(bars, target, study.execution), bars, timeframe="4h")
        assert_metrics_equal(expected, row)


def test_run_sweep_given_overlay_params_rows_equal_one_book_runs_with_that_overlay(daily, shared_store):
    # Arrange: tsmom (the generic pandas path) sized by the overlay with two stress multipliers.
    study = study_from_dict(sweep_doc("tsmom", params={"lookback": [30, 90], "overlay": {"stress": [0.0, 0.5]}}))
    risk = load_risk(shared_store, daily, "1d")

    # Act
    result = run_sweep(study, bars=daily, risk=risk, workers=1)

    # Assert
    assert list(result.frame.columns[:2]) == ["lookback", "overlay.stress"] and len(result.frame) == 4
    for _, row in result.frame.iterrows():
        exposure = make_strategy("tsmom", lookback=int(row["lookback"])).target_exposure(daily)
        overlay = CarryOverlay(OverlayConfig(stress=float(row["overlay.stress"])))
        target = overlay.apply(exposure, risk_at(shared_store, decision_times(daily, "1d")), daily)["final_exposure"]
        assert_metrics_equal(one_book_metrics(daily, target), row)
    assert result.frame.groupby("lookback")["Return [%]"].nunique().min() == 2  # the overlay parameter matters


def test_combo_target_given_overlay_bars_cut_at_a_bar_is_unchanged_up_to_that_bar(daily, shared_store):
    # Arrange: strategy + overlay (hysteresis, vol target) with 100 warm-up bars, cut around the Aug 2024 unwind.
    combo = {"fast": 10, "slow": 50, "overlay.stress": 0.0, "overlay.hysteresis": 10.0, "overlay.vol_target": 0.6}
    risk = load_risk(shared_store, daily, "1d")

    def target_on_first(n: int) -> np.ndarray:
        data = SweepData.build(
            daily.iloc[:n], strategy="sma_cross", execution=ExecutionConfig(), risk=risk.iloc[:n], first=100
        )
        return combo_target(data, combo)

    full = target_on_first(len(daily))

    for cut in (daily.index.searchsorted(pd.Timestamp("2024-08-05", tz="UTC")), 1_000):
        # Act
        truncated = target_on_first(cut + 1)

        # Assert: the target at each bar uses only bars (and risk readings) up to it
        np.testing.assert_array_equal(truncated, full[: cut + 1])
    assert (full[100:] != make_strategy("sma_cross", fast=10, slow=50).target_exposure(daily).to_numpy()[100:]).any()


def test_run_sweep_given_two_local_processes_equals_one_process(daily):
    # Arrange
    study = study_from_dict(sma_study())

    # Act
    single = run_sweep(study, bars=daily, workers=1)
    pooled = run_sweep(study, bars=daily, workers=2)

    # Assert
    assert pooled.workers == 2
    pd.testing.assert_frame_equal(single.frame, pooled.frame)


def test_run_sweep_given_dask_local_cluster_equals_local_executor(daily):
    from distributed import LocalCluster

    # Arrange
    study = study_from_dict(sma_study())
    local = run_sweep(study, bars=daily, workers=1)

    # Act
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, host="127.0.0.1", protocol="tcp", dashboard_address=None
    ) as cluster:
        distributed = run_sweep(study, bars=daily, executor="dask", scheduler=cluster.scheduler_address)

    # Assert
    assert distributed.executor == "dask" and distributed.workers == 2
    pd.testing.assert_frame_equal(local.frame, distributed.frame)


def test_write_sweep_given_the_folder_time_writes_it_as_the_manifest_created_at(daily, tmp_path):
    # Arrange: a folder named after a time long past, so "now" cannot match it by chance
    from datetime import datetime

    from carryguard.backtests.sweep.output import new_run_dir, write_sweep

    created = datetime(2020, 1, 2, 3, 4, 5, 678, tzinfo=UTC)
    result = run_sweep(study_from_dict(sma_study()), bars=daily, workers=1)
    run_dir = new_run_dir(tmp_path, "t", created_at=created)

    # Act
    write_sweep(result, run_dir, data={}, created_at=created)

    # Assert
    assert run_dir.name == "20200102-030405-t"
    assert json.loads((run_dir / "manifest.json").read_text())["created_at"] == "2020-01-02T03:04:05+00:00"


def test_write_sweep_given_folder_lists_checksums_and_load_run_refuses_it_as_a_sweep(daily, tmp_path):
    # Arrange
    from carryguard.backtests.run.folder import load_run
    from carryguard.backtests.run.layout import sha256_file
    from carryguard.backtests.sweep.output import new_run_dir, write_sweep
    from carryguard.signals.errors import DataError

    result = run_sweep(study_from_dict(sma_study()), bars=daily, workers=1)
    run_dir = new_run_dir(tmp_path, "t")

    # Act
    write_sweep(result, run_dir, data={})

    # Assert
    manifest = json.loads((run_dir / "manifest.json").read_text())
    expected = {p.name: sha256_file(p) for p in run_dir.iterdir() if p.name != "manifest.json"}
    assert manifest["checksums"] == expected and "sweep.parquet" in expected
    with pytest.raises(DataError, match="a sweep folder, not a backtest run"):
        load_run(run_dir)


def write_study(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "study.toml"
    path.write_text(text)
    return path


def invoke_sweep(store_dir: Path, study: Path, tmp_path: Path, *options: str) -> Result:
    """`carryguard sweep STUDY` on one worker, writing under tmp_path/results."""
    args = ["--data-dir", str(store_dir), "sweep", str(study), "--workers", "1"]
    return CliRunner().invoke(main, [*args, "--results-dir", str(tmp_path / "results"), *options])


SMALL_STUDY = """
name = "small"
[data]
symbols = ["BTC/USDT"]
[strategies]
sma_cross = {}
[sweep]
top = 3
constraints = ["fast < slow"]
[params]
fast = [5, 10, 20]
slow = [30, 60, 120]
[walkforward]
mode = "anchored"
train = "1000D"
test = "365D"
"""


def test_cli_sweep_given_small_study_writes_results_and_prints_json(real_store_dir, tmp_path):
    # Arrange
    study = write_study(tmp_path, SMALL_STUDY)

    # Act
    outcome = invoke_sweep(real_store_dir, study, tmp_path, "--json")

    # Assert
    assert outcome.exit_code == 0, outcome.output
    doc = json.loads(outcome.stdout)
    assert {"run_dir", "combos", "bars", "seconds", "bar_steps_per_second", "best"} <= set(doc)
    assert doc["combos"] == 9 and doc["bar_steps_per_second"] == pytest.approx(
        9 * doc["bars"] / doc["seconds"], rel=1e-3
    )
    run_dir = Path(doc["run_dir"])
    frame = pd.read_parquet(run_dir / "sweep.parquet")
    assert len(frame) == 9 and frame["Sharpe Ratio"].max() == pytest.approx(doc["best"]["metrics"]["Sharpe Ratio"])
    assert (run_dir / "heatmap.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    walk = doc["walkforward"]
    assert walk["mode"] == "anchored" and len(walk["folds"]) >= 3
    assert {"Sharpe Ratio", "Return [%]"} <= set(walk["out_of_sample"]) and "mean_train_metric" in walk["in_sample"]
    assert len(doc["top"]) == 3


@pytest.mark.parametrize(
    "options, message",
    [
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler needs --executor dask"),
        (["--executor", "dask", "--scheduler", "scheduler-host"], "missing port number"),
    ],
)
def test_cli_sweep_given_bad_scheduler_option_is_a_usage_error(real_store_dir, tmp_path, options, message):
    # Arrange
    study = write_study(tmp_path, SMALL_STUDY)

    # Act
    outcome = CliRunner().invoke(main, ["--data-dir", str(real_store_dir), "sweep", str(study), *options])

    # Assert
    assert outcome.exit_code == 2 and message in outcome.output


def test_cli_sweep_given_invalid_combo_exits_1_before_any_work(real_store_dir, tmp_path):
    # Arrange: no constraint, so fast >= slow combos reach SmaCross, which rejects them.
    study = write_study(
        tmp_path,
        SMALL_STUDY.replace('constraints = ["fast < slow"]', "").replace("slow = [30, 60, 120]", "slow = [10, 60]"),
    )

    # Act
    outcome = invoke_sweep(real_store_dir, study, tmp_path)

    # Assert: a bad study file is exit 1 naming it (as for `backtest`), reported before the progress bar starts
    assert outcome.exit_code == 1
    lines = outcome.stderr.strip().splitlines()
    assert "must be < slow" in lines[-1] and "study.toml" in lines[-1] and "Traceback" not in outcome.stderr
    assert "sweep small" not in outcome.stderr
    assert not (tmp_path / "results").exists()


OVERLAY_STUDY = """
name = "overlay"
with_overlay = [true]
[data]
symbols = ["BTC/USDT"]
start = "2021-01-01"
[strategies]
sma_cross = {}
[params]
fast = [10]
slow = [50]
[params.overlay]
stress = [0.0, 0.5]
[risk]
zscore_window = 300
zscore_min_periods = 100
"""


def test_cli_sweep_given_overlay_study_with_start_and_risk_table_rows_equal_backtests(
    real_store_dir, shared_store, tmp_path
):
    # Arrange: each combo as a one-strategy backtest study (same window, overlay, [risk]; fast engine).
    study = write_study(tmp_path, OVERLAY_STUDY)
    risk = {"zscore_window": 300, "zscore_min_periods": 100}
    expected = {}
    for stress in (0.0, 0.5):
        backtest = parse_study(
            {
                "name": "b",
                "data": {"symbols": ["BTC/USDT"], "start": "2021-01-01"},
                "with_overlay": [True],
                "strategies": {"sma_cross": {"fast": 10, "slow": 50}},
                "overlay": {"stress": stress},
                "risk": risk,
            }
        )
        expected[stress] = run_study(backtest, shared_store, engine="fast").results[0].metrics
    default_risk = parse_study(
        {
            "name": "b",
            "data": {"symbols": ["BTC/USDT"], "start": "2021-01-01"},
            "with_overlay": [True],
            "strategies": {"sma_cross": {"fast": 10, "slow": 50}},
            "overlay": {"stress": 0.5},
        }
    )

    # Act
    outcome = invoke_sweep(real_store_dir, study, tmp_path, "--json")

    # Assert: rows equal the backtests (warm-up before the start included), which the [risk] table changes
    assert outcome.exit_code == 0, outcome.output
    doc = json.loads(outcome.stdout)
    assert doc["warmup_bars"] == max(49, HYSTERESIS_WARMUP)  # the slow SMA's 50 - 1 bars, or the overlay's hysteresis
    frame = pd.read_parquet(Path(doc["run_dir"]) / "sweep.parquet")
    for _, row in frame.iterrows():
        assert_metrics_equal(expected[row["overlay.stress"]], row)
    unchanged = run_study(default_risk, shared_store, engine="fast").results[0].metrics
    assert unchanged["Equity Final [$]"] != pytest.approx(expected[0.5]["Equity Final [$]"], rel=1e-6)
    manifest = json.loads((Path(doc["run_dir"]) / "manifest.json").read_text())
    assert manifest["study"]["risk"]["zscore_window"] == 300
    assert set(RiskConfig().inputs().values()) | {"binance/BTC-USDT/1d"} <= set(manifest["data"])


def test_cli_sweep_given_backtest_study_exits_1_naming_the_kind_expected(tmp_path):
    # Arrange: the shipped default study is a backtest study (no [params])
    default = SHIPPED.parent / "carry_unwind.toml"

    # Act
    outcome = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "sweep", str(default)])

    # Assert
    assert outcome.exit_code == 1
    assert "needs a sweep study, but this is a backtest study (it has no [params] table)" in outcome.stderr


def test_study_from_dict_given_fixed_strategy_and_overlay_settings_joins_them_to_every_combo():
    # Arrange: fast fixed in [strategies], stress_at fixed in [overlay]; slow and stress swept
    document = sweep_doc(params={"slow": [50, 100], "overlay": {"stress": [0.0, 0.5]}}, overlay={"stress_at": 55.0})
    document["strategies"] = {"sma_cross": {"fast": 10}}

    # Act
    study = study_from_dict(document)

    # Assert
    assert study.overlay and combos(study)[0] == {
        "fast": 10,
        "slow": 50,
        "overlay.stress_at": 55.0,
        "overlay.stress": 0.0,
    }
