"""Walk-forward: fold layout, best-on-train selection, the concatenated out-of-sample book,
and no look-ahead (a fold's choice does not depend on bars after its train window)."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.engine.fast import run_fast
from carryguard.backtests.engine.metrics import compute_metrics
from carryguard.backtests.sweep.study import WalkForwardConfig, combos, study_from_dict
from carryguard.backtests.sweep.walkforward import fold_windows, walk_forward
from carryguard.strategies.loader import make_strategy

STUDY = study_from_dict(
    {
        "name": "wf",
        "data": {"symbols": ["BTC/USDT"], "timeframes": ["1d"]},
        "strategies": {"sma_cross": {}},
        "sweep": {"constraints": ["fast < slow"]},
        "params": {"fast": [5, 20, 50], "slow": [30, 100, 200]},
        "walkforward": {"mode": "rolling", "train": "730D", "test": "365D"},
    }
)


@pytest.fixture(scope="module")
def daily(shared_store) -> pd.DataFrame:
    return shared_store.read("binance/BTC-USDT/1d")


def days(n: int) -> pd.DatetimeIndex:
    return pd.date_range("2020-01-01", periods=n, freq="1D", tz="UTC")


def test_fold_windows_given_rolling_slide_fixed_train_and_tile_tests():
    # Act
    folds = fold_windows(days(1_000), WalkForwardConfig(mode="rolling", train="300D", test="100D"))

    # Assert
    assert folds[0] == ((0, 300), (300, 400))
    assert all(train[1] - train[0] == 300 and train[1] == test[0] for train, test in folds)
    assert all(a[1][1] == b[1][0] for a, b in itertools.pairwise(folds))  # test windows tile
    assert folds[-1][1][1] == 1_000 and len(folds) == 7


def test_fold_windows_given_anchored_start_every_train_at_the_first_bar():
    # Act
    folds = fold_windows(days(1_000), WalkForwardConfig(mode="anchored", train="300D", test="250D"))

    # Assert
    assert [f[0] for f in folds] == [(0, 300), (0, 550), (0, 800)]
    assert [f[1] for f in folds] == [(300, 550), (550, 800), (800, 1_000)]


@pytest.mark.parametrize(
    "bars, folds, last_test",
    [
        (310, 4, (250, 310)),  # a 10-day tail (< 25 = half of 50) joins the fold before
        (301, 4, (250, 301)),  # a one-bar tail too
        (330, 5, (300, 330)),  # a 30-day tail is long enough to stand alone
        (325, 5, (300, 325)),  # exactly half a test window stands alone
    ],
)
def test_fold_windows_given_a_tail_shorter_than_half_a_test_window_folds_it_into_the_one_before(bars, folds, last_test):
    # Act: rolling, train 100 days, test 50: full test windows start at bars 100, 150, 200, 250, 300
    windows = fold_windows(days(bars), WalkForwardConfig(mode="rolling", train="100D", test="50D"))

    # Assert
    assert len(windows) == folds and windows[-1][1] == last_test
    assert windows[-1][0] == (last_test[0] - 100, last_test[0])  # the fold keeps its own train window
    assert all(a[1][1] == b[1][0] for a, b in itertools.pairwise(windows))  # still tiling, to the last bar


def test_fold_windows_given_overlapping_tests_drop_every_short_tail():
    # Act: test windows of 50 days every 20 days; the folds from bars 260 on would see under 25 days
    windows = fold_windows(days(305), WalkForwardConfig(mode="rolling", train="100D", test="50D", step="20D"))

    # Assert: 100, 120, ..., 280 start folds; 300 (5 days) goes, 280 keeps 25 days
    assert [test[0] for _, test in windows] == list(range(100, 281, 20))
    assert windows[-1][1] == (280, 305)


def test_fold_windows_given_too_short_history_raise_value_error():
    # Act / Assert
    with pytest.raises(ValueError, match="no walk-forward fold fits"):
        fold_windows(days(200), WalkForwardConfig(train="300D", test="100D"))


def test_walk_forward_config_given_step_longer_than_test_raises_value_error():
    # Act / Assert: test windows 100 days long every 365 days would leave unchosen bars in the OOS book
    with pytest.raises(ValueError, match="longer than test"):
        WalkForwardConfig(train="730D", test="100D", step="365D")
    assert WalkForwardConfig(train="730D", test="100D", step="100D").step == "100D"


def window_metric(bars: pd.DataFrame, combo: dict, window: tuple[int, int], metric: str) -> float:
    target = make_strategy("sma_cross", **combo).target_exposure(bars)
    part = bars.iloc[window[0] : window[1]]
    return compute_metrics(run_fast(part, target.iloc[window[0] : window[1]]), part, timeframe="1d")[metric]


def test_walk_forward_given_real_bars_chooses_the_best_combo_on_each_train_window(daily):
    # Act
    result = walk_forward(STUDY, bars=daily, workers=1)

    # Assert
    candidates = combos(STUDY)
    assert len(result.folds) >= 5
    for fold in result.folds:
        scores = [window_metric(daily, c, fold.train, "Sharpe Ratio") for c in candidates]
        assert fold.best == int(np.nanargmax(scores))
        assert fold.train_metric == pytest.approx(scores[fold.best], rel=1e-9)
        assert fold.test_metric == pytest.approx(
            window_metric(daily, candidates[fold.best], fold.test, "Sharpe Ratio"), rel=1e-9
        )


def test_walk_forward_given_folds_oos_book_trades_each_fold_with_its_chosen_combo(daily):
    # Act
    result = walk_forward(STUDY, bars=daily, workers=1)

    # Assert: the OOS book spans the test windows; up to the end of the first test window
    # it is exactly the first fold's combo run on that window from fresh cash.
    first = result.folds[0]
    assert result.oos_equity.index[0] == daily.index[first.test[0]]
    assert result.oos_equity.index[-1] == daily.index[result.folds[-1].test[1] - 1]
    part = daily.iloc[first.test[0] : first.test[1]]
    target = make_strategy("sma_cross", **result.combos[first.best]).target_exposure(daily).loc[part.index]
    alone = run_fast(part, target)
    np.testing.assert_allclose(result.oos_equity.loc[part.index], alone.equity, rtol=1e-12)
    span = daily.iloc[first.test[0] : result.folds[-1].test[1]]
    stitched = pd.concat(
        [
            make_strategy("sma_cross", **result.combos[f.best]).target_exposure(daily).iloc[slice(*f.test)]
            for f in result.folds
        ]
    )
    np.testing.assert_array_equal(result.oos_equity, run_fast(span, stitched).equity)
    assert result.out_of_sample["Equity Final [$]"] == pytest.approx(result.oos_equity.iloc[-1])
    doc = result.to_dict()
    assert doc["out_of_sample"]["Start"] == daily.index[first.test[0]].isoformat()
    assert doc["in_sample"]["mean_train_metric"] == pytest.approx(np.mean([f.train_metric for f in result.folds]))


def test_walk_forward_given_later_bars_removed_keeps_earlier_choices(daily):
    # Arrange: cut the history 200 bars into the third fold's 365-day test window (more than
    # half, so it stays a fold), so the bars that window would judge the third choice on are gone.
    full = walk_forward(STUDY, bars=daily, workers=1)
    cut = daily.iloc[: full.folds[2].test[0] + 200]

    # Act
    truncated = walk_forward(STUDY, bars=cut, workers=1)

    # Assert
    assert len(truncated.folds) == 3
    assert [f.train for f in truncated.folds] == [f.train for f in full.folds[:3]]
    assert [f.best for f in truncated.folds] == [f.best for f in full.folds[:3]]
    assert [f.train_metric for f in truncated.folds] == [f.train_metric for f in full.folds[:3]]


def test_walk_forward_given_warm_up_bars_folds_tile_the_window_after_them(daily):
    # Arrange: the first 400 bars only warm indicators up (as bars before a study's start do).
    first = 400

    # Act
    result = walk_forward(STUDY, bars=daily, first=first, workers=1)

    # Assert
    candidates = combos(STUDY)
    assert result.folds[0].train == (first, first + 730) and result.folds[-1].test[1] == len(daily)
    assert result.oos_equity.index[0] == daily.index[first + 730]
    fold = result.folds[0]
    scores = [window_metric(daily, c, fold.train, "Sharpe Ratio") for c in candidates]
    assert fold.best == int(np.nanargmax(scores))
