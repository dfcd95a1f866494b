"""``carryguard compare``'s Δ-vs-none matrix on a real run with every overlay: each overlay book
against its own strategy's none book, fitted to 80/100/160 columns, all of it with --wide."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.backtests.cli.compare import abbreviations
from carryguard.backtests.report.html import number

WIDTHS = (80, 100, 160)
OVERLAYS = "none,vol_target,trend,carry,yen_shock,vol_target*carry"


@pytest.fixture(scope="module")
def run_dir(real_store_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two strategies on BTC and ETH daily since 2021, with six overlays each (24 books)."""
    results = tmp_path_factory.mktemp("results")
    args = ["--strategy", "sma_cross,dip_buy", "--symbol", "BTC/USDT,ETH/USDT", "--overlays", OVERLAYS]
    outcome = CliRunner().invoke(
        main,
        ["--data-dir", str(real_store_dir), "backtest", *args, "--start", "2021-01-01", "--results-dir", str(results)],
    )
    assert outcome.exit_code == 0, outcome.output
    (folder,) = results.iterdir()
    return folder


def table_cells(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if line.startswith("│")]


def test_cli_compare_given_wide_prints_each_overlay_minus_its_own_strategys_none_book(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    monkeypatch.setenv("COLUMNS", "80")
    runner = CliRunner()

    # Act
    books = json.loads(runner.invoke(main, ["compare", str(run_dir), "--json"]).output)
    text = runner.invoke(main, ["compare", str(run_dir), "--wide"]).output

    # Assert: one row per strategy and market; every Δ recomputed from the JSON books' own metrics
    overlays = list(dict.fromkeys(b["overlay"] for b in books if b["overlay"] != "none"))  # the columns' order
    assert sorted(overlays) == sorted(OVERLAYS.split(",")[1:])
    metric = {(b["base_strategy"], b["symbol"], b["overlay"]): b for b in books}
    rows = table_cells(text)
    assert len(rows) == 4 and "hidden to fit" not in text
    for cells in rows:
        strategy, base = cells[0].removesuffix(" *"), cells[1]
        symbol = f"{base}/USDT"
        none = metric[(strategy, symbol, "none")]
        assert cells[2] == number(none["Sharpe Ratio"], 2) and cells[3] == number(none["Max. Drawdown [%]"], 1)
        for i, overlay in enumerate(overlays):
            book = metric[(strategy, symbol, overlay)]
            sharpe = book["Sharpe Ratio"] - none["Sharpe Ratio"]
            drawdown = book["Max. Drawdown [%]"] - none["Max. Drawdown [%]"]
            assert cells[5 + i] == number(sharpe, 2, signed=True), (strategy, symbol, overlay)
            assert cells[5 + len(overlays) + i] == number(drawdown, 1, signed=True), (strategy, symbol, overlay)


@pytest.mark.parametrize("width", WIDTHS)
def test_cli_compare_given_columns_fits_and_prints_every_shown_delta_whole(
    run_dir: Path, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    monkeypatch.setenv("COLUMNS", str(width))
    runner = CliRunner()

    # Act
    books = json.loads(runner.invoke(main, ["compare", str(run_dir), "--json"]).output)
    text = runner.invoke(main, ["compare", str(run_dir)]).output

    # Assert: the table fits; every overlay's Δ Sharpe is shown at 80 columns and up, each number whole
    assert max(len(line) for line in text.splitlines() if line[:1] in "┏┃┡│└") <= width
    hidden = re.search(r"hidden to fit \d+ columns: (.*?) \(--wide shows all\)", re.sub(r"\s+", " ", text))
    dropped = hidden.group(1).split(", ") if hidden else []
    short = abbreviations(OVERLAYS.split(",")[1:])
    for book in books:
        if book["overlay"] == "none":
            continue
        assert f"ΔSh {short[book['overlay']]}" not in dropped
        shown = number(book["Δ Sharpe Ratio"], 2, signed=True)
        assert re.search(rf"\s{re.escape(shown)}\s", text), (width, book["strategy"], shown)
        if f"ΔDD {short[book['overlay']]}" not in dropped:
            assert re.search(rf"\s{re.escape(number(book['Δ Max. Drawdown [%]'], 1, signed=True))}\s", text)
    assert "…" not in text and "vt*ca=vol_target*carry" in text
