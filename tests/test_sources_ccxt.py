"""ccxt's real client against local Binance and Bybit emulators serving real klines."""

from __future__ import annotations

import itertools
from pathlib import Path

import pandas as pd
import pytest

from carryguard.signals.errors import DataError, SourceError
from carryguard.signals.importer import import_file
from carryguard.signals.sources.ccxt_source import fetch_bars, make_exchange, ohlcv_meta, update_series
from carryguard.signals.sources.http import RetryPolicy
from carryguard.signals.sources.update import resume_start
from carryguard.signals.store import SeriesMeta, Store
from tests.fakes.binance import BinanceEmulator, read_bars
from tests.fakes.bybit import BybitEmulator
from tests.fakes.http_server import closed_port

UTC = "UTC"
FAST = RetryPolicy(attempts=3, backoff=1.0, timeout=2.0)


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz=UTC)


VENUES = {"binance": BinanceEmulator, "bybit": BybitEmulator}


@pytest.fixture(scope="module")
def bars_1d(shared_data: Path) -> pd.DataFrame:
    return read_bars(shared_data / "btcusdt_1d_binance.csv")


@pytest.fixture(scope="module")
def bars_4h(shared_data: Path) -> pd.DataFrame:
    return read_bars(shared_data / "btcusdt_4h_binance.csv")


@pytest.fixture(params=sorted(VENUES))
def venue(request: pytest.FixtureRequest, bars_1d: pd.DataFrame, bars_4h: pd.DataFrame):
    emulator = VENUES[request.param](
        {("BTCUSDT", "1d"): bars_1d, ("BTCUSDT", "4h"): bars_4h}, now=utc("2020-01-10 13:00")
    )
    emulator.hang_seconds = 0.6
    with emulator:
        yield request.param, emulator


def expected(bars: pd.DataFrame, start: str, end: str) -> pd.DataFrame:
    out = bars.loc[utc(start) : utc(end)].copy()
    out.index = out.index.as_unit("ns")
    return out


def store_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_fetch_bars_given_small_page_limit_pages_through_and_matches_the_real_bars(venue, bars_1d):
    # Arrange
    name, emulator = venue
    exchange = make_exchange(name, api_url=emulator.url)
    # Act
    frame = fetch_bars(exchange, "BTC/USDT", "1d", since=utc("2019-10-01"), page_limit=30, policy=FAST)
    # Assert: 2019-10-01..2020-01-09 closed; 2020-01-10 still open at 13:00 is dropped
    pd.testing.assert_frame_equal(frame, expected(bars_1d, "2019-10-01", "2020-01-09"), check_freq=False)
    requests = emulator.kline_requests()
    assert len(requests) >= 4
    assert all(int(q["limit"]) <= 30 for q in requests)
    starts = [int(q.get("startTime", q.get("start"))) for q in requests]
    assert starts == sorted(set(starts))


def test_fetch_bars_given_several_pages_spaces_requests_by_the_exchange_rate_limit(bars_1d):
    # Arrange: 4 pages of 20 bars; ccxt charges Binance klines with limit < 100 a cost of 0.4, so a
    # 300 ms rate limit spaces them 120 ms apart (without rate limiting they come a few ms apart)
    with BinanceEmulator({("BTCUSDT", "1d"): bars_1d}, now=utc("2020-01-10 13:00")) as emulator:
        exchange = make_exchange("binance", api_url=emulator.url)
        exchange.rateLimit = 300
        # Act
        frame = fetch_bars(
            exchange, "BTC/USDT", "1d", since=utc("2019-09-01"), now=utc("2019-11-10"), page_limit=20, policy=FAST
        )
        arrivals = [r.at for r in emulator.requests_to("/api/v3/klines")]
    # Assert: a lower bound on the span of the 4 arrivals only (3 x 120 ms sent; unthrottled, a
    # few ms). A single gap proves nothing: when one request reaches the server late on a loaded
    # machine, the gap after it shrinks (seen: 21 ms at load 14) while the span stays.
    assert len(frame) == 70 and len(arrivals) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
    assert sum(gaps) >= 3 * 0.1, gaps


def test_fetch_bars_given_4h_bars_drops_only_the_bar_still_open_at_server_time(venue, bars_4h):
    # Arrange: server clock 13:00 -> the 12:00 bar is open, 08:00 closed at 12:00
    name, emulator = venue
    exchange = make_exchange(name, api_url=emulator.url)
    # Act
    frame = fetch_bars(exchange, "BTC/USDT", "4h", since=utc("2020-01-08"), page_limit=7, policy=FAST)
    # Assert
    assert frame.index[-1] == utc("2020-01-10 08:00")
    pd.testing.assert_frame_equal(frame, expected(bars_4h, "2020-01-08", "2020-01-10 08:00"), check_freq=False)


def test_update_series_given_stored_bars_asks_only_from_last_bar_and_adds_new_ones(venue, bars_1d, tmp_path):
    # Arrange: first fetch while 2020-01-10 is open, then the clock moves 5 days on
    name, emulator = venue
    store = Store(tmp_path)
    exchange = make_exchange(name, api_url=emulator.url)
    first = update_series(store, exchange, "BTC/USDT", "1d", since=utc("2019-12-01"), page_limit=20, policy=FAST)
    emulator.set_now(utc("2020-01-15 06:00"))
    asked_before = len(emulator.kline_requests())
    # Act
    second = update_series(store, exchange, "BTC/USDT", "1d", page_limit=20, policy=FAST)
    # Assert
    new_requests = emulator.kline_requests()[asked_before:]
    first_start = int(new_requests[0].get("startTime", new_requests[0].get("start")))
    assert pd.Timestamp(first_start, unit="ms", tz=UTC) == utc("2020-01-09")
    assert (first.added, second.added, second.fetched) == (40, 5, 6)
    stored = store.read(f"{name}/BTC-USDT/1d")
    assert stored.index.is_unique
    pd.testing.assert_frame_equal(stored, expected(bars_1d, "2019-12-01", "2020-01-14"), check_freq=False)


def test_update_series_given_an_open_bar_stored_replaces_it_with_the_final_bar(bars_1d, tmp_path):
    # Arrange: the store holds 2020-01-10 as it looked while still open (partial values)
    store = Store(tmp_path)
    with BinanceEmulator({("BTCUSDT", "1d"): bars_1d}, now=utc("2020-01-10 06:00")) as emulator:
        exchange = make_exchange("binance", api_url=emulator.url)
        partial = fetch_bars(exchange, "BTC/USDT", "1d", since=utc("2020-01-08"), now=utc("2020-01-11"), policy=FAST)
        store.write(partial, ohlcv_meta(exchange, "BTC/USDT", "1d", fetched_at="2020-01-10T06:00:00+00:00"))
        emulator.set_now(utc("2020-01-12 00:30"))
        # Act
        result = update_series(store, exchange, "BTC/USDT", "1d", policy=FAST)
    # Assert
    stored = store.read("binance/BTC-USDT/1d")
    day = utc("2020-01-10")
    assert partial.loc[day, "close"] != bars_1d.loc[day, "close"]
    pd.testing.assert_frame_equal(stored, expected(bars_1d, "2020-01-08", "2020-01-11"), check_freq=False)
    assert result.added == 1


@pytest.mark.parametrize("faults", [(429,), (503, 500), ("malformed",), ("timeout",)], ids=str)
def test_fetch_bars_given_transient_failures_retries_with_backoff_then_succeeds(venue, bars_1d, faults):
    # Arrange: markets load first, then the faults hit the klines requests
    name, emulator = venue
    exchange = make_exchange(name, api_url=emulator.url, timeout=0.3)
    exchange.load_markets()
    emulator.fail_next(*faults)
    waits: list[float] = []
    # Act
    frame = fetch_bars(
        exchange,
        "BTC/USDT",
        "1d",
        since=utc("2019-12-20"),
        now=utc("2020-01-10 13:00"),
        policy=FAST,
        sleep=waits.append,
    )
    # Assert
    assert waits == [1.0, 2.0][: len(faults)]
    pd.testing.assert_frame_equal(frame, expected(bars_1d, "2019-12-20", "2020-01-09"), check_freq=False)


def test_update_series_given_persistent_5xx_raises_source_error_and_stores_nothing(venue, tmp_path):
    # Arrange
    name, emulator = venue
    exchange = make_exchange(name, api_url=emulator.url)
    exchange.load_markets()
    emulator.fail_next(502, 502, 502)
    waits: list[float] = []
    # Act / Assert
    with pytest.raises(SourceError, match=r"after 3 tries.*502"):
        update_series(
            Store(tmp_path),
            exchange,
            "BTC/USDT",
            "1d",
            since=utc("2020-01-01"),
            now=utc("2020-01-05"),
            policy=FAST,
            sleep=waits.append,
        )
    assert waits == [1.0, 2.0]
    assert Store(tmp_path).ids() == []


def test_fetch_bars_given_unknown_symbol_raises_data_error_without_asking_for_klines(venue):
    # Arrange
    name, emulator = venue
    exchange = make_exchange(name, api_url=emulator.url)
    # Act / Assert
    with pytest.raises(DataError, match=r"unknown symbol 'DOGE/USDT' on .*BTC/USDT"):
        fetch_bars(exchange, "DOGE/USDT", "1d", since=utc("2020-01-01"), policy=FAST)
    assert emulator.kline_requests() == []


def test_fetch_bars_given_unsupported_timeframe_raises_data_error(venue):
    # Arrange
    name, emulator = venue
    exchange = make_exchange(name, api_url=emulator.url)
    # Act / Assert
    with pytest.raises(DataError, match="timeframe '7h' not supported"):
        fetch_bars(exchange, "BTC/USDT", "7h", since=utc("2020-01-01"), policy=FAST)


def test_fetch_bars_given_monthly_timeframe_raises_data_error_before_asking_for_klines(venue):
    # Arrange: the exchange serves 1M bars, but a month has no fixed length to find gaps or closes by
    name, emulator = venue
    exchange = make_exchange(name, api_url=emulator.url)
    # Act / Assert
    with pytest.raises(DataError, match="timeframe '1M' is not a fixed bar length"):
        fetch_bars(exchange, "BTC/USDT", "1M", since=utc("2020-01-01"), policy=FAST)
    assert emulator.kline_requests() == []


def test_make_exchange_given_unknown_exchange_id_raises_data_error():
    with pytest.raises(DataError, match=r"unknown exchange id 'binanse'.*binance"):
        make_exchange("binanse")


@pytest.mark.parametrize("name", sorted(VENUES))
def test_update_series_given_unreachable_exchange_raises_and_leaves_store_unchanged(name, shared_data, tmp_path):
    # Arrange: the imported Binance file is in the store; nothing listens on the port
    store = Store(tmp_path)
    assert import_file(store, shared_data / "btcusdt_1d_binance.csv").error == ""
    before = store_bytes(tmp_path)
    exchange = make_exchange(name, api_url=f"http://127.0.0.1:{closed_port()}", timeout=1.0)
    waits: list[float] = []
    # Act / Assert
    with pytest.raises(SourceError, match=f"{name} load_markets failed after 3 tries"):
        update_series(store, exchange, "BTC/USDT", "1d", policy=FAST, sleep=waits.append)
    assert len(waits) == 2
    assert store_bytes(tmp_path) == before


def test_update_series_given_imported_binance_file_merges_into_the_same_series(bars_1d, shared_data, tmp_path):
    # Arrange: the import dropped the partial 2026-01-06 bar; the exchange has now closed it
    store = Store(tmp_path)
    import_file(store, shared_data / "btcusdt_1d_binance.csv")
    rows_before = store.meta("binance/BTC-USDT/1d").rows
    with BinanceEmulator({("BTCUSDT", "1d"): bars_1d}, now=utc("2026-01-07 00:00:05")) as emulator:
        exchange = make_exchange("binance", api_url=emulator.url)
        # Act
        result = update_series(store, exchange, "BTC/USDT", "1d", policy=FAST)
        requests = emulator.kline_requests()
    # Assert
    assert result.series == "binance/BTC-USDT/1d" and store.ids() == ["binance/BTC-USDT/1d"]
    assert (result.added, result.rows) == (1, rows_before + 1)
    assert len(requests) == 1 and requests[0]["startTime"] == str(int(utc("2026-01-05").value // 10**6))
    meta = store.meta("binance/BTC-USDT/1d")
    assert (meta.source, meta.publisher, meta.availability) == ("ccxt", "Binance", "bar_close")
    assert store.read("binance/BTC-USDT/1d").index[-1] == utc("2026-01-06")


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (None, "2020-01-10"),  # continue from the last stored bar (re-fetched)
        ("2020-01-05", "2020-01-10"),  # inside the stored range: continue too
        ("2019-12-01", "2019-12-01"),  # before the first stored bar: back-fill from since
    ],
)
def test_resume_start_given_stored_series_continues_or_back_fills(tmp_path: Path, since: str | None, expected: str):
    # Arrange: bars stored 2020-01-01..2020-01-10; a naive since is read as UTC
    store = Store(tmp_path)
    stored = daily_bars("2020-01-01", 10)
    store.write(stored, btc_daily_meta())

    # Act
    start = resume_start(store, "binance/BTC-USDT/1d", None if since is None else pd.Timestamp(since))

    # Assert
    assert start == utc(expected)


def test_resume_start_given_new_series_starts_at_since_or_none(tmp_path: Path):
    # Arrange
    store = Store(tmp_path)

    # Act / Assert: None lets the source choose its default start
    assert resume_start(store, "binance/BTC-USDT/1d", None) is None
    assert resume_start(store, "binance/BTC-USDT/1d", pd.Timestamp("2021-03-01")) == utc("2021-03-01")


def daily_bars(start: str, periods: int) -> pd.DataFrame:
    index = pd.date_range(start, periods=periods, freq="1D", tz=UTC, name="time", unit="ns")
    close = [100.0 + i for i in range(periods)]
    return pd.DataFrame(
        {"open": close, "high": close, "low": close, "close": close, "volume": [1.0] * periods}, index=index
    )


def btc_daily_meta() -> SeriesMeta:
    """The metadata ``update_series`` writes for Binance BTC/USDT daily bars."""
    return ohlcv_meta(make_exchange("binance"), "BTC/USDT", "1d")
