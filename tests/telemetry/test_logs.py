from __future__ import annotations

import json
import logging

import pytest

from pipeline.telemetry.logs import JsonFormatter, TextFormatter, config


def record(msg: str, **extra: object) -> logging.LogRecord:
    r = logging.LogRecord("pipeline.app", logging.INFO, __file__, 1, msg, (), None)
    r.__dict__.update(extra)
    return r


def test_json_lines_carry_the_mention_and_cascade() -> None:
    line = JsonFormatter().format(record("escalation open warning", mention_id="twitter:1", cascade_id="twitter:0"))
    doc = json.loads(line)
    assert doc["message"] == "escalation open warning" and doc["level"] == "info"
    assert (doc["mention_id"], doc["cascade_id"]) == ("twitter:1", "twitter:0")
    assert "dedup_key" not in doc, "absent context is left out, not null"


def test_text_lines_append_the_context() -> None:
    line = TextFormatter().format(record("dead letter: not valid JSON", topic="mentions", offset=7))
    assert line.endswith("dead letter: not valid JSON [topic=mentions offset=7]")


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="text or json"):
        config("info", "yaml")
