"""Flashpoint's one settings object.

Every knob is an environment variable named ``FLASHPOINT_<FIELD>`` (upper case). The
environment is read once, by :func:`Settings.from_env`, when a command starts; no other
module reads it. docs/configuration.md is written from the field descriptions here
(``python -m pipeline.reference``), so a default is written in one place only.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
# An installed wheel carries the shipped complaint model and reach forecast inside the
# package (setup.py copies models/ there); a checkout reads them from models/ itself.
MODELS_DIR = PACKAGE_DIR / "_models" if (PACKAGE_DIR / "_models").is_dir() else REPO_DIR / "models"


def _doc(text: str, secret: bool = False, **kwargs: Any) -> Any:
    # A secret stays out of repr(), logs and `flashpoint config`.
    return field(metadata={"doc": text, "secret": secret}, repr=not secret, **kwargs)


@dataclass(frozen=True)
class Settings:
    bootstrap_servers: str = _doc("Kafka bootstrap servers, comma separated.", default="127.0.0.1:9092")
    kafka_security_protocol: str = _doc(
        "How every Flashpoint client talks to Kafka: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL.",
        default="PLAINTEXT",
    )
    kafka_sasl_mechanism: str = _doc("SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.", default="PLAIN")
    kafka_sasl_username: str = _doc("SASL user name.", default="")
    kafka_sasl_password: str = _doc("SASL password (a secret: never logged).", secret=True, default="")
    kafka_ssl_cafile: str = _doc(
        "TLS: CA bundle that signed the brokers' certificates (empty: system CAs).", default=""
    )
    kafka_ssl_certfile: str = _doc("TLS: client certificate, for brokers that require one.", default="")
    kafka_ssl_keyfile: str = _doc("TLS: the client certificate's private key.", default="")
    app_id: str = _doc(
        "Faust application id: the consumer group and the prefix of internal topics.",
        default="flashpoint",
    )
    topic_mentions: str = _doc("Input topic integrators produce mentions to.", default="mentions")
    topic_dead_letter: str = _doc(
        "Where malformed mentions go, original bytes unchanged.", default="mentions.dead-letter"
    )
    topic_relay_dead_letter: str = _doc(
        "Escalations a receiver refused for good (flashpoint relay), with its answer in headers.",
        default="escalations.relay-dead-letter",
    )
    pagerduty_routing_key: str = _doc(
        "Integration key for flashpoint relay --to pagerduty (a secret: never logged).", secret=True, default=""
    )
    pagerduty_routing_keys: str = _doc(
        "Integration keys per team for flashpoint relay --to pagerduty, as team=key,team=key; an escalation "
        "whose team is not listed uses pagerduty_routing_key (a secret: never logged).",
        secret=True,
        default="",
    )
    board_token: str = _doc(
        "flashpoint board: a secret that turns on the acknowledge, resolve and false-positive buttons "
        "(people sign in with it and their name); empty: the board is read-only.",
        secret=True,
        default="",
    )
    topic_classified: str = _doc(
        "Internal: valid, brand-matched, classified mentions, partitioned by cascade, a record per ingest batch.",
        default="mentions.classified",
    )
    topic_escalations: str = _doc("CloudEvents escalations for ops teams.", default="escalations")
    topic_desk: str = _doc(
        "Internal: complaints, draft escalations, feedback and clock ticks for the escalation desk, keyed by brand.",
        default="escalations.desk",
    )
    topic_feedback: str = _doc(
        "Ops feedback on escalations (acknowledge, resolve, false_positive).", default="escalations.feedback"
    )
    topic_corrections: str = _doc(
        "Posts ops marked false positives, labelled for training.", default="mentions.corrections"
    )
    tick_interval_seconds: float = _doc("How often the escalation desk checks for due reminders.", default=30.0)
    partitions: int = _doc(
        "Partitions of the topics Flashpoint creates; the most workers that share the load.",
        default=4,
    )
    replication_factor: int = _doc("Replication factor of created topics.", default=1)
    processing_guarantee: str = _doc("exactly_once (Kafka transactions) or at_least_once.", default="exactly_once")
    watchlist: Path = _doc("TOML file of watched brands.", default=PACKAGE_DIR / "demo" / "watchlist.toml")
    model_dir: Path = _doc(
        "Directory of the trained complaint head and its model card.",
        default=MODELS_DIR / "complaint",
    )
    reach_model: Path = _doc(
        "Fitted reach forecast (flashpoint reach fit).",
        default=MODELS_DIR / "reach" / "forecast.json",
    )
    device: str = _doc("Inference device: auto (GPU when present), cpu or cuda.", default="auto")
    precision: str = _doc(
        "Encoder arithmetic: fp32, bf16, int8 (CPU only) or auto: on a CPU the fastest, timed at start-up, "
        "of fp32, bf16 where native, and int8 if the model card measured it within half a point of fp32 macro-F1.",
        default="auto",
    )
    batch_size: int = _doc(
        "Most posts per forward pass of the model; the ingest step takes 4x as many mentions at a time "
        "(reposts, most of a stream, are not classified).",
        default=64,
    )
    model_threads: int = _doc("PyTorch threads for the model; 0: every core but one (the event loop's).", default=0)
    # Only an idle model waits (pipeline.batching): mentions that arrive during a step
    # make the next one at once. Before that, every step waited the window however much
    # was queued, and 0.1 s grew the p99 at 50% of saturation to 1.9 s
    # (docs/decisions/2026-11-27-performance-rounds.md).
    batch_window_seconds: float = _doc(
        "How long an idle model waits for more mentions after the first one before classifying; "
        "mentions that arrive during a step go into the next one at once.",
        default=0.01,
    )
    commit_interval_seconds: float = _doc(
        "How often offsets (and exactly-once transactions) commit; within 0.05 s when an escalation waits "
        "and the stream has caught up.",
        default=0.2,
    )
    # Faust makes its consumer wait up to 1.5 s for a fetch to fill; a partition drained
    # in the meantime is left out of the fetch in flight and its next records wait for
    # it (the fetch stall: docs/decisions/2026-11-27-performance-rounds.md, the seventh
    # round). 0.01 s and 4,096 bytes bound that wait (the default since fix 9:
    # docs/decisions/2026-12-07-fix-9-and-the-fetch-bound.md).
    fetch_max_wait_seconds: float = _doc(
        "Longest the broker holds a fetch of the worker's consumer for more records.", default=0.01
    )
    fetch_min_bytes: int = _doc("Bytes a fetch of the worker's consumer waits for, unless the wait ends.", default=4096)
    max_pending_per_cascade: int = _doc(
        "Events of a cascade folded in before its root arrives, at most; later ones are only counted.", default=10_000
    )
    min_complaint_probability: float = _doc(
        "A root post below this complaint probability never escalates.", default=0.6
    )
    reach_info: int = _doc("Potential reach for an info escalation (addressed).", default=1_000)
    reach_warning: int = _doc("Potential reach for a warning (addressed).", default=20_000)
    reach_error: int = _doc("Potential reach for an error (addressed).", default=200_000)
    reach_critical: int = _doc("Potential reach for critical (addressed).", default=1_000_000)
    about_reach_factor: float = _doc(
        "Posts only about a brand (hashtag, keyword) need this many times the reach.",
        default=5.0,
    )
    influencer_followers: int = _doc(
        "A complaint from an author with this many followers is at least a warning.",
        default=100_000,
    )
    forecast_min_reposts: int = _doc(
        "Reposts seen before the reach forecast may raise an escalation (0: never).", default=5
    )
    forecast_min_seconds: float = _doc(
        "Seconds a cascade must be watched before its forecast may raise an escalation.", default=300.0
    )
    forecast_lean: float = _doc(
        "How far the forecast reach compared with the thresholds leans from the point forecast (0) "
        "to the top of its 80% interval (1): earlier warnings, more false alarms (docs/reach.md).",
        default=0.5,
    )
    complaint_share: float = _doc(
        "The share of complaints expected among the watched brands' posts, when it is not the training set's 36% "
        "(0: unknown, no adjustment); the model's probability is adjusted for it. Per brand: complaint_share "
        "in its [brand.policy] (docs/model.md).",
        default=0.0,
    )
    routing_min_similarity: float = _doc(
        "Cosine similarity a complaint needs to its nearest watchlist topic to be routed to that topic's team; "
        "below it the topic is 'other', owned by the brand's own team (docs/topics.md).",
        default=0.25,
    )
    cascade_ttl_seconds: float = _doc(
        "Forget a cascade (and its participants and posts) after this long without an event.", default=172_800.0
    )
    sweep_interval_seconds: float = _doc("How often each partition looks for quiet cascades.", default=300.0)
    pile_on_replies: int = _doc("Complaining replies and quotes that raise a cascade one severity level.", default=3)
    broker_wait_seconds: float = _doc(
        "How long the worker and commands wait for an unreachable broker at start before they exit with an error.",
        default=20.0,
    )
    rebalance_timeout_seconds: float = _doc(
        "How long a consumer-group rebalance may take; short for the embedded demo broker.",
        default=60.0,
    )
    metrics_port: int = _doc(
        "Port of the worker's /metrics, /health and /ready endpoints (0 turns them off).", default=9108
    )
    lag_interval_seconds: float = _doc(
        "How often the worker measures its consumer lag (and so checks the broker for /ready).", default=10.0
    )
    data_dir: Path = _doc("Worker state directory (table caches).", default=Path(".flashpoint-data"))
    log_level: str = _doc("Log level: debug, info, warning, error.", default="info")
    log_format: str = _doc("Log format: text, or json (one object per line, for log shippers).", default="text")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from ``FLASHPOINT_*`` variables; explicit overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"FLASHPOINT_{f.name.upper()}")
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, _default_of(f))
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        problems = []
        if self.processing_guarantee not in ("exactly_once", "at_least_once"):
            problems.append("processing_guarantee must be exactly_once or at_least_once")
        if self.partitions < 1 or self.replication_factor < 1 or self.batch_size < 1:
            problems.append("partitions, replication_factor and batch_size must be >= 1")
        if not 0.0 <= self.min_complaint_probability <= 1.0:
            problems.append("min_complaint_probability must be within 0..1")
        if not self.reach_info <= self.reach_warning <= self.reach_error <= self.reach_critical:
            problems.append("reach thresholds must rise: info <= warning <= error <= critical")
        if self.device not in ("auto", "cpu") and not self.device.startswith("cuda"):
            problems.append("device must be auto, cpu or cuda[:N]")
        if self.precision not in ("auto", "fp32", "bf16", "int8"):
            problems.append("precision must be auto, fp32, bf16 or int8")
        if not 0.0 < self.fetch_max_wait_seconds <= 30.0 or self.fetch_min_bytes < 1:
            problems.append("fetch_max_wait_seconds must be within (0, 30] and fetch_min_bytes >= 1")
        if self.cascade_ttl_seconds <= 0 or self.sweep_interval_seconds <= 0:
            problems.append("cascade_ttl_seconds and sweep_interval_seconds must be > 0")
        if self.kafka_security_protocol not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            problems.append("kafka_security_protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
        if self.kafka_security_protocol.startswith("SASL"):
            if self.kafka_sasl_mechanism not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
                problems.append("kafka_sasl_mechanism must be PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
            if not self.kafka_sasl_username or not self.kafka_sasl_password:
                problems.append("SASL needs kafka_sasl_username and kafka_sasl_password")
        if self.log_format not in ("text", "json"):
            problems.append("log_format must be text or json")
        if self.log_level.lower() not in ("debug", "info", "warning", "error"):
            problems.append("log_level must be debug, info, warning or error")
        if not 0.0 <= self.forecast_lean <= 1.0:
            problems.append("forecast_lean must be within 0..1")
        if not 0.0 <= self.complaint_share < 1.0:
            problems.append("complaint_share must be within 0..1 (0: unknown)")
        if not -1.0 <= self.routing_min_similarity <= 1.0:
            problems.append("routing_min_similarity must be within -1..1 (a cosine similarity)")
        if self.broker_wait_seconds <= 0:
            problems.append("broker_wait_seconds must be > 0")
        if self.lag_interval_seconds <= 0:
            problems.append("lag_interval_seconds must be > 0")
        if problems:
            raise ValueError("invalid settings: " + "; ".join(problems))

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    def missing_artifacts(self) -> list[str]:
        """What a worker reads at start-up and cannot find, each naming the setting that
        points at it: checked before anything starts, so that a misbuilt image or a
        wrong path stops with one line instead of a crash loop."""
        missing = []
        if not (self.model_dir / "config.json").is_file():
            missing.append(f"FLASHPOINT_MODEL_DIR={self.model_dir} holds no complaint model (config.json)")
        if not self.reach_model.is_file():
            missing.append(f"FLASHPOINT_REACH_MODEL={self.reach_model} is not a file")
        if not self.watchlist.is_file():
            missing.append(f"FLASHPOINT_WATCHLIST={self.watchlist} is not a file")
        return missing

    def isolated(self, run: str, app_id: str | None = None) -> Settings:
        """These settings on topics of their own (``<run>.<default name>``) and a
        consumer group of its own (``app_id``, default ``run``): a replay or a test
        that never touches a deployment's topics."""
        topics = {f.name: f"{run}.{f.default}" for f in fields(self) if f.name.startswith("topic_")}
        return self.replace(app_id=app_id or run, **topics)

    def environ(self) -> dict[str, str]:
        """Every setting as the FLASHPOINT_* variable that gives it: what a child
        process (a worker, a CLI command) started with these settings needs."""
        return {f"FLASHPOINT_{f.name.upper()}": str(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def is_secret(cls, name: str) -> bool:
        return bool(next(f for f in fields(cls) if f.name == name).metadata.get("secret"))

    @classmethod
    def describe(cls) -> list[tuple[str, str, str]]:
        """(variable, default, description) for every setting, in declaration order."""
        rows = []
        for f in fields(cls):
            default = _default_of(f)
            shown = str(default)
            if isinstance(default, Path) and default.is_absolute():
                shown = str(default.relative_to(REPO_DIR)) if default.is_relative_to(REPO_DIR) else shown
            rows.append((f"FLASHPOINT_{f.name.upper()}", shown, str(f.metadata["doc"])))
        return rows


def _default_of(f: dataclasses.Field[Any]) -> Any:
    return f.default


def _parse(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            return raw.strip().lower() in ("1", "true", "yes", "on")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, Path):
            return Path(raw)
        return raw
    except ValueError as exc:
        raise ValueError(f"FLASHPOINT_{name.upper()}={raw!r}: {exc}") from None
