"""signals.config: one validation path for every config dataclass."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

import pytest

from carryguard.backtests.engine.execution import ExecutionConfig
from carryguard.signals.config import config_schema, parse_config
from carryguard.signals.errors import CarryguardError, ConfigError, DataError
from carryguard.signals.risk import RiskConfig
from carryguard.strategies.overlay import OverlayConfig


@dataclass(frozen=True)
class Sample:
    """A config for these tests.

    rate: a fraction (0.5).
    count: how many (3).
    names, more: labels ("a",).
    """

    rate: float = 0.5
    count: int = 3
    names: tuple[str, ...] = ("a",)
    label: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate must be in [0, 1], got {self.rate}")


def test_parse_config_given_partial_table_keeps_defaults_and_accepts_int_for_float():
    # Act
    config = parse_config(Sample, {"rate": 1, "names": ["x", "y"]}, origin="f.toml [t]")

    # Assert
    assert config == Sample(rate=1.0, count=3, names=("x", "y"))
    assert isinstance(config.rate, float)


def test_parse_config_given_misspelt_key_suggests_the_nearest_one():
    # Act / Assert
    with pytest.raises(
        ConfigError, match=r"^f.toml \[execution\]: unknown key 'comission' \(did you mean 'commission'\?\)$"
    ):
        parse_config(ExecutionConfig, {"comission": 0.002}, origin="f.toml [execution]")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"rate": "0.5"}, "rate = '0.5': should be a number"),
        ({"count": 2.5}, "count = 2.5: should be a whole number"),
        ({"count": True}, "count = True: should be a whole number"),
        ({"names": "abc"}, "names = 'abc': should be a list"),
        ({"rate": math.nan}, "rate = nan: should be a finite number"),
        ({"rate": math.inf}, "rate = inf: should be a finite number"),
        ({"label": 3}, "label = 3"),
    ],
)
def test_parse_config_given_wrong_kind_raises_one_line_config_error(data, message):
    # Act
    with pytest.raises(ConfigError) as caught:
        parse_config(Sample, data, origin="here")

    # Assert
    assert str(caught.value).startswith("here: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_parse_config_given_several_problems_reports_all_of_them_at_once():
    # Act
    with pytest.raises(ConfigError) as caught:
        parse_config(Sample, {"rate": "x", "cont": 1, "names": [1]}, origin="t")

    # Assert
    text = str(caught.value)
    assert text.startswith("t: 3 problems: ")
    assert "rate = 'x'" in text and "unknown key 'cont' (did you mean 'count'?)" in text and "names.0 = 1" in text


def test_parse_config_given_value_out_of_range_reports_the_class_check():
    # Act / Assert
    with pytest.raises(ConfigError, match=r"^t: rate must be in \[0, 1\], got 2.0$"):
        parse_config(Sample, {"rate": 2}, origin="t")


def test_parse_config_given_error_class_raises_that_class():
    # Act / Assert
    with pytest.raises(DataError, match="cash must be > 0"):
        parse_config(ExecutionConfig, {"cash": -5}, origin="t", error=DataError)


def test_parse_config_given_non_table_raises_config_error():
    # Act / Assert
    with pytest.raises(ConfigError, match="expected a table"):
        parse_config(Sample, [1, 2], origin="t")  # type: ignore[arg-type]


def test_config_schema_given_dataclass_lists_types_defaults_and_docstring_descriptions():
    # Act
    schema = config_schema(ExecutionConfig)

    # Assert
    json.dumps(schema)  # serializable for editors
    assert schema["additionalProperties"] is False
    assert schema["properties"]["commission"]["type"] == "number"
    assert schema["properties"]["commission"]["default"] == ExecutionConfig().commission
    assert "traded notional" in schema["properties"]["commission"]["description"]


def test_config_error_is_a_carryguard_error_and_a_value_error():
    # Assert
    assert issubclass(ConfigError, CarryguardError) and issubclass(ConfigError, ValueError)


def test_overlay_and_risk_configs_given_tables_validate_through_parse_config():
    # Act
    overlay = OverlayConfig.from_dict({"stress_at": 65, "vol_target": 0.6})
    risk = RiskConfig.from_dict({"weights": {"yen_vol": 0}, "thresholds": [30, 60, 80]}, origin="r")

    # Assert
    assert overlay == OverlayConfig(stress_at=65.0, vol_target=0.6)
    assert risk.thresholds == (30.0, 60.0, 80.0) and risk.weights["yen_vol"] == 0.0
    with pytest.raises(ConfigError, match=r"\[overlay\]: vol_window = 2.5: should be a whole number"):
        OverlayConfig.from_dict({"vol_window": 2.5})
    with pytest.raises(DataError, match=r"^r: fx_series = 5: should be text$"):
        RiskConfig.from_dict({"fx_series": 5}, origin="r")
