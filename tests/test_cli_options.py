"""Every option that takes several values is spelled the same way on every verb: repeatable and
comma-separated (``--symbol A,B`` == ``--symbol A --symbol B``), one name per concept."""

from __future__ import annotations

from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.backtests.cli.options import PAIRS, ListOption

# Plural names kept on purpose: backtest's --overlay is the --overlay/--no-overlay switch.
PLURAL_OK = {"--overlays"}


def commands(group: click.Group = main, path: str = "carryguard") -> Iterator[tuple[str, click.Command]]:
    """Every command of the tree, with its path."""
    for name, command in sorted(group.commands.items()):
        yield f"{path} {name}", command
        if isinstance(command, click.Group):
            yield from commands(command, f"{path} {name}")


def options() -> list[tuple[str, click.Command, click.Option]]:
    return [(path, cmd, p) for path, cmd in commands() for p in cmd.params if isinstance(p, click.Option)]


def samples(option: ListOption) -> tuple[str, str]:
    """Two valid values for ``option``'s type."""
    if option.split is PAIRS:
        return "fast=20", "weights=[1,2]"  # a JSON list keeps its comma
    if isinstance(option.type, (click.FloatRange, click.IntRange)):
        return "10", "20"
    return "BTC/USDT", "ETH/USDT"


def test_cli_tree_given_every_option_uses_list_option_for_several_values() -> None:
    # Act: every option of every command that takes several values
    several = [(path, o) for path, _, o in options() if o.multiple or o.nargs != 1]

    # Assert: all of them are ListOptions with a singular visible name (or a stated exception)
    assert len(several) >= 10
    for path, option in several:
        assert isinstance(option, ListOption), (path, option.opts)
        visible = [o for o in option.opts if o not in option.aliases]
        assert all(not name.endswith("s") or name in PLURAL_OK for name in visible), (path, visible)
    for path, _, option in options():
        assert "comma" not in (option.help or "").lower() or isinstance(option, ListOption), (path, option.opts)


@pytest.mark.parametrize(("path", "option"), [(p, o) for p, _, o in options() if isinstance(o, ListOption)])
def test_list_option_given_commas_or_repeats_reads_the_same_values(path: str, option: ListOption) -> None:
    # Arrange
    command = next(cmd for p, cmd in commands() if p == path)
    ctx = click.Context(command)
    first, second = samples(option)

    # Act
    repeated = option.process_value(ctx, (first, second))
    commas = option.process_value(ctx, (f"{first},{second}",))
    mixed = option.process_value(ctx, (f" {first} ,", second))

    # Assert
    assert repeated == commas == mixed and len(repeated) == 2, (path, option.opts)


def test_cli_fetch_given_old_plural_spelling_still_reads_it_but_help_shows_the_singular() -> None:
    # Arrange
    fetch = main.commands["data"].commands["fetch"]  # type: ignore[attr-defined]

    # Act
    old = fetch.make_context("fetch", ["--symbols", "BTC/USDT,ETH/USDT", "--timeframes", "4h"]).params
    new = fetch.make_context("fetch", ["--symbol", "BTC/USDT", "--symbol", "ETH/USDT", "--timeframe", "4h"]).params
    text = CliRunner().invoke(main, ["data", "fetch", "--help"]).output

    # Assert
    assert old["symbols"] == new["symbols"] == ("BTC/USDT", "ETH/USDT") and old["timeframes"] == ("4h",)
    assert "--symbol BASE/QUOTE" in text and "--symbols" not in text.replace("--symbol BASE", "")


def test_cli_backtest_given_empty_list_value_is_a_usage_error() -> None:
    # Act
    outcome = CliRunner().invoke(main, ["backtest", "--symbol", " , "])

    # Assert
    assert outcome.exit_code == 2 and "give at least one value" in outcome.stderr
