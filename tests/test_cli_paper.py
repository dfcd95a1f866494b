"""``carryguard paper run|status`` end to end against the local Binance emulator, the
testnet order mirror (``--sandbox``) and its refusal rules, and clean SIGTERM shutdown."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.backtests.paper.records import BookSpec, Fill, Step, client_order_id
from carryguard.backtests.paper.sandbox import Keys, SandboxOrders, sandbox_exchange
from carryguard.backtests.paper.state import PaperState
from tests.fakes.binance import BinanceEmulator
from tests.fakes.http_server import Reply, _handler_for
from tests.paper_support import HISTORY, STEP, paper_run_args, replay_bars

BUY_BAR = pd.Timestamp("2025-01-04T04:00:00Z")  # sma_cross+carry goes long at this bar's close (target 1.0)
KEY, SECRET = "cgTESTKEY-7f3a9d2c61b04e58", "cgTESTSECRET-0b9e4411d2c7a6f3"
RUN = paper_run_args(history=HISTORY, poll="0.01")


class FakeTestnet(BinanceEmulator):
    """The emulator plus Binance's signed order endpoints (POST/GET ``/api/v3/order``)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.orders: dict[str, dict] = {}
        self.api_keys: list[str | None] = []

    def start(self) -> FakeTestnet:
        base, server = _handler_for(self), self

        class Handler(base):
            def do_GET(self) -> None:
                server.api_keys.append(self.headers.get("X-MBX-APIKEY"))
                super().do_GET()

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                self.path = f"{self.path}{'&' if '?' in self.path else '?'}{body}"
                self.do_GET()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def respond(self, path: str, query: dict[str, str]) -> Reply:
        if path != "/api/v3/order":
            return super().respond(path, query)
        if "side" in query:  # create: a market order fills at once
            cid = query["newClientOrderId"]
            self.orders[cid] = {
                "symbol": query["symbol"],
                "orderId": len(self.orders) + 1,
                "clientOrderId": cid,
                "transactTime": 1,
                "price": "0",
                "origQty": query["quantity"],
                "executedQty": query["quantity"],
                "cummulativeQuoteQty": "0",
                "status": "FILLED",
                "timeInForce": "GTC",
                "type": "MARKET",
                "side": query["side"],
            }
            return Reply.json(self.orders[cid])
        order = self.orders.get(query.get("origClientOrderId", ""))
        return Reply.json(order) if order else Reply.json({"code": -2013, "msg": "Order does not exist."}, status=400)


@pytest.fixture(scope="module")
def bars(shared_data) -> pd.DataFrame:
    return replay_bars(shared_data, decisions=20)


def test_paper_run_given_once_decides_due_bars_and_status_reports_the_book(bars, real_store_dir, tmp_path, monkeypatch):
    # Arrange: the exchange clock just after BUY_BAR closes
    runner, state = CliRunner(), tmp_path / "paper.db"
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, now=BUY_BAR + STEP + pd.Timedelta(seconds=5)) as emulator:
        monkeypatch.setenv("CARRYGUARD_BINANCE_URL", emulator.url)
        args = ["--data-dir", str(real_store_dir), *RUN, "--state", str(state), "--once"]
        # Act: one run, the clock moves 3 bars, a second run, then status (stored clock, then live clock 2 bars on)
        first = runner.invoke(main, args)
        emulator.set_now(emulator.now + STEP * 3)
        second = runner.invoke(main, args)
        status = runner.invoke(main, ["paper", "status", "--state", str(state), "--json"])
        emulator.set_now(emulator.now + STEP * 2)
        live = runner.invoke(main, ["paper", "status", "--state", str(state), "--json", "--live"])
        table = runner.invoke(main, ["paper", "status", "--state", str(state)])
    # Assert
    assert first.exit_code == 0 and "decided 1 bar(s), 1 trade(s), 0 skipped" in first.output
    assert second.exit_code == 0 and "decided 3 bar(s)" in second.output
    (book,) = json.loads(status.output)
    assert book["strategy"] == "sma_cross+carry" and book["position"] > 0 and book["fills"] == 1
    assert book["decisions"] == 4 and book["last_bar"] == (BUY_BAR + STEP * 3).isoformat()
    assert book["equity"] == pytest.approx(book["cash"] + book["position"] * bars.loc[BUY_BAR + STEP * 3, "close"])
    assert book["pnl"] == pytest.approx(book["equity"] - 10_000.0)
    assert 0 <= book["last_decision"]["score"] <= 100 and book["last_decision"]["regime"] in ("calm", "elevated")
    assert book["bars_behind"] == 0 and book["loop_note"] == "stopped (once)"
    assert json.loads(live.output)[0]["bars_behind"] == 2
    assert table.exit_code == 0 and "sma_cross+carry" in table.output and "│ last decision │" in table.output
    assert "│ bars behind   │ 0 at exchange time" in table.output and "--live asks the exchange" in table.output


def test_paper_status_given_missing_state_file_exits_1_with_one_line(tmp_path):
    # Arrange / Act
    result = CliRunner().invoke(main, ["paper", "status", "--state", str(tmp_path / "none.db")])
    # Assert
    assert result.exit_code == 1
    assert result.output.strip().splitlines() == [
        f"error: {tmp_path / 'none.db'}: no paper state file; start one with `carryguard paper run --state FILE`"
    ]


@pytest.mark.parametrize(
    "extra",
    [
        ["--param", "fast"],
        ["--param", "fast=200"],
        ["--strategy", "nope"],
        ["--macro-every", "soon"],
        ["--overlay", "nope"],
    ],
)
def test_paper_run_given_bad_option_exits_2(tmp_path, extra):
    # Arrange / Act
    result = CliRunner().invoke(main, [*RUN, "--state", str(tmp_path / "p.db"), *extra])
    # Assert
    assert result.exit_code == 2 and not (tmp_path / "p.db").exists()


def test_paper_run_given_changed_config_on_restart_exits_1(bars, real_store_dir, tmp_path, monkeypatch):
    # Arrange: a book started with the default commission
    runner, state = CliRunner(), tmp_path / "paper.db"
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, now=BUY_BAR + STEP + pd.Timedelta(seconds=5)) as emulator:
        monkeypatch.setenv("CARRYGUARD_BINANCE_URL", emulator.url)
        args = ["--data-dir", str(real_store_dir), *RUN, "--state", str(state), "--once"]
        assert runner.invoke(main, args).exit_code == 0
        # Act
        result = runner.invoke(main, [*args, "--commission", "0.002"])
    # Assert
    assert result.exit_code == 1 and "was started with a different configuration" in result.output


def test_paper_run_given_unknown_symbol_exits_1_with_one_line(bars, real_store_dir, tmp_path, monkeypatch):
    # Arrange
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, now=BUY_BAR + STEP) as emulator:
        monkeypatch.setenv("CARRYGUARD_BINANCE_URL", emulator.url)
        args = ["--data-dir", str(real_store_dir), *RUN, "--state", str(tmp_path / "p.db"), "--once"]
        # Act
        result = CliRunner().invoke(main, [*args, "--symbol", "BTC/USDX"])
    # Assert
    assert result.exit_code == 1
    assert result.output.startswith("error: unknown symbol 'BTC/USDX' on binance; use a market symbol such as")
    assert len(result.output.strip().splitlines()) == 1 and not (tmp_path / "p.db").exists()


def test_paper_run_given_history_shorter_than_the_strategy_warm_up_exits_2(tmp_path):
    # Arrange: sma_cross slow=400 needs 400 closed bars per decision; RUN passes --history 300
    # Act
    result = CliRunner().invoke(main, [*RUN, "--state", str(tmp_path / "p.db"), "--param", "slow=400"])
    # Assert: refused before any exchange call or state file
    assert result.exit_code == 2 and "use --history 400 or more" in result.output
    assert not (tmp_path / "p.db").exists()


def test_paper_run_given_history_beyond_the_exchange_page_limit_exits_2(bars, real_store_dir, tmp_path, monkeypatch):
    # Arrange: an exchange serving 300 bars per request (like okx)
    monkeypatch.setattr("carryguard.signals.sources.ccxt_source.page_limit_of", lambda exchange: 300)
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, now=BUY_BAR + STEP) as emulator:
        monkeypatch.setenv("CARRYGUARD_BINANCE_URL", emulator.url)
        # Act
        result = CliRunner().invoke(
            main, ["--data-dir", str(real_store_dir), *RUN, "--state", str(tmp_path / "p.db"), "--history", "299"]
        )
    # Assert
    assert result.exit_code == 2 and "use --history 298 or less" in result.output


def test_paper_run_given_sandbox_without_keys_exits_1(tmp_path, monkeypatch):
    # Arrange
    monkeypatch.delenv("CARRYGUARD_API_KEY", raising=False)
    monkeypatch.delenv("CARRYGUARD_API_SECRET", raising=False)
    # Act
    result = CliRunner().invoke(main, [*RUN, "--state", str(tmp_path / "p.db"), "--sandbox"])
    # Assert
    assert result.exit_code == 1 and "--sandbox needs testnet keys in $CARRYGUARD_API_KEY" in result.output


def test_sandbox_given_exchange_without_testnet_refuses():
    # Arrange / Act / Assert
    with pytest.raises(Exception, match="kraken has no testnet in ccxt; refusing --sandbox"):
        sandbox_exchange("kraken", Keys(KEY, SECRET), timeout=1)


@pytest.mark.parametrize("exchange_id", ["okx", "weex"])
def test_sandbox_given_demo_trading_on_the_live_host_refuses(monkeypatch, exchange_id):
    # Arrange: both switch to "sandbox" by a header or flag while keeping their real-money host
    monkeypatch.delenv(f"CARRYGUARD_{exchange_id.upper()}_URL", raising=False)
    # Act / Assert
    with pytest.raises(Exception, match=f"{exchange_id}: its sandbox uses the live endpoint https://"):
        sandbox_exchange(exchange_id, Keys(KEY, SECRET), timeout=1)


def test_sandbox_given_non_loopback_url_override_refuses(monkeypatch):
    # Arrange
    monkeypatch.setenv("CARRYGUARD_BINANCE_URL", "https://api.binance.com")
    # Act / Assert
    with pytest.raises(Exception, match="not a loopback address"):
        sandbox_exchange("binance", Keys(KEY, SECRET), timeout=1)


def test_sandbox_given_no_url_override_uses_only_testnet_endpoints(monkeypatch):
    # Arrange
    monkeypatch.delenv("CARRYGUARD_BINANCE_URL", raising=False)
    # Act
    exchange = sandbox_exchange("binance", Keys(KEY, SECRET), timeout=1)
    # Assert: every endpoint the client can call is a testnet host, never api.binance.com
    urls = [u for u in exchange.urls["api"].values() if isinstance(u, str)]
    assert urls and all("testnet" in u for u in urls)


@pytest.mark.slow
def test_paper_run_given_sandbox_sends_orders_and_never_writes_the_keys(bars, real_store_dir, tmp_path):
    # Arrange: a real subprocess, keys only in its environment
    state, log = tmp_path / "paper.db", tmp_path / "paper.log"
    with FakeTestnet({("BTCUSDT", "4h"): bars}, now=BUY_BAR + STEP + pd.Timedelta(seconds=5)) as testnet:
        env = {
            **os.environ,
            "CARRYGUARD_BINANCE_URL": testnet.url,
            "CARRYGUARD_DATA_DIR": str(real_store_dir),
            "CARRYGUARD_API_KEY": KEY,
            "CARRYGUARD_API_SECRET": SECRET,
        }
        command = [
            str(Path(sys.executable).parent / "carryguard"),
            *RUN,
            "--state",
            str(state),
            "--once",
            "--sandbox",
            "--log",
            str(log),
        ]
        # Act
        result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    # Assert: the order reached the testnet with the key, and is recorded as sent
    assert result.returncode == 0, result.stderr
    assert list(testnet.orders) == [client_order_id("sma_cross+carry", "BTC/USDT", BUY_BAR)]
    assert KEY in testnet.api_keys
    with PaperState(state) as book_state:
        orders = book_state.table("orders", "sma_cross+carry", "BTC/USDT")
    assert list(orders["status"]) == ["sent"] and "sent (id 1)" in log.read_text()
    # the keys appear in no output, log or database file
    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    for secret in (KEY, SECRET):
        assert secret not in result.stdout and secret not in result.stderr and secret not in log.read_text()
        assert secret.encode() not in stored


def test_sandbox_reconcile_given_pending_orders_sends_only_those_the_testnet_never_saw(bars, tmp_path, monkeypatch):
    # Arrange: two committed orders still "pending" after a crash; the testnet has the first one
    spec = BookSpec("sma_cross+carry", "BTC/USDT", "binance", "4h", 10_000.0, {})
    with (
        FakeTestnet({("BTCUSDT", "4h"): bars}, now=BUY_BAR + STEP * 3) as testnet,
        PaperState(tmp_path / "p.db") as state,
    ):
        monkeypatch.setenv("CARRYGUARD_BINANCE_URL", testnet.url)
        state.open_book(spec, now=BUY_BAR)
        for i, bar in enumerate((BUY_BAR, BUY_BAR + STEP)):
            fill = Fill(fill_time=bar + STEP, side="buy", qty=0.01, price=98_000.0, fee=0.98)
            state.record_step(
                spec.strategy,
                spec.symbol,
                Step(
                    bar_time=bar,
                    decided_at=bar + STEP,
                    action="trade",
                    reason="",
                    close=1.0,
                    fill=fill,
                    cash=1.0,
                    position=0.01 * (i + 1),
                    order_status="pending",
                ),
            )
        seen = client_order_id(spec.strategy, spec.symbol, BUY_BAR)
        testnet.orders[seen] = {
            "symbol": "BTCUSDT",
            "orderId": 77,
            "clientOrderId": seen,
            "status": "FILLED",
            "origQty": "0.01",
            "executedQty": "0.01",
            "type": "MARKET",
            "side": "BUY",
        }
        sink = SandboxOrders(sandbox_exchange("binance", Keys(KEY, SECRET), timeout=2))
        # Act
        sink.reconcile(state, spec.strategy, spec.symbol)
        orders = state.table("orders", spec.strategy, spec.symbol)
    # Assert: the known one is marked sent with its exchange id, the other sent exactly once
    assert list(orders["status"]) == ["sent", "sent"] and orders["exchange_id"].iloc[0] == "77"
    assert len(testnet.orders) == 2 and len(testnet.requests_to("/api/v3/order")) == 3  # 2 lookups + 1 create


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_paper_run_given_sigterm_or_sigint_finishes_the_step_and_exits_0(bars, real_store_dir, tmp_path, signum):
    # Arrange: a real-time clock, so after its first bar the loop waits for the next close
    state, log = tmp_path / "paper.db", tmp_path / "paper.log"
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, now=BUY_BAR + STEP + pd.Timedelta(seconds=5)) as emulator:
        env = {**os.environ, "CARRYGUARD_BINANCE_URL": emulator.url, "CARRYGUARD_DATA_DIR": str(real_store_dir)}
        command = [str(Path(sys.executable).parent / "carryguard"), *RUN, "--state", str(state), "--log", str(log)]
        proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while not (log.exists() and " bar " in log.read_text()) and time.monotonic() < deadline:
            time.sleep(0.02)
        # Act
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=30)
    # Assert
    assert proc.returncode == 0
    assert f"received {signal.Signals(signum).name}: finishing the current step, then stopping" in err
    assert "stopped by signal" in out
    with PaperState(state) as book_state:
        assert len(book_state.table("decisions", "sma_cross+carry", "BTC/USDT")) == 1


STUDY_DECISIONS = 40
PAPER_STUDY = """
name = "paper_overlay"
with_overlay = [true]
[data]
symbols = ["BTC/USDT"]
timeframes = ["4h"]
start = "{start}"
end = "{end}"
[strategies]
sma_cross = {{ fast = 10, slow = 60 }}
[overlay]
elevated_at = 30.0
stress_at = 45.0
crisis_at = 70.0
elevated = 0.6
hysteresis = 3.0
vol_target = 0.3
vol_window = 20
[execution]
commission = 0.002
slippage_bps = 8.0
rebalance_band = 0.02
"""


def test_paper_run_given_study_with_custom_overlay_fills_as_the_backtest_of_that_study(
    real_store_dir, shared_data, tmp_path, monkeypatch
):
    # Arrange: other thresholds and multipliers, a vol target and other costs; paper decides FIRST..LAST
    first = pd.Timestamp("2025-01-01T00:00:00Z")
    last = first + STEP * (STUDY_DECISIONS - 1)
    study = tmp_path / "study.toml"
    study.write_text(PAPER_STUDY.format(start=first.isoformat()[:16], end=(last + STEP).isoformat()[:16]))
    bars = replay_bars(shared_data, decisions=STUDY_DECISIONS)
    runner, state = CliRunner(), tmp_path / "paper.db"
    args = ["--data-dir", str(real_store_dir), "paper", "run", "--study", str(study), "--history", "300"]
    args += ["--poll", "0.01", "--retries", "2", "--backoff", "0.01", "--timeout", "2", "--state", str(state), "--once"]
    args += ["--max-price-age", "3650d"]  # the catch-up fills at opens hours old: fine for the comparison

    # Act: the first bar, then the clock moves on and the book catches up; then the backtest of the study
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, now=first + STEP + pd.Timedelta(seconds=5)) as emulator:
        monkeypatch.setenv("CARRYGUARD_BINANCE_URL", emulator.url)
        opened = runner.invoke(main, args)
        emulator.set_now(last + STEP + pd.Timedelta(seconds=5))
        caught_up = runner.invoke(main, args)
    backtest = runner.invoke(
        main,
        [
            *("--data-dir", str(real_store_dir), "backtest", str(study), "--engine", "backtrader", "--json"),
            *("--results-dir", str(tmp_path / "results")),
        ],
    )

    # Assert: every bar decided, and the paper fills are the backtest's fills
    assert opened.exit_code == 0, opened.output
    assert caught_up.exit_code == 0, caught_up.output
    assert f"decided {STUDY_DECISIONS - 1} bar(s)" in caught_up.output and "0 skipped" in caught_up.output
    assert backtest.exit_code == 0, backtest.output
    expected = pd.read_csv(Path(json.loads(backtest.stdout)["run_dir"]) / "fills.csv")
    with PaperState(state) as book:
        fills = book.table("fills", "sma_cross+carry", "BTC/USDT")
        stored = json.loads(book.books()[0]["config"])
    assert len(fills) >= 5
    assert list(pd.to_datetime(fills["fill_time"], utc=True)) == list(pd.to_datetime(expected["time"], utc=True))
    assert list(fills["side"]) == list(expected["side"])
    np.testing.assert_allclose(
        fills[["qty", "price", "fee"]].to_numpy(), expected[["qty", "price", "fee"]].to_numpy(), rtol=1e-9
    )
    # the state file records the whole resolved configuration
    assert stored["overlay.stress_at"] == 45.0 and stored["overlay.vol_target"] == 0.3
    assert stored["commission"] == 0.002 and stored["params"] == {"fast": 10, "slow": 60}
    assert stored["risk.zscore_window"] == 750


def test_paper_run_given_restart_with_other_study_overlay_exits_1_naming_the_change(
    bars, real_store_dir, tmp_path, monkeypatch
):
    # Arrange: a book started from a study, restarted after its overlay's stress threshold changed
    study, state = tmp_path / "s.toml", tmp_path / "paper.db"
    text = '[data]\nsymbols = ["BTC/USDT"]\ntimeframes = ["4h"]\n[strategies]\nsma_cross = {}\n'
    text += "[overlay]\nstress_at = 55.0\n"
    study.write_text(text)
    args = ["--data-dir", str(real_store_dir), "paper", "run", "--study", str(study), "--history", "300"]
    args += ["--poll", "0.01", "--timeout", "2", "--state", str(state), "--once"]
    with BinanceEmulator({("BTCUSDT", "4h"): bars}, now=BUY_BAR + STEP + pd.Timedelta(seconds=5)) as emulator:
        monkeypatch.setenv("CARRYGUARD_BINANCE_URL", emulator.url)
        first = CliRunner().invoke(main, args)
        study.write_text(text.replace("55.0", "65.0"))
        # Act
        second = CliRunner().invoke(main, args)

    # Assert
    assert first.exit_code == 0, first.output
    assert second.exit_code == 1
    errors = [line for line in second.stderr.splitlines() if not line.startswith("warning:")]  # the data is old
    assert len(errors) == 1 and "overlay.stress_at 55.0 -> 65.0" in errors[0]


@pytest.mark.parametrize(
    ("study_text", "extra", "message"),
    [
        (
            '[strategies]\nsma_cross = {}\ndca = {}\n[data]\nsymbols = ["BTC/USDT"]\ntimeframes = ["4h"]\n',
            [],
            "pick one with --strategy",
        ),
        (
            '[strategies]\nsma_cross = {}\n[data]\ntimeframes = ["4h"]\n',
            [],
            "lists symbols BTC/USDT, ETH/USDT: pick one with --symbol",
        ),
        ("[strategies]\nsma_cross = {}\n", ["--strategy", "dca"], "has no such strategy"),
        ("[strategies]\nsma_cross = {}\n", ["--symbol", "BTC/USDT", "--cash", "-5"], "cash must be > 0"),
        ("[strategies]\nsma_cross = {}\n", ["--macro-every", "3m"], "write 'min' for minutes"),
    ],
)
def test_paper_run_given_study_leaving_a_choice_open_exits_2(tmp_path, study_text, extra, message):
    # Arrange
    study = tmp_path / "s.toml"
    study.write_text(study_text)

    # Act
    result = CliRunner().invoke(
        main, ["paper", "run", "--study", str(study), "--state", str(tmp_path / "p.db"), *extra]
    )

    # Assert
    assert result.exit_code == 2
    assert message in result.stderr
