"""Time the paper loop per decided bar against the local Binance emulator; prints figures.

    python benchmarks/bench_paper.py [--bars 200] [--history 500] [--macro-every 1h] [--data-dir DIR]

The emulator's clock is set so that ``--bars`` 4h bars are due; one ``--once`` run then
decides them all (catch-up), as after a restart. Figures: wall seconds, milliseconds per
decided bar (fetch of ``history`` bars + exchange clock + strategy + overlay + risk
reading + one SQLite transaction), trades, and the database size.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from carryguard.backtests.engine.execution import ExecutionConfig  # noqa: E402
from carryguard.backtests.paper.decide import MacroLimits, OverlayDecider, RiskFeed  # noqa: E402
from carryguard.backtests.paper.loop import LoopConfig, PaperLoop  # noqa: E402
from carryguard.backtests.paper.records import BookSpec  # noqa: E402
from carryguard.backtests.paper.state import PaperState  # noqa: E402
from carryguard.signals.importer import import_directory  # noqa: E402
from carryguard.signals.sources.ccxt_source import make_exchange  # noqa: E402
from carryguard.signals.store import Store  # noqa: E402
from carryguard.strategies.loader import make_strategy  # noqa: E402
from carryguard.strategies.overlay import OverlayConfig  # noqa: E402
from tests.fakes.binance import BinanceEmulator, read_bars  # noqa: E402

SHARED_DATA = REPO.parent / "shared" / "data"
STEP = pd.Timedelta(hours=4)
FIRST = pd.Timestamp("2025-01-01T00:00:00Z")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=200)
    parser.add_argument("--history", type=int, default=500)
    parser.add_argument("--data-dir", type=Path)
    parser.add_argument("--macro-every", default="1h", help="risk refresh interval (exchange time)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(args.data_dir or Path(tmp) / "store")
        if args.data_dir is None:
            import_directory(store, SHARED_DATA)
        bars = read_bars(SHARED_DATA / "btcusdt_4h_binance.csv")
        bars.index = bars.index.as_unit("ns")
        spec = BookSpec("sma_cross+carry", "BTC/USDT", "binance", "4h", 10_000.0, {})
        decider = OverlayDecider(
            make_strategy("sma_cross"),
            step=STEP,
            config=OverlayConfig(),
            feed=RiskFeed(store, step=STEP, limits=MacroLimits(refresh_every=pd.Timedelta(args.macro_every))),
        )
        config = LoopConfig(timeframe="4h", history=args.history, once=True, max_price_age=pd.Timedelta(days=3650))
        with (
            BinanceEmulator({("BTCUSDT", "4h"): bars}, now=FIRST + STEP + pd.Timedelta(seconds=5)) as emulator,
            PaperState(Path(tmp) / "paper.db") as state,
        ):
            exchange = make_exchange("binance", api_url=emulator.url)
            exchange.enableRateLimit = False
            PaperLoop(
                exchange=exchange, state=state, spec=spec, decider=decider, execution=ExecutionConfig(), config=config
            ).run()
            emulator.set_now(FIRST + STEP * (args.bars + 1) + pd.Timedelta(seconds=5))
            started = time.perf_counter()
            summary = PaperLoop(
                exchange=exchange, state=state, spec=spec, decider=decider, execution=ExecutionConfig(), config=config
            ).run()
            seconds = time.perf_counter() - started
            state.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size = (Path(tmp) / "paper.db").stat().st_size
    print(
        f"paper loop catch-up: {summary.decided} bars (history {args.history}) in {seconds:.2f} s = "
        f"{1000 * seconds / max(summary.decided, 1):.1f} ms/bar (macro re-read every {args.macro_every}); "
        f"{summary.trades} trades; state {size / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()
