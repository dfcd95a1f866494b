"""The parquet store: validation on write, merging, atomicity, gaps and metadata."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from carryguard.signals.errors import DataError
from carryguard.signals.store import SeriesMeta, Store
from carryguard.signals.store_merge import content_hash
from tests.store_support import bars_meta, ramp_bars, store_digest


def bars(start: str, periods: int, *, freq: str = "1D", base: float = 100.0) -> pd.DataFrame:
    return ramp_bars(start, periods, freq=freq, base=base, offsets=(-0.5, 1.0, -1.0, 0.0), volume=10.0)


def meta(sid: str = "test/BTC-USDT/1d", timeframe: str = "1d") -> SeriesMeta:
    return bars_meta(sid, timeframe, symbol="BTC/USDT", units="USDT")


def test_write_given_valid_bars_reads_back_identical_frame_and_metadata(tmp_path: Path) -> None:
    store, frame = Store(tmp_path), bars("2024-01-01", 5)

    stored = store.write(frame, meta())

    pd.testing.assert_frame_equal(store.read("test/BTC-USDT/1d"), frame, check_freq=False)
    assert store.meta("test/BTC-USDT/1d") == stored
    assert (stored.rows, stored.first[:10], stored.last[:10]) == (5, "2024-01-01", "2024-01-05")
    assert stored.content_hash == content_hash(frame)


def test_write_given_overlapping_update_replaces_last_bar_and_never_duplicates(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write(bars("2024-01-01", 5), meta())
    update = bars("2024-01-05", 3, base=500.0)  # revises 01-05, adds 01-06 and 01-07

    stored = store.write(update, meta())

    frame = store.read("test/BTC-USDT/1d")
    assert stored.rows == 7 and frame.index.is_unique and frame.index.is_monotonic_increasing
    assert frame.loc["2024-01-05", "close"] == 500.0
    assert frame.loc["2024-01-04", "close"] == 103.0


def test_write_given_conflicting_duplicates_raises_and_keeps_stored_file(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write(bars("2024-01-01", 5), meta())
    before = store_digest(tmp_path)
    bad = pd.concat([bars("2024-01-06", 2), bars("2024-01-06", 1, base=999.0)])

    with pytest.raises(DataError, match="conflicting duplicate rows for 2024-01-06"):
        store.write(bad, meta())

    assert store_digest(tmp_path) == before


def test_write_given_exact_duplicates_keeps_one_row(tmp_path: Path) -> None:
    store = Store(tmp_path)
    frame = pd.concat([bars("2024-01-01", 3), bars("2024-01-02", 1, base=101.0)])

    stored = store.write(frame, meta())

    assert stored.rows == 3


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("close", -1.0, "non-positive price"),
        ("low", 500.0, "high < low"),
        ("volume", -5.0, "negative volume"),
        ("open", float("nan"), "missing price"),
        ("high", float("inf"), "infinite value"),
    ],
)
def test_write_given_impossible_bar_raises_naming_timestamp(
    tmp_path: Path, column: str, value: float, message: str
) -> None:
    frame = bars("2024-01-01", 4)
    frame.loc[frame.index[2], column] = value

    with pytest.raises(DataError, match=f"{message} at 2024-01-03"):
        Store(tmp_path).write(frame, meta())

    assert not (tmp_path / "test").exists()


def test_write_given_crash_mid_write_leaves_previous_version_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store(tmp_path)
    store.write(bars("2024-01-01", 5), meta())
    before = store_digest(tmp_path)

    def crash(writer: pq.ParquetWriter, table: pa.Table, **kwargs: object) -> None:  # the file is begun, then dies
        raise OSError("disk full")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", crash)
    with pytest.raises(DataError, match=r"cannot write to the store .disk full"):
        store.write(bars("2024-01-06", 5), meta())

    assert store_digest(tmp_path) == before
    assert store.read("test/BTC-USDT/1d").index[-1] == pd.Timestamp("2024-01-05", tz="UTC")


def test_write_given_gaps_in_4h_bars_lists_each_gap_with_missing_count(tmp_path: Path) -> None:
    frame = bars("2024-01-01", 20, freq="4h")
    frame = frame.drop(frame.index[[5, 6, 12]])

    stored = Store(tmp_path).write(frame, meta("test/BTC-USDT/4h", "4h"))

    assert [(g["after"][:16], g["missing"]) for g in stored.gaps] == [("2024-01-01T16:00", 2), ("2024-01-02T20:00", 1)]


def test_write_given_fx_update_completing_a_spike_flags_it_over_the_merged_series(tmp_path: Path) -> None:
    # Arrange: USD/JPY jumps 5% on 01-03; the stored part ends there, so only the update
    # (01-04 back at the old level) shows that the jump reverted
    store = Store(tmp_path)
    fx = replace(meta("yahoo/JPY=X/1d"), symbol="JPY=X", frequency="1d (weekdays)")
    frame = bars("2024-01-01", 5, base=150.0)
    frame.loc["2024-01-03", ["open", "high", "low", "close"]] *= 1.05
    store.write(frame.iloc[:3], fx)

    # Act
    stored = store.write(frame.iloc[3:], fx)

    # Assert: flagged in the stored metadata, as an import of the whole file would be
    assert [f["time"][:10] for f in stored.flags] == ["2024-01-03"]
    assert store.meta("yahoo/JPY=X/1d").flags == stored.flags


def test_write_given_naive_index_raises_clear_error(tmp_path: Path) -> None:
    frame = bars("2024-01-01", 3)
    frame.index = frame.index.tz_localize(None)

    with pytest.raises(DataError, match="tz-aware UTC"):
        Store(tmp_path).write(frame, meta())


def test_read_given_unknown_series_names_it_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"series mof/jgb is not in the store .*carryguard data import"):
        Store(tmp_path).read("mof/jgb")


def test_ids_given_nested_series_lists_them_sorted(tmp_path: Path) -> None:
    store = Store(tmp_path)
    store.write(bars("2024-01-01", 3), meta("b/X/1d"))
    store.write(bars("2024-01-01", 3), meta("a/Y/1d"))

    assert store.ids() == ["a/Y/1d", "b/X/1d"]
    assert [m.id for m in store.list()] == ["a/Y/1d", "b/X/1d"]


@pytest.mark.parametrize(
    "damage", [lambda raw: raw[: len(raw) // 2], lambda raw: b"not parquet"], ids=["truncated", "foreign"]
)
def test_meta_and_read_given_damaged_file_raise_data_error_naming_it(tmp_path: Path, damage) -> None:
    store = Store(tmp_path)
    store.write(bars("2024-01-01", 3), meta())
    path = store.path("test/BTC-USDT/1d")
    path.write_bytes(damage(path.read_bytes()))

    with pytest.raises(DataError, match=r"BTC-USDT/1d\.parquet: damaged series file .*delete it"):
        store.meta("test/BTC-USDT/1d")
    with pytest.raises(DataError, match=r"BTC-USDT/1d\.parquet: damaged series file"):
        store.read("test/BTC-USDT/1d")


def test_meta_given_metadata_with_unknown_availability_rule_names_file_and_fix(tmp_path: Path) -> None:
    # Arrange: a series written with a rule this version no longer knows
    store = Store(tmp_path)
    store.write(bars("2024-01-01", 3), meta())
    path = store.path("test/BTC-USDT/1d")
    table = pq.read_table(path)
    old = table.schema.metadata[b"carryguard"].replace(b'"bar_close"', b'"ny_noon"')
    pq.write_table(table.replace_schema_metadata({**table.schema.metadata, b"carryguard": old}), path)

    # Act / Assert
    with pytest.raises(
        DataError,
        match=r"1d.parquet: metadata this version cannot read .*import or fetch series test/BTC-USDT/1d again",
    ):
        store.meta("test/BTC-USDT/1d")


def test_cli_data_list_given_one_damaged_file_lists_the_others_and_names_it(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from carryguard.backtests.cli import main

    store = Store(tmp_path)
    store.write(bars("2024-01-01", 3), meta("a/X/1d"))
    store.write(bars("2024-01-01", 3), meta("b/Y/1d"))
    store.path("a/X/1d").write_bytes(b"not parquet")

    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "data", "list", "--json"])

    assert result.exit_code == 1
    assert [r["id"] for r in json.loads(result.stdout)] == ["b/Y/1d"]
    assert result.stderr.startswith("error: ") and "a/X/1d.parquet: damaged series file" in result.stderr
    assert len(result.stderr.splitlines()) == 1
