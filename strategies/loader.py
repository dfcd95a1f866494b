"""Strategies by spec: a built-in name, a user file, a module, or an installed entry point.

A spec is one of

- ``sma_cross``: a built-in strategy (``carryguard.strategies.base.REGISTRY``);
- ``path/to/my_strategy.py:MyStrategy``: a class in a Python file (a relative path is read
  from ``base_dir``: the study file's folder, or the working directory);
- ``package.module:MyStrategy``: a class in an importable module;
- ``name``: a strategy an installed package registers under the entry-point group
  ``carryguard.strategies`` (``name = "package.module:MyStrategy"``).

Every class is checked against the strategy protocol (a frozen dataclass with
``target_exposure(bars)`` and ``warmup_bars``) and every exposure it returns is checked
(``checked_exposure``), so user code fails with one line naming what is wrong.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import fields
from importlib.metadata import entry_points
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd

from carryguard.signals.errors import CarryguardError
from carryguard.strategies.base import REGISTRY, Strategy

ENTRY_POINT_GROUP = "carryguard.strategies"


class StrategyError(CarryguardError, ValueError):
    """A strategy spec, class or output that cannot be used as written."""


class StrategyCodeError(CarryguardError):
    """User strategy code raised: ``user_traceback`` holds its own traceback."""

    def __init__(self, message: str, *, user_traceback: str) -> None:
        super().__init__(message, fix="fix the strategy (its traceback is above)")
        self.user_traceback = user_traceback


def installed_strategies() -> dict[str, str]:
    """Entry points of the group ``carryguard.strategies``: name -> ``module:Class``."""
    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def strategy_class(spec: str, *, base_dir: str | Path | None = None) -> type:
    """The class a spec names (see the module docstring), checked against the protocol."""
    spec = spec.strip()
    if spec in REGISTRY:
        return REGISTRY[spec]
    installed = installed_strategies()
    if spec in installed:
        return _checked_class(_load_entry_point(spec), spec)
    if ":" not in spec:
        known = sorted(REGISTRY) + sorted(installed)
        close = difflib.get_close_matches(spec, known, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise StrategyError(
            f"unknown strategy {spec!r}; {hint}known: {', '.join(known)}",
            fix="or give your own as path/to/file.py:ClassName or package.module:ClassName",
        )
    where, _, class_name = spec.rpartition(":")
    module = _load_file(where, base_dir) if where.endswith(".py") else _load_module(where)
    if not hasattr(module, class_name):
        found = sorted(n for n, v in vars(module).items() if isinstance(v, type) and v.__module__ == module.__name__)
        raise StrategyError(
            f"{where} has no class {class_name!r}; classes defined there: {', '.join(found) or 'none'}",
            fix="name one of those after the colon",
        )
    return _checked_class(getattr(module, class_name), spec)


def absolute_spec(spec: str, base_dir: str | Path) -> str:
    """``my.py:MyStrategy`` with the file's path made absolute from ``base_dir`` (a study's
    folder), so the spec means the same file wherever it is used later; other specs as given."""
    where, colon, class_name = spec.strip().rpartition(":")
    if not colon or not where.endswith(".py") or Path(where).expanduser().is_absolute():
        return spec.strip()
    return f"{(Path(base_dir) / where).resolve()}:{class_name}"


def make_strategy(spec: str, *, base_dir: str | Path | None = None, **params: object) -> Strategy:
    """Build the strategy a spec names with ``params`` (unknown parameters and bad values
    raise ``ValueError``/``TypeError`` naming them)."""
    return strategy_with(spec, params, base_dir=base_dir)


def strategy_with(spec: str, params: Mapping[str, object], *, base_dir: str | Path | None = None) -> Strategy:
    """``make_strategy`` with the parameters as a mapping (from a study file or the command
    line: any name is a parameter, none is taken for ``base_dir``)."""
    cls = strategy_class(spec, base_dir=base_dir)
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        close = difflib.get_close_matches(unknown[0], sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(
            f"strategy {spec!r} has no parameter {unknown[0]!r}{hint}; parameters: {', '.join(sorted(known)) or 'none'}"
        )
    # ValueError/TypeError from __init__ are the strategy's own parameter checks: passed on as they are.
    strategy = _run_user_code(spec, "__init__", lambda: cls(**dict(params)), passthrough=(ValueError, TypeError))
    warmup = strategy.warmup_bars
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise StrategyError(f"strategy {spec!r}: warmup_bars must be an int >= 0, got {warmup!r}")
    return strategy


def strategy_label(cls: type) -> str:
    """The name a strategy class shows in tables: its ``name`` attribute, else the class name."""
    name = getattr(cls, "name", None)
    return name if isinstance(name, str) and name else cls.__name__


def is_baseline(cls: type) -> bool:
    """Whether the class says it is a bottom-fishing baseline (``baseline = True``)."""
    return bool(getattr(cls, "baseline", False))


def parameters(cls: type) -> dict[str, object]:
    """A strategy class's parameters and their defaults (``None`` when it has none)."""
    out: dict[str, object] = {}
    for f in fields(cls):
        if f.default is not dataclasses.MISSING:
            out[f.name] = f.default
        elif f.default_factory is not dataclasses.MISSING:
            out[f.name] = f.default_factory()
        else:
            out[f.name] = None
    return out


def checked_exposure(strategy: Strategy, bars: pd.DataFrame, *, spec: str | None = None) -> pd.Series:
    """``strategy.target_exposure(bars)`` as float64 on the bars' index, checked: an
    exception inside the strategy, a result that is not one number per bar, NaN after
    the warm-up or a value outside [0, 1] raise ``StrategyError`` naming the first bar.
    NaN inside the warm-up reads as flat (0.0)."""
    label = spec or strategy_label(type(strategy))
    result = _run_user_code(label, "target_exposure", lambda: strategy.target_exposure(bars))
    if not isinstance(result, pd.Series):
        raise StrategyError(
            f"strategy {label!r}: target_exposure returned {type(result).__name__}, not a pandas Series",
            fix="return one exposure per bar as a pd.Series on the bars' index",
        )
    if len(result) != len(bars) or not result.index.equals(bars.index):
        raise StrategyError(
            f"strategy {label!r}: target_exposure returned {len(result)} values for {len(bars)} bars "
            "or on another index",
            fix="return a Series indexed like the bars it was given",
        )
    try:
        values = result.to_numpy(dtype="float64")
    except (TypeError, ValueError):
        raise StrategyError(f"strategy {label!r}: target_exposure returned non-numbers ({result.dtype})") from None
    warm = min(int(strategy.warmup_bars), len(values))
    values = values.copy()
    values[:warm] = np.where(np.isnan(values[:warm]), 0.0, values[:warm])
    bad_nan = np.isnan(values)
    if bad_nan.any():
        first = int(bad_nan.argmax())
        raise StrategyError(
            f"strategy {label!r}: exposure is NaN at bar {bars.index[first]} (bar {first}, after its "
            f"warmup_bars = {warm})",
            fix="fill the NaN (e.g. .fillna(0.0)) or raise warmup_bars",
        )
    outside = (values < 0.0) | (values > 1.0)
    if outside.any():
        first = int(outside.argmax())
        raise StrategyError(
            f"strategy {label!r}: exposure {float(values[first]):g} at bar {bars.index[first]} is outside [0, 1]",
            fix="clip it (long-only spot: 0 = flat, 1 = fully invested)",
        )
    return pd.Series(values, index=bars.index, name="exposure")


def _checked_class(obj: object, spec: str) -> type:
    """``obj`` if it fits the strategy protocol, else ``StrategyError`` saying what is missing."""
    if not isinstance(obj, type):
        raise StrategyError(f"{spec!r} is a {type(obj).__name__}, not a class", fix="name a strategy class")
    name = obj.__name__
    if not callable(getattr(obj, "target_exposure", None)):
        raise StrategyError(
            f"{name} does not fit the strategy protocol: it has no target_exposure(bars) method",
            fix="add def target_exposure(self, bars: pd.DataFrame) -> pd.Series (see `carryguard strategies new`)",
        )
    if not hasattr(obj, "warmup_bars"):
        raise StrategyError(
            f"{name} does not fit the strategy protocol: it has no warmup_bars",
            fix="add warmup_bars: bars of history wanted before the first decision (a ClassVar int or a property)",
        )
    if not dataclasses.is_dataclass(obj) or not obj.__dataclass_params__.frozen:  # type: ignore[attr-defined]
        raise StrategyError(
            f"{name} does not fit the strategy protocol: it is not a frozen dataclass",
            fix="decorate it with @dataclass(frozen=True) so its parameters have names and defaults",
        )
    return obj


def _run_user_code(
    label: str, what: str, call: Callable[[], Any], *, passthrough: tuple[type[BaseException], ...] = ()
) -> Any:
    """Run ``call()``; an exception becomes ``StrategyCodeError`` with the user's traceback
    (``CarryguardError`` and ``passthrough`` types are raised as they are)."""
    try:
        return call()
    except CarryguardError:
        raise
    except passthrough:
        raise
    except Exception as exc:  # user code: any exception is reported, with its traceback
        frames = traceback.extract_tb(exc.__traceback__)[1:]  # drop this wrapper's frame
        text = "Traceback (most recent call last):\n" + "".join(traceback.format_list(frames))
        text += "".join(traceback.format_exception_only(type(exc), exc))
        raise StrategyCodeError(
            f"strategy {label!r} raised {type(exc).__name__} in {what}: {str(exc).splitlines()[0] if str(exc) else ''}",
            user_traceback=text,
        ) from None


def _load_entry_point(name: str) -> object:
    (point,) = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    try:
        return point.load()
    except Exception as exc:  # a broken installed package: say which
        raise StrategyError(
            f"entry point {name!r} ({point.value}) failed to load: {type(exc).__name__}: {exc}",
            fix=f"fix or reinstall the package that registers it under {ENTRY_POINT_GROUP!r}",
        ) from None


def _load_module(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        raise StrategyError(
            f"cannot import module {name!r} ({exc})",
            fix="install the package, or give a file as path/to/file.py:ClassName",
        ) from None
    except Exception as exc:  # user code failing at import
        raise _code_error(name, "import", exc) from None


def _load_file(where: str, base_dir: str | Path | None) -> ModuleType:
    path = Path(where).expanduser()
    if not path.is_absolute():
        path = Path(base_dir or Path.cwd()) / path
    path = path.resolve()
    if not path.is_file():
        raise StrategyError(f"strategy file {path} not found", fix="check the path before the colon")
    # One module per file, named by its path: a study and its sweep workers load the same code once.
    module_name = f"carryguard_user_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:10]}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise StrategyError(f"{path} cannot be loaded as Python", fix="give a .py file")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:  # user code failing at import (SyntaxError included)
        del sys.modules[module_name]
        raise _code_error(str(path), "import", exc) from None
    return module


def _code_error(label: str, what: str, exc: BaseException) -> StrategyCodeError:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    message = str(exc).splitlines()[0] if str(exc) else ""
    return StrategyCodeError(f"{label} raised {type(exc).__name__} at {what}: {message}", user_traceback=text)


def describe(spec: str, cls: type, *, source: str) -> Mapping[str, object]:
    """One row of ``carryguard strategies``: spec, label, source, baseline, warm-up, parameters."""
    doc = (cls.__doc__ or "").strip().splitlines()
    return {
        "strategy": spec,
        "name": strategy_label(cls),
        "source": source,
        "baseline": is_baseline(cls),
        "parameters": parameters(cls),
        "summary": doc[0] if doc else "",
    }
