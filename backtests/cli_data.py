"""``carryguard data import|list`` (and ``fetch``): get series into the local store."""

from __future__ import annotations

from pathlib import Path

import click

from backtests.console import print_json, print_table, stderr, stdout


@click.group("data")
def data() -> None:
    """Import, fetch and list the stored series."""


@data.command("import")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_obj
def import_cmd(obj, folder: Path) -> None:
    """Store every publisher CSV in FOLDER (MOF, FRED, Yahoo, Binance, OHLCV, close tables).

    Each file is imported all-or-nothing; a rejected file is named with the reason and
    the exit code is 1; a file of no known format is skipped with a note.

    \b
    Example:
      carryguard data import ../shared/data
    """
    from signals.importer import import_directory

    outcomes = import_directory(obj.store, folder)
    rows = []
    for outcome in outcomes:
        for meta in outcome.stored:
            rows.append((outcome.path.name, meta.id, meta.first[:10], meta.last[:10], meta.rows, len(meta.gaps), len(meta.flags)))
        for note in outcome.notes:
            stderr.print(f"note: {note}", highlight=False)
        if outcome.skipped:
            stderr.print(f"skipped {outcome.path}: {outcome.skipped}", highlight=False)
    print_table(f"Imported into {obj.store.root}", ["file", "series", "first", "last", "rows", "gaps", "flags"], rows,
                right=["rows", "gaps", "flags"])
    failed = [o for o in outcomes if o.error]
    for outcome in failed:
        click.echo(f"error: {outcome.error}", err=True)
    if failed:
        raise SystemExit(1)


@data.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON list of objects.")
@click.pass_obj
def list_cmd(obj, as_json: bool) -> None:
    """One row per stored series: id, source, first, last, rows, gaps, fetched_at.

    \b
    Example:
      carryguard data list --json
    """
    metas = obj.store.list()
    records = [
        {"id": m.id, "source": m.source, "publisher": m.publisher, "first": m.first, "last": m.last, "rows": m.rows,
         "gaps": len(m.gaps), "flags": len(m.flags), "fetched_at": m.fetched_at, "availability": m.availability}
        for m in metas
    ]
    if as_json:
        print_json(records)
        return
    if not records:
        stdout.print(f"no series in {obj.store.root}; run `carryguard data import DIR` or `carryguard data fetch`")
        return
    print_table(f"Series in {obj.store.root}", ["id", "source", "first", "last", "rows", "gaps", "fetched_at"],
                [(r["id"], r["source"], r["first"][:16], r["last"][:16], r["rows"], r["gaps"], r["fetched_at"]) for r in records],
                right=["rows", "gaps"])


commands = [data]
