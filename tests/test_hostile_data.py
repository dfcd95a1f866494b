"""Hostile data: truncated, future-dated, off-grid, conflicting, renamed or unreadable input
is an error naming the file and the fix, and the store stays as it was."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.signals.errors import DataError
from carryguard.signals.importer import import_directory
from carryguard.signals.sources.formats import detect_and_parse
from carryguard.signals.store import SeriesMeta, Store
from tests.store_support import bars_meta, ramp_bars, store_digest

MOF_HEADER = "Date,1Y,2Y,3Y,4Y,5Y,6Y,7Y,8Y,9Y,10Y,15Y,20Y,25Y,30Y,40Y"


def bars(start: str, periods: int, *, freq: str = "4h", base: float = 50.0) -> pd.DataFrame:
    return ramp_bars(start, periods, freq=freq, base=base, offsets=(0.0, 2.0, -2.0, 1.0), volume=3.0)


def meta(timeframe: str = "4h", sid: str = "kraken/SOL-EUR/4h", kind: str = "ohlcv") -> SeriesMeta:
    return bars_meta(sid, timeframe, symbol="SOL/EUR", units="EUR", kind=kind)


def digest(root: Path) -> dict[str, str]:
    """The series files (a rejected write may leave the series' lock file behind)."""
    return store_digest(root, "*.parquet")


def mof_text(rows: list[str], header: str = MOF_HEADER) -> str:
    return "Interest Rate,,,,,,,,,,,,,,,(Unit : %)\r\n" + header + "\r\n" + "".join(r + "\r\n" for r in rows)


def mof_row(day: str, level: float) -> str:
    return day + "," + ",".join(f"{level + i / 10:.3f}" for i in range(15))


# -- time ------------------------------------------------------------------------------------
def test_write_given_row_in_year_2101_raises_naming_it_and_stores_nothing(tmp_path: Path) -> None:
    frame = pd.concat([bars("2023-03-01", 6), bars("2101-02-03", 1)])
    with pytest.raises(DataError, match=r"row 2101-02-03T00:00:00\+00:00 lies in the future"):
        Store(tmp_path).write(frame, meta(), now=pd.Timestamp("2024-01-01", tz="UTC"))
    assert digest(tmp_path) == {}


def test_write_given_bar_at_03_00_in_4h_series_raises_off_grid(tmp_path: Path) -> None:
    frame = bars("2023-03-01", 6)
    frame.index = frame.index[:5].append(pd.DatetimeIndex(["2023-03-01 23:00"], tz="UTC").as_unit("ns"))
    with pytest.raises(
        DataError, match=r"2023-03-01T23:00:00\+00:00 is not on the 4h grid of series kraken/SOL-EUR/4h"
    ):
        Store(tmp_path).write(frame, meta())


def test_write_given_daily_rows_into_4h_series_raises_naming_both(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write(bars("2023-03-01", 12), meta())
    before = digest(tmp_path)
    with pytest.raises(DataError, match=r"rows are 1 days 00:00:00 apart but series kraken/SOL-EUR/4h holds 4h bars"):
        store.write(bars("2023-01-01", 40, freq="1D"), meta())
    assert digest(tmp_path) == before


def test_write_given_stored_bar_repeated_with_other_close_raises_conflict(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write(bars("2023-03-01", 12), meta())
    before = digest(tmp_path)
    changed = bars("2023-03-01 08:00", 3)
    changed.loc[changed.index[0], ["close", "high"]] = [99.0, 99.5]
    with pytest.raises(DataError, match=r"bar 2023-03-01T08:00:00\+00:00 differs from the one stored"):
        store.write(changed, meta())
    assert digest(tmp_path) == before


def test_write_given_new_version_of_stored_last_bar_replaces_it(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write(bars("2023-03-01", 12), meta())  # last bar stored while still open
    update = bars("2023-03-02 20:00", 3, base=80.0)  # replaces it and adds two
    stored = store.write(update, meta())
    assert stored.rows == 14 and store.read(stored.id).loc["2023-03-02 20:00", "close"] == 81.0


def test_write_given_close_above_high_raises(tmp_path: Path) -> None:
    frame = bars("2023-03-01", 6)
    frame.loc[frame.index[2], "close"] = frame["high"].iloc[2] + 5
    with pytest.raises(DataError, match=r"open or close outside the bar's low..high at 2023-03-01T08:00"):
        Store(tmp_path).write(frame, meta())


def test_write_given_stored_field_missing_raises_unless_allowed(tmp_path: Path) -> None:
    store = Store(tmp_path)
    jgb = SeriesMeta(
        id="mof/jgb",
        kind="macro",
        source="mof",
        publisher="MOF",
        symbol="JGB",
        fields=("10Y", "40Y"),
        units="%",
        frequency="business-daily (JP)",
        availability="next_utc_day",
    )
    days = pd.date_range("2023-01-02", periods=4, freq="B", tz="UTC", name="time", unit="ns")
    store.write(pd.DataFrame({"10Y": [0.4, 0.5, 0.5, 0.6], "40Y": [1.5, 1.6, 1.6, 1.7]}, index=days), jgb)
    later = pd.DataFrame({"10Y": [0.7]}, index=days[-1:] + pd.Timedelta(days=1))
    with pytest.raises(DataError, match=r"lacks field\(s\) \['40Y'\] that stored series mof/jgb has"):
        store.write(later, jgb)
    stored = store.write(later, jgb, allow_fewer_fields=True)
    assert stored.rows == 5 and np.isnan(store.read("mof/jgb")["40Y"].iloc[-1])


def test_write_given_umask_022_creates_world_readable_file(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        stored = Store(tmp_path).write(bars("2023-03-01", 6), meta())
    finally:
        os.umask(old)
    assert stat.S_IMODE(Store(tmp_path).path(stored.id).stat().st_mode) == 0o644


def test_meta_given_unreadable_file_says_permission_not_damaged(tmp_path: Path, monkeypatch) -> None:
    store = Store(tmp_path)
    store.write(bars("2023-03-01", 6), meta())
    monkeypatch.setattr(os, "access", lambda path, mode: False)  # as seen by another account
    monkeypatch.setattr("pyarrow.parquet.read_schema", lambda path: (_ for _ in ()).throw(PermissionError(13, "no")))
    with pytest.raises(DataError, match="permission denied") as info:
        store.meta("kraken/SOL-EUR/4h")
    assert "damaged" not in str(info.value)


def test_write_given_read_only_store_raises_cannot_write(tmp_path: Path, monkeypatch) -> None:
    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "open", refuse)
    with pytest.raises(DataError, match=r"cannot write to the store .Permission denied"):
        Store(tmp_path / "ro").write(bars("2023-03-01", 6), meta())


# -- completeness and dates ------------------------------------------------------------------
def test_parse_given_mof_cut_mid_row_raises_ends_mid_row() -> None:
    text = mof_text([mof_row("2024/8/1", 0.1), mof_row("2024/8/2", 0.2)])
    with pytest.raises(DataError, match=r"jgb.csv line 4: ends mid-row"):
        detect_and_parse(text[:-9], "jgb.csv")


def test_parse_given_mof_row_with_fewer_fields_raises_naming_line() -> None:
    short = mof_row("2024/8/2", 0.2).rsplit(",", 4)[0]
    with pytest.raises(DataError, match=r"jgb.csv line 4: 12 fields, the header has 16"):
        detect_and_parse(mof_text([mof_row("2024/8/1", 0.1), short, mof_row("2024/8/5", 0.3)]), "jgb.csv")


def test_parse_given_fred_row_without_value_field_raises() -> None:
    with pytest.raises(DataError, match=r"fred_DGS2.csv line 3: 1 fields, the header has 2"):
        detect_and_parse("DATE,DGS2\n2024-01-02,4.1\n2024-01-03\n2024-01-04,4.2\n", "fred_DGS2.csv")


@pytest.mark.parametrize("renamed", ["10YR", "50Y"])
def test_parse_given_renamed_mof_tenor_raises_naming_column(renamed: str) -> None:
    header = MOF_HEADER.replace("40Y" if renamed == "50Y" else "10Y", renamed)
    with pytest.raises(DataError, match=rf"\['{renamed}'\] are not MOF tenors"):
        detect_and_parse(mof_text([mof_row("2024/8/1", 0.1)], header=header), "jgb.csv")


def test_parse_given_yyyymmddhh_dates_reads_calendar_days_not_epoch_seconds() -> None:
    text = "timestamp,open,high,low,close,volume\n" + "".join(f"202403{d:02d}00,10,12,9,11,1\n" for d in range(4, 12))
    parsed = detect_and_parse(text, "adausdt_1d_binance.csv")
    assert parsed is not None and parsed.frame.index[0] == pd.Timestamp("2024-03-04", tz="UTC")
    assert parsed.meta.timeframe == "1d" and len(parsed.frame) == 7


@pytest.mark.parametrize(
    ("name", "text", "pattern"),
    [
        ("fred_DGS2.csv", "DATE,DGS2\n2024-01-02,4.1\n2263-01-03,4.2\n", r"line 3: date '2263-01-03' is after 2262"),
        ("dotusdt_1h_binance.csv", "99999999999999,1,2,0.5,1,0,0,0,0,0,0,0\n", r"line 1: open time '99999999999999'"),
        (
            "btc_usd_daily_yahoo.csv",
            "Date,Open,High,Low,Close,Volume\n9999999999,1,2,0.5,1,0\n9999999998,1,2,0.5,1,0\n",
            r"is after 2262",
        ),
    ],
)
def test_parse_given_date_beyond_2262_raises_one_clear_line(name: str, text: str, pattern: str) -> None:
    with pytest.raises(DataError, match=pattern):
        detect_and_parse(text, name)


def test_parse_given_one_row_binance_export_raises_no_closed_bar() -> None:
    with pytest.raises(DataError, match="is the one still open at export; no closed bar"):
        detect_and_parse("timestamp,open,high,low,close,volume\n2024-03-04,10,12,9,11,1\n", "adausdt_1d_binance.csv")


# -- folder import ---------------------------------------------------------------------------
def test_import_directory_given_bad_files_imports_good_ones_and_lists_each_bad(tmp_path: Path, monkeypatch) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a_fred_DGS2.csv").write_text("DATE,DGS2\n2024-01-02,4.1\n2300-01-03,4.2\n")
    (folder / "b_unreadable_fred_DGS10.csv").write_text("DATE,DGS10\n2024-01-02,4.1\n")
    (folder / "...csv").write_text("Date,Open,High,Low,Close,Volume\n2024-01-01,1,2,0.5,1,0\n2024-01-02,1,2,0.5,1,0\n")
    (folder / "fred_DEXJPUS.csv").write_text("DATE,DEXJPUS\n2024-01-02,141.2\n2024-01-03,142.0\n")
    real_read = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if "unreadable" in self.name:
            raise PermissionError(13, "Permission denied")
        return real_read(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    outcomes = {o.path.name: o for o in import_directory(Store(tmp_path / "store"), folder)}
    assert outcomes["fred_DEXJPUS.csv"].stored and not outcomes["fred_DEXJPUS.csv"].error
    assert "line 3: date '2300-01-03' is after 2262" in outcomes["a_fred_DGS2.csv"].error
    assert "cannot read the file (Permission denied)" in outcomes["b_unreadable_fred_DGS10.csv"].error
    assert "...csv: cannot tell the ticker" in outcomes["...csv"].error
    assert Store(tmp_path / "store").ids() == ["fred/DEXJPUS"]


def test_cli_import_given_hostile_folder_exits_1_listing_every_bad_file_never_internal_error(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "fred_DGS2.csv").write_text("DATE,DGS2\n2024-01-02,4.1\n2099-01-03,4.2\n")
    (folder / "jgbcme_all.csv").write_text(mof_text([mof_row("2024/8/1", 0.1)])[:-20])
    (folder / "solusdt_4h_binance.csv").write_text(
        "timestamp,open,high,low,close,volume\n" + "".join(f"2024-03-{d:02d},10,12,9,11,1\n" for d in range(1, 9))
    )
    (folder / "fred_DEXJPUS.csv").write_text("DATE,DEXJPUS\n2024-01-02,141.2\n2024-01-03,142.0\n")
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "store"), "data", "import", str(folder)])
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.exit_code == 1 and "internal error" not in result.output + result.stderr
    assert len(errors) == 3
    assert any("fred_DGS2.csv: row 2099-01-03" in e and "future" in e for e in errors)
    assert any("jgbcme_all.csv line 3: ends mid-row" in e for e in errors)
    assert any("solusdt_4h_binance.csv: rows are 1 days" in e and "holds 4h bars" in e for e in errors)
    assert Store(tmp_path / "store").ids() == ["fred/DEXJPUS"]
