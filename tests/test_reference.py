"""The reference pages are what the code says (pipeline/reference.py)."""

from __future__ import annotations

import pytest

from pipeline import reference
from pipeline.settings import Settings
from tests.conftest import REPO


@pytest.mark.parametrize("name", sorted(reference.PAGES))
def test_the_page_is_written_from_the_code(name: str) -> None:
    assert (REPO / name).read_text() == reference.PAGES[name](), f"rewrite it: python -m pipeline.reference ({name})"


def test_every_setting_and_command_is_on_its_page() -> None:
    config = reference.configuration()
    assert all(f"`{var}`" in config for var, _, _ in Settings.describe())
    cli = reference.cli()
    for command in ("worker", "tail", "relay", "feedback ack", "model evaluate", "reach fit", "replay"):
        assert f"## flashpoint {command}\n" in cli
