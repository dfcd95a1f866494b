"""The risk history other bots read (``carryguard risk --export FILE``).

One row per daily reading (00:00 UTC, the time from which it may be used), oldest first:
``time, score, regime, version, stale`` and one column per index-driven policy with the
multiplier it would apply (``carry``: the default carry overlay with its hysteresis run
over the whole history). Unknown values are empty cells, never a guessed number: a bot
must treat them as "no reading" (the freqtrade mixin in
``carryguard.strategies.freqtrade_overlay`` fails closed on them).
"""

from __future__ import annotations

import csv
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from carryguard.signals.pit import MemoryStore
from carryguard.signals.risk import RiskConfig, latest_time, risk_at
from carryguard.strategies.overlay import CarryOverlay, OverlayConfig

COLUMNS = ("time", "score", "regime", "version", "stale")


def export_frame(
    inputs: MemoryStore, config: RiskConfig, *, start: pd.Timestamp, overlay: OverlayConfig | None = None
) -> pd.DataFrame:
    """Daily readings from ``start`` to the latest time every input supports, with the
    ``carry`` multiplier (NaN where the score is unknown: never a default of 1)."""
    end = latest_time(inputs, config)
    times = pd.date_range(start.normalize(), end, freq="D", tz="UTC", name="time")
    readings = risk_at(inputs, times, config)
    scores = readings["score"].to_numpy(dtype="float64")
    regimes, multipliers = CarryOverlay(overlay).score_sizing(scores)
    return pd.DataFrame(
        {
            "score": scores,
            "regime": np.where(np.isnan(scores), "", regimes),
            "version": getattr(config, "version", 1),
            "stale": readings["stale"].astype(str).str.replace(",", ";"),
            "carry": np.where(np.isnan(scores), np.nan, multipliers),
        },
        index=times,
    )


def write_export(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as the documented CSV, atomically (a bot never reads half a file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    policies = [c for c in frame.columns if c not in COLUMNS]
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False, newline="") as handle:
        try:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow([*COLUMNS, *policies])
            for time, row in zip(frame.index, frame.itertuples(index=False), strict=True):
                values = row._asdict()
                cells = [time.isoformat(), _cell(values["score"], 4), values["regime"], values["version"]]
                writer.writerow([*cells, values["stale"], *(_cell(values[p], 6) for p in policies)])
        except BaseException:
            Path(handle.name).unlink(missing_ok=True)
            raise
    os.replace(handle.name, path)


def _cell(value: float, digits: int) -> str:
    return "" if value != value else f"{value:.{digits}f}"
