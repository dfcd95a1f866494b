"""What ``carryguard risk`` prints for a reading, as plain JSON data (so ``risk_cache`` can
store it) and the one function that prints it (the same for a computed and a cached reading,
so their output is byte-identical). pandas is imported only by the builders, which run on a
miss; ``show`` and the table fitting (to the terminal's width, at print time) need neither.
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import TYPE_CHECKING, Any

from carryguard.backtests.cli.console import print_json, print_table, say, stdout
from carryguard.backtests.cli.freshness import Freshness, guard

if TYPE_CHECKING:
    from carryguard.signals.features import Label
    from carryguard.signals.risk import RiskConfig, RiskReading

View = dict[str, Any]  # {"json": {...}} or {"lines": [[op, *args], ...]}


def fmt(x: float | None, digits: int = 2, sign: bool = False, unit: str = "") -> str:
    """``x`` with ``digits`` decimals (and a unit); "n/a" for None/NaN."""
    if x is None or math.isnan(x):
        return "n/a"
    text = f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"
    return f"{text} {unit}" if unit else text


def plain(view: View) -> View:
    """``view`` as it comes back from a cache entry (JSON data; other values as ``str``, as
    ``print_json`` writes them)."""
    return json.loads(json.dumps(view, default=str))


def check_age(as_of: str, *, max_age: float, require_fresh: bool, warn: bool) -> Freshness:
    """The reading's age by the wall clock now, from its ISO time: the warning line (when
    ``warn``), or exit 1 with ``require_fresh`` (``cli.freshness.guard``)."""
    return guard(datetime.fromisoformat(as_of), max_age, require_fresh, warn=warn)


def show(view: View, fresh: Freshness) -> None:
    """Print ``view`` (the JSON with the reading's age added, or the lines and table)."""
    if "json" in view:
        print_json({**view["json"], **fresh.to_json()})
        return
    for op, *args in view["lines"]:
        if op == "print":
            stdout.print(args[0], highlight=False)
        elif op == "say":
            say(args[0])
        else:
            title, columns, rows, right = args
            print_table(title, columns, rows, right=right)


def json_view(reading: RiskReading, overlays: dict[str, Any]) -> View:
    """``--json``: the reading and each index-driven policy's multiplier (age added when shown)."""
    return {"json": {**reading.to_json(), "overlays": overlays}}


def table_view(reading: RiskReading, cfg: RiskConfig, cross_check: str) -> View:
    """Score, regime, the components table (numbers a person can recompute: contribution
    = weight x clipped zscore), each input's data date and age, and the USD/JPY cross-check."""
    import pandas as pd

    from carryguard.signals.features import labels

    as_of = reading.as_of
    lines: list[list[Any]] = [
        [
            "print",
            f"Carry-Unwind Risk Index v{reading.version} as of {as_of:%Y-%m-%d %H:%M} UTC: "
            f"[bold]{fmt(reading.score, 1)}[/bold] ({reading.regime or 'not computable'})",
        ]
    ]
    label = labels(cfg)
    rows = [
        [
            c.name,
            fmt(c.value, 3, unit=label[c.name].unit),
            _change(c.change, label[c.name]),
            fmt(c.zscore, 2, True),
            fmt(c.weight, 3),
            fmt(c.contribution, 3, True),
            c.data_date.strftime("%Y-%m-%d") if c.data_date is not None else "n/a",
        ]
        for c in reading.components
    ]
    columns = ["component", "value", "change", "zscore", "weight", "contribution", "data date"]
    lines.append(["table", "Components", columns, rows, ["value", "change", "zscore", "weight", "contribution"]])
    (jp, us), *_ = cfg.spread_pairs
    lines.append(
        [
            "say",
            f"jgb_* value: mean yield of the JGB {'/'.join(cfg.momentum_tenors)} tenors with enough history; "
            f"carry_spread: US {us.removeprefix('us').upper()} - JGB {jp}\n"
            f"changes over business days (d); contribution = weight x zscore clipped to [{cfg.floor:+g}, "
            f"{cfg.clip:+g}], summing to the composite {fmt(reading.composite, 3, True)}",
        ]
    )
    lines.append(["say", _score_line(reading, cfg)])
    if not reading.regime:
        lines.append(
            [
                "say",
                f"no score: less than {cfg.min_weight:.0%} of the component weight has inputs with enough "
                f"history and younger than {cfg.expire_days:g} days",
            ]
        )
    for sid, date in reading.input_dates.items():
        age = f"{(as_of - date) / pd.Timedelta(days=1):.1f} days old" if date is not None else "no data yet"
        flag = "  STALE" if sid in reading.stale else ""
        text = f"input {sid}: data date {date:%Y-%m-%d}, {age}{flag}" if date is not None else f"input {sid}: {age}"
        lines.append(["print", text])
    if cross_check:
        lines.append(["say", cross_check])
    return {"lines": lines}


def _score_line(reading: RiskReading, cfg: RiskConfig) -> str:
    """How the composite became the score, per version."""
    if cfg.version == 1:
        sign = "-" if cfg.center >= 0 else "+"
        return f"score = 100 / (1 + exp(-(composite {sign} {abs(cfg.center):g}) / {cfg.scale:g}))"
    rank = "n/a" if math.isnan(reading.rank) else f"{reading.rank:.1%}"
    return (
        f"composite = yen trigger ({'/'.join(cfg.trigger_weights)}) + {cfg.amplifier_gain:g} x "
        f"max(amplifier ({'/'.join(cfg.amplifier_weights)}), {cfg.amplifier_floor:g})\n"
        f"score: the composite ranks at {rank} of its last {cfg.rank_window_days} daily readings; as a "
        f"normal quantile q, score = 100 / (1 + exp(-(q - {cfg.rank_center:g}) / {cfg.rank_scale:g}))"
    )


def _change(change: float, label: Label) -> str:
    """``-0.105 pp in 20d`` (d = business days of the source)."""
    text = fmt(change, 3, True, label.change_unit)
    return text if text == "n/a" else f"{text} in {label.change_window}d"
