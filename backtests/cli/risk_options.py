"""Options shared by ``carryguard risk``, ``risk validate`` and ``signals`` (dates: ``cli.options.UTC_TIME``;
``risk --as-of``: ``AsOfText``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from carryguard.backtests.cli.options import UTC_TIME

if TYPE_CHECKING:
    import pandas as pd

    from carryguard.signals.risk_config import RiskConfig

CONFIG_HELP = "Risk index settings (TOML, top-level keys or a [risk] table); default: built-in defaults."


def load_config(path: Path | None) -> RiskConfig:
    from carryguard.signals.risk_config import RiskConfig

    return RiskConfig.from_toml(path) if path else RiskConfig()


class AsOfText(click.ParamType):
    """``--as-of`` kept as the text given and parsed by ``parse_as_of`` only when a reading is
    computed: a cached reading (``risk_cache``) is served without importing pandas."""

    name = "DATE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return value


def parse_as_of(ctx: click.Context, text: str | None) -> pd.Timestamp | None:
    """``--as-of`` as ``cli.options.UTC_TIME`` reads it (a bad date: the same usage error, exit 2)."""
    if text is None:
        return None
    param = next(p for p in ctx.command.params if p.name == "as_of")
    return UTC_TIME.convert(text, param, ctx)
