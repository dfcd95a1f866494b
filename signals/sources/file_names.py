"""What a data file's name says about its series: publisher, pair, ticker and timeframe.

Exports rarely say inside which market they hold (a Yahoo CSV has no ticker column, a
Binance dump no symbol), so the parsers read it from the name the user or the publisher
gave the file (``btcusdt_4h_binance.csv``, ``yahoo_USDJPY_daily.csv``). Only hints: a
parser that needs one and finds none raises ``DataError`` asking for a better name.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

QUOTES = ("usdt", "usdc", "busd", "fdusd", "tusd", "usd", "eur", "gbp", "jpy", "btc", "eth")
CURRENCIES = {"usd", "jpy", "eur", "gbp", "chf", "aud", "cad", "nzd", "cny", "krw", "inr", "mxn", "brl", "hkd", "sgd"}


def file_stem(name: str) -> str:
    """``.../fred_DGS10.csv`` (a path or URL) -> ``fred_DGS10``."""
    return re.sub(r"\.csv$", "", name.rsplit("/", 1)[-1], flags=re.I)


def name_tokens(name: str) -> list[str]:
    """``.../btc_usd_daily_yahoo.csv`` -> ``['btc', 'usd', 'daily', 'yahoo']`` (format hints)."""
    return [t for t in re.split(r"[_\-\s.]+", file_stem(name).lower()) if t]


def timeframe_from(tokens: list[str], index: pd.DatetimeIndex) -> str:
    """A timeframe named in the file name (``4h``, ``daily``) or the median bar spacing."""
    for token in tokens:
        if re.fullmatch(r"\d+[mhdw]", token):
            return token
        if token in ("daily", "day"):
            return "1d"
        if token in ("hourly", "hour"):
            return "1h"
    if len(index) < 2:
        return "1d"
    step = pd.Timedelta(np.median(np.diff(index.as_unit("ns").asi8)))
    if step >= pd.Timedelta(days=1):
        return f"{max(1, round(step / pd.Timedelta(days=1)))}d"
    if step >= pd.Timedelta(hours=1):
        return f"{round(step / pd.Timedelta(hours=1))}h"
    return f"{max(1, round(step / pd.Timedelta(minutes=1)))}m"


def crypto_pair(tokens: list[str]) -> tuple[str, str] | None:
    """``['btc','usd',...]`` or ``['btcusdt',...]`` -> ``('BTC', 'USDT')``."""
    for i, token in enumerate(tokens):
        for quote in QUOTES:
            if token.endswith(quote) and 2 <= len(token) - len(quote) <= 6 and token.isalpha():
                return token[: -len(quote)].upper(), quote.upper()
        pair_like = i + 1 < len(tokens) and token.isalpha() and 2 <= len(token) <= 6 and tokens[i + 1] in QUOTES
        if pair_like and token not in ("daily", "yahoo", "close"):
            return token.upper(), tokens[i + 1].upper()
    return None


def fx_pair(tokens: list[str]) -> tuple[str, str] | None:
    """``['usdjpy', ...]`` -> ``('USD', 'JPY')``."""
    for token in tokens:
        if len(token) == 6 and token[:3] in CURRENCIES and token[3:] in CURRENCIES:
            return token[:3].upper(), token[3:].upper()
    return None


def yahoo_symbol(tokens: list[str]) -> str | None:
    """Yahoo's ticker for a file name: ``USDJPY`` -> ``JPY=X``, ``btc_usd`` -> ``BTC-USD``."""
    fx = fx_pair(tokens)
    if fx:
        return f"{fx[1]}=X" if fx[0] == "USD" else f"{fx[0]}{fx[1]}=X"
    pair = crypto_pair(tokens)
    return f"{pair[0]}-{pair[1]}" if pair else None
