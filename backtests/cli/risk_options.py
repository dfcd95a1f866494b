"""Options shared by ``carryguard risk``, ``risk validate`` and ``signals`` (dates: ``cli.options.UTC_TIME``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from carryguard.signals.risk_config import RiskConfig

CONFIG_HELP = "Risk index settings (TOML, top-level keys or a [risk] table); default: built-in defaults."


def load_config(path: Path | None) -> RiskConfig:
    from carryguard.signals.risk_config import RiskConfig

    return RiskConfig.from_toml(path) if path else RiskConfig()
