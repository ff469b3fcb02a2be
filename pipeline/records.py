"""The records Flashpoint's topics carry: one per topic, versioned, never renamed.

| topic (setting)          | record                          | key            |
|--------------------------|---------------------------------|----------------|
| ``topic_mentions``       | :class:`Mention` (JSON, schema  | free           |
|                          | ``pipeline/schemas/mention.v1``)|                |
| ``topic_dead_letter``    | the original bytes, unchanged;  | original key   |
|                          | :class:`DeadLetter` in headers  |                |
| ``topic_classified``     | :class:`ClassifiedBatch` of     | none; sent to  |
|                          | :class:`ClassifiedMention`      | partition_of() |
| ``topic_desk``           | :class:`BrandSignal`            | brand          |
| ``topic_escalations``    | CloudEvent (JSON, schema        | dedup key      |
|                          | ``pipeline/schemas/escalation.v1``) |            |
| ``topic_feedback``       | :class:`Feedback` (JSON, schema | free           |
|                          | ``pipeline/schemas/feedback.v1``)|               |
| ``topic_corrections``    | :class:`Correction`             | post key       |

Fields are only ever added, with defaults, within a version; a change that would break
a reader gets a new ``schema_version`` and a new record class beside the old one.
Plain dataclasses, so the pure stages import without Faust.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import orjson
from aiokafka.partitioner import murmur2

Kind = Literal["post", "reply", "quote", "repost"]


@dataclass(frozen=True, slots=True)
class Author:
    id: str
    handle: str
    followers: int
    verified: bool = False


@dataclass(frozen=True, slots=True)
class Mention:
    """Input record, schema v1 (``pipeline/schemas/mention.v1.json``)."""

    id: str
    platform: str
    kind: Kind
    text: str
    created_at: datetime
    author: Author
    parent_id: str | None = None
    root_id: str | None = None
    in_reply_to_handle: str | None = None
    lang: str | None = None
    url: str | None = None
    schema_version: int = 1

    @property
    def key(self) -> str:
        """(platform, id): a post's identity across redeliveries."""
        return post_key(self.platform, self.id)

    @property
    def cascade_key(self) -> str:
        """The cascade this mention belongs to: its root when known, else its parent."""
        root = self.root_id or self.parent_id or self.id
        return post_key(self.platform, root)

    @property
    def is_root(self) -> bool:
        return self.cascade_key == self.key

    def to_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies field by field, and every mention is
        # encoded once on its way to the cascade stage.
        a = self.author
        return {
            "id": self.id,
            "platform": self.platform,
            "kind": self.kind,
            "text": self.text,
            "created_at": self.created_at.isoformat(),
            "author": {"id": a.id, "handle": a.handle, "followers": a.followers, "verified": a.verified},
            "parent_id": self.parent_id,
            "root_id": self.root_id,
            "in_reply_to_handle": self.in_reply_to_handle,
            "lang": self.lang,
            "url": self.url,
            "schema_version": self.schema_version,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Mention:
        return cls(
            id=d["id"],
            platform=d["platform"],
            kind=d["kind"],
            text=d["text"],
            created_at=datetime.fromisoformat(d["created_at"]),
            author=Author(**d["author"]),
            parent_id=d.get("parent_id"),
            root_id=d.get("root_id"),
            in_reply_to_handle=d.get("in_reply_to_handle"),
            lang=d.get("lang"),
            url=d.get("url"),
        )


def post_key(platform: str, post_id: str) -> str:
    return f"{platform}:{post_id}"


@dataclass(frozen=True, slots=True)
class BrandMatch:
    """One watched brand a mention names.

    ``addressed``: the post speaks to the brand (its handle, or a reply to its account);
    otherwise it is only about it (hashtag, keyword). ``via`` says what matched.
    ``topic`` and ``team``: which of the brand's watchlist topics the post is about and
    the team that owns it (pipeline/classification/topics.py); None where the post was
    not classified (a repost, the brand's own account).
    """

    brand: str
    addressed: bool
    via: tuple[str, ...] = ()
    topic: str | None = None
    team: str | None = None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BrandMatch:
        return cls(d["brand"], d["addressed"], tuple(d["via"]), d.get("topic"), d.get("team"))


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why a message was rejected; travels as ``flashpoint.dlq.*`` headers beside the
    original bytes, which stay unchanged in the value."""

    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    failed_at: datetime
    schema_version: int = 1
    # Bounded: pipeline.schemas.REASON_CODES, decoder_error, model_error,
    # processing_error, unknown_escalation. What metrics and alerts group by.
    code: str = "invalid_value"

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("flashpoint.dlq.reason", self.reason.encode()),
            ("flashpoint.dlq.reason_code", self.code.encode()),
            ("flashpoint.dlq.source_topic", self.source_topic.encode()),
            ("flashpoint.dlq.source_partition", str(self.source_partition).encode()),
            ("flashpoint.dlq.source_offset", str(self.source_offset).encode()),
            ("flashpoint.dlq.failed_at", self.failed_at.isoformat().encode()),
            ("flashpoint.dlq.schema_version", str(self.schema_version).encode()),
        ]

    @classmethod
    def from_headers(cls, headers: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...]) -> DeadLetter:
        h = {k: v.decode() for k, v in headers if k.startswith("flashpoint.dlq.")}
        return cls(
            reason=h["flashpoint.dlq.reason"],
            source_topic=h["flashpoint.dlq.source_topic"],
            source_partition=int(h["flashpoint.dlq.source_partition"]),
            source_offset=int(h["flashpoint.dlq.source_offset"]),
            failed_at=datetime.fromisoformat(h["flashpoint.dlq.failed_at"]),
            schema_version=int(h["flashpoint.dlq.schema_version"]),
            code=h.get("flashpoint.dlq.reason_code", "invalid_value"),
        )


@dataclass(frozen=True, slots=True)
class ClassifiedMention:
    """Internal topic record, v1: a valid mention on its way to its cascade.

    Reposts carry no verdict of their own (``complaint_probability`` None): they take
    their root's.
    """

    mention: Mention
    brands: tuple[BrandMatch, ...] = ()
    complaint_probability: float | None = None
    complaint_severity: int | None = None
    model_version: str | None = None
    schema_version: int = 1
    extra: dict[str, Any] = field(default_factory=dict)
    # When the mention reached Kafka (its input-topic timestamp, Unix seconds): the
    # start of the end-to-end latency an escalation reports.
    arrived_at: float | None = None
    # The watched brand whose own account posted this (a support agent answering):
    # recorded in its conversation, never classified, never counted as reach or as a
    # customer. None for everyone else.
    brand_account: str | None = None

    @property
    def cascade_key(self) -> str:
        return self.mention.cascade_key

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "mention": self.mention.to_dict(),
            "brands": [asdict(b) for b in self.brands],
            "complaint_probability": self.complaint_probability,
            "complaint_severity": self.complaint_severity,
            "model_version": self.model_version,
            "extra": self.extra,
            "arrived_at": self.arrived_at,
            "brand_account": self.brand_account,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_json(cls, raw: bytes) -> ClassifiedMention:
        return cls.from_dict(orjson.loads(raw))

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassifiedMention:
        return cls(
            mention=Mention.from_dict(d["mention"]),
            brands=tuple(BrandMatch.from_dict(b) for b in d["brands"]),
            complaint_probability=d["complaint_probability"],
            complaint_severity=d["complaint_severity"],
            model_version=d["model_version"],
            schema_version=d["schema_version"],
            extra=d.get("extra", {}),
            arrived_at=d.get("arrived_at"),
            brand_account=d.get("brand_account"),
        )


# Most bytes of mentions in one ClassifiedBatch record: far below Kafka's 1 MB default
# message limit however long the posts are (a larger single mention goes on its own).
BATCH_BYTES = 256 * 1024
_BATCH_HEAD = b'{"schema_version":1,"mentions":['


@dataclass(frozen=True, slots=True)
class ClassifiedBatch:
    """Internal topic record, v1: the valid mentions of one ingest step that belong to
    one partition of ``topic_classified``, in the order they arrived; each a
    :class:`ClassifiedMention` (``{"schema_version": 1, "mentions": [...]}``).

    One record per partition and step, not one per mention: the cascade stage's cost
    per Kafka record (Faust's consumer, stream and acks: about 0.16 ms on this
    project's machines) was more than its own work for a repost. Readers also take a
    bare :class:`ClassifiedMention`: what the topic carried before, and what a
    dead-lettered item is kept as, so that it can be replayed on its own.
    """

    mentions: tuple[ClassifiedMention, ...]
    schema_version: int = 1

    def to_json(self) -> bytes:
        return _batch([orjson.dumps(cm.to_dict()) for cm in self.mentions])

    @staticmethod
    def pack(mentions: list[ClassifiedMention], partitions: int) -> list[tuple[int, bytes]]:
        """(partition, record) pairs for ``mentions``: each goes to its cascade's
        partition (:func:`partition_of`), in order, at most BATCH_BYTES a record."""
        out: list[tuple[int, bytes]] = []
        parts: dict[int, tuple[list[bytes], int]] = {}
        for cm in mentions:
            p = partition_of(cm.cascade_key, partitions)
            item = orjson.dumps(cm.to_dict())
            items, size = parts.get(p, ([], 0))
            if items and size + len(item) > BATCH_BYTES:
                out.append((p, _batch(items)))
                items, size = [], 0
            items.append(item)
            parts[p] = (items, size + len(item) + 1)
        out.extend((p, _batch(items)) for p, (items, _) in parts.items())
        return out

    @staticmethod
    def items(raw: bytes | None) -> list[Any]:
        """The mentions a record carries, still undecoded (each is decoded on its own by
        :meth:`ClassifiedMention.from_dict`, so a bad one costs one dead letter).
        Raises ValueError for a record that is neither form."""
        d = orjson.loads(raw or b"")
        if isinstance(d, dict) and isinstance(d.get("mentions"), list) and d.get("schema_version") == 1:
            return list(d["mentions"])
        if isinstance(d, dict) and "mention" in d:
            return [d]
        raise ValueError("neither a ClassifiedBatch nor a ClassifiedMention")


def _batch(items: list[bytes]) -> bytes:
    return _BATCH_HEAD + b",".join(items) + b"]}"


def partition_of(cascade_key: str, partitions: int) -> int:
    """A cascade's partition of ``topic_classified`` (and of the cascade stage's tables):
    Kafka's default partitioner on the cascade key. ``partitions`` is the app's: Faust
    refuses tables whose changelog and source topics differ in partition count."""
    h: int = murmur2(cascade_key.encode())
    return (h & 0x7FFFFFFF) % partitions


SignalKind = Literal["complaint", "decision", "feedback", "tick"]


@dataclass(frozen=True, slots=True)
class BrandSignal:
    """Internal topic record, v1: what the escalation desk (keyed by brand) acts on.

    - ``complaint``: a complaint post about ``brand`` (root, or a complaining reply or
      quote): ``complaint`` holds its author, cascade, link, time and probability;
    - ``decision``: the cascade stage's escalation for ``brand``, as a draft
      CloudEvent in ``draft``; ``author_id`` is the root author's;
    - ``feedback``: ops feedback (a :class:`Feedback` as a dict);
    - ``tick``: the clock, for reminders (``brand`` empty; sent to every partition).
    """

    kind: SignalKind
    brand: str
    at: str
    complaint: dict[str, Any] | None = None
    draft: dict[str, Any] | None = None
    author_id: str | None = None
    feedback: dict[str, Any] | None = None
    schema_version: int = 1
    # The arrival in Kafka of the mention behind a complaint or decision (Unix seconds).
    arrived_at: float | None = None

    def to_json(self) -> bytes:
        # orjson encodes dataclasses itself, several times faster than through asdict.
        return orjson.dumps(self)

    @classmethod
    def from_json(cls, raw: bytes) -> BrandSignal:
        return cls(**orjson.loads(raw))


FeedbackAction = Literal["acknowledge", "resolve", "false_positive"]


@dataclass(frozen=True, slots=True)
class Feedback:
    """Public topic record, v1 (``pipeline/schemas/feedback.v1.json``): what an ops
    team says about an escalation."""

    dedup_key: str
    action: FeedbackAction
    by: str
    note: str | None = None
    at: str | None = None
    schema_version: int = 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Feedback:
        keep = {"dedup_key", "action", "by", "note", "at", "schema_version"}
        return cls(**{k: v for k, v in d.items() if k in keep})

    @property
    def brand(self) -> str:
        return self.dedup_key.split("/", 1)[0]


@dataclass(frozen=True, slots=True)
class Correction:
    """Public topic record, v1: a post the model called a complaint and ops called a
    false positive, with the label to train on (``flashpoint model train
    --corrections``)."""

    text: str
    label: int
    platform: str
    post_id: str
    brand: str
    dedup_key: str
    complaint_probability: float
    model_version: str | None
    reported_by: str
    note: str | None
    at: str
    schema_version: int = 1

    def to_json(self) -> bytes:
        return orjson.dumps(asdict(self))
