"""yfinance's real client against recorded chart responses served on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carryguard.signals.errors import DataError, SourceError
from carryguard.signals.importer import import_file
from carryguard.signals.sources.yahoo import download_yahoo, normalise_download, update_yahoo, yahoo_session
from carryguard.signals.store import Store
from tests.fakes.http_server import closed_port
from tests.fakes.yahoo import YahooServer, recorded_chart

UTC = "UTC"
AFTER_WINDOW = pd.Timestamp("2024-08-12", tz=UTC)


@pytest.fixture(scope="module", autouse=True)
def yfinance_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep yfinance's time-zone/cookie cache out of the user's cache dir."""
    import yfinance as yf

    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yfinance-cache")))


@pytest.fixture()
def yahoo():
    charts = {t: recorded_chart(t) for t in ("JPY=X", "BTC-USD")} | {"^TNX": recorded_chart("^TNX")}
    with YahooServer(charts) as server:
        yield server


def shared_ohlc(path: Path, start: str, end: str) -> pd.DataFrame:
    """The shared export's rows, in contract column order, stamped 00:00 UTC."""
    raw = pd.read_csv(path, index_col=0)
    raw.index = pd.DatetimeIndex(pd.to_datetime(raw.index), name="time").tz_localize(UTC).as_unit("ns")
    raw.columns = [c.lower() for c in raw.columns]
    return raw.loc[start:end, ["open", "high", "low", "close", "volume"]].astype("float64")


def test_download_yahoo_given_jpy_fx_returns_the_exported_values_on_their_dates(yahoo, shared_data):
    # Act
    parsed = download_yahoo(
        "JPY=X", start=pd.Timestamp("2024-07-01"), now=AFTER_WINDOW, session=yahoo_session(yahoo.url)
    )
    # Assert: Close-first float32 export == contract frame, London dates kept (not shifted to 23:00 UTC)
    frame = parsed.frame
    assert list(frame.columns) == ["open", "high", "low", "close", "volume"]
    assert (frame.dtypes == "float64").all() and str(frame.index.tz) == UTC
    expected = shared_ohlc(shared_data / "yahoo_USDJPY_daily.csv", "2024-07-22", "2024-08-09")
    pd.testing.assert_frame_equal(frame, expected, check_freq=False)
    assert frame.loc[pd.Timestamp("2024-08-05", tz=UTC), "close"] == pytest.approx(145.584, abs=1e-3)
    assert parsed.meta.id == "yahoo/JPY=X/1d"


def test_download_yahoo_given_crypto_returns_utc_days_equal_to_the_export(yahoo, shared_data):
    # Act
    parsed = download_yahoo(
        "BTC-USD", start=pd.Timestamp("2024-07-01"), now=AFTER_WINDOW, session=yahoo_session(yahoo.url)
    )
    # Assert
    expected = shared_ohlc(shared_data / "btc_usd_daily_yahoo.csv", "2024-07-29", "2024-08-09")
    pd.testing.assert_frame_equal(parsed.frame, expected, check_freq=False)


def test_download_yahoo_given_yield_ticker_stamps_new_york_dates(yahoo, shared_data):
    # Arrange: the recorded ^TNX bars carry FRED DGS10 values, stamped 09:30 New York
    dgs10 = pd.read_csv(shared_data / "fred_DGS10.csv", index_col=0)["value"].loc["2024-07-29":"2024-08-09"]
    # Act
    parsed = download_yahoo(
        "^TNX", start=pd.Timestamp("2024-07-01"), now=AFTER_WINDOW, session=yahoo_session(yahoo.url)
    )
    # Assert
    assert list(parsed.frame.index.strftime("%Y-%m-%d")) == list(dgs10.index)
    np.testing.assert_array_equal(parsed.frame["close"].to_numpy(), dgs10.to_numpy(dtype="float64"))
    assert parsed.meta.id == "yahoo/^TNX/1d" and parsed.meta.frequency == "1d (weekdays)"


@pytest.mark.parametrize(
    ("now", "last"),
    [
        ("2024-08-09 12:00", "2024-08-08"),  # London 13:00: the 08-09 bar is still open
        ("2024-08-09 23:30", "2024-08-09"),  # London 00:30 on the 10th: closed
    ],
)
def test_download_yahoo_given_now_inside_last_bar_drops_it(yahoo, now, last):
    # Act
    parsed = download_yahoo(
        "JPY=X", start=pd.Timestamp("2024-08-01"), now=pd.Timestamp(now, tz=UTC), session=yahoo_session(yahoo.url)
    )
    # Assert
    assert parsed.frame.index[-1] == pd.Timestamp(last, tz=UTC)


def test_normalise_download_given_flat_or_multiindex_float32_columns_gives_the_same_frame():
    # Arrange: yfinance's alphabetical Close-first layout, float32 values, exchange-local index
    index = pd.DatetimeIndex(["2024-08-05", "2024-08-06"]).tz_localize("Europe/London")
    flat = pd.DataFrame(
        {
            "Adj Close": [145.584, 145.79],
            "Close": [145.584, 145.79],
            "High": [146.5, 146.3],
            "Low": [141.7, 143.6],
            "Open": [146.5, 144.2],
            "Volume": [0, 0],
        },
        index=index,
    ).astype("float32")
    multi = flat.copy()
    multi.columns = pd.MultiIndex.from_product([flat.columns, ["JPY=X"]], names=["Price", "Ticker"])
    # Act
    from_flat = normalise_download(flat, "JPY=X", timeframe="1d", now=AFTER_WINDOW)
    from_multi = normalise_download(multi, "JPY=X", timeframe="1d", now=AFTER_WINDOW)
    # Assert
    pd.testing.assert_frame_equal(from_flat, from_multi)
    assert list(from_flat.columns) == ["open", "high", "low", "close", "volume"]
    assert from_flat.index[0] == pd.Timestamp("2024-08-05", tz=UTC)
    assert from_flat.loc[pd.Timestamp("2024-08-05", tz=UTC), "close"] == float(np.float32(145.584))


def test_normalise_download_given_no_close_column_raises_data_error():
    raw = pd.DataFrame({"Open": [1.0]}, index=pd.DatetimeIndex(["2024-08-05"], tz=UTC))
    with pytest.raises(DataError, match=r"JPY=X: no \['high', 'low', 'close'\] columns"):
        normalise_download(raw, "JPY=X", timeframe="1d", now=AFTER_WINDOW)


def test_update_yahoo_given_stored_series_asks_from_last_bar_and_adds_only_new_days(yahoo, tmp_path):
    # Arrange
    store = Store(tmp_path)
    session = yahoo_session(yahoo.url)
    first = update_yahoo(
        store, "JPY=X", since=pd.Timestamp("2024-07-29"), now=pd.Timestamp("2024-08-07 12:00", tz=UTC), session=session
    )
    # Act
    second = update_yahoo(store, "JPY=X", now=AFTER_WINDOW, session=session)
    # Assert: 07-29..08-06 first; then 08-06 again (replaced) plus 08-07..08-09
    period1 = int(yahoo.chart_requests("JPY=X")[-1]["period1"])
    assert pd.Timestamp(period1, unit="s", tz="Europe/London") == pd.Timestamp("2024-08-06", tz="Europe/London")
    assert (first.added, second.added, second.fetched, second.rows) == (7, 3, 4, 10)
    assert store.read("yahoo/JPY=X/1d").index.is_unique


def test_update_yahoo_given_imported_export_continues_it_on_the_same_dates(yahoo, shared_data, tmp_path):
    # Arrange: the yfinance JPY=X export up to 2024-08-06 (its last, "open" row is dropped on import)
    text = (shared_data / "yahoo_USDJPY_daily.csv").read_text()
    head = text[: text.index("\n2024-08-07")] + "\n"
    export = tmp_path / "yahoo_USDJPY_daily.csv"
    export.write_text(head)
    store = Store(tmp_path / "store")
    assert import_file(store, export).error == ""
    # Act
    result = update_yahoo(store, "JPY=X", now=AFTER_WINDOW, session=yahoo_session(yahoo.url))
    # Assert: continued from 2024-08-05, the series now equals the full export to 2024-08-09
    assert (result.series, result.added, result.fetched) == ("yahoo/JPY=X/1d", 4, 5)
    full = shared_ohlc(shared_data / "yahoo_USDJPY_daily.csv", "1999-01-01", "2024-08-09")
    pd.testing.assert_frame_equal(store.read("yahoo/JPY=X/1d"), full, check_freq=False)


def test_update_yahoo_given_unknown_ticker_raises_source_error_and_stores_nothing(yahoo, tmp_path):
    # Act / Assert
    with pytest.raises(SourceError, match="Yahoo Finance NOPE=X: download failed"):
        update_yahoo(Store(tmp_path), "NOPE=X", now=AFTER_WINDOW, session=yahoo_session(yahoo.url))
    assert Store(tmp_path).ids() == []


def test_update_yahoo_given_unreachable_host_says_so_instead_of_delisted(tmp_path):
    # Arrange: nothing listens there; yfinance itself would only say "possibly delisted"
    session = yahoo_session(f"http://127.0.0.1:{closed_port()}")
    # Act / Assert
    with pytest.raises(SourceError, match=r"Yahoo Finance JPY=X: Yahoo unreachable \(.*ConnectionError"):
        update_yahoo(Store(tmp_path), "JPY=X", now=AFTER_WINDOW, session=session)
    assert Store(tmp_path).ids() == []
