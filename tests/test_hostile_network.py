"""Hostile servers: trickling, cut-short and stalled replies end at the deadline with one
clear line; repeated or off-grid klines never reach the store."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from carryguard.backtests.paper.feed import ExchangeFeed, ExchangeUnavailable
from carryguard.backtests.paper.loop import LoopConfig
from carryguard.signals.errors import DataError, SourceError
from carryguard.signals.sources.ccxt_source import make_exchange, update_series
from carryguard.signals.sources.http import RetryPolicy, UnreachableError, get_text
from carryguard.signals.sources.retry import DeadlineExceeded, RetriesExhausted, call_with_retries
from carryguard.signals.sources.yahoo import download_yahoo, yahoo_session
from carryguard.signals.store import Store
from tests.fakes.binance import BinanceEmulator

UTC = "UTC"


class RawServer:
    """A TCP server on 127.0.0.1 whose every connection is handled by ``serve(conn)``."""

    def __init__(self, serve) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.serve, self.connections = serve, 0
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        try:
            conn.recv(65536)
            self.serve(conn)
        except OSError:
            pass
        finally:
            conn.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def trickle(conn: socket.socket) -> None:
    """Headers promising 4,000 bytes, then one byte every 0.2 s (gives up after 40 s)."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 4000\r\n\r\nDATE,DGS10\n")
    for _ in range(200):
        conn.sendall(b"2")
        time.sleep(0.2)


def cut_short(conn: socket.socket) -> None:
    """Headers promising 500 bytes, then 29 bytes and the connection closes."""
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nContent-Length: 500\r\n\r\nDATE,DGS10\n2024-01-02,4.01\n12"
    )


def stall(conn: socket.socket) -> None:
    time.sleep(40)


@pytest.fixture()
def server(request) -> Iterator[RawServer]:
    srv = RawServer(request.param)
    yield srv
    srv.sock.close()


@pytest.mark.parametrize("server", [trickle], indirect=True)
def test_get_text_given_trickling_server_is_cut_off_at_the_deadline(server: RawServer) -> None:
    policy = RetryPolicy(attempts=2, backoff=0.0, timeout=5.0, deadline=1.0)
    with pytest.raises(SourceError, match=r"/x.csv: no complete answer within 1 s.* after 2 tries") as info:
        get_text(f"{server.url}/x.csv", policy=policy, sleep=lambda s: None)
    assert len(str(info.value).splitlines()) == 1 and server.connections == 2


@pytest.mark.parametrize("server", [cut_short], indirect=True)
def test_get_text_given_body_shorter_than_content_length_retries_then_says_cut_short(server: RawServer) -> None:
    policy = RetryPolicy(attempts=3, backoff=0.0, timeout=5.0, deadline=10.0)
    with pytest.raises(SourceError, match=r"body cut short \(29 of 500 bytes\) after 3 tries"):
        get_text(f"{server.url}/fred.csv", policy=policy, sleep=lambda s: None)
    assert server.connections == 3


@pytest.mark.parametrize("server", [stall], indirect=True)
def test_download_yahoo_given_stalled_server_says_unreachable_not_delisted(server: RawServer) -> None:
    session = yahoo_session(server.url, timeout=0.5, deadline=1.5)
    with pytest.raises(UnreachableError, match="Yahoo unreachable") as info:
        download_yahoo("JPY=X", start=pd.Timestamp("2024-07-01"), session=session)
    assert "delisted" not in str(info.value)


def test_call_with_retries_given_call_blocking_past_deadline_retries_then_gives_up() -> None:
    calls: list[int] = []

    def blocked() -> None:
        calls.append(1)
        time.sleep(30)

    policy = RetryPolicy(attempts=2, backoff=0.0, deadline=0.3)
    with pytest.raises(RetriesExhausted) as info:
        call_with_retries(blocked, what="slow call", policy=policy, transient=lambda exc: False)
    assert isinstance(info.value.last, DeadlineExceeded) and len(calls) == 2


@pytest.mark.parametrize(("field", "value"), [("backoff", float("nan")), ("timeout", float("inf")), ("deadline", 0.0)])
def test_retry_policy_given_non_finite_or_zero_raises(field: str, value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        RetryPolicy(**{field: value})


def klines(times: list[str], closes: list[float]) -> pd.DataFrame:
    index = pd.DatetimeIndex(times, tz=UTC, name="time").as_unit("ns")
    frame = pd.DataFrame({"open": closes, "high": [c + 5 for c in closes], "low": [c - 5 for c in closes]}, index=index)
    frame["close"], frame["volume"] = closes, 1.0
    return frame


def test_update_series_given_kline_repeated_with_higher_close_raises_and_stores_nothing(tmp_path: Path) -> None:
    times = [f"2024-02-{d:02d}" for d in range(1, 8)]
    bars = klines([*times[:4], times[3], *times[4:]], [100, 101, 102, 103, 154.5, 104, 105, 106])
    with BinanceEmulator({("BTCUSDT", "1d"): bars}, now=pd.Timestamp("2024-02-08 12:00", tz=UTC)) as emulator:
        exchange = make_exchange("binance", api_url=emulator.url)
        with pytest.raises(SourceError, match=r"bar 2024-02-04T00:00:00\+00:00 came twice with different prices"):
            update_series(Store(tmp_path), exchange, "BTC/USDT", "1d", since=pd.Timestamp("2024-02-01", tz=UTC))
    assert list(tmp_path.rglob("*.parquet")) == []


def test_update_series_given_off_grid_kline_in_1d_raises_and_stores_nothing(tmp_path: Path) -> None:
    bars = klines(["2024-02-01", "2024-02-02", "2024-02-03 01:00", "2024-02-04", "2024-02-05"], [10, 20, 30, 40, 50.0])
    with BinanceEmulator({("BTCUSDT", "1d"): bars}, now=pd.Timestamp("2024-02-06 12:00", tz=UTC)) as emulator:
        exchange = make_exchange("binance", api_url=emulator.url)
        with pytest.raises(DataError, match=r"2024-02-03T01:00:00\+00:00 is not on the 1d grid"):
            update_series(Store(tmp_path), exchange, "BTC/USDT", "1d", since=pd.Timestamp("2024-02-01", tz=UTC))
    assert list(tmp_path.rglob("*.parquet")) == []


class StalledExchange:
    """An exchange client whose clock call never answers."""

    def __init__(self) -> None:
        self.calls = 0

    def fetch_time(self) -> int:
        self.calls += 1
        time.sleep(30)
        return 0


def test_exchange_feed_now_given_stalled_exchange_gives_up_at_the_loop_deadline() -> None:
    exchange = StalledExchange()
    config = LoopConfig(timeframe="4h", retries=2, backoff_seconds=0.0, deadline_seconds=0.3)
    feed = ExchangeFeed(exchange, symbol="BTC/USDT", timeframe="4h", policy=config.retry_policy, stop=threading.Event())
    with pytest.raises(ExchangeUnavailable, match=r"fetch_time failed after 2 attempt\(s\): DeadlineExceeded"):
        feed.now()
    assert exchange.calls == 2


@pytest.mark.parametrize(("field", "value"), [("poll_seconds", float("nan")), ("deadline_seconds", float("inf"))])
def test_loop_config_given_non_finite_seconds_raises(field: str, value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        LoopConfig(timeframe="4h", **{field: value})
