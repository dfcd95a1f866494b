"""Options shared by ``carryguard risk``, ``risk validate`` and ``signals``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click
import pandas as pd

if TYPE_CHECKING:
    from carryguard.signals.risk_config import RiskConfig

CONFIG_HELP = "Risk index settings (TOML, top-level keys or a [risk] table); default: built-in defaults."


class UtcTime(click.ParamType):
    """A date or ISO time; a bare date is 00:00 UTC of that day, naive times are UTC."""

    name = "DATE"

    def convert(self, value: object, param: click.Parameter | None, ctx: click.Context | None) -> pd.Timestamp:
        if isinstance(value, pd.Timestamp):
            return value
        try:
            stamp = pd.Timestamp(str(value))
        except (ValueError, TypeError):
            self.fail(f"{value!r} is not a date (use YYYY-MM-DD or an ISO time)", param, ctx)
        if pd.isna(stamp):
            self.fail(f"{value!r} is not a date", param, ctx)
        return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


UTC_TIME = UtcTime()


def load_config(path: Path | None) -> RiskConfig:
    from carryguard.signals.risk_config import RiskConfig

    return RiskConfig.from_toml(path) if path else RiskConfig()
