"""The carry-trade inputs of ../shared/data/more: import, spot values and availability rules."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.signals.availability import available_at, field_available_at
from carryguard.signals.errors import DataError
from carryguard.signals.frames import OHLCV_COLUMNS
from carryguard.signals.importer import import_directory, import_file
from carryguard.signals.pit import MemoryStore
from carryguard.signals.sources.yahoo import yahoo_meta
from carryguard.signals.store import Store


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def ny(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="America/New_York").tz_convert("UTC")


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_import_given_cftc_file_stores_positions_with_computed_net(shared_store: Store) -> None:
    cot, meta = shared_store.read("cftc/JPY"), shared_store.meta("cftc/JPY")

    assert list(cot.columns) == ["spec_long", "spec_short", "open_interest", "net"]
    assert cot.loc[day("2024-07-02"), "net"] == -184_223
    assert cot.loc[day("2024-08-13"), "net"] == 23_104
    assert (cot["net"] == cot["spec_long"] - cot["spec_short"]).all()
    assert meta.availability == "cot_release" and meta.rows == 1129


def test_import_given_funding_file_snaps_millisecond_jitter_to_8h_grid(shared_store: Store) -> None:
    funding, meta = shared_store.read("binance/BTC-USDT/funding"), shared_store.meta("binance/BTC-USDT/funding")

    assert meta.rows == 7028 and meta.availability == "at_time" and not meta.gaps
    assert (funding.index == funding.index.round("8h")).all()
    assert funding.index[-1] == day("2026-02-07 16:00")
    assert funding.loc[day("2020-02-12 00:00"), "funding_rate"] == pytest.approx(0.003)
    assert funding.loc[day("2020-03-13 08:00"), "funding_rate"] == pytest.approx(-0.003)


def test_import_given_fred_vix_and_dexusal_use_their_release_rules(shared_store: Store) -> None:
    vix, aud = shared_store.read("fred/VIXCLS"), shared_store.read("fred/DEXUSAL")

    assert list(vix.columns) == ["VIXCLS"] and vix.loc[day("2024-08-05"), "VIXCLS"] == 38.57
    assert aud.loc[day("2024-08-05"), "DEXUSAL"] == 0.6488
    assert shared_store.meta("fred/VIXCLS").availability == "next_us_business_day"
    assert shared_store.meta("fred/DEXUSAL").availability == "h10_weekly"


def test_import_given_both_yahoo_audjpy_layouts_fills_one_series(shared_store: Store) -> None:
    fx, meta = shared_store.read("yahoo/AUDJPY=X/1d"), shared_store.meta("yahoo/AUDJPY=X/1d")

    assert fx.index[0] == day("2003-12-01") and fx.index[-1] == day("2026-04-30")
    assert fx.loc[day("2024-08-05"), "close"] == pytest.approx(94.58, abs=0.005)
    assert fx.loc[day("2024-08-05"), "low"] == pytest.approx(90.37, abs=0.005)
    assert day("2004-10-28") not in fx.index  # a Yahoo null row
    assert meta.availability == "fx_snapshot" and meta.units == "JPY per AUD"
    assert any(f.get("kind") == "close_equals_open" and f["time"].startswith("2023") for f in meta.flags)


def test_cli_import_given_yahoo_null_rows_skips_them_with_a_note(tmp_path: Path) -> None:
    rows = [f"2024-01-{d:02d},1,2,0.5,1.5,1.5,0" for d in range(3, 12)]
    text = "\n".join(["Date,Open,High,Low,Close,Adj Close,Volume", "2024-01-02,null,null,null,null,null,null", *rows])
    path = write(tmp_path, "in/AUDJPY=X.csv", text)

    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "store"), "data", "import", str(path)])

    assert result.exit_code == 0, result.stderr
    assert "skipped 1 Yahoo 'null' row(s): line 2 (2024-01-02)" in result.stderr
    assert day("2024-01-02") not in Store(tmp_path / "store").read("yahoo/AUDJPY=X/1d").index


def test_import_given_partly_null_yahoo_row_rejects_the_file(tmp_path: Path) -> None:
    rows = ["2024-01-01,1,2,0.5,1.5,1.5,0", "2024-01-02,1,null,null,null,null,0", "2024-01-03,1,2,0.5,1.5,1.5,0"]
    text = "\n".join(["Date,Open,High,Low,Close,Adj Close,Volume", *rows]) + "\n"
    outcome = import_file(Store(tmp_path / "store"), write(tmp_path, "AUDJPY=X.csv", text))

    assert "line 3" in outcome.error and not outcome.stored


def old_yahoo_export(days: range) -> str:
    """AUDJPY=X daily bars of January 2024 in Yahoo's download layout (close 80.5)."""
    rows = "".join(f"2024-01-0{d},80,81,79,80.5,80.5,0\n" for d in days)
    return "Date,Open,High,Low,Close,Adj Close,Volume\n" + rows


def new_yahoo_export(rows: Iterable[tuple[int, float, float]]) -> str:
    """AUDJPY=X daily bars of January 2024 (day, open, close) in the newer layout with a ticker column."""
    lines = "".join(f"2024-01-0{d},AUDJPY=X,{open_},81,79,{close},80.5,0\n" for d, open_, close in rows)
    return "Date,Ticker,open,high,low,close,adj_close,volume\n" + lines


def test_import_given_conflicting_second_yahoo_export_rejects_it_and_keeps_the_store(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    first = old_yahoo_export(range(1, 6))
    second = new_yahoo_export((d, 80, 80.5 if d < 3 else 82.0) for d in range(2, 8))
    import_file(store, write(tmp_path, "a/yahoo_AUDJPY_X_old.csv", first))
    before = store.meta("yahoo/AUDJPY=X/1d").content_hash

    outcome = import_file(store, write(tmp_path, "b/yahoo_AUDJPY_X_new.csv", second))

    assert (
        "bar 2024-01-03T00:00:00+00:00 differs from the one stored in yahoo/AUDJPY=X/1d (close 82 vs 80.5"
        in outcome.error
    )
    assert store.meta("yahoo/AUDJPY=X/1d").content_hash == before


def test_import_given_agreeing_yahoo_exports_merges_them(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    first = old_yahoo_export(range(1, 6))
    second = new_yahoo_export((d, 80.0000001, 80.5) for d in range(3, 9))
    import_file(store, write(tmp_path, "yahoo_AUDJPY_X_old.csv", first))
    outcome = import_file(store, write(tmp_path, "yahoo_AUDJPY_X_new.csv", second))

    assert not outcome.error
    assert store.read("yahoo/AUDJPY=X/1d").index[[0, -1]].tolist() == [day("2024-01-01"), day("2024-01-07")]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("cftc_cot_jpy.csv", "date,long,short\n2024-01-02,1,2\n", "is not a CFTC COT layout"),
        ("binance_btcusdt_perp_funding.csv", "time,rate\n2024-01-02,1\n", "is not a funding layout"),
        (
            "binance_btcusdt_perp_funding.csv",
            "timestamp,funding_rate\n2024-01-02 08:00:00.000,0.0001\n2024-01-02 12:00:00.000,0.0001\n",
            "line 3: funding time 2024-01-02 12:00:00+00:00 is not on the 8-hour grid",
        ),
        (
            "cftc_cot_jpy.csv",
            "report_date,spec_long,spec_short,open_interest,net\n2024-01-02,10,4,30,6\n2024-01-09,10,4,30,7\n",
            "line 3 column net",
        ),
    ],
)
def test_import_given_wrong_carry_layouts_rejects_the_file(tmp_path: Path, name: str, text: str, message: str) -> None:
    outcome = import_file(Store(tmp_path / "store"), write(tmp_path, name, text))

    assert message in outcome.error
    assert not (tmp_path / "store").exists() or not Store(tmp_path / "store").ids()


def test_import_directory_given_subfolder_imports_its_files(tmp_path: Path) -> None:
    write(tmp_path, "data/fred_DGS2.csv", "date,value\n2024-01-02,4.3\n")
    write(tmp_path, "data/more/deeper/fred_VIXCLS.csv", "observation_date,VIXCLS\n2024-01-02,13.2\n2024-01-03,\n")

    outcomes = import_directory(Store(tmp_path / "store"), tmp_path / "data")

    assert {m.id for o in outcomes for m in o.stored} == {"fred/DGS2", "fred/VIXCLS"}


def test_cli_import_given_close_mostly_equal_to_open_flags_the_year(tmp_path: Path) -> None:
    days = pd.bdate_range("2023-01-02", periods=120)
    rows = [f"{d.date()},100,101,99,{100 if i % 5 else 100.5},0" for i, d in enumerate(days)]
    path = write(tmp_path, "usdjpy_yahoo.csv", "Date,Open,High,Low,Close,Volume\n" + "\n".join(rows) + "\n")

    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "store"), "data", "import", str(path)])

    assert result.exit_code == 0, result.stderr
    assert "yahoo/JPY=X/1d: close equals open on 80% of 2023's 119 rows" in result.stderr
    flags = Store(tmp_path / "store").meta("yahoo/JPY=X/1d").flags
    assert [f["time"][:10] for f in flags if f["kind"] == "close_equals_open"] == ["2023-01-02"]


def test_store_meta_given_yahoo_fx_stored_with_old_rule_asks_to_reimport(tmp_path: Path) -> None:
    store = Store(tmp_path)
    old = replace(yahoo_meta("JPY=X", "1d"), availability="bar_close")  # the rule before fx_snapshot
    frame = pd.DataFrame(
        [[1.0, 1.0, 1.0, 1.0, 0.0]], index=pd.DatetimeIndex([day("2024-01-02")]), columns=OHLCV_COLUMNS
    )
    store._atomic_write(frame, old)

    with pytest.raises(DataError, match="predates it: re-import it"):
        store.meta("yahoo/JPY=X/1d")


def test_cot_release_given_normal_holiday_and_shutdown_weeks_follows_the_cftc_calendar() -> None:
    dates = pd.DatetimeIndex(["2024-08-06", "2024-07-02", "2024-11-26", "2018-12-24", "2018-12-18"], tz="UTC")

    times = available_at(dates, "cot_release")

    assert list(times) == [
        ny("2024-08-09 15:30"),  # Friday
        ny("2024-07-08 15:30"),  # July 4th week: Monday
        ny("2024-12-02 15:30"),  # Thanksgiving week: Monday
        ny("2019-03-08 15:30"),  # held back by the 2018-19 shutdown until the catch-up ended
        ny("2018-12-21 15:30"),  # published the day before the shutdown
    ]


# The CFTC's catch-up calendar after the 2025 shutdown (report date -> publication date).
CATCH_UP_2025 = {
    "2025-09-30": "2025-11-19",
    "2025-10-07": "2025-11-21",
    "2025-10-28": "2025-12-05",
    "2025-11-18": "2025-12-16",
    "2025-12-16": "2026-01-06",
    "2026-01-13": "2026-01-20",
    "2026-01-20": "2026-01-23",
}


def test_cot_release_given_2025_shutdown_reports_is_never_before_their_publication() -> None:
    dates = pd.DatetimeIndex(list(CATCH_UP_2025), tz="UTC")

    times = available_at(dates, "cot_release")

    published = [ny(f"{p} 15:30") for p in CATCH_UP_2025.values()]
    assert all(t >= p for t, p in zip(times, published, strict=True))


def test_next_us_business_day_given_friday_and_christmas_eve_skips_weekend_and_holiday() -> None:
    dates = pd.DatetimeIndex(["2024-08-05", "2024-08-09", "2024-12-24"], tz="UTC")

    times = available_at(dates, "next_us_business_day")

    assert list(times) == [ny("2024-08-06 16:00"), ny("2024-08-12 16:00"), ny("2024-12-26 16:00")]


def test_fx_snapshot_given_fields_counts_close_from_london_morning_and_high_low_from_bar_close() -> None:
    dates = pd.DatetimeIndex(["2024-08-05", "2024-01-05", "2009-05-05"], tz="UTC")

    close = field_available_at(dates, "fx_snapshot", "close")
    high = field_available_at(dates, "fx_snapshot", "high")
    row = available_at(dates, "fx_snapshot")

    assert list(close) == [day("2024-08-05 00:00"), day("2024-01-05 01:00"), day("2009-05-06")]
    assert list(high) == list(row) == [day("2024-08-06"), day("2024-01-06"), day("2009-05-06")]


def test_at_time_given_funding_times_is_usable_at_the_stamp() -> None:
    dates = pd.DatetimeIndex(["2024-01-02 08:00"], tz="UTC")

    assert list(available_at(dates, "at_time")) == [day("2024-01-02 08:00")]


@pytest.mark.parametrize(
    ("sid", "before", "at", "row"),
    [
        ("cftc/JPY", "2024-08-16 19:29", "2024-08-16 19:30", "2024-08-13"),  # Friday 15:30 New York (EDT)
        ("cftc/JPY", "2025-12-05 20:30", "2026-01-23 20:30", "2025-10-28"),  # held back until the 2026-01-23 catch-up
        ("fred/VIXCLS", "2024-08-06 19:59", "2024-08-06 20:00", "2024-08-05"),  # next business day 16:00 New York
        ("fred/DEXUSAL", "2024-08-12 20:14", "2024-08-12 20:15", "2024-08-05"),  # H.10, Monday after the week
        ("binance/BTC-USDT/funding", "2024-08-05 07:59", "2024-08-05 08:00", "2024-08-05 08:00"),
        # open/close from the snapshot at 01:00 London (00:00 UTC in summer); high/low stay
        # blank in the cut until the bar close (signals.pit.MemoryStore.cut)
        ("yahoo/AUDJPY=X/1d", "2024-08-04 23:59", "2024-08-05 00:00", "2024-08-05"),
    ],
)
def test_memory_store_cut_given_new_series_hides_each_row_until_its_release(
    shared_store: Store, sid: str, before: str, at: str, row: str
) -> None:
    inputs = MemoryStore.load(shared_store, [sid])

    assert day(row) not in inputs.cut(day(before)).read(sid).index
    assert day(row) in inputs.cut(day(at)).read(sid).index
