"""A corpus of malformed inputs: each gives one clear stderr line, exit 1, store untouched."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main

GOOD_BINANCE = (
    "timestamp,open,high,low,close,volume\n"
    "2024-08-01,100,110,90,105,5\n2024-08-02,105,112,95,99,6\n2024-08-03,99,101,97,100,1\n"
)
GOOD_YAHOO = (
    "Date,Close,High,Low,Open,Volume\n"
    "2024-08-01,150.1,151,149,150,0\n2024-08-02,149,150.5,148,150.1,0\n2024-08-03,148,149,147,149,0\n"
)

# (file name, bytes, text the one-line error must contain)
CORPUS: list[tuple[str, bytes, str]] = [
    ("btcusdt_1d_binance.csv", b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>", "HTML page"),
    ("btcusdt_1d_binance.csv", b"", "empty file"),
    ("btcusdt_1d_binance.csv", b"timestamp,open,high,low,close,volume\n", "no rows"),
    ("btcusdt_1d_binance.csv", b"timestamp,open,high,close,volume\n2024-08-01,1,2,1.5,3\n", "lacks column(s) low"),
    (
        "btcusdt_1d_binance.csv",
        GOOD_BINANCE.replace("2024-08-02", "2024-13-45").encode(),
        "line 3: cannot read date '2024-13-45'",
    ),
    (
        "btcusdt_1d_binance.csv",
        (GOOD_BINANCE + "2024-08-02,105,112,95,80,6\n").encode(),
        "conflicting duplicate rows for 2024-08-02",
    ),
    (
        "btcusdt_1d_binance.csv",
        GOOD_BINANCE.replace("105,112", "abc,112").encode(),
        "line 3 column open: non-numeric value 'abc'",
    ),
    (
        "btcusdt_1d_binance.csv",
        GOOD_BINANCE.replace("99,101,97,100", "99,101,97,-100").encode(),
        "non-positive price at 2024-08-03",
    ),
    ("btcusdt_1d_binance.csv", GOOD_BINANCE.replace("105,112,95", "105,90,95").encode(), "high < low at 2024-08-02"),
    ("btcusdt_1d_binance.csv", GOOD_BINANCE.replace("95,99,6", "95,1e999,6").encode(), "infinite value at 2024-08-02"),
    (
        "btcusdt_1d_binance.csv",
        GOOD_BINANCE.replace("105,112,95,99,6", "105,112,,99,6").encode(),
        "line 3 column low: missing value",
    ),
    ("btcusdt_1d_binance.csv", (GOOD_BINANCE + "2024-08-04,1,2,3,4,5,6\n").encode(), "not a well-formed CSV"),
    (
        "yahoo_USDJPY_daily.csv",
        GOOD_YAHOO.replace("149,150.5", "149,1x0.5").encode(),
        "column High: non-numeric value '1x0.5'",
    ),
    (
        "mof_jgbcme_all.csv",
        b"Interest Rate,,,(Unit : %)\r\nDate,1Y,2Y,40Y\r\nR8.6.30,1.1,1.3,3.7\r\n",
        "line 3: cannot read date 'R8.6.30'",
    ),
    (
        "mof_jgbcme_all.csv",
        b"Interest Rate,,,(Unit : %)\r\nDate,1Y,2Y,40Y\r\n2026/6/30,1.1,x,3.7\r\n",
        "column 2Y: non-numeric value 'x'",
    ),
    (
        "fred_DGS10.csv",
        b"date,value\n2024-08-01,3.9\n2024-08-02,n.a.\n",
        "line 3 column value: non-numeric value 'n.a.'",
    ),
    (
        "fred_DEXJPUS.csv",
        b"DATE,DEXJPUS\n2024-08-01,149.5\n2024-08-01,150.0\n",
        "conflicting duplicate rows for 2024-08-01",
    ),
    ("my_series.csv", b"date,value\n2024-08-01,3.9\n", "does not name the FRED series"),
    ("btcusdt_1d_binance.csv", b"date,price\n2024-08-01,5\n", "header 'date,price' is not a Binance layout"),
    ("fred_DGS10.csv", b"date,DGS10,DGS2\n2024-08-01,3.9,4.1\n", "is not a FRED layout; expected DATE,<SERIES>"),
    ("btcusdt_1d_binance.csv", b"\xff\xfe\x00\x81\x00binary\xff\x80", "not a text file"),
]


def digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture()
def populated_store(tmp_path: Path) -> Path:
    """A store already holding the series the malformed files would overwrite."""
    good = tmp_path / "good"
    good.mkdir()
    (good / "btcusdt_1d_binance.csv").write_text(GOOD_BINANCE + "2024-08-04,100,101,99,100,1\n")
    (good / "yahoo_USDJPY_daily.csv").write_text(GOOD_YAHOO + "2024-08-05,148,149,147,149,0\n")
    (good / "mof_jgbcme_all.csv").write_text(
        "Interest Rate,,,(Unit : %)\r\nDate,1Y,2Y,40Y\r\n2026/6/29,1.1,1.3,3.7\r\n"
    )
    (good / "fred_DGS10.csv").write_text("date,value\n2024-08-01,3.9\n")
    (good / "fred_DEXJPUS.csv").write_text("DATE,DEXJPUS\n2024-08-01,149.5\n")
    store = tmp_path / "store"
    result = CliRunner().invoke(main, ["--data-dir", str(store), "data", "import", str(good)])
    assert result.exit_code == 0, result.stderr
    return store


def test_corpus_given_at_least_twelve_cases_covers_each_kind_of_damage() -> None:
    assert len(CORPUS) >= 12


@pytest.mark.parametrize(("file_name", "content", "expected"), CORPUS, ids=[c[2][:40] for c in CORPUS])
def test_import_given_malformed_file_exits_1_with_one_clear_line_and_store_unchanged(
    populated_store: Path, tmp_path: Path, file_name: str, content: bytes, expected: str
) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / file_name).write_bytes(content)
    before = digest(populated_store)

    result = CliRunner().invoke(main, ["--data-dir", str(populated_store), "data", "import", str(folder)])

    error_lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.exit_code == 1
    assert len(error_lines) == 1, result.stderr
    assert expected in error_lines[0] and file_name in error_lines[0]
    assert "Traceback" not in result.output
    assert digest(populated_store) == before


def test_import_given_one_bad_file_among_good_ones_stores_the_good_and_names_the_bad(
    populated_store: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / "ethusdt_1d_binance.csv").write_text(GOOD_BINANCE + "2024-08-04,100,101,99,100,1\n")
    (folder / "btcusdt_1d_binance.csv").write_bytes(b"<html>rate limited</html>")
    (folder / "notes.csv").write_text("what,ever\n1,2\n")

    result = CliRunner().invoke(main, ["--data-dir", str(populated_store), "data", "import", str(folder), "--wide"])

    assert result.exit_code == 1
    assert "binance/ETH-USDT/1d" in result.stdout
    assert "skipped" in result.stderr and "notes.csv" in result.stderr
    assert "btcusdt_1d_binance.csv: is an HTML page" in result.stderr


def test_import_given_debug_and_a_rejected_file_shows_its_traceback(populated_store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "incoming"
    folder.mkdir()
    (folder / "fred_DGS10.csv").write_bytes(b"<html>maintenance</html>")

    quiet = CliRunner().invoke(main, ["--data-dir", str(populated_store), "data", "import", str(folder)])
    debug = CliRunner().invoke(main, ["--debug", "--data-dir", str(populated_store), "data", "import", str(folder)])

    assert quiet.exit_code == debug.exit_code == 1
    assert "Traceback" not in quiet.stderr and "nothing imported" in quiet.stdout
    assert "Traceback" in debug.stderr and "carryguard.signals.errors.DataError" in debug.stderr
    assert debug.stderr.strip().splitlines()[-1] == quiet.stderr.strip()


def test_cli_given_unknown_option_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "data", "import", "--bogus"])

    assert result.exit_code == 2


def test_cli_given_missing_folder_exits_2_naming_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "data", "import", str(tmp_path / "nope")])

    assert result.exit_code == 2 and "nope" in result.stderr
