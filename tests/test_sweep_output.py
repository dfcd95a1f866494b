"""``output.write_csv``: the bytes of pandas' ``to_csv`` for the sweep's equity frame, faster."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carryguard.backtests.sweep.output import write_csv


def _frame(index: pd.DatetimeIndex) -> pd.DataFrame:
    rng = np.random.default_rng(11)
    n = len(index)
    wide = 10 ** rng.uniform(-30, 30, n) * rng.choice([-1.0, 1.0], n)  # tiny, huge, negative: exponent formats
    wide[:6] = [0.0, -0.0, np.inf, 1e16, 1e-5, 10_000.0]
    blank_first = rng.uniform(9_000.0, 11_000.0, n)
    blank_first[: n // 3] = np.nan  # a book that starts later (out-of-sample)
    flat = np.repeat(rng.uniform(9_000.0, 11_000.0, n), 7)[:n]  # an equity curve while flat: runs of one value
    flat[-5:] = np.nan
    return pd.DataFrame(
        {
            "out-of-sample": blank_first,
            "in-sample best": wide,
            "default": np.round(rng.uniform(0, 1e6, n), 2),
            "flat": flat,
        },
        index=index.rename("time"),
    )


@pytest.mark.parametrize(
    "index",
    [
        pd.date_range("2017-08-17 04:00", periods=500, freq="4h", tz="UTC"),
        pd.date_range("2018-01-01", periods=300, freq="1D", tz="UTC"),  # midnights keep their time
    ],
)
def test_write_csv_given_float_columns_on_utc_bars_writes_pandas_bytes(tmp_path: Path, index: pd.DatetimeIndex):
    # Arrange
    frame = _frame(index)
    frame.to_csv(tmp_path / "pandas.csv", lineterminator="\n")

    # Act
    write_csv(frame, tmp_path / "fast.csv")

    # Assert
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()


def test_write_csv_given_sub_second_times_falls_back_to_pandas(tmp_path: Path):
    # Arrange
    frame = _frame(pd.date_range("2020-01-01", periods=50, freq="1500ms", tz="UTC"))
    frame.to_csv(tmp_path / "pandas.csv", lineterminator="\n")

    # Act
    write_csv(frame, tmp_path / "fast.csv")

    # Assert
    assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "pandas.csv").read_bytes()
