"""Stage 5, escalation: decide when a cascade is worth a person's attention and say
why (:mod:`.policy`), and publish it as an event ops tools read (:mod:`.events`)."""

from pipeline.escalation.events import EVENT_TYPE, SCHEMA_RESOURCE, SCHEMA_VERSION, dedup_key, encode, event
from pipeline.escalation.policy import (
    LEVELS,
    Action,
    Decision,
    Policies,
    Policy,
    decide,
    pending,
    transitions,
    worth_deciding,
)

__all__ = [
    "EVENT_TYPE",
    "LEVELS",
    "SCHEMA_RESOURCE",
    "SCHEMA_VERSION",
    "Action",
    "Decision",
    "Policies",
    "Policy",
    "decide",
    "dedup_key",
    "encode",
    "event",
    "pending",
    "transitions",
    "worth_deciding",
]
