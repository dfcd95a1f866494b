"""signals.timeparse: the one date and one duration parser, and the CLI options over them."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from click.testing import CliRunner

from carryguard.backtests.cli import main
from carryguard.signals.errors import ConfigError
from carryguard.signals.timeparse import parse_date, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-08-05", "2024-08-05T00:00:00+00:00"),
        ("2024-08-05T12:30", "2024-08-05T12:30:00+00:00"),
        ("2024-08-05 12:30:15", "2024-08-05T12:30:15+00:00"),
        ("2024-08-05T12:30Z", "2024-08-05T12:30:00+00:00"),
        ("2024-08-05T09:30+09:00", "2024-08-05T00:30:00+00:00"),
        (date(2024, 8, 5), "2024-08-05T00:00:00+00:00"),
    ],
)
def test_parse_date_given_iso_text_or_date_returns_utc_timestamp(text, expected):
    # Act / Assert
    assert parse_date(text, what="x") == pd.Timestamp(expected)


def test_parse_date_given_ambiguous_day_month_names_both_readings():
    # Act
    with pytest.raises(ConfigError) as caught:
        parse_date("05/08/2024", what="--start")

    # Assert
    text = str(caught.value)
    assert text.startswith("--start: '05/08/2024' is ambiguous")
    assert "2024-08-05 (5 August)" in text and "2024-05-08 (8 May)" in text


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("13/08/2024", "write it as 2024-08-13"),
        ("2024-02-30", "is not a calendar date"),
        ("Aug 2024", "use YYYY-MM-DD"),
        ("2024", "use YYYY-MM-DD"),
        ("latest", "is not a date"),
        (20240805, "is not a date"),
    ],
)
def test_parse_date_given_other_text_raises_config_error(text, message):
    # Act / Assert
    with pytest.raises(ConfigError, match=message):
        parse_date(text, what="x")


def test_parse_date_given_latest_where_allowed_returns_none():
    # Act / Assert
    assert parse_date("latest", what="end", allow_latest=True) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("730D", pd.Timedelta(days=730)),
        ("12W", pd.Timedelta(weeks=12)),
        ("4h", pd.Timedelta(hours=4)),
        ("15min", pd.Timedelta(minutes=15)),
        ("1d12h", pd.Timedelta(hours=36)),
        ("2 days", pd.Timedelta(days=2)),
        ("90s", pd.Timedelta(seconds=90)),
    ],
)
def test_parse_duration_given_units_returns_timedelta(text, expected):
    # Act / Assert
    assert parse_duration(text, what="x") == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3m", "write 'min' for minutes"),
        ("5y", "unknown unit 'y'"),
        ("10", "is not a duration"),
        ("0d", "must be longer than zero"),
        ("", "is not a duration"),
    ],
)
def test_parse_duration_given_bad_text_raises_config_error(text, message):
    # Act / Assert
    with pytest.raises(ConfigError, match=message):
        parse_duration(text, what="x")


@pytest.mark.parametrize(
    "args",
    [
        ["risk", "--as-of", "05/08/2024"],
        ["signals", "--start", "05/08/2024"],
        ["data", "fetch", "--since", "05/08/2024", "--no-macro"],
        ["backtest", "--start", "05/08/2024"],
    ],
)
def test_cli_given_ambiguous_date_option_exits_2_naming_both_readings(tmp_path, args):
    # Act
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), *args])

    # Assert
    assert result.exit_code == 2
    assert "ambiguous" in result.stderr and "2024-08-05" in result.stderr and "2024-05-08" in result.stderr
