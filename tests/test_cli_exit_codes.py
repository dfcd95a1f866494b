"""The one place errors become exit codes (``Carryguard.main``): Ctrl-C exits 130, an
unexpected error is one "internal error" line (its traceback only with ``--debug``), a
mistyped subcommand names the nearest one, and the entry works as the installed script
calls it (no arguments: the command line in ``sys.argv``)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.signals.store import Store


def _raise(exc: BaseException) -> None:
    raise exc


def test_cli_given_ctrl_c_in_a_command_exits_130_saying_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Arrange: reading the store's series ids is interrupted
    monkeypatch.setattr(Store, "ids", lambda self: _raise(KeyboardInterrupt()))

    # Act
    outcome = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "data", "list"])

    # Assert
    assert outcome.exit_code == 130
    assert outcome.stderr.strip() == "interrupted"


@pytest.mark.parametrize("debug", [False, True])
def test_cli_given_unexpected_error_exits_1_with_one_line_and_traceback_only_with_debug(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debug: bool
) -> None:
    # Arrange
    monkeypatch.setattr(Store, "ids", lambda self: _raise(RuntimeError("boom")))

    # Act
    outcome = CliRunner().invoke(main, [*(["--debug"] if debug else []), "--data-dir", str(tmp_path), "data", "list"])

    # Assert: the last line names the error; the traceback only with --debug
    lines = outcome.stderr.strip().splitlines()
    assert outcome.exit_code == 1
    assert lines[-1] == "internal error: RuntimeError: boom (rerun with --debug for the traceback)"
    assert ("Traceback (most recent call last)" in outcome.stderr) is debug
    assert len(lines) > 1 if debug else len(lines) == 1


def test_cli_given_mistyped_subcommand_exits_2_naming_the_nearest(tmp_path: Path) -> None:
    # Act
    outcome = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "paper", "stauts"])

    # Assert
    assert outcome.exit_code == 2
    assert outcome.stderr.strip().splitlines() == [
        "error: no such command 'stauts'; did you mean 'status'? (see `main paper --help`)"
    ]


def test_cli_entry_given_no_arguments_reads_sys_argv_and_exits_with_the_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Arrange: as the installed `carryguard` script calls it
    monkeypatch.setattr(sys, "argv", ["carryguard", "--data-dir", str(tmp_path), "data", "lst"])

    # Act
    with pytest.raises(SystemExit) as stopped:
        main()

    # Assert
    assert stopped.value.code == 2
    assert "did you mean 'list'?" in capsys.readouterr().err
