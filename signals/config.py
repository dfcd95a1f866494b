"""One way to read configuration objects: frozen stdlib dataclasses validated by pydantic.

Config classes (``ExecutionConfig``, ``OverlayConfig``, ``RiskConfig``, ...) stay plain
frozen dataclasses whose defaults are documented in their docstrings; ``parse_config``
checks a mapping the user wrote (a TOML table, CLI options) against the field types with
pydantic in strict mode and builds the object through the class's own constructor, so
its ``__post_init__`` range checks still apply. Every problem of a table is reported at
once, on one line: unknown keys with the nearest known one (``did you mean
'commission'?``), wrong types, NaN/inf numbers, and range errors. ``config_schema``
gives the JSON schema of a config class (with the docstring's field descriptions) for
editors.

Accepted kinds: an int where a float is expected (TOML ``cash = 10000``), a list where a
tuple is expected (TOML has no tuples); nothing else is coerced (``"5"`` is not a number).
"""

from __future__ import annotations

import dataclasses
import difflib
import inspect
import re
from collections.abc import Iterable, Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, TypeVar, cast, get_type_hints

from carryguard.signals.errors import CarryguardError, ConfigError

if TYPE_CHECKING:  # pydantic is imported on first use: `carryguard --help` stays fast
    from pydantic import BaseModel

T = TypeVar("T")

_KIND = {
    "float_type": "a number",
    "int_type": "a whole number",
    "string_type": "text",
    "bool_type": "true or false",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a table",
    "mapping_type": "a table",
    "finite_number": "a finite number (not nan or inf)",
}


def parse_config(
    cls: type[T],
    data: Mapping[str, Any],
    *,
    origin: str,
    error: type[CarryguardError] = ConfigError,
    fix: str = "",
) -> T:
    """``cls`` built from ``data`` (keys = field names; absent keys keep their defaults).

    origin: where ``data`` came from, e.g. ``"study.toml [execution]"``; every message
        starts with it. Raises ``error`` (one line, every problem of the table) for unknown
        keys, wrong kinds, NaN/inf, and the class's own ``__post_init__`` checks.
    """
    if not isinstance(data, Mapping):
        raise error(f"{origin}: expected a table of settings, got {data!r}", fix=fix or "write it as a TOML table")
    values = {} if not data and _all_defaulted(cls) else _validated(cls, data, origin, error, fix)
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise error(f"{origin}: {exc}", fix=fix) from None


def _all_defaulted(cls: type) -> bool:
    """Every field has a default: an empty table needs no checking (and no pydantic import,
    a fifth of a second that `carryguard risk` would otherwise spend on defaults)."""
    missing = dataclasses.MISSING
    return all(f.default is not missing or f.default_factory is not missing for f in dataclasses.fields(cls))


def _validated(
    cls: type, data: Mapping[str, Any], origin: str, error: type[CarryguardError], fix: str
) -> dict[str, Any]:
    """The fields ``data`` sets, checked by the class's strict pydantic model."""
    from pydantic import ValidationError

    model = _model(cast(Any, cls))
    known = tuple(model.model_fields)
    try:
        checked = model.model_validate({key: _tuples(value) for key, value in data.items()})
    except ValidationError as exc:
        problems = [_describe(err, known) for err in exc.errors()]
        head = f"{origin}: " + (f"{len(problems)} problems: " if len(problems) > 1 else "")
        raise error(head + "; ".join(problems), fix=fix) from None
    return {name: getattr(checked, name) for name in checked.model_fields_set}


def plain_config(config: object) -> dict[str, object]:
    """A config dataclass as JSON-ready values (mappings as dicts, tuples as lists)."""

    def convert(value: object) -> object:
        if isinstance(value, Mapping):
            return {k: convert(v) for k, v in value.items()}
        if isinstance(value, (tuple, list)):
            return [convert(v) for v in value]
        return value

    return {f.name: convert(getattr(config, f.name)) for f in dataclasses.fields(config)}  # type: ignore[arg-type]


def config_schema(cls: type) -> dict[str, Any]:
    """JSON schema of ``cls``'s settings (types, defaults, descriptions, no extra keys)."""
    return _model(cls).model_json_schema()


def config_keys(cls: type) -> tuple[str, ...]:
    """The setting names of a config class, in declaration order."""
    return tuple(f.name for f in dataclasses.fields(cls))


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name nearest to ``name`` (case-insensitive), or None when none is close:
    the one home of every "did you mean" hint."""
    known = list(known)
    lower = {k.lower(): k for k in reversed(known)}  # the first spelling wins on a tie
    near = difflib.get_close_matches(name.lower(), list(lower), n=1, cutoff=0.6)
    return lower[near[0]] if near else None


def did_you_mean(key: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the nearest known name, else the known names."""
    known = list(known)
    near = closest(key, known)
    return f" (did you mean {near!r}?)" if near else f" (known: {', '.join(known)})"


def unknown_keys(
    data: Mapping[str, Any], known: Iterable[str], *, origin: str, error: type[CarryguardError] = ConfigError
) -> None:
    """Raise ``error`` naming each key of ``data`` not in ``known`` (for tables that are
    not config classes, e.g. a study's ``[data]``)."""
    known = list(known)
    extra = [key for key in data if key not in known]
    if extra:
        problems = [f"unknown key {key!r}{did_you_mean(key, known)}" for key in extra]
        raise error(f"{origin}: " + "; ".join(problems))


def _describe(err: Any, known: tuple[str, ...]) -> str:
    """One pydantic error as ``key = value: should be a number``."""
    key = ".".join(str(part) for part in err["loc"])
    if err["type"] == "extra_forbidden":
        return f"unknown key {key!r}{did_you_mean(key, known)}"
    value = err.get("input")
    if err["type"] == "missing" and len(err["loc"]) > 1:  # a tuple item: the list is too short
        return f"{err['loc'][0]} = {value!r}: too few values"
    kind = _KIND.get(err["type"])
    what = f"should be {kind}" if kind else str(err["msg"]).removeprefix("Input ").lower()
    return f"{key} = {value!r}: {what}"


def _tuples(value: Any) -> Any:
    """TOML lists (nested too) as tuples, the kind frozen configs hold."""
    return tuple(_tuples(v) for v in value) if isinstance(value, list) else value


@cache
def _model(cls: Any) -> type[BaseModel]:
    """A strict pydantic model mirroring the dataclass's fields (cached per class)."""
    from pydantic import ConfigDict, Field, create_model

    if not hasattr(cls, "__dataclass_fields__"):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = get_type_hints(cls)
    docs = _field_docs(cls)
    specs: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = dict(f.default) if isinstance(f.default, Mapping) else f.default
            spec = Field(default=default, description=docs.get(f.name))
        elif f.default_factory is not dataclasses.MISSING:
            spec = Field(default_factory=f.default_factory, description=docs.get(f.name))
        else:
            spec = Field(description=docs.get(f.name))
        specs[f.name] = (hints[f.name], spec)
    config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False, title=cls.__name__)
    return create_model(cls.__name__, __config__=config, __doc__=_summary(cls), **specs)


def _summary(cls: type) -> str | None:
    doc = inspect.getdoc(cls)
    return doc.split("\n\n")[0] if doc else None


def _field_docs(cls: type) -> dict[str, str]:
    """Field descriptions from a docstring's ``name[, name]: text`` lines (indented
    continuation lines join the text)."""
    names = {f.name for f in dataclasses.fields(cls)}
    docs: dict[str, str] = {}
    current: list[str] = []
    for line in (inspect.getdoc(cls) or "").splitlines():
        match = re.match(r"^([a-z_][a-z0-9_]*(?:, [a-z_][a-z0-9_]*)*): (.*)$", line)
        if match and set(match.group(1).split(", ")) <= names:
            current = match.group(1).split(", ")
            for name in current:
                docs[name] = match.group(2).strip()
        elif current and line.startswith(" ") and line.strip():
            for name in current:
                docs[name] += " " + line.strip()
        else:
            current = []
    return docs
