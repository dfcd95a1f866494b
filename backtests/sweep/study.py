"""A sweep study: a study file (``backtests.run.study``) plus what to search.

```toml
name = "my_sweep"             # names the run folder; default: the file's name
with_overlay = [true]         # one value: size every combo with the overlay or not
                              # (default: true when [params.overlay] is given, else false)
[data]                        # one symbol and one timeframe
source = "binance"
symbols = ["BTC/USDT"]
timeframes = ["4h"]
start = "2019-01-01"          # optional, UTC; earlier stored bars warm up indicators
end = "latest"

[strategies]                  # one strategy; its parameters here are fixed unless swept
sma_cross = {}

[params]                      # strategy parameters to search
fast = { start = 2, stop = 100, step = 2 }   # inclusive range
slow = [50, 100, 200]                        # explicit values
# x = { low = 0.1, high = 0.9 }              # random search only: uniform floats

[params.overlay]              # OverlayConfig fields to search (named overlay.<field> in results)
stress = [0.0, 0.25, 0.5]

[overlay]                     # fixed OverlayConfig fields (as in a backtest study)
[risk]                        # signals.risk.RiskConfig fields, as in a backtest study
zscore_window = 500
[execution]                   # ExecutionConfig fields

[sweep]                       # optional: how to search (defaults shown in SweepSettings)
search = "grid"               # grid | random
samples = 500                 # random search: how many distinct combos to draw
seed = 7
metric = "Sharpe Ratio"       # a metric name of carryguard.backtests.engine.metrics, used to rank
top = 20                      # rows of the summary table
constraints = ["fast < slow"]

[walkforward]                 # optional: rolling or anchored train/test windows
mode = "rolling"
train = "730D"
test = "180D"
```
Fixed parameters (a ``[strategies]`` parameter or ``[overlay]`` field that is not swept)
join every combo as a one-value column, so each result row is the whole configuration.
"""

from __future__ import annotations

import itertools
import math
import operator
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from carryguard.backtests.engine.fast_metrics import FAST_METRIC_NAMES
from carryguard.backtests.run.study import Study, StudyError, parse_study, read_study, sweep_key
from carryguard.signals.config import closest, config_keys, parse_config, plain_config, unknown_keys
from carryguard.signals.errors import ConfigError
from carryguard.signals.risk import RiskConfig
from carryguard.signals.timeparse import parse_duration
from carryguard.strategies.overlay import OverlayConfig

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
_CONSTRAINT = re.compile(r"^\s*([A-Za-z_][\w.]*|-?[\d.]+)\s*(<=|>=|==|!=|<|>)\s*([A-Za-z_][\w.]*|-?[\d.]+)\s*$")
# Keys of the old [sweep] table -> where they live now.
SWEEP_MOVED = {
    "name": "the top-level name",
    "strategy": "[strategies] as NAME = {}",
    "source": "[data] source",
    "symbol": '[data] symbols = ["BASE/QUOTE"]',
    "timeframe": '[data] timeframes = ["TF"]',
    "start": "[data] start",
    "end": "[data] end",
    "overlay": "the top-level with_overlay = [true]",
}


@dataclass(frozen=True)
class SweepSettings:
    """The ``[sweep]`` table: how to search and rank.

    search: "grid" (every combo) or "random" (``samples`` distinct draws).
    samples: random search: how many distinct combos to draw.
    seed: random search seed (0).
    metric: the metric combos are ranked by ("Sharpe Ratio").
    top: rows of the summary table (20).
    constraints: conditions every combo meets, e.g. ["fast < slow", "overlay.crisis <= overlay.stress"].
    """

    search: str = "grid"
    samples: int = 0
    seed: int = 0
    metric: str = "Sharpe Ratio"
    top: int = 20
    constraints: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.search not in SEARCHES:
            raise ValueError(f"search must be one of {', '.join(SEARCHES)}, got {self.search!r}")
        if self.search == "random" and self.samples < 1:
            raise ValueError("random search needs samples >= 1")
        check_metric(self.metric)
        if self.top < 1:
            raise ValueError(f"top must be >= 1, got {self.top}")
        for text in self.constraints:
            parse_constraint(text)


@dataclass(frozen=True)
class WalkForwardConfig:
    """Train/test windows for walk-forward validation.

    mode: "rolling" (train window of fixed length slides) or "anchored" (train starts at
        the first bar and grows).
    train, test: window lengths as durations ("730D" = two years, "180D"; signals.timeparse).
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
        _, test, step = self.lengths()
        if step > test:
            raise ValueError(
                f"walkforward step {self.step!r} is longer than test {self.test!r}: the test windows "
                "would leave gaps in the out-of-sample book; use step <= test"
            )
        if self.metric:
            check_metric(self.metric)

    def lengths(self) -> tuple[pd.Timedelta, pd.Timedelta, pd.Timedelta]:
        """(train, test, step) as Timedeltas (step defaults to test)."""
        train = parse_duration(self.train, what="walkforward train")
        test = parse_duration(self.test, what="walkforward test")
        return train, test, parse_duration(self.step, what="walkforward step") if self.step else test


@dataclass(frozen=True)
class SweepStudy:
    """A parameter search over one strategy on one series: the base ``Study`` (data,
    strategy, overlay, risk, execution) and the swept values. Properties give the one
    strategy/symbol/timeframe; ``overlay`` says whether combos are sized by the overlay."""

    base: Study
    params: Mapping[str, Any]
    overlay_params: Mapping[str, Any] = field(default_factory=dict)
    settings: SweepSettings = field(default_factory=SweepSettings)
    walkforward: WalkForwardConfig | None = None

    def __post_init__(self) -> None:
        if self.overlay_params and not self.overlay:
            raise ValueError("[params.overlay] given but with_overlay = [false]")
        if not self.params and not self.overlay_params:
            raise ValueError("nothing to sweep: give [params] and/or [params.overlay]")

    name = property(lambda self: self.base.name)
    strategy = property(lambda self: self.base.strategies[0].name)
    source = property(lambda self: self.base.source)
    symbol = property(lambda self: self.base.symbols[0])
    timeframe = property(lambda self: self.base.timeframes[0])
    start = property(lambda self: self.base.start)
    end = property(lambda self: self.base.end)
    overlay = property(lambda self: self.base.with_overlay == (True,))
    execution = property(lambda self: self.base.execution)
    search = property(lambda self: self.settings.search)
    samples = property(lambda self: self.settings.samples)
    seed = property(lambda self: self.settings.seed)
    metric = property(lambda self: self.settings.metric)
    top = property(lambda self: self.settings.top)
    constraints = property(lambda self: self.settings.constraints)

    def risk_config(self) -> RiskConfig:
        """The risk index the overlay reads: the study's ``[risk]`` (as in a backtest)."""
        return self.base.risk

    def to_dict(self) -> dict[str, Any]:
        """The resolved study, JSON-ready (for the manifest; the risk settings in full
        when the overlay is used)."""
        return {
            "name": self.name,
            "strategy": self.strategy,
            "params": dict(self.params),
            "source": self.source,
            "symbol": self.symbol,
            "timeframe": self.timeframe,
            "start": self.start.isoformat() if self.start is not None else None,
            "end": self.end.isoformat() if self.end is not None else None,
            **{f.name: getattr(self.settings, f.name) for f in fields(SweepSettings)},
            "constraints": list(self.constraints),
            "overlay": self.overlay,
            "overlay_params": dict(self.overlay_params),
            "execution": asdict(self.execution),
            "risk": plain_config(self.risk_config()) if self.overlay else None,
            "walkforward": None if self.walkforward is None else asdict(self.walkforward),
        }


def check_metric(name: str) -> None:
    """ValueError unless ``name`` is a numeric metric of the fast engine (one a combo can be ranked by)."""
    if name not in FAST_METRIC_NAMES or name in TEXT_METRICS:
        ranked = [m for m in FAST_METRIC_NAMES if m not in TEXT_METRICS]
        hint = f"did you mean {near!r}? " if (near := closest(name, ranked)) else ""
        raise ValueError(f"cannot rank by metric {name!r}; {hint}use one of: {', '.join(ranked)}")


def load_sweep_study(path: str | Path) -> SweepStudy:
    """Read a sweep study; any problem raises ``StudyError`` naming the file (a backtest
    study names what a sweep needs)."""
    path = Path(path)
    document = read_study(path)
    if sweep_key(document) is None:
        raise StudyError(
            f"{path}: `carryguard sweep` needs a sweep study, but this is a backtest study (it has no [params] table)",
            fix="add [params] with the values to search, e.g. fast = [10, 20, 50]",
        )
    return study_from_dict(document, origin=str(path))


def study_from_dict(document: Mapping[str, Any], *, origin: str = "<sweep study>") -> SweepStudy:
    """Build a ``SweepStudy`` from a parsed study document (see the module docstring)."""
    swept = dict(document.get("params", {}))
    overlay_swept = swept.pop("overlay", {})
    if not isinstance(overlay_swept, dict):
        raise StudyError(f"{origin}: params.overlay must be a table", fix="write it as [params.overlay]")
    unknown_keys(overlay_swept, config_keys(OverlayConfig), origin=f"{origin}: [params.overlay]", error=StudyError)
    base = parse_study({"with_overlay": [bool(overlay_swept)], **document}, origin=origin)
    for key, values in (
        ("strategies", [s.name for s in base.strategies]),
        ("symbols", base.symbols),
        ("timeframes", base.timeframes),
    ):
        if len(values) != 1:
            where = "[strategies]" if key == "strategies" else f"[data] {key}"
            raise StudyError(
                f"{origin}: a sweep runs one strategy on one series, but {where} lists {', '.join(values)}"
            )
    if len(base.with_overlay) != 1:
        raise StudyError(f"{origin}: a sweep sizes every combo one way: set with_overlay = [true] or [false]")
    fixed_params = {k: [v] for k, v in base.strategies[0].params if k not in swept}
    given_overlay = document.get("overlay", {})
    fixed_overlay = (
        {k: [v] for k, v in given_overlay.items() if k not in overlay_swept} if base.with_overlay == (True,) else {}
    )
    try:
        settings = parse_config(SweepSettings, document.get("sweep", {}), origin=f"{origin}: [sweep]", error=StudyError)
        walkforward = document.get("walkforward")
        return SweepStudy(
            base=base,
            params={**fixed_params, **swept},
            overlay_params={**fixed_overlay, **overlay_swept},
            settings=settings,
            walkforward=None
            if walkforward is None
            else parse_config(WalkForwardConfig, walkforward, origin=f"{origin}: [walkforward]", error=StudyError),
        )
    except StudyError:
        raise
    except (ConfigError, ValueError) as error:
        raise StudyError(f"{origin}: {error}") from None


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
        out = [
            c for c in (dict(zip(names, values, strict=False)) for values in grid) if satisfies(c, study.constraints)
        ]
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
