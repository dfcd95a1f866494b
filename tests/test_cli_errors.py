"""A mistyped name gets one stderr line naming what was expected and the nearest valid name:
exit 2 for a command-line option, exit 1 for the content of a study file."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

import pytest
from click.testing import CliRunner
from synthetic_run import write_run

from carryguard.backtests.cli import main

SWEEP_STUDY = str(files("carryguard.backtests") / "studies" / "sweep_sma_4h.toml")
STUDY = """
{top}
[data]
symbols = ["BTC/USDT"]
[strategies]
{strategies}
{extra}
"""

OPTION_CASES = [  # (argv after the store, the nearest valid name, the option named)
    (["sweep", SWEEP_STUDY, "--metric", "sharp"], "Sharpe Ratio", "--metric"),
    (["sweep", SWEEP_STUDY, "--metric", "sortino"], "Sortino Ratio", "--metric"),
    (["compare", "{run}", "--sort", "sharp"], "sharpe", "--sort"),
    (["compare", "{run}", "--sort", "maxd"], "maxdd", "--sort"),
    (["backtest", "--strategy", "sma_cros"], "sma_cross", "--strategy"),
    (["backtest", "--overlays", "none,vol_targt"], "vol_target", "--overlays"),
    (["backtest", "--strategy", "sma_cross+yen_shok"], "yen_shock", "--strategy"),
    (["backtest", "--engine", "fsat"], "fast", "--engine"),
    (["sweep", SWEEP_STUDY, "--executor", "dsk"], "dask", "--executor"),
    (["paper", "run", "--once", "--overlay", "carri"], "carry", "--overlay"),
    (["check", "lookahead", "--strategy", "sma_cross", "--overlay", "cary"], "carry", "--overlay"),
]

FILE_CASES = [  # (strategies table, extra tables, the nearest valid name, the table named)
    ("buy_and_hold = {}", "[execution]\ncomission = 0.001", "commission", "[execution]"),
    ("buy_and_hold = {}", "[risk]\nclipp = 3.0", "clip", "[risk]"),
    ("buy_and_hold = {}", "[risk.weights]\nyen_strenght = 1.0", "yen_strength", "[risk]"),
    ("buy_and_hold = {}", "[overlay]\nstres = 50.0", "stress", "[overlay]"),
    ("buy_and_hold = {}\n[overlay.vol_target]\ntargt = 0.3", "", "target", "[overlay.vol_target]"),
    ("buy_and_hold = {}\n[overlay.vol_targt]\ntarget = 0.3", "", "vol_target", "[overlay.vol_targt]"),
    ("sma_cros = {}", "", "sma_cross", "strategies.sma_cros"),
    ("sma_cross = { fats = 5 }", "", "fast", "strategies.sma_cross"),
    ("buy_and_hold = {}", 'descripton = "typo at the top"', "description", "study.toml"),
]


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize(("argv", "nearest", "option"), OPTION_CASES)
def test_cli_given_mistyped_name_in_an_option_exits_2_with_the_nearest_name(
    tmp_path: Path, argv: list[str], nearest: str, option: str
) -> None:
    # Arrange: a run folder for compare; an empty store (every case fails before reading data)
    run = write_run(tmp_path)
    args = [a.replace("{run}", str(run)) for a in argv]

    # Act
    outcome = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "store"), *args])

    # Assert
    line = one_line(outcome.stderr)
    assert outcome.exit_code == 2, line
    assert f"did you mean '{nearest}'?" in line and option in line and "internal error" not in line


@pytest.mark.parametrize(("strategies", "extra", "nearest", "where"), FILE_CASES)
def test_cli_given_mistyped_name_in_a_study_file_exits_1_naming_file_table_and_nearest_name(
    tmp_path: Path, strategies: str, extra: str, nearest: str, where: str
) -> None:
    # Arrange
    study = tmp_path / "study.toml"
    top, tables = (extra, "") if extra.startswith("descripton") else ("", extra)
    study.write_text(STUDY.format(top=top, strategies=strategies, extra=tables))

    # Act
    outcome = CliRunner().invoke(
        main, ["--data-dir", str(tmp_path / "store"), "backtest", str(study), "--results-dir", str(tmp_path / "r")]
    )

    # Assert: one line naming the file and table, exit 1, nothing written
    line = one_line(outcome.stderr)
    assert outcome.exit_code == 1, line
    assert f"did you mean '{nearest}'?" in line and "study.toml" in line and where in line
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("old", "new", "nearest"),
    [('metric = "Sharpe Ratio"', 'metric = "Sharpe Ratoi"', "Sharpe Ratio"), ("top = 15", "topp = 15", "top")],
)
def test_cli_sweep_given_mistyped_name_in_the_study_exits_1_with_the_nearest_name(
    tmp_path: Path, old: str, new: str, nearest: str
) -> None:
    # Arrange
    study = tmp_path / "sweep.toml"
    text = Path(SWEEP_STUDY).read_text(encoding="utf-8")
    assert old in text
    study.write_text(text.replace(old, new))

    # Act
    outcome = CliRunner().invoke(main, ["--data-dir", str(tmp_path / "store"), "sweep", str(study)])

    # Assert
    line = one_line(outcome.stderr)
    assert outcome.exit_code == 1 and f"did you mean '{nearest}'?" in line and "[sweep]" in line


def test_cli_given_unknown_command_or_option_prints_one_usage_line_and_exits_2(tmp_path: Path) -> None:
    # Act
    outcomes = [
        CliRunner().invoke(main, ["--data-dir", str(tmp_path), *argv])
        for argv in (["backtst"], ["backtest", "--symbl", "BTC/USDT"], ["compare"])
    ]

    # Assert: one line each, saying where the help is
    for outcome in outcomes:
        line = one_line(outcome.stderr)
        assert outcome.exit_code == 2 and line.startswith("error: ") and "--help`" in line
    assert "did you mean 'backtest'?" in outcomes[0].stderr
    assert "'--symbol'" in outcomes[1].stderr
