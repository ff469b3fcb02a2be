"""Every Prometheus metric Flashpoint exports, defined once, here.

Names follow Prometheus practice: ``flashpoint_`` prefix, base units (seconds, bytes),
``_total`` counters, and bounded label sets only (outcome, reason code, topic,
partition, action, severity): never a handle, post id or brand. docs/observability.md
lists them for SREs; ``deploy/prometheus/alerts.yml`` and the
Grafana dashboard use them, and a test checks that everything they name is defined here.

Faust's own Prometheus sensor is not used for exposition: it reports milliseconds,
names counters without ``_total`` and serves them on Faust's web server, which also
dumps tables. Its hooks are reused instead (:mod:`pipeline.telemetry.sensor`).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

# No *_created series beside every counter and histogram: Prometheus does not use them,
# and they would double the series each worker exports.
disable_created_metrics()  # type: ignore[no-untyped-call]

# -- intake ---------------------------------------------------------------------------
MENTIONS = Counter(
    "flashpoint_mentions_total",
    "Mentions consumed from the input topic, by outcome: matched (names a watched brand or "
    "joins a watched cascade), unmatched (an original post naming none: kept as the start of a "
    "conversation the brand's account may answer in), dead_letter (broke the "
    "contract). matched + unmatched + dead_letter = consumed. duplicate counts matched "
    "mentions the cascade stage had already seen (same platform and id) and skipped.",
    ["outcome"],
)
DEAD_LETTERS = Counter(
    "flashpoint_dead_letters_total",
    "Messages sent to the dead-letter topic, by source (mentions, feedback, desk) and reason "
    "code (empty, not_json, not_object, missing_field, wrong_type, invalid_value, bad_time, "
    "unsupported_version, decoder_error, model_error, processing_error, unknown_escalation).",
    ["source", "reason"],
)

# -- classification -------------------------------------------------------------------
CLASSIFIED = Counter("flashpoint_classified_total", "Texts run through the complaint model.")
INFERENCE_SECONDS = Histogram(
    "flashpoint_inference_seconds",
    "Wall time of one classification batch: tokenise, forward pass, postprocess.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
INFERENCE_BATCH_SIZE = Histogram(
    "flashpoint_inference_batch_size",
    "Texts per classification call (split into runs of FLASHPOINT_BATCH_SIZE for the model).",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256),
)
INGEST_STEP_SECONDS = Histogram(
    "flashpoint_ingest_step_seconds",
    "Wall time of one ingest step: decode, match and classify the mentions taken together, and "
    "hand their records to the producer. Beside flashpoint_inference_seconds it shows the step's "
    "time outside the model.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
MODEL_ERRORS = Counter(
    "flashpoint_model_errors_total",
    "Classification batches that raised. The batch is retried text by text; a text that "
    "fails alone is dead-lettered with reason model_error.",
)

# -- reach ----------------------------------------------------------------------------
CASCADE_EVENTS = Counter(
    "flashpoint_cascade_events_total",
    "Mentions folded into cascades, by kind (post, reply, quote, repost).",
    ["kind"],
)
# One child per kind, made once: labels() per repost cost more than the count itself,
# and every kind's series exists (at 0) from the start.
CASCADE_EVENTS_BY_KIND = {kind: CASCADE_EVENTS.labels(kind) for kind in ("post", "reply", "quote", "repost")}
ACTIVE_CASCADES = Gauge(
    "flashpoint_active_cascades",
    "Cascades held in state for the partitions this worker owns now.",
)
CASCADES_EXPIRED = Counter(
    "flashpoint_cascades_expired_total", "Quiet cascades forgotten after FLASHPOINT_CASCADE_TTL_SECONDS."
)

# -- escalation -----------------------------------------------------------------------
ESCALATIONS = Counter(
    "flashpoint_escalations_total",
    "Escalation events published, by severity and action.",
    ["severity", "action"],
)
END_TO_END_SECONDS = Histogram(
    "flashpoint_end_to_end_latency_seconds",
    "Seconds from a mention's arrival in Kafka (its timestamp on the input topic) to the "
    "escalation event it caused being sent.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
MENTION_AGE = Histogram(
    "flashpoint_mention_age_seconds",
    "Seconds from a mention's created_at (the platform's clock) to its cascade update: "
    "how late the pipeline sees the world, integrator delay included.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
FEEDBACK = Counter(
    "flashpoint_feedback_total",
    "Ops feedback received, by action (or dead_letter, rejected: names no known escalation).",
    ["action"],
)
CORRECTIONS = Counter("flashpoint_corrections_total", "False positives written to the corrections topic.")

# -- Kafka ----------------------------------------------------------------------------
CONSUMER_LAG = Gauge(
    "flashpoint_consumer_lag_messages",
    "End offset minus the group's committed offset, per partition this worker owns "
    "(0 when only transaction markers remain).",
    ["topic", "partition"],
)
CONSUMER_LAG_SECONDS = Gauge(
    "flashpoint_consumer_lag_seconds",
    "Age of the oldest unprocessed message (the one at the committed offset), per "
    "partition this worker owns; 0 when there is none.",
    ["topic", "partition"],
)
LAG_PROBE_ERRORS = Counter(
    "flashpoint_lag_probe_errors_total", "Lag samples that failed (broker unreachable or timed out)."
)
ASSIGNED_PARTITIONS = Gauge(
    "flashpoint_assigned_partitions",
    "Partitions of each Flashpoint topic this worker consumes now: its share of the load.",
    ["topic"],
)
REBALANCES = Counter("flashpoint_rebalances_total", "Consumer-group rebalances this worker went through.")
REBALANCE_SECONDS = Histogram(
    "flashpoint_rebalance_seconds",
    "Wall time of a rebalance, from partitions revoked to table recovery done.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
STALE_RECORDS = Counter(
    "flashpoint_stale_records_dropped_total",
    "Fetched records dropped because their partition was sought after the fetch (after a "
    "rebalance's recovery); the consumer fetches them again from the sought offset. Not a "
    "loss: a count of the race pipeline/faust_fixes.py guards against.",
)
COMMIT_SECONDS = Histogram(
    "flashpoint_commit_seconds",
    "Wall time of one offset commit (a transaction commit under exactly_once).",
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
)

# -- what runs ------------------------------------------------------------------------
BUILD_INFO = Gauge(
    "flashpoint_build_info",
    "The Flashpoint build (value 1).",
    ["version", "python", "faust", "aiokafka"],
)
MODEL_INFO = Gauge("flashpoint_model_info", "The complaint model in use (value 1).", ["version", "device", "precision"])
READY = Gauge("flashpoint_ready", "1 while /ready answers 200: model loaded, partitions assigned, broker reachable.")
