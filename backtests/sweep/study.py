"""A sweep study: what to search (strategy and overlay parameters) on which bars, read from TOML.

```toml
[sweep]
name = "my_sweep"             # names the run folder; default: the file's name
strategy = "sma_cross"
source = "binance"            # series id = source/SYMBOL/timeframe
symbol = "BTC/USDT"
timeframe = "4h"
start = "2019-01-01"          # optional, UTC; default: the whole history (earlier bars warm up indicators)
end = ""
search = "grid"               # grid | random
samples = 500                 # random search: how many distinct combos to draw
seed = 7
metric = "Sharpe Ratio"       # a metric name of carryguard.backtests.engine.metrics, used to rank
top = 20                      # rows of the summary table
overlay = true                # size every combo with the carry overlay (default false)
constraints = ["fast < slow"]

[params]                      # strategy parameters
fast = { start = 2, stop = 100, step = 2 }   # inclusive range
slow = [50, 100, 200]                        # explicit values
# x = { low = 0.1, high = 0.9 }              # random search only: uniform floats

[overlay_params]              # OverlayConfig fields (only with overlay = true)
stress = [0.0, 0.25, 0.5]

[execution]                   # ExecutionConfig fields
commission = 0.001

[risk]                        # signals.risk.RiskConfig fields (only with overlay = true);
zscore_window = 500           # default: signals/risk_default.toml, as in `carryguard backtest`

[walkforward]                 # optional: rolling or anchored train/test windows
mode = "rolling"
train = "730D"
test = "180D"
```
Overlay parameters appear in combos and results as ``overlay.<field>``.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.backtests.engine.fast_metrics import FAST_METRIC_NAMES
from carryguard.backtests.run.study import _plain as plain_config  # configs in the form backtest manifests use
from carryguard.backtests.run.study import parse_time
from carryguard.signals.errors import CarryguardError
from carryguard.signals.risk import RiskConfig
from carryguard.signals.toml_file import read_toml

OVERLAY_PREFIX = "overlay."
TEXT_METRICS = frozenset({"Start", "End", "Duration", "Max. Drawdown Duration"})
LOWER_IS_BETTER = frozenset({"Volatility (Ann.) [%]", "Turnover", "Fees [$]"})
SEARCHES = ("grid", "random")
_OPERATORS = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
TABLES = ("sweep", "params", "overlay_params", "execution", "risk", "walkforward")
_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.]*|-?[\d.]+)\s*(<=|>=|==|!=|<|>)\s*([A-Za-z_][\w.]*|-?[\d.]+)\s*$")


@dataclass(frozen=True)
class WalkForwardConfig:
    """Train/test windows for walk-forward validation.

    mode: "rolling" (train window of fixed length slides) or "anchored" (train starts at
        the first bar and grows).
    train, test: window lengths as pandas durations ("730D" = two years, "180D").
    step: how far each fold moves; default = test (test windows tile without overlap).
        At most ``test``: a longer step would leave bars between test windows that no
        fold chose a combo for, inside the one out-of-sample book.
    metric: ranks the combos on each train window; default = the sweep's metric.
    """

    mode: str = "rolling"
    train: str = "730D"
    test: str = "180D"
    step: str = ""
    metric: str = ""

    def __post_init__(self) -> None:
        if self.mode not in ("rolling", "anchored"):
            raise ValueError(f"walkforward mode must be 'rolling' or 'anchored', got {self.mode!r}")
        for name in ("train", "test") + (("step",) if self.step else ()):
            if duration(getattr(self, name)) <= pd.Timedelta(0):
                raise ValueError(f"walkforward {name} must be a positive duration, got {getattr(self, name)!r}")
        if self.step and duration(self.step) > duration(self.test):
            raise ValueError(
                f"walkforward step {self.step!r} is longer than test {self.test!r}: the test windows "
                "would leave gaps in the out-of-sample book; use step <= test"
            )
        if self.metric:
            check_metric(self.metric)


@dataclass(frozen=True)
class SweepStudy:
    """A parameter search (see module docstring for the TOML layout and defaults)."""

    name: str
    strategy: str
    params: Mapping[str, Any]
    source: str = "binance"
    symbol: str = "BTC/USDT"
    timeframe: str = "1d"
    start: str = ""
    end: str = ""
    search: str = "grid"
    samples: int = 0
    seed: int = 0
    metric: str = "Sharpe Ratio"
    top: int = 20
    overlay: bool = False
    overlay_params: Mapping[str, Any] = field(default_factory=dict)
    constraints: tuple[str, ...] = ()
    execution: ExecutionConfig = ExecutionConfig()
    risk: Mapping[str, Any] = field(default_factory=dict)
    walkforward: WalkForwardConfig | None = None

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ValueError(
                f"sweep name {self.name!r} may only use letters, digits, _ and - (it names the run folder)"
            )
        for key in ("start", "end"):
            try:
                parse_time(getattr(self, key) or None, key=key, origin="[sweep]")
            except CarryguardError as error:
                raise ValueError(str(error)) from None
        if self.search not in SEARCHES:
            raise ValueError(f"search must be one of {', '.join(SEARCHES)}, got {self.search!r}")
        if self.search == "random" and self.samples < 1:
            raise ValueError("random search needs samples >= 1")
        check_metric(self.metric)
        if self.top < 1:
            raise ValueError(f"top must be >= 1, got {self.top}")
        if self.overlay_params and not self.overlay:
            raise ValueError("overlay_params given but overlay = false")
        if self.risk and not self.overlay:
            raise ValueError("[risk] given but overlay = false (the risk index only acts through the overlay)")
        if not self.params and not self.overlay_params:
            raise ValueError("nothing to sweep: give [params] and/or [overlay_params]")
        try:
            self.risk_config()
        except CarryguardError as error:
            raise ValueError(str(error)) from None
        for text in self.constraints:
            parse_constraint(text)

    def risk_config(self) -> RiskConfig:
        """The risk index the overlay reads: ``[risk]`` over the defaults (same as a backtest study's)."""
        return RiskConfig.from_dict(dict(self.risk), origin="[risk]")

    def to_dict(self) -> dict[str, Any]:
        """The resolved study, JSON-ready (for the manifest; the risk settings in full
        when the overlay is used)."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        out["params"] = dict(self.params)
        out["overlay_params"] = dict(self.overlay_params)
        out["constraints"] = list(self.constraints)
        out["execution"] = {f.name: getattr(self.execution, f.name) for f in fields(self.execution)}
        out["risk"] = plain_config(self.risk_config()) if self.overlay else None
        out["walkforward"] = (
            None
            if self.walkforward is None
            else {f.name: getattr(self.walkforward, f.name) for f in fields(self.walkforward)}
        )
        return out


def duration(text: str) -> pd.Timedelta:
    """A pandas duration (``"730D"``, ``"12W"``); ValueError naming the text otherwise."""
    try:
        return pd.Timedelta(text)
    except (TypeError, ValueError) as error:
        raise ValueError(f"bad duration {text!r}: use e.g. '730D' or '12W'") from error


def check_metric(name: str) -> None:
    """ValueError unless ``name`` is a numeric metric of ``carryguard.backtests.engine.metrics`` (one a combo can be ranked by)."""
    if name not in FAST_METRIC_NAMES or name in TEXT_METRICS:
        ranked = [m for m in FAST_METRIC_NAMES if m not in TEXT_METRICS]
        raise ValueError(f"cannot rank by metric {name!r}; use one of: {', '.join(ranked)}")


def load_sweep_study(path: str | Path) -> SweepStudy:
    """Read a sweep study; any problem raises ``CarryguardError`` naming the file."""
    path = Path(path)
    document = read_toml(path, what="sweep study")
    try:
        return study_from_dict(document, default_name=path.stem)
    except (TypeError, ValueError, KeyError) as error:
        raise CarryguardError(f"{path}: {error}", fix="fix the sweep study") from error


def study_from_dict(document: Mapping[str, Any], *, default_name: str = "sweep") -> SweepStudy:
    """Build a ``SweepStudy`` from parsed TOML (tables ``sweep``, ``params``, ...)."""
    unknown = sorted(set(document) - set(TABLES))
    if unknown:
        raise ValueError(f"unknown table [{unknown[0]}]; known: {', '.join(TABLES)}")
    sweep = dict(document.get("sweep", {}))
    if "strategy" not in sweep:
        raise ValueError("[sweep] needs strategy = NAME")
    sweep.setdefault("name", default_name)
    sweep["constraints"] = tuple(sweep.get("constraints", ()))
    _check_keys("sweep", sweep, {f.name for f in fields(SweepStudy)} - set(TABLES))
    _check_kinds(sweep)
    execution = dict(document.get("execution", {}))
    _check_keys("execution", execution, {f.name for f in fields(ExecutionConfig)})
    walkforward = document.get("walkforward")
    if walkforward is not None:
        _check_keys("walkforward", walkforward, {f.name for f in fields(WalkForwardConfig)})
    return SweepStudy(
        params=dict(document.get("params", {})),
        overlay_params=dict(document.get("overlay_params", {})),
        execution=ExecutionConfig(**execution),
        risk=dict(document.get("risk", {})),
        walkforward=None if walkforward is None else WalkForwardConfig(**walkforward),
        **sweep,
    )


def _check_kinds(sweep: dict[str, Any]) -> None:
    """[sweep] values of the kind of each setting's default (text, whole number, true/false);
    TOML dates become ISO text."""
    for item in fields(SweepStudy):
        if item.name not in sweep or item.name == "constraints":
            continue
        value = sweep[item.name]
        if isinstance(value, date):
            value = sweep[item.name] = value.isoformat()
        kind = str if item.default is MISSING else type(item.default)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            what = "a date like 2018-01-01" if item.name in ("start", "end") else _KIND_NAMES[kind]
            raise ValueError(f"[sweep] {item.name} must be {what}, got {value!r}")


_KIND_NAMES = {str: "text", int: "a whole number", bool: "true or false"}


def _check_keys(table: str, given: Mapping[str, Any], known: set[str]) -> None:
    bad = sorted(set(given) - known)
    if bad:
        raise ValueError(f"[{table}] has no setting {bad[0]!r}; known: {', '.join(sorted(known))}")


def parse_constraint(text: str) -> tuple[str, str, str]:
    """``"fast < slow"`` -> ``("fast", "<", "slow")``; operands are parameter names or numbers."""
    match = _CONSTRAINT.match(text)
    if not match:
        raise ValueError(f"bad constraint {text!r}: use 'a < b' with parameter names or numbers")
    return match.group(1), match.group(2), match.group(3)


def _operand(token: str, combo: Mapping[str, Any]) -> Any:
    if token in combo:
        return combo[token]
    try:
        return float(token)
    except ValueError:
        raise ValueError(f"constraint names unknown parameter {token!r}; swept: {', '.join(combo)}") from None


def satisfies(combo: Mapping[str, Any], constraints: tuple[str, ...]) -> bool:
    """Whether ``combo`` meets every constraint (a name not in the combo is a ValueError)."""
    for text in constraints:
        left, op, right = parse_constraint(text)
        if not _OPERATORS[op](_operand(left, combo), _operand(right, combo)):
            return False
    return True


def _grid_values(name: str, spec: Any) -> list[Any]:
    if isinstance(spec, list):
        if not spec:
            raise ValueError(f"parameter {name!r}: empty list")
        return spec
    if isinstance(spec, dict) and {"start", "stop"} <= set(spec):
        start, stop, step = spec["start"], spec["stop"], spec.get("step", 1)
        if step <= 0 or stop < start:
            raise ValueError(f"parameter {name!r}: need start <= stop and step > 0")
        if all(isinstance(v, int) for v in (start, stop, step)):
            return list(range(start, stop + 1, step))
        count = math.floor((stop - start) / step + 1e-9) + 1
        return [round(start + i * step, 12) for i in range(count)]
    if isinstance(spec, dict) and {"low", "high"} <= set(spec):
        raise ValueError(
            f"parameter {name!r}: {{low, high}} ranges are for random search; grid needs values or start/stop/step"
        )
    if isinstance(spec, (int, float, str, bool)):
        return [spec]
    raise ValueError(f"parameter {name!r}: use a list, {{start, stop, step}} or (random) {{low, high}}")


def _all_specs(study: SweepStudy) -> dict[str, Any]:
    specs = dict(study.params)
    specs.update({OVERLAY_PREFIX + k: v for k, v in study.overlay_params.items()})
    return specs


def combos(study: SweepStudy) -> list[dict[str, Any]]:
    """The combos to evaluate, in a deterministic order: the full grid (in TOML order,
    last parameter fastest) or ``samples`` distinct random draws (seeded; fewer if 50 x
    ``samples`` draws do not find that many distinct valid ones); both filtered by the
    constraints."""
    specs = _all_specs(study)
    if study.search == "grid":
        names = list(specs)
        grid = itertools.product(*(_grid_values(n, specs[n]) for n in names))
        out = [c for c in (dict(zip(names, values, strict=False)) for values in grid) if satisfies(c, study.constraints)]
    else:
        out = _random_combos(specs, study)
    if not out:
        raise ValueError("no parameter combination satisfies the constraints")
    return out


def _random_combos(specs: Mapping[str, Any], study: SweepStudy) -> list[dict[str, Any]]:
    rng = np.random.default_rng(study.seed)
    draws: list[tuple[str, Any]] = []
    for name, spec in specs.items():
        if isinstance(spec, dict) and {"low", "high"} <= set(spec):
            low, high = float(spec["low"]), float(spec["high"])
            if not low < high:
                raise ValueError(f"parameter {name!r}: need low < high")
            draws.append((name, (low, high)))
        else:
            draws.append((name, _grid_values(name, spec)))
    seen: set[tuple] = set()
    out: list[dict[str, Any]] = []
    for _ in range(study.samples * 50):
        combo = {}
        for name, choice in draws:
            if isinstance(choice, tuple):
                combo[name] = float(rng.uniform(*choice))
            else:
                value = choice[int(rng.integers(len(choice)))]
                combo[name] = value.item() if isinstance(value, np.generic) else value
        key = tuple(combo.values())
        if key in seen or not satisfies(combo, study.constraints):
            continue
        seen.add(key)
        out.append(combo)
        if len(out) == study.samples:
            break
    return out


def split_combo(combo: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(strategy params, overlay params) of one combo."""
    strategy = {k: v for k, v in combo.items() if not k.startswith(OVERLAY_PREFIX)}
    overlay = {k[len(OVERLAY_PREFIX) :]: v for k, v in combo.items() if k.startswith(OVERLAY_PREFIX)}
    return strategy, overlay
