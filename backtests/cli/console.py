"""Shared terminal output: rich tables that fit the terminal on stdout, JSON for programs.

Every table of every verb goes through ``print_table``, which fits it to the width it is
printed to (80 columns and up) without ever cutting a cell: first long headers wrap onto
two or three lines, then long text cells fold onto more lines (whole words of up to 20
characters stay whole), then whole columns are dropped, the least important first (the
``drop`` order, else from the right; the first column always stays), and a note names
what was dropped. ``--wide`` (added to every verb by ``add_wide_option``) prints all.
"""

from __future__ import annotations

import json
import os
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypedDict, Unpack

import click
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

PIPE_WIDTH = 200  # piped output: a wide virtual terminal, so tables are not squeezed to 80 columns
MIN_WIDTH = 80
FOLD_MIN = 20  # a folded text column keeps at least this many characters per line (series ids stay whole)
_WIDE = False


def _width(stream: object) -> int | None:
    """$COLUMNS when set (tests, scripts), the terminal's width on a tty, else ``PIPE_WIDTH``."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit():
        return max(int(columns), 1)
    return None if getattr(stream, "isatty", lambda: False)() else PIPE_WIDTH


stdout = Console(soft_wrap=True, width=_width(sys.stdout))
stderr = Console(stderr=True, soft_wrap=True, width=_width(sys.stderr))


def set_wide(wide: bool) -> None:
    """Print every table with all its columns, whatever the terminal's width."""
    global _WIDE
    _WIDE = wide


def add_wide_option(command: click.Command) -> click.Command:
    """Give ``command`` (and every subcommand of a group) the ``--wide`` flag."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            add_wide_option(sub)
        return command
    command.params.append(
        click.Option(
            ["--wide"],
            is_flag=True,
            expose_value=False,
            is_eager=True,
            callback=lambda _ctx, _param, value: set_wide(bool(value)),
            help="Show every table column, even wider than the terminal.",
        )
    )
    return command


def say(text: str, *, err: bool = False) -> None:
    """Prose on stdout (stderr with ``err``), each line wrapped at spaces to the width tables are
    fitted to (not with ``--wide``); a wrapped line continues indented by two more spaces."""
    console, stream = (stderr, sys.stderr) if err else (stdout, sys.stdout)
    width = None if _WIDE else max(_width(stream) or console.width, MIN_WIDTH)
    for line in text.splitlines():
        indent = " " * (len(line) - len(line.lstrip()))
        lines = (
            textwrap.wrap(
                line, width=width, subsequent_indent=indent + "  ", break_long_words=False, break_on_hyphens=False
            )
            if width is not None and cell_len(line) > width
            else [line]
        )
        console.print("\n".join(lines), highlight=False, markup=False, soft_wrap=True)


def print_json(data: object) -> None:
    """Stable JSON (sorted keys off: key order is part of the documented shape)."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@dataclass(frozen=True)
class Layout:
    """How a table is fitted: kept column indices, their (wrapped) headers, which fold, what was dropped."""

    keep: list[int]
    headers: list[str]
    widths: list[int | None]  # a folding column's width, else None (its cells' own width)
    dropped: list[str]


def _overhead(count: int) -> int:
    """Characters a rich table with ``count`` columns adds: a border and one space each side of each cell."""
    return 3 * count + 1


def fit(
    columns: Sequence[str],
    cells: list[list[str]],
    right: Sequence[str],
    width: int | None,
    drop: Sequence[str | int | Sequence[int]],
) -> Layout:
    """Choose headers, folding and dropped columns so the table is at most ``width`` wide (None: any)."""
    count = len(columns)
    data = [max((cell_len(row[i]) for row in cells), default=0) for i in range(count)]
    natural = [max(data[i], cell_len(columns[i])) for i in range(count)]
    keep = list(range(count))
    if width is None or sum(natural) + _overhead(count) <= width:
        return Layout(keep, list(columns), [None] * count, [])
    longest_word = [max((cell_len(w) for w in columns[i].split()), default=0) for i in range(count)]
    header_min = [max(data[i], min(longest_word[i], natural[i])) for i in range(count)]
    numeric = [name in right for name in columns]
    fold_min = [natural[i] if numeric[i] else min(natural[i], max(FOLD_MIN, longest_word[i])) for i in range(count)]
    shrunk = [min(header_min[i], natural[i]) for i in range(count)]
    least = [fold_min[i] if not numeric[i] else shrunk[i] for i in range(count)]
    groups = [_indices(item, columns) for item in drop]
    groups = [[i for i in group if 0 < i < count] for group in groups]
    groups += [[i] for i in range(count - 1, 0, -1) if not any(i in group for group in groups)]
    dropped: list[int] = []
    while sum(least[i] for i in keep) + _overhead(len(keep)) > width and groups:
        for gone in groups.pop(0):  # a group (a metric and its +carry twin) goes together
            if gone in keep:
                keep.remove(gone)
                dropped.append(gone)
    budget = width - _overhead(len(keep))
    widths = {i: shrunk[i] for i in keep}
    for i in keep:  # text columns fold no narrower than ``fold_min``
        if not numeric[i]:
            widths[i] = fold_min[i]
    spare = budget - sum(widths.values())
    for i in sorted(keep, key=lambda j: (numeric[j], natural[j] - widths[j])):  # room back: text first, then headers
        grow = min(spare, natural[i] - widths[i])
        widths[i] += max(grow, 0)
        spare -= max(grow, 0)
    headers = [_wrap_header(columns[i], widths[i]) for i in keep]
    fold: list[int | None] = [widths[i] if not numeric[i] and data[i] > widths[i] else None for i in keep]
    return Layout(keep, headers, fold, [columns[i] for i in dropped])


def _indices(item: str | int | Sequence[int], columns: Sequence[str]) -> list[int]:
    """Column positions of a ``drop`` entry: a name, a position, or positions dropped together."""
    if isinstance(item, str):
        return [columns.index(item)] if item in columns else []
    return [item] if isinstance(item, int) else list(item)


def _wrap_header(header: str, width: int) -> str:
    return (
        header if cell_len(header) <= width else "\n".join(textwrap.wrap(header, width=width, break_long_words=False))
    )


class Fitting(TypedDict, total=False):
    """How a table fits the terminal: ``right`` columns are numbers (right-aligned, never cut), ``drop``
    lists the columns (names, or positions for repeated names) to hide first when it is too narrow
    (then the others from the right), ``legend`` is a note printed under it."""

    right: Sequence[str]
    drop: Sequence[str | int | Sequence[int]]
    legend: str


def render_table(
    title: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    width: int | None,
    **fitting: Unpack[Fitting],
) -> tuple[Table, str]:
    """The fitted rich table and its note (dropped columns, the legend) for a terminal ``width`` wide
    (None: any width); None cells are blank."""
    right, legend = fitting.get("right", ()), fitting.get("legend", "")
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    layout = fit(columns, cells, right, width, fitting.get("drop", ()))
    if width is not None and cell_len(title) > width:  # a title wraps at spaces too (soft_wrap would not)
        title = "\n".join(textwrap.wrap(title, width=width, break_on_hyphens=False))
    table = Table(title=title, title_justify="left", header_style="bold", box=box.HEAVY_HEAD)
    for index, header, fold in zip(layout.keep, layout.headers, layout.widths, strict=True):
        table.add_column(
            header,
            justify="right" if columns[index] in right else "left",
            no_wrap=fold is None,
            overflow="fold",
            max_width=fold,
        )
    for row in cells:
        table.add_row(*(row[i] for i in layout.keep))
    notes = [legend] if legend else []
    if layout.dropped:
        notes.append(f"hidden to fit {width} columns: {', '.join(layout.dropped)} (--wide shows all)")
    return table, "\n".join(notes)


def print_table(
    title: str, columns: Sequence[str], rows: Iterable[Sequence[object]], **fitting: Unpack[Fitting]
) -> None:
    """A table on stdout fitted to the terminal (``render_table``), all of it with ``--wide``."""
    width = None if _WIDE else max(_width(sys.stdout) or stdout.width, MIN_WIDTH)
    table, note = render_table(title, columns, rows, width=width, **fitting)
    created = stdout.width
    stdout.width = width or 10_000  # print at the width fitted to, whatever the console was created with
    try:
        stdout.print(table)
    finally:
        stdout.width = created
    if note:
        say(note)


@contextmanager
def stage_progress(title: str, stages: Sequence[str]) -> Iterator[Callable[[str], None]]:
    """A progress bar over named ``stages`` on stderr (on a terminal only); yields ``step(stage)``,
    called as each stage starts."""
    if not stderr.is_terminal:
        yield lambda _stage: None
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[stage]}"),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
    ) as bar:
        task = bar.add_task(title, total=len(stages), stage="")
        seen: list[str] = []

        def step(stage: str) -> None:
            if seen:
                bar.advance(task)
            seen.append(stage)
            bar.update(task, stage=stage)

        yield step
