"""``carryguard paper status`` at 80 and 100 columns shows every number of ``--json``, each whole."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.backtests.paper.records import BookSpec, Fill, Step
from carryguard.backtests.paper.state import PaperState

START = pd.Timestamp("2025-01-01T00:00:00Z")
STEP = pd.Timedelta(hours=4)
NUMBER = re.compile(r"[+-]?\d[\d,]*(?:\.\d+)?")


def write_state(path: Path) -> None:
    """Two books made offline: a long name with a seven-figure account, and a small one; a buy, then a hold."""
    with PaperState(path) as state:
        for name, cash, close in (
            ("breakout+vol_target*carry", 1_234_567.0, 94_123.45),
            ("sma_cross+carry", 10_000.0, 3_210.987),
        ):
            state.open_book(BookSpec(name, "BTC/USDT", "binance", "4h", cash, {}), now=START)
            qty = round(cash * 0.43 / close, 8)
            price, fee = close * 1.0005, qty * close * 0.001
            after = cash - qty * price - fee
            buy = Fill(START + STEP, "buy", qty, price, fee)
            state.record_step(
                name,
                "BTC/USDT",
                Step(
                    START,
                    START + STEP,
                    "trade",
                    "signal long",
                    close,
                    1.0,
                    21.37,
                    "calm",
                    0.9,
                    0.48,
                    0.43,
                    (cash, 0.0),
                    buy,
                    after,
                    qty,
                ),
            )
            state.record_step(
                name,
                "BTC/USDT",
                Step(
                    START + STEP,
                    START + 2 * STEP,
                    "hold",
                    "within the band",
                    close * 1.031,
                    1.0,
                    63.21,
                    "stress",
                    0.5,
                    0.86,
                    0.43,
                    (after, qty),
                ),
            )
            state.heartbeat(name, "BTC/USDT", START + 6 * STEP, "stopped (once)")


def numbers(value: object) -> list[float]:
    """Every number in a JSON document (not booleans)."""
    if isinstance(value, dict):
        return [n for v in value.values() for n in numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in numbers(v)]
    return [float(value)] if isinstance(value, int | float) and not isinstance(value, bool) else []


def shown(value: float, text: str) -> bool:
    """Whether ``value`` appears whole in ``text`` at the precision it is printed with."""
    for token in NUMBER.findall(text):
        digits = len(token.split(".")[1]) if "." in token else 0
        if abs(float(token.replace(",", "")) - value) <= 0.5 * 10**-digits + 1e-9:
            return True
    return False


@pytest.mark.parametrize("width", [80, 100])
def test_cli_paper_status_given_columns_shows_every_json_number_whole(
    tmp_path: Path, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    state = tmp_path / "paper.db"
    write_state(state)
    monkeypatch.setenv("COLUMNS", str(width))
    runner = CliRunner()

    # Act
    books = json.loads(runner.invoke(main, ["paper", "status", "--state", str(state), "--json"]).output)
    table = runner.invoke(main, ["paper", "status", "--state", str(state)])

    # Assert: fits, nothing hidden or cut, and each JSON number is on the screen
    assert table.exit_code == 0, table.output
    assert max(len(line) for line in table.output.splitlines()) <= width
    assert "hidden to fit" not in table.output and "…" not in table.output
    assert len(books) == 2 and all(b["fills"] == 1 and b["decisions"] == 2 for b in books)
    missing = [n for n in numbers(books) if not shown(n, table.output)]
    assert not missing, missing
    assert "breakout+vol_target*carry" in table.output
