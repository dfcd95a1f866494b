"""The run folder: written with pyarrow (parquet per-bar tables, CSV on request), read back
identically, and refused with the file named when its bytes do not match the manifest."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from synthetic_run import write_run

from carryguard.backtests.cli import main
from carryguard.backtests.run.folder import BookKey, load_run
from carryguard.backtests.run.layout import BOOK_COLUMNS, CHECKSUMS, sha256_file
from carryguard.backtests.run.runner import StudyRun, run_study
from carryguard.backtests.run.study import parse_study
from carryguard.backtests.run.write import write_results
from carryguard.signals.errors import DataError
from carryguard.signals.store import Store

KEY = BookKey("sma_cross", "BTC/USDT", "1d", "carry")


@pytest.fixture(scope="module")
def small_run(shared_store: Store) -> StudyRun:
    study = parse_study(
        {
            "name": "small",
            "data": {"symbols": ["BTC/USDT"], "start": "2022-01-01", "end": "2022-12-31"},
            "strategies": {"sma_cross": {}},
        }
    )
    return run_study(study, shared_store, engine="fast")


def test_write_results_given_run_writes_parquet_per_bar_tables_that_load_back_exactly(
    small_run: StudyRun, tmp_path: Path
) -> None:
    # Act
    folder = write_results(small_run, tmp_path)
    run = load_run(folder)

    # Assert
    names = sorted(p.name for p in folder.iterdir())
    assert names == [
        "equity.parquet",
        "exposure.parquet",
        "fills.csv",
        "manifest.json",
        "metrics.json",
        "prices.parquet",
        "risk.csv",
        "trades.csv",
    ]
    result = next(r for r in small_run.results if (r.strategy, r.overlay) == (KEY.strategy, KEY.overlay))
    assert run.equity[KEY]["equity"].tolist() == result.book.equity.tolist()
    assert run.equity[KEY].index.equals(result.book.equity.index)
    assert run.exposure[KEY]["multiplier"].tolist() == result.exposure["multiplier"].tolist()
    assert len(run.trades) == sum(len(r.book.trades) for r in small_run.results)
    assert run.trades["is_open"].dtype == bool


def test_write_results_given_csv_writes_every_table_as_csv_and_loads_the_same(
    small_run: StudyRun, tmp_path: Path
) -> None:
    # Act
    parquet = load_run(write_results(small_run, tmp_path / "p"))
    folder = write_results(small_run, tmp_path / "c", csv=True)
    csv = load_run(folder)

    # Assert
    assert not list(folder.glob("*.parquet"))
    assert (folder / "metrics.json").read_bytes() == (parquet.path / "metrics.json").read_bytes()
    for key in parquet.equity:
        assert csv.equity[key].equals(parquet.equity[key])
        assert csv.exposure[key].equals(parquet.exposure[key])
    assert csv.risk.equals(parquet.risk)
    assert csv.trades.equals(parquet.trades)


def test_manifest_given_written_folder_lists_sha256_of_every_other_file(small_run: StudyRun, tmp_path: Path) -> None:
    # Act
    folder = write_results(small_run, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())

    # Assert
    expected = {p.name: sha256_file(p) for p in folder.iterdir() if p.name != "manifest.json"}
    assert manifest[CHECKSUMS] == expected


def test_load_run_given_half_cut_equity_file_refuses_naming_it(small_run: StudyRun, tmp_path: Path) -> None:
    # Arrange
    folder = write_results(small_run, tmp_path)
    path = folder / "equity.parquet"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    # Act / Assert
    with pytest.raises(DataError, match=r"equity\.parquet: damaged or changed"):
        load_run(folder)


def test_load_run_given_last_equity_number_changed_refuses_naming_it(small_run: StudyRun, tmp_path: Path) -> None:
    # Arrange: a valid parquet file whose last equity value differs by one cent
    folder = write_results(small_run, tmp_path)
    path = folder / "equity.parquet"
    table = pq.read_table(path)
    values = table.column("equity").to_pylist()
    values[-1] += 0.01
    pq.write_table(table.set_column(table.schema.get_field_index("equity"), "equity", pa.array(values)), path)

    # Act / Assert
    with pytest.raises(DataError, match=r"equity\.parquet: damaged or changed") as error:
        load_run(folder)
    assert "restore the file" in str(error.value.fix)


def test_load_run_given_last_digit_of_csv_changed_refuses_naming_it(small_run: StudyRun, tmp_path: Path) -> None:
    # Arrange
    folder = write_results(small_run, tmp_path, csv=True)
    path = folder / "equity.csv"
    text = path.read_text()
    last = text.rstrip("\n")[-1]
    path.write_text(text.rstrip("\n")[:-1] + ("1" if last != "1" else "2") + "\n")

    # Act / Assert
    with pytest.raises(DataError, match=r"equity\.csv: damaged or changed"):
        load_run(folder)


def test_load_run_given_listed_file_deleted_refuses_naming_it(small_run: StudyRun, tmp_path: Path) -> None:
    # Arrange
    folder = write_results(small_run, tmp_path)
    (folder / "trades.csv").unlink()

    # Act / Assert
    with pytest.raises(DataError, match=r"trades\.csv: missing \(listed in manifest\.json\)"):
        load_run(folder)


def test_load_run_given_folder_written_before_checksums_still_loads(tmp_path: Path) -> None:
    # Arrange: the CSV-only layout without checksums (what earlier versions wrote)
    folder = write_run(tmp_path)

    # Act
    run = load_run(folder)

    # Assert
    assert CHECKSUMS not in run.manifest and run.books


def test_cli_compare_given_damaged_folder_exits_1_with_one_line_naming_file_and_fix(
    small_run: StudyRun, tmp_path: Path
) -> None:
    # Arrange
    folder = write_results(small_run, tmp_path)
    path = folder / "equity.parquet"
    path.write_bytes(path.read_bytes()[:-100])

    # Act
    result = CliRunner().invoke(main, ["compare", str(folder)])

    # Assert
    assert result.exit_code == 1
    (line,) = result.output.strip().splitlines()
    assert str(path) in line and "damaged or changed" in line and "rerun `carryguard backtest`" in line


def test_load_run_given_old_folder_with_equity_cut_short_refuses_naming_it(tmp_path: Path) -> None:
    # Arrange: no checksums (an old folder); the last rows of equity.csv are gone
    folder = write_run(tmp_path)
    path = folder / "equity.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[: len(lines) // 2]) + "\n")

    # Act / Assert
    with pytest.raises(DataError, match=r"equity\.csv: .* ends "):
        load_run(folder)


def test_load_run_given_old_folder_with_last_equity_changed_refuses_naming_it(tmp_path: Path) -> None:
    # Arrange: change the equity of the file's last row (a book's last bar)
    folder = write_run(tmp_path)
    path = folder / "equity.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    cells = lines[-1].split(",")
    column = header.index("equity")
    cells[column] = repr(float(cells[column]) + 1.0)
    path.write_text("\n".join([*lines[:-1], ",".join(cells)]) + "\n")

    # Act / Assert
    with pytest.raises(DataError, match=r"equity\.csv: .* ends at equity"):
        load_run(folder)


def test_load_run_given_old_folder_with_rows_shuffled_gives_each_book_sorted_in_first_seen_order(
    tmp_path: Path,
) -> None:
    # Arrange: the same equity rows in a random order (a table's row order is not part of its meaning)
    folder = write_run(tmp_path)
    expected = load_run(folder)
    path = folder / "equity.csv"
    header, *rows = path.read_text().splitlines()
    random.Random(7).shuffle(rows)
    path.write_text("\n".join([header, *rows]) + "\n")
    columns = header.split(",")
    first_seen = list(dict.fromkeys(BookKey(*(row.split(",")[columns.index(c)] for c in BOOK_COLUMNS)) for row in rows))

    # Act
    run = load_run(folder)

    # Assert
    assert list(run.equity) == first_seen and set(first_seen) == set(expected.equity)
    for key, frame in expected.equity.items():
        pd.testing.assert_frame_equal(run.equity[key], frame, check_exact=True)
        assert run.equity[key].index.is_monotonic_increasing


def test_load_run_given_old_folder_with_a_repeated_time_refuses_naming_file_time_and_book(tmp_path: Path) -> None:
    # Arrange: one equity row written twice
    folder = write_run(tmp_path)
    path = folder / "equity.csv"
    header, *rows = path.read_text().splitlines()
    columns = header.split(",")
    row = rows[3]
    cells = dict(zip(columns, row.split(","), strict=True))
    path.write_text("\n".join([header, *rows[:4], row, *rows[4:]]) + "\n")
    key = BookKey(*(cells[c] for c in BOOK_COLUMNS))
    when = pd.Timestamp(cells["time"]).tz_convert("UTC").isoformat()

    # Act / Assert
    with pytest.raises(DataError, match=re.escape(f"equity.csv: duplicate time {when} for {key}")):
        load_run(folder)
