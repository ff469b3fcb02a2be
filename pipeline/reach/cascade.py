"""Stage 4: follow each complaint's cascade of reposts, quotes and replies.

State lives in three key-value stores that the stream worker backs with Faust tables
(changelogged, partitioned like the cascade topic) and tests back with dicts:

- ``cascades``: cascade key -> :class:`CascadeState` as a dict (small: counters only,
  so a viral cascade does not rewrite a growing blob to the changelog on every event);
- ``participants``: ``"<cascade>|<author id>"`` -> True, so each author counts once;
- ``posts``: post key -> depth in its cascade; doubles as the redelivery check.

Every event of one cascade is on one partition (the topic is keyed by cascade), so a
post's parent, when seen at all, was seen here.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from pipeline.records import BrandMatch, ClassifiedMention, post_key

# A response counts towards a pile-on when the model thinks it is a complaint too.
RESPONSE_COMPLAINT_PROBABILITY = 0.5


@dataclass
class RootPost:
    id: str
    platform: str
    text: str
    url: str | None
    author_handle: str
    author_followers: int
    author_verified: bool
    created_at: str


@dataclass
class CascadeState:
    key: str
    root: RootPost | None = None
    brands: list[BrandMatch] = field(default_factory=list)
    complaint_probability: float | None = None
    complaint_severity: int | None = None
    model_version: str | None = None
    potential_reach: int = 0
    participants: int = 0
    depth: int = 0
    reposts: int = 0
    replies: int = 0
    quotes: int = 0
    complaining_responses: int = 0
    first_event_at: str | None = None
    last_event_at: str | None = None
    # Events beyond max_pending that arrived before the root: counted, not added.
    dropped_before_root: int = 0
    # brand -> highest escalation severity already published.
    escalated: dict[str, str] = field(default_factory=dict)

    @property
    def responses(self) -> int:
        return self.reposts + self.replies + self.quotes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CascadeState:
        d = dict(d)
        root = d.pop("root")
        brands = [BrandMatch(b["brand"], b["addressed"], tuple(b["via"])) for b in d.pop("brands")]
        return cls(root=RootPost(**root) if root else None, brands=brands, **d)


class CascadeTracker:
    def __init__(
        self,
        cascades: MutableMapping[str, Any],
        participants: MutableMapping[str, Any],
        posts: MutableMapping[str, Any],
        max_pending: int = 10_000,
    ) -> None:
        self.cascades = cascades
        self.participants = participants
        self.posts = posts
        self.max_pending = max_pending

    def get(self, key: str) -> CascadeState | None:
        raw = self.cascades.get(key)
        return CascadeState.from_dict(raw) if raw else None

    def save(self, state: CascadeState) -> None:
        self.cascades[state.key] = state.to_dict()

    def apply(self, cm: ClassifiedMention) -> CascadeState | None:
        """Fold one mention into its cascade; None when it changed nothing that matters
        (a redelivery, or an overflow before the root arrived)."""
        m = cm.mention
        if self.posts.get(m.key) is not None:
            return None
        key = cm.cascade_key
        state = self.get(key) or CascadeState(key=key)
        is_root = m.is_root
        if not is_root and state.root is None and state.responses >= self.max_pending:
            state.dropped_before_root += 1
            self.save(state)
            return None

        if is_root:
            depth = 0
        else:
            parent_depth = self.posts.get(post_key(m.platform, m.parent_id)) if m.parent_id else None
            depth = int(parent_depth) + 1 if parent_depth is not None else 1
        self.posts[m.key] = depth
        state.depth = max(state.depth, depth)

        if is_root:
            state.root = RootPost(
                id=m.id,
                platform=m.platform,
                text=m.text,
                url=m.url,
                author_handle=m.author.handle,
                author_followers=m.author.followers,
                author_verified=m.author.verified,
                created_at=m.created_at.isoformat(),
            )
            state.brands = list(cm.brands)
            state.complaint_probability = cm.complaint_probability
            state.complaint_severity = cm.complaint_severity
            state.model_version = cm.model_version
        else:
            if m.kind == "repost":
                state.reposts += 1
            elif m.kind == "quote":
                state.quotes += 1
            else:
                state.replies += 1
            p = cm.complaint_probability
            if p is not None and p >= RESPONSE_COMPLAINT_PROBABILITY:
                state.complaining_responses += 1

        participant = f"{key}|{m.author.id}"
        if self.participants.get(participant) is None:
            self.participants[participant] = True
            state.participants += 1
            state.potential_reach += m.author.followers

        when = m.created_at.isoformat()
        if state.first_event_at is None or _ts(when) < _ts(state.first_event_at):
            state.first_event_at = when
        if state.last_event_at is None or _ts(when) > _ts(state.last_event_at):
            state.last_event_at = when
        self.save(state)
        return state


def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
