"""Writing JSON the project's way: NaN and infinities as null, numpy scalars as Python
numbers, two-space indent and a final newline (so equal data gives equal bytes)."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np


def finite_or_none(value: Any) -> Any:
    """``value`` unless it is a NaN or infinite float (numpy or Python), which becomes None."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def json_ready(value: Any) -> Any:
    """``value`` with containers converted recursively (tuples as lists), numpy scalars
    (values and keys) as Python ones and NaN/inf as None."""
    if isinstance(value, dict):
        return {finite_or_none(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    return finite_or_none(value)


def dumps(data: Any, *, default: Callable[[Any], Any] | None = None) -> str:
    """``data`` as JSON text (``json_ready``, indent 2, trailing newline)."""
    return json.dumps(json_ready(data), indent=2, allow_nan=False, default=default) + "\n"


def write_json(path: str | PathLike, data: Any, *, default: Callable[[Any], Any] | None = None) -> None:
    """Write ``dumps(data)`` to ``path`` as UTF-8."""
    Path(path).write_text(dumps(data, default=default), encoding="utf-8")
