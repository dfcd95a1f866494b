"""OHLCV CSV headers, and the fast read of a clean OHLCV file by pyarrow's CSV reader.

A 2M-row export must import in seconds and a few hundred MB: pyarrow parses the file
(a path or the bytes of a text) into typed columns, dates and numbers in C++, without a
Python string per cell. Only the common case is read here: a header naming time and
OHLC (see ``ohlcv_columns``), every price and volume cell a plain finite number, ISO
dates. Anything else returns None and ``formats.parse_ohlcv`` reads the text cell by cell,
naming the first bad cell; both paths give the same frame for a file both can read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pcsv

from carryguard.signals.frames import OHLCV_COLUMNS

TIME_COLUMNS = ("date", "timestamp", "datetime", "time", "open_time")
FIRST_NS_DAY = pd.Timestamp("1677-09-22", tz="UTC")  # nanosecond timestamps span 1677-09-22..2262-04-11
LAST_NS_DAY = pd.Timestamp("2262-04-11", tz="UTC")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?(Z|[+-]\d{2}:?\d{2})?$")
HEADER_BYTES = 65536  # a header line longer than this is not an OHLCV export


def ohlcv_columns(header: list[str]) -> dict[str, str] | None:
    """Map ``time, open, ..., volume`` to the header's own spelling; None without time+OHLC."""
    lower = {h.strip().lower(): h for h in header}
    time_col = next((lower[k] for k in TIME_COLUMNS if k in lower), None)
    if time_col is None or not {"open", "high", "low", "close"} <= lower.keys():
        return None
    return {"time": time_col, **{c: lower[c] for c in OHLCV_COLUMNS if c in lower}}


@dataclass(frozen=True)
class FastBars:
    """Bars read by ``read_fast``: the frame (file order), the raw time cells, the header."""

    frame: pd.DataFrame
    time_cells: pa.ChunkedArray
    header: list[str]


def first_line(source: Path | bytes) -> bytes:
    """The file's (or text's) first line with its line end, at most ``HEADER_BYTES``."""
    if isinstance(source, bytes):
        return source[:HEADER_BYTES].split(b"\n", 1)[0] + b"\n"
    with open(source, "rb") as handle:
        return handle.readline(HEADER_BYTES)


def utc_index(cells: pa.ChunkedArray) -> pd.DatetimeIndex | None:
    """ISO dates as a UTC nanosecond index: all without an offset (read as UTC) or all with
    one, parsed by arrow; a mix, by pandas. None when a cell is no ISO date or too late."""
    if not ISO_DATE.match(str(cells[0].as_py())):
        return None
    for kind in (pa.timestamp("ns"), pa.timestamp("ns", "UTC")):
        try:
            nanos = pc.cast(cells, kind).cast(pa.int64()).to_numpy()
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            continue
        return pd.DatetimeIndex(nanos.view("datetime64[ns]"), name="time").tz_localize("UTC")
    times = pd.to_datetime(cells.to_pandas(), format="ISO8601", utc=True, errors="coerce")
    if times.isna().any() or (times > LAST_NS_DAY).any() or (times < FIRST_NS_DAY).any():
        return None
    return pd.DatetimeIndex(times, name="time").as_unit("ns")


def read_fast(source: Path | bytes) -> FastBars | None:
    """A clean OHLCV file (``Path``) or text (UTF-8 ``bytes``) read by pyarrow; None when
    it is not one (see the module docstring)."""
    try:
        header = pcsv.read_csv(pa.py_buffer(first_line(source))).column_names
        columns = ohlcv_columns(header)
        if columns is None or len(set(header)) != len(header):
            return None
        picked = [c for c in OHLCV_COLUMNS if c in columns]
        types = {columns["time"]: pa.string(), **{columns[c]: pa.float64() for c in picked}}
        options = pcsv.ConvertOptions(
            column_types=types,
            include_columns=list(types),
            null_values=[],
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        )
        table = pcsv.read_csv(pa.py_buffer(source) if isinstance(source, bytes) else source, convert_options=options)
    except (pa.ArrowException, UnicodeError):
        return None
    if not table.num_rows:
        return None
    cells = table.column(columns["time"])
    index = utc_index(cells)
    if index is None:
        return None
    block = np.zeros((len(OHLCV_COLUMNS), len(index)))  # one pandas block, filled a column at a time
    for row, column in enumerate(OHLCV_COLUMNS):
        if column in columns:
            fill(block[row], table.column(columns[column]))
            table = table.drop_columns([columns[column]])  # its memory goes back before the next is copied
            pa.default_memory_pool().release_unused()
    if not np.isfinite(block).all():  # nan, inf: the cell-by-cell path names them
        return None
    frame = pd.DataFrame(block.T, index=index, columns=list(OHLCV_COLUMNS), copy=False)
    return FastBars(frame, cells, header)


def fill(out: np.ndarray, column: pa.ChunkedArray) -> None:
    """Copy an arrow float column into ``out`` chunk by chunk."""
    start = 0
    for chunk in column.chunks:
        out[start : start + len(chunk)] = chunk.to_numpy()
        start += len(chunk)
