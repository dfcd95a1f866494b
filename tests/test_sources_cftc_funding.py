"""Fetching the carry-trade inputs offline: CFTC Socrata, Binance USD-M funding through ccxt,
FRED VIXCLS/DEXUSAL and Yahoo AUDJPY=X against servers on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from carryguard.signals.errors import DataError, SourceError
from carryguard.signals.importer import import_file
from carryguard.signals.sources import cftc
from carryguard.signals.sources.cftc import update_cot
from carryguard.signals.sources.fred import update_fred
from carryguard.signals.sources.funding import make_funding_exchange, update_funding
from carryguard.signals.sources.http import RetryPolicy
from carryguard.signals.sources.yahoo import update_yahoo, yahoo_session
from carryguard.signals.store import Store
from tests.fakes.binance_futures import BinanceFuturesEmulator
from tests.fakes.cftc import SocrataServer, records_from_file
from tests.fakes.http_server import FileServer
from tests.fakes.yahoo import YahooServer, recorded_chart

FAST = RetryPolicy(attempts=2, backoff=0.0, timeout=5.0)


@pytest.fixture(scope="module", autouse=True)
def yfinance_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Keep yfinance's time-zone/cookie cache out of the user's cache dir (once per module)."""
    import yfinance as yf

    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yfinance-cache")))


def day(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


@pytest.fixture()
def cot_records(shared_data: Path) -> list[dict[str, str]]:
    yen = records_from_file(shared_data / "more" / "cftc_cot_jpy_weekly.csv")
    other = [dict(r, cftc_contract_market_code="099741", open_interest_all="1") for r in yen[:50]]  # EUR
    return yen + other


def funding_series(shared_data: Path) -> pd.Series:
    raw = pd.read_csv(shared_data / "more" / "binance_btcusdt_perp_funding.csv")
    index = pd.DatetimeIndex(pd.to_datetime(raw["timestamp"], utc=True))
    return pd.Series(raw["funding_rate"].to_numpy(), index=index)


def test_update_cot_given_socrata_pages_stores_the_yen_series_as_the_file_import(
    cot_records, shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cftc, "PAGE", 400)  # three full pages and a short one
    imported = Store(tmp_path / "imported")
    import_file(imported, shared_data / "more" / "cftc_cot_jpy_weekly.csv")
    store = Store(tmp_path / "fetched")
    with SocrataServer(cot_records) as server:
        monkeypatch.setenv("CARRYGUARD_CFTC_URL", server.url)
        result = update_cot(store)
        offsets = [q["$offset"] for q in server.queries()]

    assert (result.series, result.added) == ("cftc/JPY", 1129)
    pd.testing.assert_frame_equal(store.read("cftc/JPY"), imported.read("cftc/JPY"))
    assert store.meta("cftc/JPY").availability == "cot_release"
    assert offsets == ["0", "400", "800"]


def test_update_cot_given_stored_series_asks_only_from_its_last_report(cot_records, tmp_path: Path) -> None:
    store = Store(tmp_path)
    with SocrataServer(cot_records[:1100]) as server:
        update_cot(store, base_url=server.url)
        server.records = cot_records
        result = update_cot(store, base_url=server.url)
        last_query = server.queries()[-1]

    assert result.added == 29 and result.rows == 1129
    assert "report_date_as_yyyy_mm_dd >= '2026-01-27T00:00:00'" in last_query["$where"]


def test_update_cot_given_socrata_error_or_bad_record_raises_and_keeps_the_store(cot_records, tmp_path: Path) -> None:
    store = Store(tmp_path)
    broken = [dict(r) for r in cot_records]
    broken[5]["noncomm_positions_long_all"] = ""
    with SocrataServer(broken) as server:
        with pytest.raises(DataError, match="record 5 lacks noncomm_positions_long_all"):
            update_cot(store, base_url=server.url)
        server.records = cot_records
        server.fail_next("malformed")
        with pytest.raises(SourceError, match="not JSON"):
            update_cot(store, base_url=server.url)
        with pytest.raises(SourceError, match="HTTP 404"):
            update_cot(store, base_url=server.url + "/elsewhere")
    assert store.ids() == []


def test_update_funding_given_ccxt_against_emulator_stores_settled_rates_on_the_grid(
    shared_data: Path, tmp_path: Path
) -> None:
    rates = funding_series(shared_data)
    store = Store(tmp_path)
    with BinanceFuturesEmulator({"BTCUSDT": rates}, now=pd.Timestamp("2024-08-05 12:00", tz="UTC")) as emulator:
        exchange = make_funding_exchange(api_url=emulator.url)
        first = update_funding(store, exchange=exchange, policy=FAST)
        emulator.now = pd.Timestamp("2024-08-07 00:00:30", tz="UTC")
        second = update_funding(store, exchange=exchange, policy=FAST)
        last_start = int(emulator.funding_requests()[-1]["startTime"])

    stored = store.read("binance/BTC-USDT/funding")
    assert first.last.startswith("2024-08-05T08:00") and first.rows == first.added
    assert second.added == 5 and stored.index[-1] == day("2024-08-07 00:00")  # 08-05 16:00 .. 08-07 00:00
    assert (stored.index == stored.index.round("8h")).all()
    assert stored.loc[day("2020-03-13 08:00"), "funding_rate"] == pytest.approx(-0.003)
    assert last_start == int(day("2024-08-05 08:00").value // 10**6)  # resumes at the last stored rate
    assert store.meta("binance/BTC-USDT/funding").availability == "at_time"


def test_update_funding_given_exchange_errors_retries_then_names_the_source(shared_data: Path, tmp_path: Path) -> None:
    store = Store(tmp_path)
    with BinanceFuturesEmulator({"BTCUSDT": funding_series(shared_data)}, now=day("2020-01-01")) as emulator:
        exchange = make_funding_exchange(api_url=emulator.url)
        exchange.load_markets()
        emulator.fail_next(503, 503)
        with pytest.raises(SourceError, match="binanceusdm BTC/USDT funding failed after 2 tries"):
            update_funding(store, exchange=exchange, policy=FAST, sleep=lambda s: None)

    assert store.ids() == []


def test_update_fred_given_vix_and_dexusal_downloads_store_their_release_rules(
    shared_data: Path, tmp_path: Path
) -> None:
    store = Store(tmp_path)
    routes = {f"/fred?id={s}": (shared_data / "more" / f"fred_{s}.csv").read_bytes() for s in ("VIXCLS", "DEXUSAL")}
    with FileServer(routes) as server:
        vix = update_fred(store, "VIXCLS", base_url=server.url + "/fred")
        aud = update_fred(store, "DEXUSAL", base_url=server.url + "/fred")

    assert (vix.rows, aud.rows) == (9197, 6839)
    assert store.meta("fred/VIXCLS").availability == "next_us_business_day"
    assert store.meta("fred/DEXUSAL").availability == "h10_weekly"


def test_update_yahoo_given_audjpy_chart_stores_fx_snapshot_bars(tmp_path: Path) -> None:
    store = Store(tmp_path / "store")
    with YahooServer({"AUDJPY=X": recorded_chart("AUDJPY=X")}) as server:
        session = yahoo_session(server.url)
        result = update_yahoo(store, "AUDJPY=X", since=day("2024-07-22"), now=day("2024-08-12"), session=session)

    meta, bars = store.meta("yahoo/AUDJPY=X/1d"), store.read("yahoo/AUDJPY=X/1d")
    assert result.series == "yahoo/AUDJPY=X/1d" and meta.availability == "fx_snapshot"
    assert meta.units == "JPY per AUD"
    assert bars.loc[day("2024-08-05"), "close"] == pytest.approx(94.58, abs=0.005)
