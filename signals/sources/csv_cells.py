"""A publisher CSV's text as cells, and cells as dates and numbers.

Every publisher parser (``formats``, ``carry_formats``) reads its file through these: all
cells as strings first, so a bad cell is reported rather than silently coerced, then
dates and numbers column by column. A failure is a ``DataError`` naming the file, line
and column: row numbers are file line numbers (1-based, header lines included) so a
user can open the file there.
"""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from carryguard.signals.errors import DataError
from carryguard.signals.sources.ohlcv_csv import FIRST_NS_DAY, LAST_NS_DAY

MISSING = ("", "-", ".", "NaN", "nan", "null", "None", "#N/A", "N/A")
YMDH = r"(19|20)\d{2}(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])([01]\d|2[0-3])"  # 2024080500: not epoch seconds


def read_csv_text(text: str, name: str, *, skiprows: int = 0, header: int | None = 0) -> pd.DataFrame:
    """All cells as strings (so bad cells can be reported, not silently coerced)."""
    try:
        return pd.read_csv(
            io.StringIO(text), skiprows=skiprows, header=header, dtype=str, keep_default_na=False, skipinitialspace=True
        )
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        detail = str(exc).strip().splitlines()[-1]
        raise DataError(f"{name}: not a well-formed CSV ({detail})", fix="re-download or repair the file") from exc


def head_lines(text: str, count: int) -> list[str]:
    """The first ``count`` lines as ``text.splitlines()`` gives them, without splitting the
    whole text (a 2M-row file would become 2M strings)."""
    size = 4096
    while True:
        lines = text[:size].splitlines()
        if len(lines) > count or size >= len(text):
            return lines[:count]
        size *= 16


def check_row_lengths(text: str, name: str, *, header_line: int) -> None:
    """Every row has as many fields as the header (line ``header_line``, 1-based) and the
    text ends with a line end: a file or download cut short ends mid-row, and its last
    row would otherwise be read with empty or shortened cells. For the publishers whose
    files always end with a line end (MOF, FRED)."""
    lines = text.splitlines()
    if text and not text.endswith(("\n", "\r")):
        raise DataError(
            f"{name} line {len(lines)}: ends mid-row (no line end after the last row: cut short?)",
            fix="download or copy the file again",
        )
    fields = lines[header_line - 1].count(",") if len(lines) >= header_line else 0
    for number, line in enumerate(lines[header_line:], start=header_line + 1):
        if line.strip().strip(",") and line.count(",") < fields and '"' not in line:
            raise DataError(
                f"{name} line {number}: {line.count(',') + 1} fields, the header has {fields + 1} (cut short?)",
                fix="download or copy the file again, or complete that row",
            )


def parse_dates(cells: pd.Series, name: str, *, first_line: int, fmt: str | None = None) -> pd.DatetimeIndex:
    """Parse a date column to UTC; the first unparseable cell is reported with its line.

    Without ``fmt``: ISO-like text, ``YYYYMMDD[HH]``, epoch seconds/ms/us (ccxt dumps), or
    ``D/M/YYYY`` / ``M/D/YYYY`` when only one reading fits every cell (an ambiguous column
    is rejected, not guessed). A date after 2262-04-11 (the end of nanosecond time) is
    an error naming its line."""
    text = cells.str.strip()
    lengths = set(text.str.len())
    if fmt is None and lengths == {10} and text.str.fullmatch(YMDH).all():
        parsed = pd.to_datetime(text, format="%Y%m%d%H", errors="coerce", utc=True)
    elif fmt is None and len(lengths) == 1 and lengths <= {10, 13, 16} and text.str.fullmatch(r"\d+").all():
        unit = {10: "s", 13: "ms", 16: "us"}[lengths.pop()]
        parsed = pd.Series(pd.to_datetime(text.astype("int64"), unit=unit, utc=True, errors="coerce"))
    elif fmt is None and len(text) and text.str.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}").all():
        readings = [pd.to_datetime(text, format=f, errors="coerce", utc=True) for f in ("%m/%d/%Y", "%d/%m/%Y")]
        valid = [r for r in readings if r.notna().all()]
        if len(valid) == 2 and not valid[0].equals(valid[1]):
            raise DataError(
                f"{name}: dates like {text.iloc[0]!r} read as month/day and as day/month",
                fix="export the dates as YYYY-MM-DD",
            )
        parsed = valid[0] if valid else readings[0]
    else:
        parsed = pd.to_datetime(text, format=fmt or "mixed", errors="coerce", utc=True)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if bad.size:
        row = int(bad[0])
        raise DataError(
            f"{name} line {first_line + row}: cannot read date {cells.iloc[row]!r}",
            fix="dates must look like 2024-08-05 (or the publisher's own format)",
        )
    dates = pd.DatetimeIndex(parsed)
    outside = np.flatnonzero(np.asarray((dates > LAST_NS_DAY) | (dates < FIRST_NS_DAY)))
    if outside.size:
        row = int(outside[0])
        when = "after 2262-04-11, the last" if dates[row] > LAST_NS_DAY else "before 1677-09-22, the first"
        raise DataError(
            f"{name} line {first_line + row}: date {cells.iloc[row]!r} is {when} date carryguard can store",
            fix="fix the date (a typo in the year, or epoch seconds in a milliseconds column?)",
        )
    index = pd.DatetimeIndex(parsed).as_unit("ns")
    index.name = "time"
    return index


def parse_numbers(cells: pd.DataFrame, name: str, *, first_line: int, allow_missing: bool) -> pd.DataFrame:
    """Cells to float64; missing markers become NaN only where ``allow_missing``."""
    out = {}
    for column in cells.columns:
        raw = cells[column].astype(str).str.strip()
        missing = raw.isin(MISSING)
        values = pd.to_numeric(raw.where(~missing), errors="coerce")
        bad = values.isna() & ~missing
        if not allow_missing:
            bad |= missing
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            cell = cells[column].iloc[row]
            what = "missing value" if raw.iloc[row] in MISSING else f"non-numeric value {cell!r}"
            raise DataError(f"{name} line {first_line + row} column {column}: {what}", fix="fix or delete that row")
        out[column] = values.astype("float64").to_numpy()
    return pd.DataFrame(out, index=cells.index)
