"""Every Prometheus metric Flashpoint exports, defined once, here.

Names follow Prometheus conventions (``flashpoint_`` prefix, ``_total`` counters,
base units). docs/metrics in the README lists them for SREs.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

MENTIONS = Counter(
    "flashpoint_mentions_total",
    "Mentions read from the input topic, by outcome: accepted (matched a brand or joined a "
    "cascade), unmatched (a post naming no watched brand), dead_letter (broke the contract).",
    ["outcome"],
)
DUPLICATES = Counter(
    "flashpoint_duplicate_mentions_total",
    "Mentions seen before (same platform and id) and skipped.",
)
DEAD_LETTERS = Counter(
    "flashpoint_dead_letters_total",
    "Messages sent to the dead-letter topic, by the first word of the field at fault.",
    ["field"],
)
CLASSIFIED = Counter("flashpoint_classified_total", "Texts run through the complaint model.")
CLASSIFY_SECONDS = Histogram(
    "flashpoint_classify_batch_seconds",
    "Wall time of one classification batch (tokenise, forward, postprocess).",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_SIZE = Histogram(
    "flashpoint_classify_batch_size",
    "Texts per classification batch.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
MENTION_AGE = Histogram(
    "flashpoint_mention_age_seconds",
    "Seconds between a mention's created_at and its processing: the pipeline's end-to-end lag.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
ESCALATIONS = Counter(
    "flashpoint_escalations_total",
    "Escalation events published, by severity and action.",
    ["severity", "action"],
)
CASCADE_EVENTS = Counter(
    "flashpoint_cascade_events_total",
    "Mentions folded into cascades, by kind.",
    ["kind"],
)
FEEDBACK = Counter(
    "flashpoint_feedback_total",
    "Ops feedback received, by action (or dead_letter, rejected: names no known escalation).",
    ["action"],
)
CORRECTIONS = Counter("flashpoint_corrections_total", "False positives written to the corrections topic.")
CASCADES_EXPIRED = Counter(
    "flashpoint_cascades_expired_total", "Quiet cascades forgotten after FLASHPOINT_CASCADE_TTL_SECONDS."
)
MODEL_INFO = Gauge("flashpoint_model_info", "The complaint model in use (value 1).", ["version", "device"])
ASSIGNED_PARTITIONS = Gauge(
    "flashpoint_assigned_partitions",
    "Partitions of each Flashpoint topic this worker consumes now: its share of the load.",
    ["topic"],
)
