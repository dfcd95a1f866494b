"""The fast import path: a clean OHLCV file read from disk by pyarrow must store exactly
what the cell-by-cell parser stores, and anything unusual must fall back to that parser
(which names the bad cell). Large series are read, hashed and written in pieces; the
pieces must give the very frame, hash and file the whole-series calls give."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from carryguard.signals import importer, series_file, store_merge
from carryguard.signals.errors import DataError
from carryguard.signals.importer import import_file, parse_file
from carryguard.signals.sources.csv_cells import read_csv_text
from carryguard.signals.sources.formats import detect_and_parse, ohlcv_frame
from carryguard.signals.sources.ohlcv_csv import ohlcv_columns, read_fast
from carryguard.signals.store import SeriesMeta, Store
from carryguard.signals.store_merge import content_hash
from tests.store_support import bars_meta

NOW = pd.Timestamp("2026-12-01", tz="UTC")


def ohlcv_text(rows: int, *, start: str = "2024-01-01", freq: str = "1h", fmt: str = "%Y-%m-%d %H:%M:%S") -> str:
    """A valid OHLCV export with awkward but clean numbers (long decimals, exponents, integers)."""
    rng = np.random.default_rng(7)
    times = pd.date_range(start, periods=rows, freq=freq, tz="UTC").strftime(fmt)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, rows)))
    lines = ["timestamp,open,high,low,close,volume"]
    for i, (t, c) in enumerate(zip(times, close, strict=True)):
        price, high, low = repr(float(c)), repr(float(c * 1.01)), f"{c * 0.99:.17g}"
        volume = f"{rng.uniform(0, 5):.3e}" if i % 3 else str(int(rng.integers(0, 10**6)))
        lines.append(f"{t},{price},{high},{low},{price},{volume}")
    return "\n".join(lines) + "\n"


def slow_frame(text: str) -> pd.DataFrame:
    """The cell-by-cell parser's frame of the same text."""
    cells = read_csv_text(text, "x.csv")
    columns = ohlcv_columns([str(c) for c in cells.columns])
    assert columns is not None
    return ohlcv_frame(cells, columns, "x.csv", first_line=2, date_fmt=None)


@pytest.mark.parametrize(
    ("freq", "fmt"),
    [("1h", "%Y-%m-%d %H:%M:%S"), ("1D", "%Y-%m-%d"), ("4h", "%Y-%m-%dT%H:%M:%SZ"), ("1min", "%Y-%m-%dT%H:%M%z")],
)
def test_read_fast_given_clean_file_gives_the_cell_by_cell_frame_bit_for_bit(freq: str, fmt: str) -> None:
    text = ohlcv_text(500, freq=freq, fmt=fmt)

    fast = read_fast(text.encode())

    assert fast is not None
    expected = slow_frame(text)
    assert fast.frame.index.equals(expected.index)
    assert fast.frame.to_numpy().tobytes() == expected.to_numpy().tobytes()


def test_parse_file_given_file_on_disk_reads_it_without_the_text_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "solusdt_1h_binance.csv"
    path.write_text(ohlcv_text(300))
    expected = detect_and_parse(path.read_text(), str(path))

    def no_text(_: Path) -> str:
        raise AssertionError("the whole file was read as text")

    monkeypatch.setattr(importer, "read_text", no_text)
    parsed = parse_file(path)

    assert parsed is not None and expected is not None
    assert parsed.meta == expected.meta and parsed.notes == expected.notes
    pd.testing.assert_frame_equal(parsed.frame, expected.frame)


def test_parse_file_given_yahoo_daily_bars_with_offsets_keeps_exchange_dates(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Volume\n" + "".join(
        f"2024-08-0{d} 00:00:00+01:00,1.{d},2.0,0.5,1.5,10\n" for d in range(1, 6)
    )
    path = tmp_path / "ISF.L_yahoo.csv"
    path.write_text(text)

    parsed = parse_file(path)
    expected = detect_and_parse(text, str(path))

    assert parsed is not None and expected is not None
    assert parsed.frame.index[0] == pd.Timestamp("2024-08-01", tz="UTC")  # the London date, not 23:00 UTC before
    pd.testing.assert_frame_equal(parsed.frame, expected.frame)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("2024-01-01 02:00:00,1,2,0.5,nan,3", "line 4 column close: missing value"),
        ("2024-01-01 02:00:00,1,2,0.5,null,3", "line 4 column close: missing value"),
        ("2024-01-01 02:00:00,1,inf,0.5,1.5,3", "infinite value at 2024-01-01T02:00"),
        ("2024-01-01 02:00:00,1,2,0.5,1.5,", "line 4 column volume: missing value"),
        ("2024-01-01 02:00:00,1,2,0.5,1.5", "line 4 column volume: missing value"),
        ("2024-01-01 02:00:00,1,2,0.5,1.5x,3", "line 4 column close: non-numeric value '1.5x'"),
        ("2024-13-01 02:00:00,1,2,0.5,1.5,3", "line 4: cannot read date '2024-13-01 02:00:00'"),
        ("1500-01-01 02:00:00,1,2,0.5,1.5,3", "line 4: date '1500-01-01 02:00:00' is before 1677-09-22"),
        ("2400-01-01 02:00:00,1,2,0.5,1.5,3", "line 4: date '2400-01-01 02:00:00' is after 2262-04-11"),
    ],
)
def test_import_file_given_one_bad_cell_falls_back_and_names_it(tmp_path: Path, row: str, message: str) -> None:
    lines = ohlcv_text(5).splitlines()
    lines[3] = row
    path = tmp_path / "solusdt_1h_binance.csv"
    path.write_text("\n".join(lines) + "\n")
    assert read_fast(path) is None

    outcome = import_file(Store(tmp_path / "store"), path)

    assert message in outcome.error
    assert not (tmp_path / "store").exists() or not Store(tmp_path / "store").ids()


def test_read_fast_given_mixed_offsets_reads_each_cell_as_pandas_does() -> None:
    text = "timestamp,open,high,low,close\n2024-01-01,1,2,0.5,1.5\n2024-01-02 01:00:00+01:00,1,2,0.5,1.5\n"

    fast = read_fast(text.encode())

    assert fast is not None
    assert list(fast.frame.index) == [pd.Timestamp("2024-01-01", tz="UTC"), pd.Timestamp("2024-01-02", tz="UTC")]
    assert (fast.frame["volume"] == 0).all()


@pytest.mark.parametrize(
    "header", ["Date,Ticker,Open,High,Low,Close", "report_date,spec_long,spec_short,open_interest", "Price,Close"]
)
def test_plain_ohlcv_given_other_layouts_takes_the_text_path(tmp_path: Path, header: str) -> None:
    path = tmp_path / "audjpy_yahoo.csv"
    path.write_text(header + "\n")

    assert not importer.plain_ohlcv(path)


def big_frame(rows: int) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    index = pd.date_range("2020-01-01", periods=rows, freq="1min", tz="UTC", name="time", unit="ns")
    close = 100 + np.cumsum(rng.normal(0, 0.1, rows))
    return pd.DataFrame(
        {"open": close, "high": close + 1, "low": close - 1, "close": close, "volume": rng.uniform(0, 9, rows)},
        index=index,
    )


def minute_meta() -> SeriesMeta:
    return bars_meta("test/BTC-USDT/1m", "1m", symbol="BTC/USDT", units="USDT")


def test_store_given_series_in_pieces_writes_reads_and_hashes_as_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = big_frame(1000)
    monkeypatch.setattr(series_file, "ROW_GROUP", 300)
    monkeypatch.setattr(series_file, "READ_ROWS", 70)
    monkeypatch.setattr(store_merge, "HASH_ROWS", 33)

    stored = Store(tmp_path).write(frame, minute_meta(), now=NOW)

    path = tmp_path / "test/BTC-USDT/1m.parquet"
    table = pa.Table.from_pandas(frame, preserve_index=True)
    table = table.replace_schema_metadata({**table.schema.metadata, series_file.META_KEY: stored.to_json().encode()})
    pq.write_table(table, tmp_path / "whole.parquet", row_group_size=300)
    assert path.read_bytes() == (tmp_path / "whole.parquet").read_bytes()
    pd.testing.assert_frame_equal(Store(tmp_path).read("test/BTC-USDT/1m"), pq.read_table(path).to_pandas())
    digest = hashlib.sha256(b"open,high,low,close,volume")
    digest.update(frame.index.asi8.tobytes())
    digest.update(frame.to_numpy().tobytes())
    assert stored.content_hash == content_hash(frame) == digest.hexdigest()


def test_write_given_overlapping_rows_stores_the_union_new_rows_winning_and_refuses_a_changed_bar(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(series_file, "READ_ROWS", 50)
    frame, target = big_frame(400), Store(tmp_path)
    first = [i for i in range(400) if i % 5]
    target.write(frame.iloc[first], minute_meta(), now=NOW)  # every fifth minute missing: gaps to fill
    update = frame.iloc[100:300].copy()
    update["volume"] += 1.0  # a volume revision is no conflict; the new rows win
    target.write(update, minute_meta(), now=NOW)

    expected = frame.copy()
    expected.iloc[100:300] = update
    kept = sorted(set(first) | set(range(100, 300)))
    pd.testing.assert_frame_equal(target.read("test/BTC-USDT/1m"), expected.iloc[kept], check_freq=False)
    changed = frame.iloc[250:260].copy()
    changed.iloc[4, 3] *= 1.001
    with pytest.raises(DataError, match=r"bar 2020-01-01T04:14:00\+00:00 differs .*close [\d.]+ vs [\d.]+; 1 bar"):
        target.write(changed, minute_meta(), now=NOW)
