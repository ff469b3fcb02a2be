"""pipeline.faust_fixes: what the patches change in Faust, without a broker (the broker
tests cover recovery itself)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from faust.tables import recovery

from pipeline import faust_fixes


async def test_recovery_polls_an_empty_changelog_queue_briefly(monkeypatch: pytest.MonkeyPatch) -> None:
    faust_fixes.apply()
    seen: list[float | None] = []

    async def wait_for(aw: Any, timeout: float | None) -> Any:
        seen.append(timeout)
        return await aw

    monkeypatch.setattr(asyncio, "wait_for", wait_for)

    async def value() -> int:
        return 7

    patched = vars(recovery)["asyncio"]
    assert await patched.wait_for(value(), timeout=5.0) == 7
    assert await patched.wait_for(value(), timeout=30.0) == 7
    assert seen == [faust_fixes.RECOVERY_POLL_SECONDS, 30.0]
    # Everything else is asyncio itself.
    assert patched.TimeoutError is asyncio.TimeoutError
    assert patched.sleep is asyncio.sleep
