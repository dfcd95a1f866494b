"""Shared terminal output: rich tables on stdout, JSON for programs."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table

# Piped output gets a wide virtual terminal so tables are not squeezed to 80 columns.
stdout = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
stderr = Console(stderr=True, soft_wrap=True, width=None if sys.stderr.isatty() else 200)


def print_json(data: object) -> None:
    """Stable JSON (sorted keys off: key order is part of the documented shape)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def print_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], *, right: Sequence[str] = ()
) -> None:
    """A rich table on stdout; columns named in ``right`` are right-aligned (numbers), None cells blank."""
    table = Table(title=title, title_justify="left", header_style="bold")
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", no_wrap=True)
    for row in rows:
        table.add_row(*("" if cell is None else str(cell) for cell in row))
    stdout.print(table)
