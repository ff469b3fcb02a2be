from __future__ import annotations

from datetime import UTC, datetime

from pipeline.brands import Watchlist
from pipeline.demo.stream import script
from pipeline.mention import InvalidMention, parse
from pipeline.settings import Settings

START = datetime(2026, 11, 22, 14, tzinfo=UTC)


def test_script_is_deterministic_and_tells_the_whole_story() -> None:
    items = script(START)
    assert [i.value for i in items] == [i.value for i in script(START)]
    parsed, invalid = [], 0
    for item in items:
        try:
            parsed.append(parse(item.value))
        except InvalidMention:
            invalid += 1
    assert invalid == 3
    kinds = {m.kind for m in parsed}
    assert kinds == {"post", "reply", "quote", "repost"}
    watch = Watchlist.load(Settings().watchlist)
    roots = [m for m in parsed if m.is_root]
    assert {b.brand for m in roots for b in watch.match(m)} == {b.name for b in watch.brands}
    assert any(not watch.match(m) for m in roots), "an unmatched post"
    keys = [m.key for m in parsed]
    assert len(keys) - len(set(keys)) == 1, "one redelivery"
    first = parsed[0]
    assert first.kind == "repost", "a repost arrives before its root"
    assert max(m.author.followers for m in parsed) >= 900_000, "a cascade goes viral"
