"""Exchange connections for paper trading, and the optional testnet order mirror.

``connect`` returns ccxt's real client for public bars and, with ``--sandbox``, an
``OrderSink`` that sends each committed paper order to the exchange's TESTNET:
``set_sandbox_mode(True)`` must succeed and afterwards every REST endpoint must be one of
the exchange's test URLs (or a loopback address, for tests) and none of its live URLs, so
"demo trading" served by the real-money host behind a header (okx) is refused too;
otherwise nothing runs. A real-money endpoint is never used. Keys come only from ``$CARRYGUARD_API_KEY`` and
``$CARRYGUARD_API_SECRET``; they live in the ccxt client only, and ``RedactingFilter``
scrubs them from every log line.

Orders are idempotent across crashes: the paper fill and a ``pending`` order row (with a
deterministic client order id) are committed first; the send comes after. On restart
``reconcile`` asks the testnet for each pending client id and sends only the ones it
has never seen.
"""

from __future__ import annotations

import logging
import os
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import ccxt

from carryguard.backtests.paper.state import PaperState
from carryguard.signals.errors import CarryguardError
from carryguard.signals.sources.ccxt_source import api_url_from_env, check_market, make_exchange, rebase_urls
from carryguard.signals.sources.http import RetryPolicy

if TYPE_CHECKING:
    from carryguard.signals.store import Store

log = logging.getLogger("carryguard.paper")
KEY_ENV, SECRET_ENV = "CARRYGUARD_API_KEY", "CARRYGUARD_API_SECRET"
LOOPBACK = ("127.0.0.1", "localhost", "::1")


@dataclass(frozen=True)
class Keys:
    """Testnet credentials; ``repr`` never shows them."""

    key: str
    secret: str

    def __repr__(self) -> str:
        return "Keys(***)"

    @property
    def secrets(self) -> tuple[str, ...]:
        return (self.key, self.secret)


def sandbox_keys() -> Keys:
    """Testnet keys from the environment only; CarryguardError naming the variables when either is missing."""
    key, secret = os.environ.get(KEY_ENV, ""), os.environ.get(SECRET_ENV, "")
    if not key or not secret:
        raise CarryguardError(
            f"--sandbox needs testnet keys in ${KEY_ENV} and ${SECRET_ENV}",
            fix="export both (testnet keys only), or run without --sandbox",
        )
    return Keys(key, secret)


class RedactingFilter(logging.Filter):
    """Replaces every secret string in a log record's final message by ``***``."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def _urls(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [url for item in value.values() for url in _urls(item)]
    return [value] if isinstance(value, str) else []


def sandbox_exchange(exchange_id: str, keys: Keys, *, timeout: float) -> ccxt.Exchange:
    """ccxt client switched to the testnet, or ``CarryguardError`` (never a live endpoint)."""
    if exchange_id not in ccxt.exchanges:
        raise CarryguardError(f"unknown exchange id {exchange_id!r}", fix="see ccxt.exchanges for the ids")
    exchange: ccxt.Exchange = getattr(ccxt, exchange_id)({"enableRateLimit": True, "timeout": int(timeout * 1000)})
    live = set(_urls(exchange.urls.get("api")))
    try:
        if not exchange.urls.get("test"):
            raise ccxt.NotSupported(f"{exchange_id} does not have a sandbox URL")
        exchange.set_sandbox_mode(True)
    except ccxt.NotSupported as exc:
        raise CarryguardError(
            f"{exchange_id} has no testnet in ccxt; refusing --sandbox", fix="run without --sandbox (paper fills only)"
        ) from exc
    test = set(_urls(exchange.urls.get("test")))
    override = api_url_from_env(exchange_id)
    if override:  # tests: a local emulator standing in for the testnet, loopback only
        if urllib.parse.urlsplit(override).hostname not in LOOPBACK:
            raise CarryguardError(
                f"--sandbox with an API URL override {override!r} that is not a loopback address",
                fix="unset the override to use the real testnet",
            )
        exchange.urls["api"] = rebase_urls(exchange.urls["api"], override.rstrip("/"), exchange.hostname)
        test = set(_urls(exchange.urls["api"]))
    used = set(_urls(exchange.urls.get("api")))
    if used & live:  # "demo trading" on the real-money host (okx, weex: a header or flag decides)
        raise CarryguardError(
            f"{exchange_id}: its sandbox uses the live endpoint {sorted(used & live)[0]}; refusing "
            "--sandbox (orders only ever go to a separate testnet host)",
            fix="run without --sandbox, or use an exchange with a testnet host such as binance",
        )
    if not used or not used <= test:
        raise CarryguardError(
            f"{exchange_id}: sandbox mode did not switch every endpoint to the testnet; refusing",
            fix="run without --sandbox",
        )
    exchange.apiKey, exchange.secret = keys.key, keys.secret
    exchange.options["fetchCurrencies"] = False
    fetch_markets = exchange.options.get("fetchMarkets")
    if isinstance(fetch_markets, dict) and "types" in fetch_markets:  # spot orders only
        exchange.options["fetchMarkets"] = {**fetch_markets, "types": ["spot"]}
    return exchange


class SandboxOrders:
    """Mirrors committed paper orders to a testnet as market orders."""

    def __init__(self, exchange: ccxt.Exchange) -> None:
        self.exchange = exchange

    def reconcile(self, state: PaperState, strategy: str, symbol: str) -> None:
        """At start: ask the testnet about every ``pending`` order; mark the ones it has, send the others."""
        for order in state.orders_with_status(strategy, symbol, "pending"):
            try:
                found = self.exchange.fetch_order(None, symbol, {"origClientOrderId": order["client_id"]})
            except ccxt.OrderNotFound:
                found = None
            except ccxt.BaseError as exc:
                log.warning(
                    "testnet: cannot check order %s (%s: %s); will retry at the next start",
                    order["client_id"],
                    type(exc).__name__,
                    str(exc).splitlines()[0][:200] if str(exc) else "",
                )
                continue
            if found is not None:
                state.set_order_status(order["client_id"], status="sent", exchange_id=str(found.get("id")))
                log.info("testnet: order %s was already sent (id %s)", order["client_id"], found.get("id"))
            else:
                self._send(state, symbol, order["client_id"], order["side"], order["qty"])

    def submit(self, state: PaperState, client_id: str, side: str, qty: float) -> None:
        """Send the committed order ``client_id`` and record what the testnet did with it."""
        row = state.conn.execute("SELECT symbol FROM orders WHERE client_id=?", (client_id,)).fetchone()
        self._send(state, row["symbol"], client_id, side, qty)

    def _send(self, state: PaperState, symbol: str, client_id: str, side: str, qty: float) -> None:
        try:
            self.exchange.load_markets()
            amount = float(self.exchange.amount_to_precision(symbol, qty))
            result = self.exchange.create_order(symbol, "market", side, amount, None, {"newClientOrderId": client_id})
        except ccxt.BaseError as exc:
            state.set_order_status(client_id, status="rejected", exchange_id=None)
            log.warning(
                "testnet: order %s %s %.8f %s rejected: %s: %s",
                client_id,
                side,
                qty,
                symbol,
                type(exc).__name__,
                str(exc).splitlines()[0][:200] if str(exc) else "",
            )
            return
        state.set_order_status(client_id, status="sent", exchange_id=str(result.get("id")))
        log.info("testnet: order %s %s %.8f %s sent (id %s)", client_id, side, amount, symbol, result.get("id"))


def connect(
    exchange_id: str, symbol: str, timeframe: str, *, keys: Keys | None, timeout: float, retries: int, backoff: float
) -> tuple[ccxt.Exchange, SandboxOrders | None]:
    """Public client for bars (market and timeframe checked: a typo is one clear error,
    not a loop of skipped bars), plus the testnet order sink when ``keys`` are given."""
    public = make_exchange(exchange_id, timeout=timeout)
    check_market(
        public,
        symbol,
        timeframe,
        policy=RetryPolicy(attempts=retries, backoff=backoff, timeout=timeout),
        sleep=time.sleep,
    )
    if keys is None:
        return public, None
    return public, SandboxOrders(sandbox_exchange(exchange_id, keys, timeout=timeout))


def macro_refresher(store: Store) -> Callable[[], None]:
    """Fetches the macro series (MOF JGB, FRED, Yahoo USD/JPY) into ``store`` the way
    ``carryguard data fetch --macro`` does; a failed source is logged and its stored data
    kept (the freshness check then decides whether the bar may trade)."""
    from carryguard.signals.fetch import FetchPlan, plan_jobs, run_jobs

    def refresh() -> None:
        for outcome in run_jobs(plan_jobs(store, FetchPlan(symbols=(), timeframes=(), macro=True))):
            if outcome.error:
                log.warning("macro refresh: %s not updated (%s); keeping the stored data", outcome.label, outcome.error)
            else:
                result = outcome.result
                assert result is not None  # a job that did not fail has its result
                log.info("macro refresh: %s +%d rows, last %s", outcome.label, result.added, result.last)

    return refresh
