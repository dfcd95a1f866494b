"""The shifted-timing test, the verdict against the best control, and the overlay walk-forward."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.engine.fast import run_fast
from carryguard.backtests.engine.measures import sharpe
from carryguard.backtests.engine.metrics import compute_metrics
from carryguard.backtests.report.bootstrap import max_drawdown_pct, resampled_stats, stationary_indices
from carryguard.backtests.report.timing import model_returns, shifted_timing
from carryguard.backtests.report.verdict import judge, verdict_lines
from carryguard.backtests.run.folder import load_run
from carryguard.backtests.run.runner import run_study
from carryguard.backtests.run.study import parse_study
from carryguard.backtests.run.write import write_results
from carryguard.backtests.sweep.overlay_walkforward import walk_forward_overlays
from carryguard.backtests.sweep.study import WalkForwardConfig
from carryguard.signals.store import Store


def random_market(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return 100.0 * np.cumprod(1.0 + rng.normal(0.0005, 0.03, n))


def test_shifted_timing_given_random_policies_gives_uniform_ranks() -> None:
    # Arrange: 300 policies cutting at random (iid) times on random-walk markets
    ranks = []
    for seed in range(300):
        rng = np.random.default_rng(1000 + seed)
        close = random_market(400, seed)
        multiplier = np.where(rng.random(400) < 0.3, 0.0, 1.0)

        # Act
        ranks.append(
            shifted_timing(np.ones(400), multiplier, close, per_year=365, cost=0.0, seed=seed, shifts=200).rank
        )

    # Assert: each fifth of [0, 1] holds about 60 of 300 ranks (binomial sd ~6.9)
    counts = np.histogram(ranks, bins=5, range=(0.0, 1.0))[0]
    assert counts.min() >= 35 and counts.max() <= 85, counts


def test_shifted_timing_given_look_ahead_policy_ranks_at_the_top() -> None:
    # Arrange: a cheating policy that is out exactly before every falling bar
    close = random_market(600, 3)
    falls_next = np.append(close[1:] < close[:-1], False)
    multiplier = np.where(falls_next, 0.0, 1.0)

    result = shifted_timing(np.ones(600), multiplier, close, per_year=365, cost=0.0, seed=1, shifts=300)

    assert result.rank == 1.0


def test_shifted_timing_given_real_path_reports_the_model_sharpe() -> None:
    close = random_market(500, 5)
    exposure = np.where(np.arange(500) % 7 < 4, 1.0, 0.5)
    multiplier = np.random.default_rng(2).random(500)

    result = shifted_timing(exposure, multiplier, close, per_year=365, cost=0.0015, seed=0, shifts=50)

    expected = sharpe(model_returns(np.clip(exposure * multiplier, 0, 1)[None, :], close, 0.0015), 365)[0]
    assert result.sharpe == pytest.approx(expected, rel=1e-9)


def test_shifted_timings_given_several_tasks_equal_each_task_alone() -> None:
    # Arrange: three paths of different lengths, seeds and annualisations
    from carryguard.backtests.report.timing import TimingTask, shifted_timings

    tasks = []
    for n, seed in ((300, 1), (451, 2), (40, 3)):
        rng = np.random.default_rng(seed)
        exposure = np.where(rng.random(n) < 0.7, 1.0, 0.0)
        tasks.append(TimingTask(exposure, rng.random(n), random_market(n, seed), 365.0 if seed < 3 else 2190.0, seed))

    # Act
    together = shifted_timings(tasks, cost=0.001, shifts=120)
    alone = [
        shifted_timing(
            t.strategy_exposure, t.multiplier, t.close, per_year=t.per_year, cost=0.001, seed=t.seed, shifts=120
        )
        for t in tasks
    ]

    # Assert
    assert together == alone


def test_resampled_stats_given_indices_equals_the_matrix_statistics() -> None:
    returns = np.random.default_rng(4).normal(0.001, 0.02, 700)
    index = stationary_indices(700, n_boot=50, mean_block=20, rng=np.random.default_rng(9))

    sharpes, drawdown = resampled_stats(returns, index, 365.0)

    np.testing.assert_allclose(sharpes, sharpe(returns[index], 365.0), rtol=1e-9)
    np.testing.assert_allclose(drawdown, max_drawdown_pct(returns[index]), rtol=1e-12, atol=1e-12)


STUDY = {
    "name": "lab",
    "data": {"symbols": ["BTC/USDT"], "start": "2020-06-01", "end": "2023-06-30"},
    "overlays": ["none", "vol_target", "trend", "carry", "yen_shock"],
    "strategies": {"buy_and_hold": {}, "dip_buy": {}},
}


@pytest.fixture(scope="module")
def lab_run(shared_store: Store, tmp_path_factory: pytest.TempPathFactory):
    study = parse_study(STUDY)
    run = run_study(study, shared_store, engine="fast")
    return study, load_run(write_results(run, tmp_path_factory.mktemp("lab")))


def test_judge_given_run_compares_each_carry_policy_with_its_best_control(lab_run) -> None:
    # Arrange
    _, run = lab_run

    # Act
    judgements = judge(run)

    # Assert: 2 strategies x 2 carry-based policies x 3 periods, each against the control
    # (none, vol_target, trend) with the highest Sharpe in that period
    assert len(judgements) == 12
    for j in judgements:
        assert j.policy in ("carry", "yen_shock")
        assert j.control in ("none", "vol_target", "trend")
        assert j.sharpe.low <= j.sharpe.estimate <= j.sharpe.high
        assert j.sharpe.estimate == pytest.approx(j.policy_sharpe - j.control_sharpe, abs=1e-9)
        assert 0.0 <= j.timing_rank <= 1.0
    whole = [j for j in judgements if j.period.startswith("2020-06-01..2023")]
    for j in whole:
        sharpes = [run.metrics[k]["Sharpe Ratio"] for k in run.books if k.strategy == j.strategy and not k.sized]
        assert j.control_sharpe >= sharpes[0] - 1e-9


def test_verdict_lines_given_judgements_answer_per_group_and_period(lab_run) -> None:
    _, run = lab_run

    lines = verdict_lines(judge(run))

    assert lines[0].startswith("Verdict: does the carry signal add anything beyond a vol target and a trend filter?")
    heads = [line for line in lines[1:] if not line.startswith("  ")]
    assert len(heads) == 6  # 2 groups x 3 periods
    assert all(("YES" in head) != ("NO" in head) for head in heads)
    assert any(head.startswith("bottom-fishing baselines, 2022-01-01..") for head in heads)


def test_verdict_lines_given_no_controls_says_there_is_nothing_to_judge() -> None:
    assert "nothing to judge" in verdict_lines([])[0]


def test_walk_forward_overlays_given_study_trades_the_train_best_candidate(lab_run, shared_store: Store) -> None:
    # Arrange
    study, _ = lab_run
    config = WalkForwardConfig(mode="anchored", train="365D", test="180D", metric="Sharpe Ratio")
    grid = {"none": ({},), "trend": ({"days": 50}, {"days": 200}), "carry": ({},)}

    # Act
    results = walk_forward_overlays(study, shared_store, config=config, grid=grid)

    # Assert
    assert [(r.strategy, r.symbol) for r in results] == [("buy_and_hold", "BTC/USDT"), ("dip_buy", "BTC/USDT")]
    first = results[0]
    assert first.oos_start >= pd.Timestamp("2021-06-01", tz="UTC")
    assert set(first.metrics) == {"walk-forward", "none", "vol_target", "trend", "carry"}
    assert all(label in ("none", "trend(days=50)", "trend(days=200)", "carry") for _, label in first.choices)
    # buy & hold: the "none" book beside it starts flat at the first test bar and buys there
    bars = shared_store.read("binance/BTC-USDT/1d").loc[first.oos_start : first.oos_end]
    book = run_fast(bars, pd.Series(1.0, index=bars.index), study.execution)
    none = compute_metrics(book, bars, timeframe="1d")["Sharpe Ratio"]
    assert first.metrics["none"]["Sharpe Ratio"] == pytest.approx(none)
