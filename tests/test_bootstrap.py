"""Paired stationary block bootstrap of the overlay's effect, and the Probabilistic Sharpe Ratio."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from synthetic_run import write_run

from carryguard.backtests.report.bootstrap import (
    DEFAULT_SEED,
    BootstrapConfig,
    overlay_effects,
    paired_effect,
    probabilistic_sharpe,
    run_seed,
    sharpe_confidence,
    stationary_indices,
    verdict,
)
from carryguard.backtests.run.folder import load_run

CONFIG = BootstrapConfig(n_boot=500)


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return np.random.default_rng(3).normal(0.001, 0.03, 400)


def test_stationary_indices_given_same_seed_are_identical_and_given_other_seed_differ() -> None:
    # Act
    first = stationary_indices(300, n_boot=50, mean_block=20, rng=np.random.default_rng(1))
    again = stationary_indices(300, n_boot=50, mean_block=20, rng=np.random.default_rng(1))
    other = stationary_indices(300, n_boot=50, mean_block=20, rng=np.random.default_rng(2))

    # Assert
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


def test_stationary_indices_given_mean_block_20_have_blocks_of_about_20_bars() -> None:
    # Act
    index = stationary_indices(2000, n_boot=200, mean_block=20, rng=np.random.default_rng(5))

    # Assert: inside a block each index follows the previous one (circularly)
    continues = index[:, 1:] == (index[:, :-1] + 1) % 2000
    mean_block = continues.size / (~continues).sum()
    assert index.min() >= 0 and index.max() < 2000
    assert 18 < mean_block < 22


def test_paired_effect_given_identical_series_is_exactly_zero_and_not_distinguishable(noise: np.ndarray) -> None:
    # Act
    sharpe, drawdown = paired_effect(noise, noise.copy(), per_year=365, config=CONFIG, seed=1)

    # Assert
    assert (sharpe.estimate, sharpe.low, sharpe.high) == (0.0, 0.0, 0.0)
    assert (drawdown.estimate, drawdown.low, drawdown.high) == (0.0, 0.0, 0.0)
    assert sharpe.contains_zero and verdict(sharpe, better="up", worse="down") == "not distinguishable from zero"


def test_paired_effect_given_half_scaled_overlay_has_zero_sharpe_effect_only_because_paired(noise: np.ndarray) -> None:
    # Act: Sharpe is scale-free, so on the SAME resampled bars the effect is 0 in every resample
    sharpe, drawdown = paired_effect(noise, 0.5 * noise, per_year=365, config=CONFIG, seed=1)

    # Assert
    assert sharpe.low == pytest.approx(0.0, abs=1e-12) and sharpe.high == pytest.approx(0.0, abs=1e-12)
    assert drawdown.low > 0  # half the exposure: a shallower drawdown in every resample


def test_paired_effect_given_constant_losses_has_the_known_drawdown_effect() -> None:
    # Arrange: -1% every bar, every resample is the same path
    plain = np.full(100, -0.01)
    expected = ((1 - 0.99**100) - (1 - 0.995**100)) * 100  # shallower by ~23.97 pp

    # Act
    _, drawdown = paired_effect(plain, 0.5 * plain, per_year=365, config=CONFIG, seed=4)

    # Assert
    assert drawdown.estimate == pytest.approx(expected)
    assert drawdown.low == pytest.approx(expected) and drawdown.high == pytest.approx(expected)


def test_paired_effect_given_overlay_that_skips_every_loss_is_distinguishable_and_better(noise: np.ndarray) -> None:
    # Arrange
    overlay = np.where(noise < 0, 0.0, noise)

    # Act
    sharpe, drawdown = paired_effect(noise, overlay, per_year=365, config=CONFIG, seed=2)

    # Assert
    assert sharpe.low > 0 and drawdown.low > 0
    assert verdict(drawdown, better="shallower", worse="deeper") == "shallower"
    assert sharpe.low <= sharpe.estimate <= sharpe.high


def test_paired_effect_given_overlay_that_skips_every_gain_is_distinguishable_and_worse(noise: np.ndarray) -> None:
    # Arrange
    overlay = np.where(noise > 0, 0.0, noise)

    # Act
    sharpe, drawdown = paired_effect(noise, overlay, per_year=365, config=CONFIG, seed=2)

    # Assert
    assert sharpe.high < 0 and drawdown.high < 0
    assert not sharpe.contains_zero and not drawdown.contains_zero
    assert verdict(sharpe, better="higher", worse="lower") == "lower"
    assert verdict(drawdown, better="shallower", worse="deeper") == "deeper"


def test_paired_effect_given_one_block_per_resample_gives_percentiles_of_the_rotations() -> None:
    # Arrange: a mean block far longer than the series makes every resample one rotation of it (equally likely),
    # so the interval must be the central 70% of the ten rotations' drawdown effects: the 2nd and 9th smallest
    plain = np.array([0.30, -0.02, -0.03, -0.04, -0.05, -0.06, -0.07, -0.08, -0.09, -0.10])
    overlay = 0.5 * plain
    config = BootstrapConfig(n_boot=4000, mean_block=1e12, confidence=0.70)

    def max_dd(returns: np.ndarray) -> float:
        equity = np.r_[1.0, np.cumprod(1 + returns)]
        return float((equity / np.maximum.accumulate(equity) - 1).min() * 100)

    rotations = sorted(max_dd(np.roll(overlay, -k)) - max_dd(np.roll(plain, -k)) for k in range(10))
    assert rotations[0] < rotations[1] < rotations[2] and rotations[7] < rotations[8]

    # Act
    sharpe, drawdown = paired_effect(plain, overlay, per_year=365, config=config, seed=3)

    # Assert: Sharpe ignores the order of the bars, so its effect is the same in every rotation
    assert drawdown.low == pytest.approx(rotations[1]) and drawdown.high == pytest.approx(rotations[8])
    assert sharpe.low == pytest.approx(sharpe.estimate) and sharpe.high == pytest.approx(sharpe.estimate)


def test_paired_effect_given_same_seed_is_reproducible_and_other_seed_differs(noise: np.ndarray) -> None:
    # Arrange
    overlay = 0.5 * noise + np.random.default_rng(9).normal(0, 0.01, len(noise))

    # Act
    first = paired_effect(noise, overlay, per_year=365, config=CONFIG, seed=7)
    again = paired_effect(noise, overlay, per_year=365, config=CONFIG, seed=7)
    other = paired_effect(noise, overlay, per_year=365, config=CONFIG, seed=8)

    # Assert
    assert first == again
    assert first[0].low != other[0].low


def test_probabilistic_sharpe_given_small_sample_matches_hand_computation() -> None:
    # Arrange
    r = np.array([0.02, -0.01, 0.03, 0.00, 0.01, -0.02, 0.09, 0.01])  # one big gain: skewed right
    n = 8
    mean = sum(r) / n
    std = math.sqrt(sum((x - mean) ** 2 for x in r) / (n - 1))
    m2 = sum((x - mean) ** 2 for x in r) / n
    skew = sum((x - mean) ** 3 for x in r) / n / m2**1.5
    kurt = sum((x - mean) ** 4 for x in r) / n / m2**2
    sr = mean / std
    z = sr * math.sqrt(n - 1) / math.sqrt(1 - skew * sr + (kurt - 1) / 4 * sr**2)
    expected = 0.5 * (1 + math.erf(z / math.sqrt(2)))
    assert skew > 1 and kurt > 3  # so both higher-moment terms matter

    # Act
    psr = probabilistic_sharpe(r)

    # Assert
    assert psr == pytest.approx(expected, rel=1e-12)
    assert 0.5 < psr < 1


def test_probabilistic_sharpe_given_zero_mean_symmetric_returns_is_one_half() -> None:
    # Act / Assert
    assert probabilistic_sharpe(np.array([0.01, -0.01, 0.02, -0.02, 0.0])) == pytest.approx(0.5)
    assert math.isnan(probabilistic_sharpe(np.zeros(10)))


def test_overlay_effects_given_run_uses_manifest_seed_and_is_reproducible(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path, seed=7)
    run = load_run(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["seed"] = 99
    (folder / "manifest.json").write_text(json.dumps(manifest))

    # Act
    first = overlay_effects(run, CONFIG)
    again = overlay_effects(run, CONFIG)
    reseeded = overlay_effects(load_run(folder), CONFIG)

    # Assert
    assert run_seed(run) == 7 and run_seed(load_run(folder)) == 99
    assert [e.book.strategy for e in first] == ["sma_cross", "dip_buy"]
    assert first == again
    assert first[0].sharpe.estimate == reseeded[0].sharpe.estimate
    assert first[0].sharpe.low != reseeded[0].sharpe.low


def test_sharpe_confidence_given_run_matches_metrics_json_sharpe_and_its_sign(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)
    written = {
        (r["strategy"], r["overlay"]): r["metrics"]["Sharpe Ratio"]
        for r in json.loads((folder / "metrics.json").read_text())["results"]
    }

    # Act
    rows = sharpe_confidence(load_run(folder))

    # Assert
    assert len(rows) == 4
    for row in rows:
        assert row.sharpe == pytest.approx(written[(row.book.strategy, row.book.overlay)], abs=1e-6)
        assert (row.psr > 0.5) == (row.sharpe > 0) and 0 < row.psr < 1


def test_run_seed_given_no_seed_in_manifest_uses_default(tmp_path: Path) -> None:
    # Arrange
    folder = write_run(tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["seed"]
    (folder / "manifest.json").write_text(json.dumps(manifest))

    # Act / Assert
    assert run_seed(load_run(folder)) == DEFAULT_SEED


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"n_boot": 10}, "n_boot"), ({"mean_block": 0.5}, "mean_block"), ({"confidence": 1.0}, "confidence")],
)
def test_bootstrap_config_given_bad_values_raises_value_error(kwargs: dict, message: str) -> None:
    # Act / Assert
    with pytest.raises(ValueError, match=message):
        BootstrapConfig(**kwargs)


def test_gathered_moments_given_books_equals_measures_on_each_resampled_row() -> None:
    # Arrange: four books (one flat) on the same bars, 30 resamples
    from carryguard.backtests.engine.fast_metrics import gathered_moments
    from carryguard.backtests.engine.measures import growth_curve, max_drawdown

    rng = np.random.default_rng(11)
    returns = np.column_stack([rng.normal(0.001, s, 500) for s in (0.01, 0.03, 0.05)] + [np.zeros(500)])
    index = stationary_indices(500, n_boot=30, mean_block=10, rng=np.random.default_rng(2))

    # Act
    mean, std, drawdown = gathered_moments(np.ascontiguousarray(returns), index)

    # Assert: the same numbers as the numpy definitions on the resampled matrix of each book
    for j in range(returns.shape[1]):
        resampled = returns[index, j]
        np.testing.assert_allclose(mean[:, j], resampled.mean(axis=1), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(std[:, j], resampled.std(axis=1, ddof=1), rtol=1e-9, atol=1e-15)
        np.testing.assert_array_equal(drawdown[:, j], max_drawdown(growth_curve(resampled)))


def test_stationary_indices_given_seed_equal_the_block_construction() -> None:
    # Arrange: the definition: a block starts at bar 0 and where the uniform draw < 1 / mean block,
    # at the drawn start; inside a block each index follows the previous one (circularly)
    n, n_boot, mean_block = 97, 40, 4.0
    rng = np.random.default_rng(8)
    starts = rng.integers(0, n, size=(n_boot, n))
    new_block = rng.random((n_boot, n)) < 1.0 / mean_block
    new_block[:, 0] = True
    began = np.maximum.accumulate(np.where(new_block, np.arange(n), 0), axis=1)
    expected = (np.take_along_axis(starts, began, axis=1) + np.arange(n) - began) % n

    # Act
    index = stationary_indices(n, n_boot=n_boot, mean_block=mean_block, rng=np.random.default_rng(8))

    # Assert
    assert np.array_equal(index, expected)


def test_paired_effects_given_a_plain_series_shared_by_overlays_equals_each_pair_alone(noise: np.ndarray) -> None:
    # Arrange: two overlays of the same plain series (the same array object), as overlay_effects passes them
    from carryguard.backtests.report.bootstrap import paired_effects

    halved, clipped = 0.5 * noise, np.clip(noise, -0.02, None)

    # Act
    together = paired_effects([(noise, halved, 365.0), (noise, clipped, 365.0)], config=CONFIG, seed=4)
    alone = [paired_effect(noise.copy(), other, per_year=365, config=CONFIG, seed=4) for other in (halved, clipped)]

    # Assert
    for (sharpe, drawdown), (sharpe_alone, drawdown_alone) in zip(together, alone, strict=True):
        for got, want in ((sharpe, sharpe_alone), (drawdown, drawdown_alone)):
            assert (got.estimate, got.low, got.high) == pytest.approx((want.estimate, want.low, want.high), abs=1e-12)
