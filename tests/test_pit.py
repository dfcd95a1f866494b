"""Point-in-time alignment: availability keys, as-of joins, ages, cutting inputs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from carryguard.signals.frames import disjoint_bars
from carryguard.signals.pit import MemoryStore, age_days, as_source, asof, on_availability, to_targets, union_calendar
from carryguard.signals.store import SeriesMeta


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def frame(dates: list[str], values: list[float], column: str = "x") -> pd.DataFrame:
    index = pd.DatetimeIndex([utc(d) for d in dates], name="time")
    return pd.DataFrame({column: values}, index=index)


def meta(sid: str, rule: str, *, timeframe: str | None = None, flags: tuple[dict, ...] = ()) -> SeriesMeta:
    return SeriesMeta(
        id=sid,
        kind="macro",
        source="test",
        publisher="test",
        symbol=sid,
        fields=("x",),
        units="",
        frequency="",
        availability=rule,
        timeframe=timeframe,
        flags=flags,
    )


def test_asof_given_end_of_day_value_usable_only_from_next_utc_midnight():
    # Arrange: a Tokyo end-of-day value dated 2024-08-02 (Friday)
    timed = on_availability(frame(["2024-08-01", "2024-08-02"], [1.0, 2.0]), meta("mof/jgb", "next_utc_day"))
    targets = pd.DatetimeIndex([utc("2024-08-02 23:59:59"), utc("2024-08-03 00:00"), utc("2024-08-05 00:00")])

    # Act
    values, dates = asof(timed, targets)

    # Assert: not before D+1 00:00, usable exactly then, carried over the weekend
    assert values["x"].tolist() == [1.0, 2.0, 2.0]
    assert list(dates) == [utc("2024-08-01"), utc("2024-08-02"), utc("2024-08-02")]


def test_asof_given_h10_weekly_release_waits_for_next_monday_in_new_york_time():
    # Arrange: DEXJPUS fixings of a winter Tuesday and a summer Friday; H.10 publishes each
    # week on the next Monday at 16:15 New York (21:15 UTC in EST, 20:15 UTC in EDT)
    timed = on_availability(frame(["2024-01-02", "2024-07-05"], [141.0, 161.0]), meta("fred/DEXJPUS", "h10_weekly"))
    targets = pd.DatetimeIndex(
        [
            utc("2024-01-02 17:00"),
            utc("2024-01-08 21:14"),
            utc("2024-01-08 21:15"),
            utc("2024-07-08 20:14"),
            utc("2024-07-08 20:15"),
        ]
    )

    # Act
    values, _ = asof(timed, targets)

    # Assert: not at the noon fixing, only from the weekly release
    np.testing.assert_array_equal(values["x"].to_numpy(), [np.nan, np.nan, 141.0, 141.0, 161.0])


def test_asof_given_h10_release_monday_is_a_holiday_waits_for_tuesday():
    # Arrange: the week to Friday 2024-08-30 is released after Labor Day (Monday 09-02),
    # i.e. on Tuesday 09-03 at 16:15 New York (20:15 UTC); a Sunday holiday (Juneteenth
    # 2022) is observed on the Monday, so that week's release is Tuesday 2022-06-21
    timed = on_availability(frame(["2022-06-17", "2024-08-30"], [135.0, 146.0]), meta("fred/DEXJPUS", "h10_weekly"))
    targets = pd.DatetimeIndex(
        [
            utc("2022-06-20 20:15"),
            utc("2022-06-21 20:14"),
            utc("2022-06-21 20:15"),
            utc("2024-09-02 20:15"),
            utc("2024-09-03 20:14"),
            utc("2024-09-03 20:15"),
        ]
    )

    # Act
    values, _ = asof(timed, targets)

    # Assert: nothing on the holiday Monday, usable from the Tuesday release
    np.testing.assert_array_equal(values["x"].to_numpy(), [np.nan, np.nan, 135.0, 135.0, 135.0, 146.0])


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


def bars(days: list[str], ohlc: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    index = pd.DatetimeIndex([utc(d) for d in days], name="time")
    return pd.DataFrame(ohlc, index=index, columns=["open", "high", "low", "close"])


def test_disjoint_bars_given_yahoo_2008_spike_drops_only_the_spike():
    # Arrange: Yahoo USD/JPY 2008-04-07..09; the 04-08 bar's whole range is ~5% above the prior close
    fx = bars(
        ["2008-04-07", "2008-04-08", "2008-04-09"],
        [(101.61, 102.80, 101.56, 102.44), (107.51, 108.28, 107.44, 108.18), (102.78, 102.80, 101.49, 101.82)],
    )

    # Act
    bad = disjoint_bars(fx, tolerance=0.045, max_run=2)

    # Assert: the spike goes; the next bar is judged against 04-07's close and stays
    assert bad.tolist() == [False, True, False]


def test_disjoint_bars_given_a_real_crash_day_keeps_it():
    # Arrange: 2024-08-05, USD/JPY fell 2.4% on the day but its range touched the prior close area
    fx = bars(["2024-08-02", "2024-08-05"], [(149.2, 149.76, 146.42, 149.2), (145.58, 145.92, 141.70, 145.58)])

    # Act / Assert
    assert not disjoint_bars(fx, tolerance=0.045, max_run=2).any()


def test_disjoint_bars_given_a_lasting_level_shift_accepts_it_after_max_run():
    # Arrange: the price jumps 10% and stays there
    fx = bars(
        ["2015-01-14", "2015-01-15", "2015-01-16", "2015-01-19", "2015-01-20"],
        [(100, 101, 99, 100)] + [(110, 111, 109, 110)] * 4,
    )

    # Act
    bad = disjoint_bars(fx, tolerance=0.045, max_run=2)

    # Assert: two bars are held back, then the new level is accepted and kept
    assert bad.tolist() == [False, True, True, False, False]


def test_disjoint_bars_given_bars_cut_anywhere_flags_the_same_earlier_bars():
    # Arrange: decisions at each bar only see bars up to it (truncation invariance)
    rng = np.random.default_rng(7)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, 300)))
    close[[50, 51, 200]] *= 1.2
    fx = pd.DataFrame(
        {"open": close, "high": close * 1.003, "low": close * 0.997, "close": close},
        index=pd.date_range("2020-01-01", periods=300, freq="1D", tz="UTC"),
    )
    full = disjoint_bars(fx, tolerance=0.045, max_run=2)

    # Act / Assert
    for cut in (10, 51, 52, 150, 201, 300):
        np.testing.assert_array_equal(disjoint_bars(fx.iloc[:cut], tolerance=0.045, max_run=2), full[:cut])


def test_memory_store_cut_given_time_keeps_only_rows_usable_then():
    # Arrange
    store = MemoryStore(
        {
            "mof/jgb": frame(["2024-08-01", "2024-08-02", "2024-08-05"], [1.0, 2.0, 3.0]),
            "fred/DEXJPUS": frame(["2024-07-26", "2024-08-02"], [154.0, 146.0]),
        }
    )

    # Act
    cut = store.cut(utc("2024-08-02 18:00"))

    # Assert: JGB of 08-02 is usable only from 08-03 00:00; DEXJPUS of the week to 07-26
    # was released Monday 07-29, that of 08-02 only on Monday 08-05
    assert cut.read("mof/jgb")["x"].tolist() == [1.0]
    assert cut.read("fred/DEXJPUS")["x"].tolist() == [154.0]


def test_memory_store_cut_given_spike_flag_on_its_last_usable_bar_drops_the_hindsight_flag():
    # Arrange: a spike flagged on 08-05, which only the 08-06 bar (reverting it) could show
    flags = ({"time": "2024-08-05T00:00:00+00:00", "flag": "one-day spike that reverts"},)
    bars = frame(["2024-08-02", "2024-08-05", "2024-08-06"], [146.0, 152.0, 146.5], "close")
    store = MemoryStore(
        {"yahoo/JPY=X/1d": bars}, {"yahoo/JPY=X/1d": meta("yahoo/JPY=X/1d", "bar_close", timeframe="1d", flags=flags)}
    )

    # Act: as known at the 08-05 bar's close
    cut = store.cut(utc("2024-08-06 00:00"))

    # Assert
    assert cut.read("yahoo/JPY=X/1d")["close"].tolist() == [146.0, 152.0]
    assert cut.meta("yahoo/JPY=X/1d").flags == ()


def test_memory_store_given_bare_monthly_fred_frame_uses_the_fred_parsers_rule():
    # Arrange: OECD monthly averages (first-of-month dates) handed over without metadata
    store = MemoryStore({"fred/IRSTCI01JPM156N": frame(["2024-05-01", "2024-06-01", "2024-07-01"], [0.1, 0.1, 0.2])})

    # Act
    cut = store.cut(utc("2024-08-01"))

    # Assert: as fred_meta decides for the file: month M is usable from the 1st of M+2
    assert store.meta("fred/IRSTCI01JPM156N").availability == "month_after"
    assert cut.read("fred/IRSTCI01JPM156N").index.tolist() == [utc("2024-05-01"), utc("2024-06-01")]


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


def test_memory_store_cut_given_fx_snapshot_bar_keeps_its_close_and_blanks_high_low_until_the_bar_close(
    shared_store,
):
    # Arrange: the Yahoo JPY=X bar of 2024-08-05: close is a snapshot at 01:00 London (00:00 UTC)
    inputs = MemoryStore.load(shared_store, ["yahoo/JPY=X/1d"])
    day = pd.Timestamp("2024-08-05", tz="UTC")

    # Act
    during, after = inputs.cut(day + pd.Timedelta(hours=12)), inputs.cut(day + pd.Timedelta(days=1))

    # Assert
    row = during.read("yahoo/JPY=X/1d").loc[day]
    assert np.isfinite(row["close"]) and np.isfinite(row["open"]) and np.isnan(row["high"]) and np.isnan(row["low"])
    assert np.isfinite(after.read("yahoo/JPY=X/1d").loc[day, "high"])
