"""MOF and FRED downloaders against a local server serving the publishers' real files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from carryguard.signals.errors import DataError, SourceError
from carryguard.signals.sources.fred import download_fred, fred_url, update_fred
from carryguard.signals.sources.http import RetryPolicy, get_text
from carryguard.signals.sources.mof import download_mof, mof_base_url, update_mof
from carryguard.signals.store import Store
from tests.fakes.http_server import FileServer, Reply

UTC = "UTC"
MOF_DIR = "/english/policy/jgbs/reference/interest_rate"
FRED_PATH = "/graph/fredgraph.csv"
TITLE = "Interest Rate,,,,,,,,,,,,,,,(Unit : %)\r\nDate,1Y,2Y,3Y,4Y,5Y,6Y,7Y,8Y,9Y,10Y,15Y,20Y,25Y,30Y,40Y\r\n"
# Current-month file: 2026/6/30 revised (10Y 2.700 instead of 2.69), then two new July days.
CURRENT = TITLE + (
    "2026/6/30,1.165,1.382,1.531,1.755,1.937,2.075,2.231,2.398,2.553,2.700,3.271,3.625,3.883,3.873,3.792\r\n"
    "2026/7/1,1.160,1.380,1.530,1.750,1.930,2.070,2.230,2.390,2.550,2.680,3.260,3.610,3.870,3.860,3.780\r\n"
    "2026/7/2,1.158,1.371,1.522,1.741,1.925,2.061,2.222,2.381,2.544,2.671,3.255,3.600,-,3.851,3.771\r\n"
)
NO_WAIT = RetryPolicy(attempts=3, backoff=0.5, timeout=5.0)


def quick_get(waits: list[float] | None = None):
    """``get_text`` with a short policy; sleeps are recorded instead of taken."""
    return lambda url: get_text(url, policy=NO_WAIT, sleep=(waits if waits is not None else []).append)


@pytest.fixture()
def publisher(shared_data: Path):
    routes = {
        f"{MOF_DIR}/historical/jgbcme_all.csv": (shared_data / "mof_jgbcme_all.csv").read_bytes(),
        f"{MOF_DIR}/jgbcme.csv": CURRENT.encode(),
        f"{FRED_PATH}?id=DEXJPUS": (shared_data / "fred_DEXJPUS.csv").read_bytes(),
        f"{FRED_PATH}?id=DGS10": (shared_data / "fred_DGS10.csv").read_bytes(),
        f"{FRED_PATH}?id=DGS2": (shared_data / "fred_DGS10.csv").read_bytes().replace(b"date,value", b"DATE,DGS10"),
        f"{FRED_PATH}?id=T10Y2Y": (
            b"observation_date,T10Y2Y\n2024-08-02,-0.22\n2024-08-05,.\n2024-08-06,-0.13\n2024-08-07,\n"
        ),
        f"{FRED_PATH}?id=BROKEN": Reply.text(
            "<!DOCTYPE html><html><body>Error - St. Louis Fed</body></html>", content_type="text/html"
        ),
    }
    with FileServer(routes) as server:
        yield server


def store_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_download_mof_given_history_and_current_month_merges_with_current_winning(publisher):
    # Act
    parsed = download_mof(base_url=publisher.url + MOF_DIR, get=quick_get())
    # Assert
    frame = parsed.frame
    assert parsed.meta.id == "mof/jgb" and next(iter(frame.columns)) == "1Y" and list(frame.columns)[-1] == "40Y"
    assert len(frame) == 13_248 + 2
    assert frame.loc[pd.Timestamp("2026-06-30", tz=UTC), "10Y"] == 2.700
    assert frame.loc[pd.Timestamp("2026-06-29", tz=UTC), "10Y"] == 2.644
    assert np.isnan(frame.loc[pd.Timestamp("2026-07-02", tz=UTC), "25Y"])
    assert frame.loc[pd.Timestamp("2025-11-20", tz=UTC), "20Y"] == 2.839
    assert frame["40Y"].first_valid_index() == pd.Timestamp("2007-11-06", tz=UTC)
    assert [r.path for r in publisher.requests] == [f"{MOF_DIR}/historical/jgbcme_all.csv", f"{MOF_DIR}/jgbcme.csv"]


def test_update_mof_given_empty_store_stores_mof_jgb_once(publisher, tmp_path):
    # Act
    result = update_mof(Store(tmp_path), base_url=publisher.url + MOF_DIR, get=quick_get())
    # Assert
    meta = Store(tmp_path).meta("mof/jgb")
    assert (result.series, result.added, result.rows) == ("mof/jgb", 13_250, 13_250)
    assert meta.source == "mof" and meta.availability == "next_utc_day" and meta.fetched_at
    assert meta.last.startswith("2026-07-02")


def test_download_mof_given_current_month_file_missing_raises_naming_url_and_stores_nothing(publisher, tmp_path):
    # Arrange
    del publisher.routes[f"{MOF_DIR}/jgbcme.csv"]
    # Act / Assert
    with pytest.raises(SourceError, match=r"jgbcme\.csv: HTTP 404"):
        update_mof(Store(tmp_path), base_url=publisher.url + MOF_DIR, get=quick_get())
    assert store_bytes(tmp_path) == {}


def test_mof_base_url_given_env_var_uses_it(monkeypatch):
    monkeypatch.setenv("CARRYGUARD_MOF_URL", "http://127.0.0.1:9/mof/")
    assert mof_base_url() == "http://127.0.0.1:9/mof"
    assert mof_base_url("http://elsewhere") == "http://elsewhere"


@pytest.mark.parametrize(
    ("series", "rows", "first", "value_day", "value"),
    [
        ("DEXJPUS", 14_370 - 565, "1971-01-04", "2024-08-05", 143.95),  # DATE,DEXJPUS; blanks dropped
        ("DGS10", 16_144, "1962-01-02", "2024-08-05", 3.78),  # date,value header
        ("T10Y2Y", 2, "2024-08-02", "2024-08-06", -0.13),  # observation_date header; '.' and blank missing
    ],
)
def test_download_fred_given_each_header_style_parses_the_series(publisher, series, rows, first, value_day, value):
    # Act
    parsed = download_fred(series, base_url=publisher.url + FRED_PATH, get=quick_get())
    # Assert
    frame = parsed.frame
    assert parsed.meta.id == f"fred/{series}" and list(frame.columns) == [series]
    assert len(frame) == rows and frame.index[0] == pd.Timestamp(first, tz=UTC)
    assert frame.loc[pd.Timestamp(value_day, tz=UTC), series] == pytest.approx(value)
    assert parsed.meta.origin == f"{publisher.url}{FRED_PATH}?id={series}"


def test_update_fred_given_imported_series_merges_without_duplicates(publisher, real_store):
    # Arrange
    before = real_store.meta("fred/DGS10")
    # Act
    result = update_fred(real_store, "DGS10", base_url=publisher.url + FRED_PATH, get=quick_get())
    # Assert
    assert (result.added, result.rows) == (0, before.rows)
    assert real_store.meta("fred/DGS10").content_hash == before.content_hash


def test_download_fred_given_another_series_in_the_file_raises_data_error(publisher):
    with pytest.raises(DataError, match="holds series DGS10, not DGS2"):
        download_fred("DGS2", base_url=publisher.url + FRED_PATH, get=quick_get())


def test_download_fred_given_html_error_page_raises_source_error_naming_url(publisher, tmp_path):
    # Act / Assert
    with pytest.raises(SourceError, match=r"id=BROKEN returned an HTML page"):
        update_fred(Store(tmp_path), "BROKEN", base_url=publisher.url + FRED_PATH, get=quick_get())
    assert store_bytes(tmp_path) == {}


def test_get_text_given_two_503_then_success_retries_with_doubling_waits(publisher):
    # Arrange
    publisher.fail_next(503, 429)
    waits: list[float] = []
    # Act
    text = quick_get(waits)(fred_url("DGS10", publisher.url + FRED_PATH))
    # Assert
    assert text.startswith("date,value") and waits == [0.5, 1.0]
    assert len(publisher.requests) == 3


def test_get_text_given_persistent_5xx_raises_source_error_after_all_tries(publisher):
    # Arrange
    publisher.fail_next(500, 502, 503)
    waits: list[float] = []
    # Act / Assert
    with pytest.raises(SourceError, match=r"id=DGS10: HTTP 503 .* after 3 tries"):
        quick_get(waits)(fred_url("DGS10", publisher.url + FRED_PATH))
    assert waits == [0.5, 1.0]


def test_get_text_given_closed_port_raises_unreachable_source_error():
    with pytest.raises(SourceError, match=r"127\.0\.0\.1:9/x\.csv: unreachable"):
        get_text(
            "http://127.0.0.1:9/x.csv", policy=RetryPolicy(attempts=2, backoff=0.0, timeout=1.0), sleep=lambda s: None
        )


def test_fred_url_given_env_var_and_bad_id(monkeypatch):
    monkeypatch.setenv("CARRYGUARD_FRED_URL", "http://127.0.0.1:9/fred.csv")
    assert fred_url("DGS2") == "http://127.0.0.1:9/fred.csv?id=DGS2"
    with pytest.raises(ValueError, match="FRED series id"):
        download_fred("dgs2; rm", get=quick_get())
