"""The file ``carryguard strategies new NAME`` writes: a commented strategy that runs as written."""

from __future__ import annotations

import keyword
import re

TEMPLATE = '''"""{class_name}: a carryguard strategy (edit me).

Run it:
    carryguard backtest --strategy {file_name}:{class_name} --symbol BTC/USDT
    carryguard check lookahead --strategy {file_name}:{class_name}
In a study: [strategies] "{file_name}:{class_name}" = {{ window = 50 }}
"""

from dataclasses import dataclass
from typing import ClassVar

import pandas as pd


@dataclass(frozen=True)  # frozen: parameters are fixed once built (and listed by `carryguard strategies`)
class {class_name}:
    """Long while the close is above its ``window``-bar moving average, flat otherwise.

    window: bars in the moving average (50 = about two months of daily bars).
    """

    name: ClassVar[str] = "{name}"  # how tables and results name it
    baseline: ClassVar[bool] = False  # True marks a plain bottom-fishing baseline
    window: int = 50  # a parameter: an annotated field with a default

    def __post_init__(self) -> None:
        if self.window < 1:  # bad parameters: a clear ValueError/TypeError
            raise ValueError(f"{class_name}.window must be >= 1, got {{self.window}}")

    @property
    def warmup_bars(self) -> int:
        """Bars of history wanted before the first decision (backtests read them before --start)."""
        return self.window

    def target_exposure(self, bars: pd.DataFrame) -> pd.Series:
        """Exposure in [0, 1] wanted at each bar's close (filled at the next bar's open).

        ``bars`` has columns open, high, low, close, volume on a UTC index of bar open
        times. The value at bar t may use bars up to t only: trailing windows, never
        ``shift(-1)``, centred windows or statistics of the whole series.
        """
        close = bars["close"]
        average = close.rolling(self.window).mean()  # trailing: bars t-window+1 .. t
        return (close > average).astype("float64").where(average.notna(), 0.0)
'''


def render(name: str) -> tuple[str, str]:
    """(file name, source) of a new strategy called ``name`` (letters, digits, _)."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name) or keyword.iskeyword(name):
        raise ValueError(f"strategy name {name!r} must start with a letter and use only letters, digits and _")
    snake = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()
    class_name = "".join(part.capitalize() for part in snake.split("_") if part)
    file_name = f"{snake}.py"
    return file_name, TEMPLATE.format(class_name=class_name, file_name=file_name, name=snake)
