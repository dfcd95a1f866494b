"""Publisher CSVs of the carry-trade inputs: CFTC COT yen positioning, Binance perpetual
funding, and Yahoo FX exports with ``null`` rows or a ``Ticker`` column.

``detect_more`` is tried before ``formats.detect_and_parse``; it returns None for a file
that is none of these, so every older format keeps its own parser. Series ids:
``cftc/JPY``, ``binance/BTC-USDT/funding``, ``fred/VIXCLS`` and ``yahoo/<ticker>/1d``.
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np
import pandas as pd

from carryguard.signals.errors import DataError
from carryguard.signals.sources.csv_cells import head_lines, parse_dates, parse_numbers, read_csv_text
from carryguard.signals.sources.file_names import crypto_pair, name_tokens
from carryguard.signals.sources.formats import Parsed, parse_ohlcv
from carryguard.signals.store import SeriesMeta

COT_COLUMNS = ("spec_long", "spec_short", "open_interest", "net")
COT_CONTRACTS = {"097741": "JPY"}  # CME Japanese yen, the CFTC contract market code
FUNDING_STEP = pd.Timedelta(hours=8)
FUNDING_JITTER = pd.Timedelta(seconds=1)  # fundingTime is a few ms after the hour, never more
YAHOO_NULL = "null"


def cot_meta(currency: str, origin: str) -> SeriesMeta:
    """Metadata of ``cftc/<currency>``: weekly non-commercial positions, usable at release."""
    return SeriesMeta(
        id=f"cftc/{currency}",
        kind="macro",
        source="cftc",
        publisher="U.S. CFTC, Commitments of Traders (legacy, futures only)",
        symbol=currency,
        fields=COT_COLUMNS,
        units="contracts (net = spec_long - spec_short)",
        frequency="weekly (Tuesday positions)",
        availability="cot_release",
        origin=origin,
    )


def cot_frame(dates: pd.DatetimeIndex, long: np.ndarray, short: np.ndarray, oi: np.ndarray) -> pd.DataFrame:
    """The ``cftc/<ccy>`` frame; ``net`` is computed here, not trusted from a file."""
    return pd.DataFrame(
        {"spec_long": long, "spec_short": short, "open_interest": oi, "net": long - short}, index=dates
    ).sort_index()


def parse_cot(text: str, name: str) -> Parsed:
    """``report_date,spec_long,spec_short,open_interest[,net][,release_date]``.

    A ``net`` column that is not long - short is an error; ``release_date`` is ignored
    (computed by whoever saved the file: wrong around holidays and shutdowns)."""
    cells = read_csv_text(text, name)
    cells.columns = [str(c).strip().lower() for c in cells.columns]
    dates = parse_dates(cells["report_date"], name, first_line=2, fmt="%Y-%m-%d")
    wanted = [c for c in COT_COLUMNS if c in cells.columns]
    values = parse_numbers(cells[wanted], name, first_line=2, allow_missing=False)
    frame = cot_frame(
        dates,
        values["spec_long"].to_numpy(),
        values["spec_short"].to_numpy(),
        values["open_interest"].to_numpy(),
    )
    if "net" in values:
        bad = np.flatnonzero(values["net"].to_numpy() != frame["net"].reindex(dates).to_numpy())
        if bad.size:
            raise DataError(
                f"{name} line {2 + int(bad[0])} column net: {cells['net'].iloc[bad[0]]} is not spec_long - spec_short",
                fix="fix that row or drop the net column",
            )
    currency = next((t.upper() for t in name_tokens(name) if t.upper() in ("JPY", "EUR", "AUD", "GBP", "CHF")), "JPY")
    notes = (f"{name}: release_date column ignored (publication times follow the CFTC calendar)",)
    return Parsed(frame, cot_meta(currency, name), notes if "release_date" in cells.columns else ())


def funding_meta(symbol: str, origin: str) -> SeriesMeta:
    """Metadata of ``binance/<BASE-QUOTE>/funding``: 8-hourly rates, usable when settled."""
    return SeriesMeta(
        id=f"binance/{symbol.replace('/', '-')}/funding",
        kind="macro",
        source="binance",
        publisher="Binance USD-M futures (fundingRate)",
        symbol=symbol,
        fields=("funding_rate",),
        units="fraction per 8 hours",
        frequency="8h",
        availability="at_time",
        timeframe="8h",
        origin=origin,
    )


def snap_funding_times(index: pd.DatetimeIndex, name: str, *, first_line: int = 2) -> pd.DatetimeIndex:
    """Funding times rounded to the 8-hour grid (00:00, 08:00, 16:00 UTC); a time more
    than ``FUNDING_JITTER`` off the grid is an error, not rounded."""
    snapped = index.round(FUNDING_STEP)
    off = np.flatnonzero(np.abs((index - snapped).asi8) > FUNDING_JITTER.value)
    if off.size:
        raise DataError(
            f"{name} line {first_line + int(off[0])}: funding time {index[off[0]]} is not on the 8-hour grid",
            fix="Binance funding settles at 00:00, 08:00 and 16:00 UTC; check the time zone of the file",
        )
    return pd.DatetimeIndex(snapped, name="time")


def parse_funding(text: str, name: str) -> Parsed:
    """``timestamp,funding_rate`` (UTC, naive, milliseconds; pandas float format)."""
    cells = read_csv_text(text, name)
    cells.columns = [str(c).strip().lower() for c in cells.columns]
    time_col = "timestamp" if "timestamp" in cells.columns else "fundingtime"
    index = snap_funding_times(parse_dates(cells[time_col], name, first_line=2), name)
    values = parse_numbers(cells[["funding_rate"]], name, first_line=2, allow_missing=False)
    frame = pd.DataFrame({"funding_rate": values["funding_rate"].to_numpy()}, index=index)
    pair = crypto_pair(name_tokens(name))
    if pair is None:
        raise DataError(f"{name}: cannot tell the symbol from the file name", fix="name it like btcusdt_funding.csv")
    return Parsed(frame, funding_meta(f"{pair[0]}/{pair[1]}", name))


def drop_yahoo_nulls(text: str, name: str) -> tuple[str, tuple[str, ...]]:
    """Remove Yahoo's all-``null`` rows (days it has no price for), one note for them.

    A row with only some cells ``null`` stays, so the OHLCV parser rejects it with its line."""
    lines = text.splitlines()
    kept, dropped = [lines[0]], []
    for number, line in enumerate(lines[1:], start=2):
        cells = [c.strip() for c in line.split(",")]
        if len(cells) > 1 and all(c == YAHOO_NULL for c in cells[1:]):
            dropped.append((number, cells[0]))
        else:
            kept.append(line)
    if not dropped:
        return text, ()
    first = ", ".join(f"line {n} ({d})" for n, d in dropped[:3])
    more = f" and {len(dropped) - 3} more" if len(dropped) > 3 else ""
    note = f"{name}: skipped {len(dropped)} Yahoo 'null' row(s): {first}{more} (no price that day)"
    return "\n".join(kept) + "\n", (note,)


def parse_yahoo_more(text: str, name: str, header: list[str]) -> Parsed:
    """A Yahoo daily export with ``null`` rows and/or a ``Ticker`` column (one ticker)."""
    text, notes = drop_yahoo_nulls(text, name)
    ticker = None
    if "ticker" in [h.lower() for h in header]:
        cells = read_csv_text(text, name)
        column = next(c for c in cells.columns if str(c).strip().lower() == "ticker")
        tickers = sorted(set(cells[column].str.strip()))
        if len(tickers) != 1:
            raise DataError(f"{name}: holds tickers {tickers[:5]}", fix="export one ticker per file")
        ticker = tickers[0]
        cells = cells.drop(columns=[column])
        text = cells.to_csv(index=False)
    parsed = parse_ohlcv(text, name, ticker=ticker)
    return replace(parsed, notes=notes + parsed.notes)


def yahoo_fx_timed(parsed: Parsed) -> Parsed:
    """A Yahoo daily FX series gets rule ``fx_snapshot`` and its units (``AUDJPY=X``: JPY
    per AUD), whichever parser read it; any other series is returned as it is."""
    meta = parsed.meta
    if meta.source != "yahoo" or not meta.symbol.endswith("=X") or meta.timeframe != "1d":
        return parsed
    symbol = meta.symbol
    units = "JPY per USD" if symbol == "JPY=X" else meta.units
    if re.fullmatch(r"[A-Z]{6}=X", symbol):
        units = f"{symbol[3:6]} per {symbol[:3]}"
    return replace(parsed, meta=replace(meta, availability="fx_snapshot", units=units))


def more_layout(header: list[str], tokens: list[str]) -> str | None:
    """Which of this module's layouts a header (and file name ``tokens``) shows: ``cot``,
    ``funding``, ``not_cot``/``not_funding`` (named so, laid out otherwise), ``yahoo_ticker``,
    ``yahoo`` (a Yahoo export: only its rows tell whether it has ``null`` rows); None."""
    lower = [h.lower() for h in header]
    if "report_date" in lower and {"spec_long", "spec_short", "open_interest"} <= set(lower):
        return "cot"
    if "funding_rate" in lower and ("timestamp" in lower or "fundingtime" in lower):
        return "funding"
    if "cftc" in tokens or "cot" in tokens:
        return "not_cot"
    if "funding" in tokens:
        return "not_funding"
    if lower[:1] == ["date"] and {"open", "close"} <= set(lower):
        return "yahoo_ticker" if "ticker" in lower else "yahoo"
    return None


def has_null_rows(body: str) -> bool:
    """Whether a row of a Yahoo export is all ``null`` after its date."""
    return any(
        all(c.strip() == YAHOO_NULL for c in line.split(",")[1:]) for line in body.splitlines()[1:] if "," in line
    )


def detect_more(text: str, name: str) -> Parsed | None:
    """Parse one of this module's formats; None when the file is none of them.

    A file named after the CFTC (``cftc``/``cot`` in its name) or funding whose header
    fits neither layout raises ``DataError`` (wrong columns), as for other publishers."""
    body = text.lstrip("\ufeff")
    if not body or body.isspace():
        return None
    header = [c.strip() for c in head_lines(body, 1)[0].split(",")]
    kind = more_layout(header, name_tokens(name))
    if kind == "cot":
        return parse_cot(body, name)
    if kind == "funding":
        return parse_funding(body, name)
    if kind == "not_cot":
        raise DataError(
            f"{name}: header {','.join(header)[:80]!r} is not a CFTC COT layout",
            fix="expected report_date,spec_long,spec_short,open_interest[,net]",
        )
    if kind == "not_funding":
        raise DataError(
            f"{name}: header {','.join(header)[:80]!r} is not a funding layout", fix="expected timestamp,funding_rate"
        )
    if kind == "yahoo_ticker" or (kind == "yahoo" and has_null_rows(body)):
        return parse_yahoo_more(body, name, header)
    return None
