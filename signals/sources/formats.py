"""Parse each publisher's own CSV format into frames that obey the frame contract.

Every parser takes the file's text and a display name (for error messages) and returns
one ``Parsed`` series, or raises ``DataError`` naming the file, row and column. Row numbers are
file line numbers (1-based, header lines included) so a user can open the file there.
Cells are read by ``csv_cells``, market hints taken from the name by ``file_names``;
``detect_and_parse`` picks the parser from the file's first two lines.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa

from carryguard.signals.availability import timeframe_delta
from carryguard.signals.errors import DataError
from carryguard.signals.frames import OHLCV_COLUMNS, normalise
from carryguard.signals.sources.csv_cells import (
    check_row_lengths,
    head_lines,
    parse_dates,
    parse_numbers,
    read_csv_text,
)
from carryguard.signals.sources.file_names import crypto_pair, file_stem, name_tokens, timeframe_from, yahoo_symbol
from carryguard.signals.sources.ohlcv_csv import LAST_NS_DAY, TIME_COLUMNS, ohlcv_columns, read_fast
from carryguard.signals.store import SeriesMeta, series_id

TENOR = re.compile(r"^\d+Y$")
MOF_TENORS = ("1Y", "2Y", "3Y", "4Y", "5Y", "6Y", "7Y", "8Y", "9Y", "10Y", "15Y", "20Y", "25Y", "30Y", "40Y")
FRED_ID = re.compile(r"^[A-Z][A-Z0-9]{2,}$")
NEXT_BUSINESS_DAY_SERIES = frozenset({"VIXCLS"})  # Cboe VIX close (16:15 New York), on FRED the next business day
FRED_UNITS = {"VIXCLS": "index points", "DEXUSAL": "USD per AUD"}


@dataclass(frozen=True)
class Parsed:
    """One series read from a file, ready for ``Store.write``."""

    frame: pd.DataFrame
    meta: SeriesMeta
    notes: tuple[str, ...] = ()


def drop_open_last_bar(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, tuple[str, ...]]:
    """Exports of live feeds end with the bar still forming; it is not a final bar (a
    one-row export holds only that bar: nothing is left, an error).

    The whole file is validated first, so a damaged last row is reported, not dropped."""
    frame = normalise(frame, kind="ohlcv", name=name)
    if len(frame) < 2:
        raise DataError(
            f"{name}: its only bar {frame.index[-1].isoformat()} is the one still open at export; no closed bar",
            fix="export again after at least one bar has closed",
        )
    last = frame.index[-1]
    when = last.strftime("%Y-%m-%d %H:%M UTC") if last != last.normalize() else str(last.date())
    note = f"{name}: dropped last bar {when} (exported while still open)"
    return frame.iloc[:-1], (note,)


def parse_mof(text: str, name: str) -> Parsed:
    """MOF ``jgbcme_all.csv`` / ``jgbcme.csv``: title line, ``YYYY/M/D``, ``-`` missing.

    Every row must be complete (``check_row_lengths``); a header column that is not a
    MOF tenor (``10YR``, ``50Y``: a renamed column) is an error, not dropped. A tenor the
    stored series has and the file lacks is caught by ``Store.write``."""
    skip = 1 if text.lstrip().lower().startswith("interest rate") else 0
    cells = read_csv_text(text, name, skiprows=skip)
    header = [str(c).strip() for c in cells.columns[1:]]
    tenors = [c for c in cells.columns[1:] if TENOR.match(str(c).strip())]
    if not tenors or str(cells.columns[0]).strip().lower() != "date":
        raise DataError(f"{name}: MOF header must be Date,1Y,...,40Y", fix="download jgbcme_all.csv again")
    foreign = [c for c in header if c and c not in MOF_TENORS and not c.startswith("Unnamed")]
    if foreign:
        raise DataError(
            f"{name} line {skip + 1}: MOF header column(s) {foreign} are not MOF tenors ({','.join(MOF_TENORS)})",
            fix="download jgbcme_all.csv again, or rename the column(s) back",
        )
    check_row_lengths(text.lstrip("\ufeff"), name, header_line=skip + 1)
    cells = cells[cells.iloc[:, 0].str.strip() != ""]
    first_line = skip + 2
    index = parse_dates(cells.iloc[:, 0], name, first_line=first_line, fmt="%Y/%m/%d")
    values = parse_numbers(cells[tenors], name, first_line=first_line, allow_missing=True)
    frame = pd.DataFrame(values.to_numpy(), index=index, columns=[t.strip() for t in tenors])
    frame = frame.dropna(how="all")
    return Parsed(frame, mof_meta(tuple(frame.columns), name))


def mof_meta(tenors: tuple[str, ...], name: str) -> SeriesMeta:
    """Metadata of ``mof/jgb``: Tokyo end-of-day yields, usable from the next UTC day."""
    return SeriesMeta(
        id="mof/jgb",
        kind="macro",
        source="mof",
        publisher="Ministry of Finance Japan",
        symbol="JGB",
        fields=tenors,
        units="percent per annum",
        frequency="business-daily (JP)",
        availability="next_utc_day",
        origin=name,
    )


def fred_meta(fred_id: str, name: str, index: pd.DatetimeIndex) -> SeriesMeta:
    """Metadata of ``fred/<fred_id>``; the availability rule follows the series: monthly
    averages (first-of-month dates) ``month_after``, H.10 exchange rates (``DEX*``)
    ``h10_weekly``, other daily series (H.15 yields) ``next_utc_day``."""
    step = np.median(np.diff(index.as_unit("ns").asi8)) if len(index) > 2 else 0
    monthly = bool((index.day == 1).all()) and step > pd.Timedelta(days=25).value
    if monthly:
        availability, frequency = "month_after", "monthly"
    elif fred_id.startswith("DEX"):
        availability, frequency = "h10_weekly", "business-daily (US), released weekly"
    elif fred_id in NEXT_BUSINESS_DAY_SERIES:  # a market close FRED posts the next US business day
        availability, frequency = "next_us_business_day", "business-daily (US)"
    else:
        availability, frequency = "next_utc_day", "business-daily (US)"
    units = "JPY per USD" if fred_id == "DEXJPUS" else ("percent" if not fred_id.startswith("DEX") else "FX rate")
    units = FRED_UNITS.get(fred_id, units)
    return SeriesMeta(
        id=f"fred/{fred_id}",
        kind="macro",
        source="fred",
        publisher="FRED, Federal Reserve Bank of St. Louis",
        symbol=fred_id,
        fields=(fred_id,),
        units=units,
        frequency=frequency,
        availability=availability,
        origin=name,
    )


def parse_fred(text: str, name: str, fred_id: str | None = None) -> Parsed:
    """FRED CSV: ``DATE,<ID>``, ``observation_date,<ID>`` or ``date,value``; ``.``/blank missing."""
    cells = read_csv_text(text, name)
    if cells.shape[1] != 2:
        raise DataError(f"{name}: FRED CSV must have 2 columns, found {cells.shape[1]}")
    check_row_lengths(text.lstrip("\ufeff"), name, header_line=1)
    value_col = str(cells.columns[1]).strip()
    if value_col.lower() == "value":
        fred_id = fred_id or fred_id_from_name(name)
        if not fred_id:
            raise DataError(
                f"{name}: header 'date,value' does not name the FRED series", fix="name the file fred_<SERIES>.csv"
            )
    else:
        fred_id = value_col
    index = parse_dates(cells.iloc[:, 0], name, first_line=2, fmt="%Y-%m-%d")
    values = parse_numbers(cells.iloc[:, [1]], name, first_line=2, allow_missing=True)
    frame = pd.DataFrame({fred_id: values.iloc[:, 0].to_numpy()}, index=index).dropna()
    return Parsed(frame, fred_meta(fred_id, name, frame.index))


def fred_id_from_name(name: str) -> str | None:
    """``fred_DGS10.csv`` / ``IRSTCI01JPM156N_monthly.csv`` -> the FRED id (``date,value`` files)."""
    stem = file_stem(name)
    stem = re.sub(r"^fred[_\-]", "", stem, flags=re.I)
    stem = re.sub(r"[_\-](daily|monthly|weekly|quarterly|annual)$", "", stem, flags=re.I)
    return stem if FRED_ID.match(stem) else None


def ohlcv_frame(
    cells: pd.DataFrame, columns: dict[str, str], name: str, *, first_line: int, date_fmt: str | None
) -> pd.DataFrame:
    """The picked columns as an OHLCV frame in file order (volume 0 when the file has none)."""
    index = parse_dates(cells[columns["time"]], name, first_line=first_line, fmt=date_fmt)
    picked = cells[[columns[c] for c in OHLCV_COLUMNS if c in columns]]
    values = parse_numbers(picked, name, first_line=first_line, allow_missing=False)
    values.columns = [c for c in OHLCV_COLUMNS if c in columns]
    if "volume" not in values:
        values["volume"] = 0.0
    return pd.DataFrame(values[list(OHLCV_COLUMNS)].to_numpy(), index=index, columns=list(OHLCV_COLUMNS))


def parse_ohlcv(text: str, name: str, *, ticker: str | None = None, skiprows: int = 0) -> Parsed:
    """Yahoo (any column order, incl. Close-first), Binance klines or a plain OHLCV CSV."""
    fast = None if skiprows else read_fast(text.encode("utf-8"))
    if fast is not None:
        return ohlcv_parsed(fast.frame, fast.time_cells, fast.header, name, ticker)
    cells = read_csv_text(text, name, skiprows=skiprows)
    if skiprows:  # yfinance multi-row header: the first data row may be 'Date,,,,'
        cells = cells[cells.iloc[:, 0].str.strip().str.lower() != "date"]
    columns = ohlcv_columns([str(c) for c in cells.columns])
    if columns is None:
        have = {str(c).strip().lower() for c in cells.columns}
        missing = [c for c in ("open", "high", "low", "close") if c not in have]
        if not have & set(TIME_COLUMNS):
            missing.insert(0, "date")
        raise DataError(
            f"{name}: OHLCV header lacks column(s) {', '.join(missing)}",
            fix="export with Date,Open,High,Low,Close[,Volume]",
        )
    header = [str(c).strip() for c in cells.columns]
    frame = ohlcv_frame(cells, columns, name, first_line=2 + skiprows, date_fmt=None)
    return ohlcv_parsed(frame, cells[columns["time"]], header, name, ticker)


def ohlcv_parsed(
    frame: pd.DataFrame, time_cells: pd.Series | pa.ChunkedArray, header: list[str], name: str, ticker: str | None
) -> Parsed:
    """The publisher, symbol and timeframe of parsed OHLCV bars (from the file name and
    header); exports of live feeds lose their still-open last bar."""
    tokens = name_tokens(name)
    header = [h.strip() for h in header]
    timeframe = timeframe_from(tokens, frame.index)
    notes: tuple[str, ...] = ()
    if "binance" in tokens:
        pair = crypto_pair(tokens)
        if pair is None:
            raise DataError(
                f"{name}: cannot tell the Binance symbol from the file name", fix="name it like BTCUSDT_1d.csv"
            )
        symbol, source, publisher = f"{pair[0]}/{pair[1]}", "binance", "Binance spot klines"
        units = f"{pair[1]}; volume in {pair[0]}"
        frame, notes = drop_open_last_bar(frame, name)
    elif ticker or "yahoo" in tokens or (header[0] == "Date" and "Close" in header):
        symbol = ticker or yahoo_symbol(tokens) or (tokens[0].upper() if tokens else "")
        if not symbol:
            raise DataError(f"{name}: cannot tell the ticker from the file name", fix="name it like BTC-USD_yahoo.csv")
        source, publisher = "yahoo", "Yahoo Finance"
        units = "JPY per USD" if symbol == "JPY=X" else "quote currency"
        if timeframe_delta(timeframe) >= pd.Timedelta(days=1):
            frame.index = exchange_days(time_cells, frame.index)
        frame, notes = drop_open_last_bar(frame, name)
    else:
        pair = crypto_pair(tokens)
        symbol = f"{pair[0]}/{pair[1]}" if pair else file_stem(name)
        source, publisher, units = "file", "unknown (plain OHLCV file)", "quote currency"
    meta = SeriesMeta(
        id=series_id(source, symbol, timeframe),
        kind="ohlcv",
        source=source,
        publisher=publisher,
        symbol=symbol,
        fields=OHLCV_COLUMNS,
        units=units,
        availability="bar_close",
        timeframe=timeframe,
        frequency=f"{timeframe} (weekdays)" if symbol.endswith("=X") else timeframe,
        origin=name,
    )
    return Parsed(frame, meta, notes)


def exchange_days(cells: pd.Series | pa.ChunkedArray, index: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """Daily Yahoo bars keep the exchange's own date at 00:00 UTC, as ``yahoo.normalise_download``
    does: ``2024-08-05 00:00:00+01:00`` (London) is the 5th, not 23:00 UTC on the 4th."""
    text = (cells.to_pandas() if isinstance(cells, pa.ChunkedArray) else cells).str.strip()
    if not text.str.fullmatch(r"\d{4}-\d{2}-\d{2}[ T][\d:.]+[+-]\d{2}:?\d{2}").all():
        return index
    days = pd.DatetimeIndex(pd.to_datetime(text.str[:10], format="%Y-%m-%d", utc=True), name="time")
    return days.as_unit("ns")


def parse_binance_raw(text: str, name: str) -> Parsed:
    """Binance's own kline dump: no header, 12 columns, open time in epoch milliseconds."""
    cells = read_csv_text(text, name, header=None)
    cells = cells.iloc[:, :6]
    cells.columns = ["timestamp", *OHLCV_COLUMNS]
    millis = pd.to_numeric(cells["timestamp"], errors="coerce")
    if millis.isna().any():
        row = int(np.flatnonzero(millis.isna().to_numpy())[0])
        raise DataError(f"{name} line {row + 1}: open time {cells['timestamp'].iloc[row]!r} is not epoch milliseconds")
    unit = "us" if millis.iloc[0] > 1e14 else "ms"
    times = pd.Series(pd.to_datetime(millis, unit=unit, utc=True, errors="coerce"))
    out = times.isna() | (times > LAST_NS_DAY)
    if out.any():
        row = int(np.flatnonzero(out.to_numpy())[0])
        raise DataError(
            f"{name} line {row + 1}: open time {cells['timestamp'].iloc[row]!r} is not a date carryguard can store "
            f"(epoch {unit} up to 2262-04-11)",
            fix="fix or drop that row",
        )
    cells["timestamp"] = times.astype(str)
    renamed = cells.to_csv(index=False)
    return parse_ohlcv(renamed, name if "binance" in name_tokens(name) else f"binance_{name}")


def parse_close_table(text: str, name: str) -> Parsed:
    """A table of one asset's close in many currencies (``Date,BTC_USD,BTC_JPY,...``)."""
    cells = read_csv_text(text, name)
    header = [str(c).strip() for c in cells.columns]
    base = header[1].split("_")[0]
    index = parse_dates(cells.iloc[:, 0], name, first_line=2)
    values = parse_numbers(cells.iloc[:, 1:], name, first_line=2, allow_missing=True)
    frame = pd.DataFrame(values.to_numpy(), index=index, columns=[h.split("_", 1)[1] for h in header[1:]])
    frame = frame.dropna(how="all").sort_index()
    publisher = "Bitstamp (Kaggle) x FX rates" if "bitstamp" in name_tokens(name) else "unknown (close table)"
    source = "bitstamp" if "bitstamp" in name_tokens(name) else "file"
    meta = SeriesMeta(
        id=f"{source}/{base}-close/1d",
        kind="prices",
        source=source,
        publisher=publisher,
        symbol=base,
        fields=tuple(frame.columns),
        units=f"price of 1 {base} in each currency",
        frequency="1d",
        availability="day_open",
        timeframe="1d",
        origin=name,
    )
    return Parsed(frame, meta)


# A file named after a publisher but laid out otherwise is rejected (wrong columns), not skipped.
PUBLISHER_LAYOUTS = {
    "mof": ("MOF", "Date,1Y,2Y,...,40Y under the 'Interest Rate' title line"),
    "jgbcme": ("MOF", "Date,1Y,2Y,...,40Y under the 'Interest Rate' title line"),
    "fred": ("FRED", "DATE,<SERIES>, observation_date,<SERIES> or date,value"),
    "yahoo": ("Yahoo", "Date,Open,High,Low,Close[,Volume] in any order"),
    "binance": ("Binance", "timestamp,open,high,low,close,volume"),
    "bitstamp": ("close table", "Date,BTC_USD,BTC_JPY,..."),
}


def looks_like_html(text: str) -> bool:
    """An error page saved as .csv (or served with status 200)."""
    head = text.lstrip()[:512].lower()
    return head.startswith("<") or "<html" in head or "<!doctype" in head


def header_cells(text: str) -> tuple[list[str], list[str]]:
    """The comma-separated cells (stripped) of the first two lines (the second may be [])."""
    lines = head_lines(text.lstrip("\ufeff"), 2) or [""]
    first = [c.strip() for c in lines[0].split(",")]
    return first, [c.strip() for c in lines[1].split(",")] if len(lines) > 1 else []


def layout(first: list[str], second: list[str]) -> str | None:
    """The format the first two lines' cells show: ``mof``, ``yfinance`` (Price/Ticker
    header rows), ``ohlcv``, ``fred``, ``close_table``, ``binance_raw``; None: unknown."""
    head = first[0].lower()
    if head == "interest rate" or (head == "date" and len(first) > 2 and all(TENOR.match(c) for c in first[1:] if c)):
        return "mof"
    if head == "price" and second and second[0].lower() == "ticker":
        return "yfinance"
    prices = {c.lower() for c in first} & {"open", "high", "low", "close"}
    if ohlcv_columns(first) or (head in ("date", "timestamp") and len(prices) >= 2):
        return "ohlcv"
    if (
        len(first) == 2
        and head in ("date", "observation_date")
        and (FRED_ID.match(first[1]) or first[1].lower() == "value")
    ):
        return "fred"
    if len(first) > 2 and head == "date" and all(re.fullmatch(r"[A-Z]{2,6}_[A-Z]{3}", c) for c in first[1:]):
        return "close_table"
    if len(first) >= 6 and re.fullmatch(r"\d{13,16}", first[0]):
        return "binance_raw"
    return None


def detect_and_parse(text: str, name: str) -> Parsed | None:
    """Parse ``text`` in whichever publisher format its header shows; None if unknown.

    A file whose name names a publisher (``fred_*.csv``, ``*_binance.csv``, ...) but whose
    header fits no format raises ``DataError`` instead: it has the wrong columns."""
    if not text or text.isspace():
        raise DataError(f"{name}: empty file", fix="download or export it again")
    if looks_like_html(text):
        raise DataError(f"{name}: is an HTML page, not CSV (a failed download saved as .csv?)", fix="download it again")
    body = text.lstrip("\ufeff")
    first, second = header_cells(body)
    kind = layout(first, second)
    if kind == "yfinance":
        lines = body.splitlines()
        return parse_ohlcv("\n".join([lines[0].replace("Price", "Date", 1), *lines[3:]]), name, ticker=second[1])
    parsers = {"mof": parse_mof, "ohlcv": parse_ohlcv, "fred": parse_fred, "close_table": parse_close_table}
    if kind in parsers:
        return parsers[kind](body, name)
    if kind == "binance_raw":
        return parse_binance_raw(text, name)
    publisher = next((PUBLISHER_LAYOUTS[t] for t in name_tokens(name) if t in PUBLISHER_LAYOUTS), None)
    if publisher is not None:
        raise DataError(
            f"{name}: header {','.join(first)[:80]!r} is not a {publisher[0]} layout", fix=f"expected {publisher[1]}"
        )
    return None
