"""Every table fits the terminal it is printed to, and never cuts a number."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console
from synthetic_run import write_run

from carryguard.backtests.cli import main
from carryguard.backtests.cli.console import render_table
from carryguard.backtests.report.html import number

WIDTHS = (80, 100, 160)
COLUMNS = ["strategy", "symbol", "tf", "Return %", "+carry", "CAGR %", "+carry ", "MaxDD %", "Δ MaxDD %", "Sharpe"]
NUMBERS = COLUMNS[3:]
ROWS = [
    ["rsi_oversold+carry *", "BTC/USDT", "1d", "1,237.14", "777.29", "38.19", "31.11", "-54.25", "+3.78", "0.99"],
    [
        "a_rather_long_strategy_name_here",
        "ETH/USDT",
        "1d",
        "-65.36",
        "-61.00",
        "-12.39",
        "-11.08",
        "-94.06",
        "+2.39",
        "0.15",
    ],
]


def rendered(width: int, **kwargs: object) -> str:
    table, note = render_table("Title", COLUMNS, ROWS, right=NUMBERS, width=width, **kwargs)  # type: ignore[arg-type]
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(table)
    console.print(note)
    return console.export_text()


@pytest.mark.parametrize("width", WIDTHS)
def test_render_table_given_width_fits_it_and_keeps_every_shown_number_whole(width: int) -> None:
    # Act
    text = rendered(width)

    # Assert: no line wider than the terminal; every number cell of a shown column appears whole on one line
    assert max(len(line) for line in text.splitlines()) <= width
    hidden = re.search(r"hidden to fit \d+ columns: (.*) \(--wide shows all\)", text)
    dropped = hidden.group(1).split(", ") if hidden else []
    for row in ROWS:
        for column, cell in zip(COLUMNS, row, strict=True):
            if column in NUMBERS and column not in dropped:
                assert re.search(rf"(^|\s){re.escape(cell)}(\s|$)", text, flags=re.M), (column, cell)
    assert "…" not in text


def test_render_table_given_narrow_terminal_drops_columns_in_the_stated_order() -> None:
    # Act
    text = rendered(80, drop=["CAGR %", "+carry ", "tf"])

    # Assert: the first named column goes first and the note says which were hidden
    assert "hidden to fit 80 columns: CAGR %" in text
    assert "Sharpe" in text and "+3.78" in text and "38.19" not in text


def test_render_table_given_no_width_keeps_every_column_on_one_line() -> None:
    # Act
    table, note = render_table("Title", COLUMNS, ROWS, right=NUMBERS, width=None)

    # Assert
    assert [str(c.header) for c in table.columns] == COLUMNS and note == ""


def test_render_table_given_long_text_folds_it_instead_of_cutting(tmp_path: Path) -> None:
    # Act
    text = rendered(80)

    # Assert: the long name is all there, across lines of the first column
    first_column = "".join(line.split("│")[1].strip() for line in text.splitlines() if line.startswith("│"))
    assert "a_rather_long_strategy_name_here" in first_column


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_run(tmp_path_factory.mktemp("runs"))


@pytest.mark.parametrize("width", WIDTHS)
def test_cli_compare_given_columns_prints_every_json_number_of_the_shown_columns_whole(
    run_dir: Path, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange
    monkeypatch.setenv("COLUMNS", str(width))
    runner = CliRunner()

    # Act
    rows = json.loads(runner.invoke(main, ["compare", str(run_dir), "--json"]).output)
    table = runner.invoke(main, ["compare", str(run_dir), "--books"]).output

    # Assert: the table fits, and each headline number of the JSON rows appears whole (unless its column was hidden)
    assert max(len(line) for line in table.splitlines() if "│" in line) <= width
    hidden = re.search(r"hidden to fit \d+ columns: (.*) \(--wide shows all\)", table)
    dropped = hidden.group(1) if hidden else ""
    for row in rows:
        for name, short in (("Sharpe Ratio", "Sharpe"), ("Max. Drawdown [%]", "MaxDD %"), ("Return [%]", "Return %")):
            if short not in dropped.split(", "):
                assert re.search(rf"\s{re.escape(number(row[name]))}\s", table), (width, name, row[name])
    assert "…" not in table


def test_cli_compare_given_wide_shows_every_column_at_80(run_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange
    monkeypatch.setenv("COLUMNS", "80")

    # Act
    narrow = CliRunner().invoke(main, ["compare", str(run_dir), "--books"]).output
    wide = CliRunner().invoke(main, ["compare", str(run_dir), "--books", "--wide"]).output

    # Assert
    assert "hidden to fit 80 columns" in narrow and "hidden" not in wide
    assert "┃ Δ CAGR % ┃" in wide and "┃ Δ CAGR % ┃" not in narrow


@pytest.mark.parametrize("width", WIDTHS)
def test_cli_data_import_given_columns_prints_every_json_number_whole(
    shared_data: Path, tmp_path: Path, width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: the widest file name of the sample data
    monkeypatch.setenv("COLUMNS", str(width))
    csv = shared_data / "btc_close_multiccy_daily_bitstamp.csv"

    # Act
    rows = json.loads(
        CliRunner().invoke(main, ["--data-dir", str(tmp_path / "a"), "data", "import", str(csv), "--json"]).stdout
    )
    table = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "b"), "data", "import", str(csv)]).stdout

    # Assert: every number of a shown column whole; the hidden ones named
    assert max(len(line) for line in table.splitlines()) <= max(width, len(table.splitlines()[0]))
    hidden = re.search(r"hidden to fit \d+ columns: (.*) \(--wide shows all\)", table)
    dropped = hidden.group(1).split(", ") if hidden else []
    for row in rows:
        for name in ("rows", "gaps", "flags", "first", "last"):
            if name in dropped:
                continue
            assert re.search(rf"\s{re.escape(str(row[name]))}\s", table), (width, name)


def test_render_table_given_a_drop_group_hides_a_metric_with_its_twin() -> None:
    # Arrange: "+carry" appears twice; the group (3, 4) is Return % and its twin
    columns = ["strategy", "symbol", "tf", "Return %", "+carry", "Sharpe", "+carry"]
    rows = [["a_strategy_name_long", "BTC/USDT", "1d", "1,237.14", "777.29", "0.99", "0.93"]] * 2

    # Act
    table, note = render_table("T", columns, rows, right=columns[3:], width=62, drop=[(3, 4), 2])

    # Assert: both halves of the pair went first, the Sharpe pair stayed
    assert [str(c.header) for c in table.columns] == ["strategy", "symbol", "tf", "Sharpe", "+carry"]
    assert note == "hidden to fit 62 columns: Return %, +carry (--wide shows all)"
