"""Generated malformed and strange messages through the real decoder and the cascade
stage: each is processed or rejected with a reason; nothing else ever happens."""

from __future__ import annotations

from datetime import UTC, datetime

import fastjsonschema
import orjson
from hypothesis import HealthCheck, given, settings

from pipeline.escalation import Policy
from pipeline.flow import Incoming, ingest, track
from pipeline.mention import MAX_DEPTH, _deeper_than, _passes, _validator
from pipeline.reach import CascadeTracker, Forecaster
from pipeline.records import ClassifiedMention
from pipeline.schemas import REASON_CODES
from pipeline.settings import Settings
from tests.strategies import malformed_or_strange
from tests.test_flow import WATCH, FakeModel

EXAMPLES = 10_000


def test_every_message_is_processed_or_dead_lettered_with_a_reason() -> None:
    forecaster = Forecaster.load(Settings().reach_model)
    tracker = CascadeTracker({}, {}, {})
    model = FakeModel()
    now = datetime(2026, 11, 22, 15, tzinfo=UTC)
    seen = {"dead": 0, "forwarded": 0, "unmatched": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(malformed_or_strange)
    def one(raw: bytes) -> None:
        out = ingest([Incoming(raw, None, "mentions", 0, 7)], WATCH, model, now)
        # Dead-lettered or forwarded, exactly one; a forwarded post naming no brand is
        # counted as unmatched too.
        assert len(out.dead) + len(out.forward) == 1 and out.unmatched <= len(out.forward)
        for _, letter in out.dead:
            assert letter.reason and letter.code in REASON_CODES, letter
            assert letter.source_offset == 7
            # The headers carry it as bytes: any reason must encode.
            assert type(letter).from_headers(letter.headers()).reason == letter.reason
        for cm in out.forward:
            # What goes to the internal topic comes back the same, and the cascade
            # stage takes it (forecast included) without raising.
            again = ClassifiedMention.from_json(cm.to_json())
            assert again.mention == cm.mention
            track(again, tracker, Policy(), now, "urn:t", forecaster, 0)
        seen["dead"] += len(out.dead)
        seen["forwarded"] += len(out.forward) - out.unmatched
        seen["unmatched"] += out.unmatched

    one()
    assert sum(seen.values()) >= EXAMPLES, seen
    assert all(seen.values()), f"every outcome occurs: {seen}"


def test_the_compiled_check_never_passes_what_jsonschema_rejects() -> None:
    """pipeline.mention trusts fastjsonschema's pass alone; its failures go to jsonschema."""
    # The very checks parse() uses, not copies of them.
    compiled, reference = _passes(), _validator()
    seen = {"both pass": 0, "both fail": 0, "only jsonschema passes": 0}

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(malformed_or_strange)
    def one(raw: bytes) -> None:
        try:
            doc = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return
        if not isinstance(doc, dict) or _deeper_than(doc, MAX_DEPTH):
            return
        try:
            compiled(doc)
            passes = True
        except fastjsonschema.JsonSchemaException:
            passes = False
        valid = reference.is_valid(doc)
        assert not (passes and not valid), doc
        seen["both pass" if passes else "both fail" if not valid else "only jsonschema passes"] += 1

    one()
    assert seen["both pass"] and seen["both fail"], seen
