"""``carryguard data fetch`` against local exchange, MOF, FRED and Yahoo servers."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.backtests.cli import risk as risk_module
from carryguard.signals.fetch import FetchPlan, Job, plan_jobs, run_jobs
from carryguard.signals.sources.http import RetryPolicy
from carryguard.signals.sources.update import UpdateResult
from carryguard.signals.store import Store
from tests.fakes.binance import BinanceEmulator, read_bars
from tests.fakes.binance_futures import BinanceFuturesEmulator
from tests.fakes.cftc import SocrataServer, records_from_file
from tests.fakes.http_server import FileServer, closed_port
from tests.fakes.yahoo import YahooServer, recorded_chart

UTC = "UTC"
MOF_DIR = "/interest_rate"
CURRENT_MONTH = "Interest Rate,,,,,,,,,,,,,,,(Unit : %)\r\nDate,1Y,2Y,3Y,4Y,5Y,6Y,7Y,8Y,9Y,10Y,15Y,20Y,25Y,30Y,40Y\r\n"
FETCH = ["data", "fetch", "--symbols", "BTC/USDT,ETH/USDT", "--timeframes", "1d", "--since", "2024-07-01"]


@pytest.fixture(scope="module", autouse=True)
def yfinance_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    import yfinance as yf

    yf.set_tz_cache_location(str(tmp_path_factory.mktemp("yfinance-cache")))


@pytest.fixture()
def servers(shared_data: Path, monkeypatch: pytest.MonkeyPatch):
    """Every remote source on 127.0.0.1, wired to the CLI through the URL env vars."""
    klines = {
        ("BTCUSDT", "1d"): read_bars(shared_data / "btcusdt_1d_binance.csv"),
        ("ETHUSDT", "1d"): read_bars(shared_data / "ethusdt_1d_binance.csv"),
    }
    exchange = BinanceEmulator(klines, now=pd.Timestamp("2024-08-09 12:00", tz=UTC))
    files = FileServer(
        {
            f"{MOF_DIR}/historical/jgbcme_all.csv": (shared_data / "mof_jgbcme_all.csv").read_bytes(),
            f"{MOF_DIR}/jgbcme.csv": CURRENT_MONTH.encode()
            + b"2026/7/1,1.16,1.38,1.53,1.75,1.93,2.07,2.23,2.39,2.55,2.68,3.26,3.61,3.87,3.86,3.78\r\n",
            **{f"/fred?id={s}": (shared_data / f"fred_{s}.csv").read_bytes() for s in ("DEXJPUS", "DGS10", "DGS2")},
            **{f"/fred?id={s}": (shared_data / "more" / f"fred_{s}.csv").read_bytes() for s in ("VIXCLS", "DEXUSAL")},
        }
    )
    yahoo = YahooServer({"JPY=X": recorded_chart("JPY=X"), "AUDJPY=X": recorded_chart("AUDJPY=X")})
    cot = SocrataServer(records_from_file(shared_data / "more" / "cftc_cot_jpy_weekly.csv"))
    raw = pd.read_csv(shared_data / "more" / "binance_btcusdt_perp_funding.csv")
    rates = pd.Series(
        raw["funding_rate"].to_numpy(), index=pd.DatetimeIndex(pd.to_datetime(raw["timestamp"], utc=True))
    )
    futures = BinanceFuturesEmulator({"BTCUSDT": rates}, now=pd.Timestamp("2024-08-09 12:00", tz=UTC))
    with exchange, files, yahoo, cot, futures:
        monkeypatch.setenv("CARRYGUARD_CFTC_URL", cot.url)
        monkeypatch.setenv("CARRYGUARD_BINANCEUSDM_URL", futures.url)
        monkeypatch.setenv("CARRYGUARD_BINANCE_URL", exchange.url)
        monkeypatch.setenv("CARRYGUARD_MOF_URL", files.url + MOF_DIR)
        monkeypatch.setenv("CARRYGUARD_FRED_URL", files.url + "/fred")
        monkeypatch.setenv("CARRYGUARD_YAHOO_URL", yahoo.url)
        yield exchange, files, yahoo


def run(tmp_path: Path, *args: str):
    return CliRunner().invoke(main, ["--data-dir", str(tmp_path), *args])


def test_fetch_given_all_sources_up_stores_every_series_and_prints_the_summary(servers, tmp_path):
    # Act
    result = run(tmp_path, *FETCH)
    # Assert
    assert result.exit_code == 0, result.output + result.stderr
    assert Store(tmp_path).ids() == [
        "binance/BTC-USDT/1d",
        "binance/BTC-USDT/funding",
        "binance/ETH-USDT/1d",
        "cftc/JPY",
        "fred/DEXJPUS",
        "fred/DEXUSAL",
        "fred/DGS10",
        "fred/DGS2",
        "fred/VIXCLS",
        "mof/jgb",
        "yahoo/AUDJPY=X/1d",
        "yahoo/JPY=X/1d",
    ]
    btc_line = next(line for line in result.stdout.splitlines() if "binance/BTC-USDT/1d" in line)
    assert "39" in btc_line.split() and "2024-08-08" in btc_line  # 07-01..08-08; 08-09 still open
    assert "failed" not in result.stdout and "no data" not in result.stdout
    assert Store(tmp_path).meta("mof/jgb").last.startswith("2026-07-01")


def test_fetch_given_the_index_inputs_keeps_the_latest_risk_reading(servers, real_store, monkeypatch):
    # Arrange: the real history stored (the servers' Yahoo charts alone are too short for a
    # score, and end before it, so only the exchange is fetched); every reading `risk`
    # computes (a cache miss) is counted
    root = real_store.root
    shutil.rmtree(root / ".cache", ignore_errors=True)
    computed: list[object] = []
    compute = risk_module._compute
    monkeypatch.setattr(risk_module, "_compute", lambda *a, **k: computed.append(a) or compute(*a, **k))
    fetched = run(root, *FETCH, "--no-macro")
    assert fetched.exit_code == 0, fetched.output

    # Act
    kept = run(root, "risk", "--json", "--max-age", "100000")
    shutil.rmtree(root / ".cache")
    fresh = run(root, "risk", "--json", "--max-age", "100000")

    # Assert: the first reading after the fetch was served, and is what the fetched data gives
    assert kept.exit_code == fresh.exit_code == 0
    assert len(computed) == 1  # only the one after the entries were removed
    assert [{k: v for k, v in json.loads(r.stdout).items() if k != "age_days"} for r in (kept, fresh)] == [
        {k: v for k, v in json.loads(fresh.stdout).items() if k != "age_days"}
    ] * 2


def test_fetch_given_pair_without_bars_says_no_data_and_stores_nothing(servers, tmp_path):
    # Act: the exchange lists ETH/USDT but has no 4h bars for it
    result = run(tmp_path, "data", "fetch", "--symbols", "ETH/USDT", "--timeframes", "4h", "--no-macro")
    # Assert
    assert result.exit_code == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if "ETH/USDT 4h" in line)
    assert "no data" in line
    assert Store(tmp_path).ids() == []


def test_fetch_given_second_run_later_reports_only_the_new_bars_as_json(servers, tmp_path):
    # Arrange
    exchange, _, _ = servers
    assert run(tmp_path, *FETCH, "--no-macro").exit_code == 0
    exchange.set_now(pd.Timestamp("2024-08-12 00:10", tz=UTC))
    # Act
    result = run(tmp_path, *FETCH, "--no-macro", "--json")
    # Assert: 08-09, 08-10, 08-11 closed since; the first request starts at the last stored bar
    records = json.loads(result.stdout)
    assert result.exit_code == 0
    assert [(r["series"], r["added"], r["last"][:10]) for r in records] == [
        ("binance/BTC-USDT/1d", 3, "2024-08-11"),
        ("binance/ETH-USDT/1d", 3, "2024-08-11"),
    ]
    later = [q for q in exchange.kline_requests() if int(q["startTime"]) >= 1722556800000]
    assert later[0]["startTime"] == str(int(pd.Timestamp("2024-08-08", tz=UTC).value // 10**6))


def test_fetch_given_one_source_failing_names_it_in_one_line_and_fetches_the_others(servers, tmp_path):
    # Arrange: FRED no longer has DGS2
    _, files, _ = servers
    del files.routes["/fred?id=DGS2"]
    # Act
    result = run(tmp_path, *FETCH)
    # Assert
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: FRED DGS2 failed:") and "id=DGS2: HTTP 404" in result.stderr
    assert "fred/DGS2" not in Store(tmp_path).ids()
    assert {"fred/DGS10", "mof/jgb", "yahoo/JPY=X/1d", "binance/ETH-USDT/1d"} <= set(Store(tmp_path).ids())


def test_fetch_given_unknown_symbol_fails_that_job_only(servers, tmp_path):
    # Act
    result = run(
        tmp_path,
        "data",
        "fetch",
        "--symbols",
        "DOGE/USDT,BTC/USDT",
        "--timeframes",
        "1d",
        "--since",
        "2024-08-01",
        "--no-macro",
        "--json",
    )
    # Assert: the failed source reports nothing gained (null, not 0 rows)
    assert result.exit_code == 1
    assert "binance DOGE/USDT 1d failed: unknown symbol 'DOGE/USDT' on binance" in result.stderr
    assert Store(tmp_path).ids() == ["binance/BTC-USDT/1d"]
    doge, btc = json.loads(result.stdout)
    assert (doge["series"], doge["added"], doge["rows"], doge["last"]) == (None, None, None, None)
    assert doge["error"].startswith("unknown symbol") and (btc["series"], btc["error"]) == ("binance/BTC-USDT/1d", "")


def test_fetch_given_unknown_exchange_exits_1_with_one_line(tmp_path):
    # Act
    result = run(tmp_path, "data", "fetch", "--exchange", "binanse", "--no-macro")
    # Assert
    assert result.exit_code == 1
    assert result.stderr.startswith("error: unknown exchange id 'binanse'") and len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output + result.stderr


@pytest.mark.parametrize("args", [["--symbols", " , "], ["--since", "last week"]])
def test_fetch_given_bad_option_is_a_usage_error(tmp_path, args):
    # Act
    result = run(tmp_path, "data", "fetch", "--no-macro", *args)
    # Assert
    assert result.exit_code == 2
    assert Store(tmp_path).ids() == []


def test_fetch_help_shows_examples(tmp_path):
    result = run(tmp_path, "data", "fetch", "--help")
    assert result.exit_code == 0 and "carryguard data fetch --symbol BTC/USDT" in result.output


def test_run_jobs_given_hosts_down_fails_later_jobs_on_them_without_retrying(monkeypatch, tmp_path):
    # Arrange: every source points at a port nothing listens on
    dead = f"http://127.0.0.1:{closed_port()}"
    for name in ("BINANCE", "MOF", "FRED", "CFTC", "BINANCEUSDM"):
        monkeypatch.setenv(f"CARRYGUARD_{name}_URL", dead)
    plan = FetchPlan(
        symbols=("BTC/USDT",),
        timeframes=("1d", "4h"),
        yahoo_tickers=(),
        carry=True,
        carry_yahoo=(),
        funding_symbols=("BTC/USDT",) * 2,
    )
    jobs = plan_jobs(Store(tmp_path), plan, policy=RetryPolicy(attempts=2, backoff=0.0, timeout=1.0))
    # Act
    outcomes = run_jobs(jobs)
    # Assert
    errors = {o.label: o.error for o in outcomes}
    assert "load_markets failed after 2 tries" in errors["binance BTC/USDT 1d"]
    assert errors["binance BTC/USDT 4h"].startswith("skipped: binance could not be reached")
    assert "unreachable" in errors["MOF JGB"] and "after 2 tries" in errors["MOF JGB"]
    assert all(
        "was unreachable earlier in this run" in errors[f"FRED {s}"]
        for s in ("DEXJPUS", "DGS10", "DGS2", "VIXCLS", "DEXUSAL")
    )
    assert "was unreachable earlier in this run" in errors["CFTC COT 097741"]
    assert [o.error.startswith("skipped: binanceusdm") for o in outcomes if o.label.endswith("funding")] == [
        False,
        True,
    ]
    assert Store(tmp_path).ids() == []


def test_fetch_given_cftc_down_names_it_and_still_fetches_funding_and_fred(servers, tmp_path):
    # Arrange: nothing listens at the CFTC URL, and FRED no longer has VIXCLS
    dead = f"http://127.0.0.1:{closed_port()}"
    _, files, _ = servers
    files.routes.pop("/fred?id=VIXCLS")
    # Act
    result = CliRunner().invoke(
        main,
        ["--data-dir", str(tmp_path), *FETCH, "--json"],
        env={"CARRYGUARD_CFTC_URL": dead},
    )
    # Assert
    assert result.exit_code == 1
    assert result.stderr.startswith("error: FRED VIXCLS failed:") and "(+1 more: CFTC COT 097741)" in result.stderr
    assert {"binance/BTC-USDT/funding", "fred/DEXUSAL", "yahoo/AUDJPY=X/1d"} <= set(Store(tmp_path).ids())
    assert "cftc/JPY" not in Store(tmp_path).ids()


def test_run_jobs_given_a_bug_in_one_source_reports_it_and_runs_the_next():
    # Arrange
    def broken(status):
        raise KeyError("close")

    jobs = [Job("broken", broken), Job("fine", lambda status: UpdateResult("x/y", 1, 1, 1, "2024-08-01"))]
    # Act
    outcomes = run_jobs(jobs)
    # Assert
    assert outcomes[0].error.startswith("internal error: KeyError: 'close'") and isinstance(
        outcomes[0].exception, KeyError
    )
    assert outcomes[1].error == "" and outcomes[1].result.added == 1


def test_fetch_given_unknown_timeframe_is_a_usage_error_before_any_download(monkeypatch, tmp_path):
    # Arrange: every source points at a closed port, so a download attempt would end in exit 1
    url = f"http://127.0.0.1:{closed_port()}"
    for name in ("BINANCE", "MOF", "FRED", "YAHOO", "CFTC", "BINANCEUSDM"):
        monkeypatch.setenv(f"CARRYGUARD_{name}_URL", url)
    # Act
    result = run(tmp_path, "data", "fetch", "--timeframe", "1d,7x", "--no-macro")
    # Assert
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: Invalid value for --timeframe: unknown timeframe '7x': use e.g. 1h, 4h, 1d")
    assert Store(tmp_path).ids() == []
