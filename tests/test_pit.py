"""Point-in-time alignment: availability keys, as-of joins, ages, cutting inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signals.pit import (MemoryStore, age_days, as_source, asof, on_availability, reject_off_reference, to_targets,
                         union_calendar)
from signals.store import SeriesMeta


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def frame(dates: list[str], values: list[float], column: str = "x") -> pd.DataFrame:
    index = pd.DatetimeIndex([utc(d) for d in dates], name="time")
    return pd.DataFrame({column: values}, index=index)


def meta(sid: str, rule: str, *, timeframe: str | None = None, flags: tuple[dict, ...] = ()) -> SeriesMeta:
    return SeriesMeta(id=sid, kind="macro", source="test", publisher="test", symbol=sid, fields=("x",), units="",
                      frequency="", availability=rule, timeframe=timeframe, flags=flags)


def test_asof_given_end_of_day_value_usable_only_from_next_utc_midnight():
    # Arrange: a Tokyo end-of-day value dated 2024-08-02 (Friday)
    timed = on_availability(frame(["2024-08-01", "2024-08-02"], [1.0, 2.0]), meta("mof/jgb", "next_utc_day"))
    targets = pd.DatetimeIndex([utc("2024-08-02 23:59:59"), utc("2024-08-03 00:00"), utc("2024-08-05 00:00")])

    # Act
    values, dates = asof(timed, targets)

    # Assert: not before D+1 00:00, usable exactly then, carried over the weekend
    assert values["x"].tolist() == [1.0, 2.0, 2.0]
    assert list(dates) == [utc("2024-08-01"), utc("2024-08-02"), utc("2024-08-02")]


def test_asof_given_ny_noon_fixing_follows_new_york_daylight_saving():
    # Arrange: DEXJPUS on a winter day (EST, noon = 17:00 UTC) and a summer day (EDT, 16:00 UTC)
    timed = on_availability(frame(["2024-01-02", "2024-07-01"], [141.0, 161.0]), meta("fred/DEXJPUS", "ny_noon"))
    targets = pd.DatetimeIndex([utc("2024-01-02 16:59"), utc("2024-01-02 17:00"), utc("2024-07-01 15:59"),
                                utc("2024-07-01 16:00")])

    # Act
    values, _ = asof(timed, targets)

    # Assert
    np.testing.assert_array_equal(values["x"].to_numpy(), [np.nan, 141.0, 141.0, 161.0])


def test_asof_given_daily_bar_usable_at_its_close():
    # Arrange: a Yahoo daily bar stamped with its open time
    bar = meta("yahoo/JPY=X/1d", "bar_close", timeframe="1d")
    timed = on_availability(frame(["2024-08-02"], [146.5], "close"), bar)

    # Act
    values, _ = asof(timed, pd.DatetimeIndex([utc("2024-08-02 20:00"), utc("2024-08-03 00:00")]))

    # Assert
    np.testing.assert_array_equal(values["close"].to_numpy(), [np.nan, 146.5])


def test_age_days_given_holiday_gap_counts_days_since_the_data_date():
    # Arrange: Golden Week style gap, last value dated 2024-05-02
    timed = on_availability(frame(["2024-05-02", "2024-05-07"], [1.0, 2.0]), meta("mof/jgb", "next_utc_day"))
    targets = pd.DatetimeIndex([utc("2024-05-03"), utc("2024-05-07 12:00"), utc("2024-05-08")])

    # Act
    _, dates = asof(timed, targets)
    ages = age_days(targets, dates)

    # Assert
    assert ages.tolist() == [1.0, 5.5, 1.0]


def test_reject_off_reference_given_spike_against_same_day_fixing_drops_only_the_spike():
    # Arrange: a Yahoo close 6% off the DEXJPUS noon fixing published hours before it
    yahoo = frame(["2008-04-07", "2008-04-08", "2008-04-09"], [102.0, 108.18, 101.9], "close")
    fixing = frame(["2008-04-07", "2008-04-08", "2008-04-09"], [102.1, 102.0, 101.8], "DEXJPUS")
    timed = on_availability(yahoo, meta("yahoo/JPY=X/1d", "bar_close", timeframe="1d"))
    reference = on_availability(fixing, meta("fred/DEXJPUS", "ny_noon"))

    # Act
    kept = reject_off_reference(timed, reference, tolerance=0.05, max_age_days=4)
    values, dates = asof(kept, pd.DatetimeIndex([utc("2008-04-09 00:00")]))

    # Assert: the spike is never used; the previous close carries with its own date
    assert kept.values["close"].tolist() == [102.0, 101.9]
    assert values["close"].iloc[0] == 102.0 and dates.iloc[0] == utc("2008-04-07")


def test_reject_off_reference_given_only_a_future_fixing_keeps_the_row():
    # Arrange: the only fixing is published after the Yahoo bar closes (no hindsight allowed)
    yahoo = frame(["2008-04-08"], [108.18], "close")
    fixing = frame(["2008-04-09"], [101.8], "DEXJPUS")

    # Act
    kept = reject_off_reference(on_availability(yahoo, meta("yahoo/JPY=X/1d", "bar_close", timeframe="1d")),
                                on_availability(fixing, meta("fred/DEXJPUS", "ny_noon")), tolerance=0.05, max_age_days=4)

    # Assert
    assert kept.values["close"].tolist() == [108.18]


def test_memory_store_cut_given_time_keeps_only_rows_usable_then():
    # Arrange
    store = MemoryStore({"mof/jgb": frame(["2024-08-01", "2024-08-02", "2024-08-05"], [1.0, 2.0, 3.0]),
                         "fred/DEXJPUS": frame(["2024-08-02", "2024-08-05"], [146.0, 144.0])})

    # Act
    cut = store.cut(utc("2024-08-02 18:00"))

    # Assert: JGB of 08-02 is usable only from 08-03 00:00; DEXJPUS of 08-02 from 16:00 UTC
    assert cut.read("mof/jgb")["x"].tolist() == [1.0]
    assert cut.read("fred/DEXJPUS")["x"].tolist() == [146.0]


def test_to_targets_given_naive_times_raises_value_error():
    # Arrange
    naive = pd.DatetimeIndex(["2024-08-05"])

    # Act / Assert
    with pytest.raises(ValueError, match="tz-aware"):
        to_targets(naive)


def test_as_source_given_unsupported_object_raises_type_error():
    # Act / Assert
    with pytest.raises(TypeError, match="Store, MemoryStore or mapping"):
        as_source(42)


def test_union_calendar_given_two_series_holds_every_availability_time_once():
    # Arrange
    a = on_availability(frame(["2024-08-01", "2024-08-02"], [1.0, 2.0]), meta("mof/jgb", "next_utc_day"))
    b = on_availability(frame(["2024-08-02", "2024-08-05"], [1.0, 2.0]), meta("fred/DGS10", "next_utc_day"))

    # Act
    calendar = union_calendar(a, b)

    # Assert
    assert list(calendar) == [utc("2024-08-02"), utc("2024-08-03"), utc("2024-08-06")]
