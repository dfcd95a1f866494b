"""File-name hints: the market a data file holds, read from the name it was given."""

from __future__ import annotations

import pandas as pd
import pytest

from carryguard.signals.sources.file_names import crypto_pair, file_stem, name_tokens, timeframe_from, yahoo_symbol


def test_file_stem_given_url_with_upper_case_suffix_keeps_only_the_file_name() -> None:
    assert file_stem("https://example.org/data.csv/fred_DGS10.CSV") == "fred_DGS10"


def test_name_tokens_given_path_splits_the_stem_on_separators_in_lower_case() -> None:
    assert name_tokens("../shared/data/BTC-USD_daily yahoo.csv") == ["btc", "usd", "daily", "yahoo"]


@pytest.mark.parametrize(
    ("name", "ticker"),
    [
        ("yahoo_USDJPY_daily.csv", "JPY=X"),
        ("yahoo_AUDJPY_X_2003-2021.csv", "AUDJPY=X"),
        ("btc_usd_daily_yahoo.csv", "BTC-USD"),
        ("prices_yahoo.csv", None),
    ],
)
def test_yahoo_symbol_given_file_name_gives_yahoo_ticker_or_none(name: str, ticker: str | None) -> None:
    assert yahoo_symbol(name_tokens(name)) == ticker


def test_crypto_pair_given_joined_binance_symbol_splits_base_and_quote() -> None:
    assert crypto_pair(name_tokens("btcusdt_4h_binance.csv")) == ("BTC", "USDT")


def test_timeframe_from_given_no_hint_in_name_uses_the_median_bar_spacing() -> None:
    index = pd.DatetimeIndex(["2024-01-01 00:00", "2024-01-01 04:00", "2024-01-01 08:00", "2024-01-01 16:00"], tz="UTC")
    assert timeframe_from(["btc", "usdt"], index) == "4h"
    assert timeframe_from(["btc", "usdt", "1d"], index) == "1d"
