"""The end-to-end benchmark's own logic (the runs themselves need a broker and minutes)."""

from __future__ import annotations

import pytest

from benchmarks.pipeline import versus


def test_a_second_arm_is_settings_parsed_as_the_environment_would_be() -> None:
    assert versus("fetch_max_wait_seconds=0.01, fetch_min_bytes=4096") == {
        "fetch_max_wait_seconds": 0.01,
        "fetch_min_bytes": 4096,
    }


def test_a_second_arm_with_a_bad_value_is_refused() -> None:
    with pytest.raises(ValueError):
        versus("fetch_min_bytes=0")
