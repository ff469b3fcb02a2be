"""Logging set-up: plain text for people, or one JSON object per line for log shippers.

Lines about a mention or cascade carry it as context, passed with ``extra=`` under the
names in :data:`CONTEXT` (the mention's ``platform:id`` key, the cascade key, the
escalation's dedup key, where a message came from), so a log search finds every line
about one complaint. Post text is never logged at INFO or above, and no setting marked
secret is ever logged (``Settings`` keeps them out of its repr).
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

CONTEXT = ("mention_id", "cascade_id", "dedup_key", "brand", "topic", "partition", "offset", "reason_code")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in CONTEXT:
            value = record.__dict__.get(key)
            if value is not None:
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = [f"{k}={record.__dict__[k]}" for k in CONTEXT if record.__dict__.get(k) is not None]
        if not context:
            return line
        head, sep, tail = line.partition("\n")
        return f"{head} [{' '.join(context)}]{sep}{tail}"


def config(level: str, fmt: str = "text") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` for the root logger. Faust's worker takes it as
    its ``logging_config``, so Faust's and aiokafka's lines come out the same way."""
    if fmt not in ("text", "json"):
        raise ValueError(f"log format must be text or json, got {fmt!r}")
    formatter = JsonFormatter if fmt == "json" else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"flashpoint": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "flashpoint", "stream": "ext://sys.stderr"}
        },
        "root": {"level": level.upper(), "handlers": ["default"]},
    }


def configure(level: str, fmt: str = "text") -> None:
    logging.config.dictConfig(config(level, fmt))
    # Library warnings (torch, transformers) as log records, in the same format.
    logging.captureWarnings(True)
