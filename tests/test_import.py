"""Importing the real publisher files of ../shared/data, with spot checks of known values."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.signals.errors import DataError
from carryguard.signals.sources.formats import detect_and_parse
from carryguard.signals.store import Store

EXPECTED_SERIES = {
    "bitstamp/BTC-close/1d",
    "binance/BTC-USDT/1d",
    "binance/BTC-USDT/4h",
    "binance/ETH-USDT/1d",
    "yahoo/BTC-USD/1d",
    "yahoo/ETH-USD/1d",
    "yahoo/JPY=X/1d",
    "mof/jgb",
    "fred/DEXJPUS",
    "fred/DGS10",
    "fred/DGS2",
    "fred/IRSTCI01JPM156N",
    "fred/VIXCLS",
    "fred/DEXUSAL",
    "yahoo/AUDJPY=X/1d",
    "cftc/JPY",
    "binance/BTC-USDT/funding",
}


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def test_import_given_shared_data_stores_every_file_as_its_series(shared_store: Store, shared_data: Path) -> None:
    ids = set(shared_store.ids())

    assert ids == EXPECTED_SERIES
    origins = {m.origin.rsplit("/", 1)[-1] for m in shared_store.list()}
    # both AUDJPY=X exports go into one series, which names the file written last
    assert origins | {"yahoo_AUDJPY_X_2003-2021.csv"} == {p.name for p in shared_data.rglob("*.csv")}


def test_import_given_mof_file_reads_tenors_and_late_starting_long_end(shared_store: Store) -> None:
    jgb = shared_store.read("mof/jgb")

    assert list(jgb.columns) == [
        "1Y",
        "2Y",
        "3Y",
        "4Y",
        "5Y",
        "6Y",
        "7Y",
        "8Y",
        "9Y",
        "10Y",
        "15Y",
        "20Y",
        "25Y",
        "30Y",
        "40Y",
    ]
    assert jgb["40Y"].first_valid_index() == day("2007-11-06")
    assert jgb["30Y"].first_valid_index() == day("1999-09-02")
    assert jgb.loc[day("2025-11-20"), "20Y"] == 2.839
    assert jgb.loc[day("2024-08-05"), "10Y"] < 1.0
    assert (jgb.index.day_of_week == 5).sum() == 519  # Saturday sessions until 1989
    assert shared_store.meta("mof/jgb").availability == "next_utc_day"


def test_import_given_yahoo_fx_file_keeps_close_and_flags_2008_spikes(shared_store: Store) -> None:
    fx = shared_store.read("yahoo/JPY=X/1d")
    meta = shared_store.meta("yahoo/JPY=X/1d")

    assert round(fx.loc[day("2024-08-05"), "close"], 3) == 145.584
    spikes = [f["time"][:10] for f in meta.flags if "kind" not in f]
    snapshots = [f["time"][:4] for f in meta.flags if f.get("kind") == "close_equals_open"]
    assert spikes == ["2008-04-08", "2008-10-08", "2008-12-08"]
    assert snapshots == ["2022", "2023", "2024", "2025"]  # close == open on 78-99% of those years' rows
    # weekends are not gaps for FX: each gap counts only the weekdays it skips, a plain weekend is none
    for gap in meta.gaps:
        skipped = pd.bdate_range(
            day(gap["after"][:10]) + pd.Timedelta(days=1), day(gap["before"][:10]) - pd.Timedelta(days=1)
        )
        assert gap["missing"] == len(skipped) >= 1
    assert not any(g["after"].startswith("2024-08-02") for g in meta.gaps)  # Fri 2024-08-02 -> Mon 08-05


def test_import_given_binance_4h_file_lists_the_eight_outage_gaps(shared_store: Store) -> None:
    meta = shared_store.meta("binance/BTC-USDT/4h")

    assert len(meta.gaps) == 8
    assert (meta.gaps[0]["after"], meta.gaps[0]["before"]) == ("2018-02-08T00:00:00+00:00", "2018-02-09T08:00:00+00:00")
    assert meta.last == "2026-01-06T08:00:00+00:00"  # the open 12:00 bar was dropped


def test_import_given_live_exports_drops_open_last_bar(shared_store: Store) -> None:
    assert shared_store.meta("binance/BTC-USDT/1d").last[:10] == "2026-01-05"
    assert shared_store.meta("yahoo/BTC-USD/1d").last[:10] == "2026-06-04"
    btc = shared_store.read("yahoo/BTC-USD/1d").loc[day("2024-08-05")]
    assert (round(btc["open"], 2), round(btc["low"], 2), round(btc["close"], 2)) == (58110.30, 49121.24, 53991.46)


def test_import_given_fred_files_parse_all_header_styles(shared_store: Store) -> None:
    dex, dgs10 = shared_store.read("fred/DEXJPUS"), shared_store.read("fred/DGS10")

    assert list(dex.columns) == ["DEXJPUS"] and not dex["DEXJPUS"].isna().any()
    assert shared_store.meta("fred/DEXJPUS").rows == 14370 - 565  # blank rows dropped
    assert dgs10.loc[day("2024-08-05"), "DGS10"] == 3.78
    assert shared_store.meta("fred/DEXJPUS").availability == "h10_weekly"
    assert shared_store.meta("fred/IRSTCI01JPM156N").availability == "month_after"


def test_import_given_descending_close_table_stores_sorted_currencies(shared_store: Store) -> None:
    table = shared_store.read("bitstamp/BTC-close/1d")

    assert table.index.is_monotonic_increasing
    assert table.loc[day("2026-08-22"), "JPY"] == 11646111.0


def test_cli_data_import_then_list_json_reports_each_series(tmp_path: Path, shared_data: Path) -> None:
    runner = CliRunner()

    imported = runner.invoke(main, ["--data-dir", str(tmp_path), "data", "import", str(shared_data)])
    listed = runner.invoke(main, ["--data-dir", str(tmp_path), "data", "list", "--json"])

    assert imported.exit_code == 0, imported.stderr
    assert "mof/jgb" in imported.stdout
    assert "btcusdt_4h_binance.csv: dropped last bar 2026-01-06 12:00 UTC" in imported.stderr
    assert "btcusdt_1d_binance.csv: dropped last bar 2026-01-06 (exported while still open)" in imported.stderr
    records = json.loads(listed.stdout)
    assert {r["id"] for r in records} == EXPECTED_SERIES
    four_hour = next(r for r in records if r["id"] == "binance/BTC-USDT/4h")
    assert set(four_hour) >= {"id", "source", "first", "last", "rows", "gaps", "fetched_at"}
    assert four_hour["gaps"] == 8 and four_hour["rows"] == 18370


def test_cli_data_import_given_same_folder_twice_is_idempotent(tmp_path: Path, shared_data: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["--data-dir", str(tmp_path), "data", "import", str(shared_data)])
    first = {m.id: (m.rows, m.content_hash) for m in Store(tmp_path).list()}

    again = runner.invoke(main, ["--data-dir", str(tmp_path), "data", "import", str(shared_data)])

    assert again.exit_code == 0
    assert {m.id: (m.rows, m.content_hash) for m in Store(tmp_path).list()} == first


def test_cli_data_import_given_one_file_stores_only_its_series(tmp_path: Path, shared_data: Path) -> None:
    result = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path), "data", "import", str(shared_data / "fred_DGS10.csv")]
    )

    assert result.exit_code == 0, result.stderr
    assert Store(tmp_path).ids() == ["fred/DGS10"] and "fred_DGS10.csv" in result.stdout


def test_cli_data_import_given_one_file_of_unknown_format_exits_1(tmp_path: Path) -> None:
    notes = tmp_path / "notes.csv"
    notes.write_text("what,ever\n1,2\n")

    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "store"), "data", "import", str(notes)])

    assert result.exit_code == 1
    assert (
        result.stderr.startswith(f"error: {notes}: no known publisher format") and len(result.stderr.splitlines()) == 1
    )


@pytest.mark.parametrize(
    ("name", "text", "first_day"),
    [
        # yfinance Ticker.history().to_csv(): London dates with offsets -> the London date, not 23:00 UTC the day before
        (
            "yahoo_USDJPY_daily.csv",
            "Date,Close,High,Low,Open,Volume\n2024-08-01 00:00:00+01:00,150,151,149,150,0\n"
            "2024-08-02 00:00:00+01:00,149,150,148,150,0\n2024-08-05 00:00:00+01:00,146,149,145,149,0\n",
            "2024-08-01",
        ),
        # a ccxt dump with a header: epoch milliseconds
        (
            "btcusdt_1d_binance.csv",
            "timestamp,open,high,low,close,volume\n1722470400000,100,110,90,105,5\n"
            "1722556800000,105,111,95,99,6\n1722643200000,99,101,97,100,1\n",
            "2024-08-01",
        ),
        # day-first dates that only read one way
        (
            "btc_usd_daily_yahoo.csv",
            "Date,Open,High,Low,Close,Volume\n30/07/2024,1,2,0.5,1,0\n31/07/2024,1,2,0.5,1,0\n1/8/2024,1,2,0.5,1,0\n",
            "2024-07-30",
        ),
    ],
)
def test_detect_and_parse_given_other_date_spellings_stores_the_same_days(name: str, text: str, first_day: str) -> None:
    parsed = detect_and_parse(text, name)

    assert list(parsed.frame.index) == [day(first_day), day(first_day) + pd.Timedelta(days=1)]  # last, open bar dropped


def test_detect_and_parse_given_dates_readable_both_ways_rejects_instead_of_guessing() -> None:
    text = "Date,Open,High,Low,Close,Volume\n05/08/2024,1,2,0.5,1,0\n06/08/2024,1,2,0.5,1,0\n"

    with pytest.raises(
        DataError, match="'05/08/2024' read as month/day and as day/month; export the dates as YYYY-MM-DD"
    ):
        detect_and_parse(text, "btc_usd_daily_yahoo.csv")
