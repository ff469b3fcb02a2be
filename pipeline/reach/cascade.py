"""Stage 4: follow each complaint's cascade of reposts, quotes and replies.

State lives in three key-value stores that the stream worker backs with Faust tables
(changelogged, partitioned like the cascade topic) and tests back with dicts:

- ``cascades``: cascade key -> :class:`CascadeState` as a dict (small: counters only,
  so a viral cascade does not rewrite a growing blob to the changelog on every event);
- ``participants``: ``"<cascade>|<author id>"`` -> True, so each author counts once;
- ``posts``: post key -> [depth in its cascade, cascade key]; doubles as the
  redelivery check.

A cascade's arrivals live in its state as an :class:`~.sketch.ArrivalSketch` (bounded:
at most 106 time bins, under 5 KB as JSON; about 2.2 KB after six hours), which is all
the reach forecast needs.
Cascades quiet for longer than a time to live are swept away with their participants
and posts (:meth:`CascadeTracker.sweep`), so state is bounded by the live cascades.

Every event of one cascade is on one partition (the topic is keyed by cascade), so a
post's parent, when seen at all, was seen here.
"""

from __future__ import annotations

import functools
import math
from collections.abc import MutableMapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from pipeline.reach.forecast import Forecaster, Snapshot, final_reach
from pipeline.reach.sketch import ArrivalSketch
from pipeline.records import BrandMatch, ClassifiedMention, post_key

# A response counts towards a pile-on when the model thinks it is a complaint too.
RESPONSE_COMPLAINT_PROBABILITY = 0.5
# A participant who complained in the conversation (participants table value).
COMPLAINED = 2


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
    author_id: str = ""


@dataclass
class CascadeState:
    """One conversation: a post and its reposts, quotes and replies.

    Its complaint evidence is its strongest customer post (``lead``, with
    ``complaint_probability`` and ``complaint_severity``), the root or any later one: a
    thread that starts with a question can turn into a complaint. ``brands`` are the
    watched brands its customer posts name. The brand's own accounts are recorded apart
    (``brand_answers``) and count nowhere else.
    """

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
    # ArrivalSketch.to_dict(): reposts and quotes over time, for the forecast.
    arrivals: dict[str, Any] = field(default_factory=dict)
    # Where the cascade lives and when this worker last saw it (for expiry).
    partition: int = -1
    touched_at: float = 0.0
    # The strongest customer post so far (None until a customer post was classified).
    lead: RootPost | None = None
    # The conversation's customer: the root's author, or (root unseen or the brand's)
    # the first customer who posted. Their history is the one that counts.
    customer_id: str | None = None
    # brand -> when its own account first answered (ISO time); brand_replies: how many
    # posts its accounts made here. Neither is reach, a participant or a complaint.
    brand_answers: dict[str, str] = field(default_factory=dict)
    brand_replies: int = 0
    _sketch: ArrivalSketch | None = field(default=None, repr=False, compare=False)

    @property
    def evidence(self) -> RootPost | None:
        """The post the conversation's complaint rests on: its lead, or (a state built
        with a root and a verdict but no lead) the root."""
        if self.lead is not None:
            return self.lead
        return self.root if self.complaint_probability is not None else None

    def answered_after(self, brand: str) -> float | None:
        """Seconds from the customer's first post here to ``brand``'s first answer
        (negative: the brand posted first); None while it has not answered."""
        at = self.brand_answers.get(brand)
        if at is None or self.first_event_at is None:
            return None
        return _ts(at) - _ts(self.first_event_at)

    @property
    def responses(self) -> int:
        return self.reposts + self.replies + self.quotes

    def to_dict(self) -> dict[str, Any]:
        # By hand: dataclasses.asdict deep-copies the arrival bins, which cost more than
        # the rest of a repost's work. Nothing here is mutated once stored.
        d = {f: getattr(self, f) for f in _SCALARS}
        d["root"] = {f: getattr(self.root, f) for f in _ROOT} if self.root else None
        d["lead"] = {f: getattr(self.lead, f) for f in _ROOT} if self.lead else None
        d["brands"] = [
            {"brand": b.brand, "addressed": b.addressed, "via": list(b.via), "topic": b.topic, "team": b.team}
            for b in self.brands
        ]
        d["escalated"] = dict(self.escalated)
        d["brand_answers"] = dict(self.brand_answers)
        if self._sketch is not None:
            self.arrivals = self._sketch.to_dict()
        d["arrivals"] = self.arrivals
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CascadeState:
        d = dict(d)
        root = d.pop("root")
        # States saved before conversations had a lead: the root was the evidence.
        lead = d.pop("lead", root if d.get("complaint_probability") is not None else None)
        brands = [BrandMatch.from_dict(b) for b in d.pop("brands")]
        d["escalated"] = dict(d.get("escalated") or {})
        d["brand_answers"] = dict(d.get("brand_answers") or {})
        if "customer_id" not in d and root:
            d["customer_id"] = root.get("author_id") or None
        return cls(root=RootPost(**root) if root else None, lead=RootPost(**lead) if lead else None, brands=brands, **d)

    def sketch(self) -> ArrivalSketch:
        """The arrivals, decoded once per event however many steps read them."""
        if self._sketch is None:
            self._sketch = ArrivalSketch.from_dict(self.arrivals)
        return self._sketch


# Decoded states kept by a tracker (each a few KB to about 20 KB).
DECODED_STATES = 1024

_ROOT = [f.name for f in fields(RootPost)]
_NESTED = ("root", "lead", "brands", "escalated", "brand_answers", "arrivals", "_sketch")
_SCALARS = [f.name for f in fields(CascadeState) if f.name not in _NESTED]


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
        # Recently saved states, decoded, with the stored dict each was saved as: decoding
        # a state's arrival sketch costs more than the rest of a repost's bookkeeping, and
        # a hot cascade's next event usually comes before long.
        self._decoded: dict[str, tuple[dict[str, Any], CascadeState]] = {}

    def get(self, key: str) -> CascadeState | None:
        raw = self.cascades.get(key)
        if not raw:
            return None
        # Taken out, not peeked: a caller that fails halfway leaves no half-changed state
        # behind. Only the very dict it was saved as vouches for it (a changelog recovery
        # or another writer puts new dicts in the store).
        decoded = self._decoded.pop(key, None)
        if decoded is not None and decoded[0] is raw:
            return decoded[1]
        return CascadeState.from_dict(raw)

    def drop_cache(self) -> None:
        """Forget the decoded states kept for reuse (a cache: nothing is lost)."""
        self._decoded.clear()

    def save(self, state: CascadeState) -> None:
        raw = state.to_dict()
        self.cascades[state.key] = raw
        self._decoded[state.key] = (raw, state)
        if len(self._decoded) > DECODED_STATES:
            del self._decoded[next(iter(self._decoded))]  # the least recently saved

    def apply(self, cm: ClassifiedMention, partition: int = -1, now: float = 0.0) -> CascadeState | None:
        """Fold one mention into its cascade; None when it changed nothing that matters
        (a redelivery, or an overflow before the root arrived). ``now`` (epoch seconds)
        and ``partition`` date and place the cascade for :meth:`sweep`."""
        m = cm.mention
        if self.posts.get(m.key) is not None:
            return None
        key = cm.cascade_key
        state = self.get(key) or CascadeState(key=key)
        state.partition, state.touched_at = partition, now
        is_root = m.is_root
        if not is_root and state.root is None and state.responses >= self.max_pending:
            state.dropped_before_root += 1
            self.save(state)
            return None

        if is_root:
            depth = 0
        else:
            parent = self.posts.get(post_key(m.platform, m.parent_id)) if m.parent_id else None
            depth = _depth(parent) + 1 if parent is not None else 1
        self.posts[m.key] = [depth, key]
        state.depth = max(state.depth, depth)
        post = RootPost(
            id=m.id,
            platform=m.platform,
            text=m.text,
            url=m.url,
            author_handle=m.author.handle,
            author_followers=m.author.followers,
            author_verified=m.author.verified,
            created_at=m.created_at.isoformat(),
            author_id=m.author.id,
        )
        if is_root:
            state.root = post

        if cm.brand_account is not None:
            # The brand answering: when, and that the conversation is its own (a customer
            # may have named it by a handle the watchlist lacks). That is all: its
            # followers are not the complaint's audience and its words are not a customer's.
            how = f"posted by @{m.author.handle}" if is_root else f"answered by @{m.author.handle}"
            _join_brand(state, BrandMatch(cm.brand_account, True, (how,)))
            when = post.created_at
            first = state.brand_answers.get(cm.brand_account)
            if first is None or _ts(when) < _ts(first):
                state.brand_answers[cm.brand_account] = when
            if not is_root:
                state.brand_replies += 1
            self.save(state)
            return state

        at = m.created_at.timestamp()
        if is_root:
            state.sketch().add_root(at, m.author.followers)
        elif m.kind in ("repost", "quote"):
            # Replies are conversation: they do not re-share the post to followers.
            state.sketch().add(at, m.author.followers)

        if is_root or state.customer_id is None:
            state.customer_id = m.author.id
        p = cm.complaint_probability
        new_lead = p is not None and (state.complaint_probability is None or p > state.complaint_probability)
        for b in cm.brands:
            _join_brand(state, b, lead=new_lead)
        if new_lead:
            state.lead = post
            state.complaint_probability = p
            state.complaint_severity = cm.complaint_severity
            state.model_version = cm.model_version
        if not is_root:
            if m.kind == "repost":
                state.reposts += 1
            elif m.kind == "quote":
                state.quotes += 1
            else:
                state.replies += 1

        participant = f"{key}|{m.author.id}"
        seen = self.participants.get(participant)
        if seen is None:
            state.participants += 1
            state.potential_reach += m.author.followers
        # Other customers complaining too, each counted once (1: took part, 2: complained).
        joins = not is_root and m.author.id != state.customer_id
        if joins and p is not None and p >= RESPONSE_COMPLAINT_PROBABILITY and seen != COMPLAINED:
            state.complaining_responses += 1
            self.participants[participant] = COMPLAINED
        elif seen is None:
            self.participants[participant] = True

        when = m.created_at.isoformat()
        if state.first_event_at is None or at < _ts(state.first_event_at):
            state.first_event_at = when
        if state.last_event_at is None or at > _ts(state.last_event_at):
            state.last_event_at = when
        self.save(state)
        return state

    def count(self, partitions: set[int]) -> int:
        """Cascades held for ``partitions`` (a worker's own, not its standby copies)."""
        return sum(1 for v in list(self.cascades.values()) if v and v.get("partition") in partitions)

    def sweep(self, partition: int, now: float, ttl: float) -> int:
        """Forget the cascades of ``partition`` untouched for ``ttl`` seconds, with their
        participants and posts; the number forgotten. Runs while processing an event of
        that partition, so the deletions go to the right changelog partition."""
        expired = {
            k
            for k, v in list(self.cascades.items())
            if v and v.get("partition") == partition and v.get("touched_at", now) < now - ttl
        }
        if not expired:
            return 0
        for k in expired:
            del self.cascades[k]
        for k in [k for k in list(self.participants.keys()) if k.rsplit("|", 1)[0] in expired]:
            del self.participants[k]
        for k, v in list(self.posts.items()):
            if isinstance(v, list) and v[1] in expired:
                del self.posts[k]
        return len(expired)


@dataclass(frozen=True, slots=True)
class Outlook:
    """Where a cascade is heading, as seen at its latest event."""

    observed_seconds: float  # since the original post
    reposts: int  # reposts and quotes seen
    final_reposts: float
    final_reposts_low: float  # 80% interval
    final_reposts_high: float
    potential_reach: float  # once the cascade settles
    potential_reach_low: float
    potential_reach_high: float
    seismic_final_reposts: float  # inf when supercritical
    supercritical: bool


# A forecast on every repost while a cascade is small, then each time its reposts have
# grown by FORECAST_GROWTH: one more repost barely moves a large cascade's forecast,
# and a forecast costs more than all the rest of a repost's work.
FORECAST_EVERY_UNTIL = 64
FORECAST_GROWTH = 1.02
_LOG_GROWTH = math.log(FORECAST_GROWTH)


def forecast_due(state: CascadeState, kind: str) -> bool:
    """Whether the event of ``kind`` just applied to ``state`` calls for a new forecast
    (a reply or an original post always does: it changes reach, not the repost curve)."""
    if kind not in ("repost", "quote"):
        return True
    r = state.sketch().reposts
    if r <= FORECAST_EVERY_UNTIL:
        return True
    return int(math.log(r) / _LOG_GROWTH) != int(math.log(r - 1) / _LOG_GROWTH)


def outlook(state: CascadeState, forecaster: Forecaster) -> Outlook | None:
    """The forecast for a cascade whose original post has arrived, once it has been
    reposted or quoted."""
    if state.root is None or state.last_event_at is None:
        return None
    sketch = state.sketch()
    if sketch.reposts == 0:
        return None  # nothing to extrapolate from yet
    snap = Snapshot.of_sketch(sketch, _ts(state.last_event_at))
    s = snap.seismic
    f = forecaster.predict(snap)
    followers = sketch.repost_followers

    def reach(final: float) -> float:
        return final_reach(s.reposts, followers, state.potential_reach, final)

    return Outlook(
        observed_seconds=s.t,
        reposts=s.reposts,
        final_reposts=f.final,
        final_reposts_low=f.low,
        final_reposts_high=f.high,
        # The forecast may extrapolate reach from another final size than the one it
        # states (each is the best of its kind in the cascade's regime).
        potential_reach=reach(f.reach_final),
        potential_reach_low=reach(min(f.low, f.reach_final)),
        potential_reach_high=reach(max(f.high, f.reach_final)),
        seismic_final_reposts=s.final,
        supercritical=s.supercritical,
    )


def _join_brand(state: CascadeState, b: BrandMatch, lead: bool = False) -> None:
    """Add a brand a customer post names; addressed once any post speaks to it. Its
    topic is the lead post's (the complaint the conversation rests on), or else the
    first one a post gave."""
    for i, have in enumerate(state.brands):
        if have.brand == b.brand:
            via = have.via + tuple(v for v in b.via if v not in have.via)
            topic, team = have.topic, have.team
            if b.topic is not None and (lead or topic is None):
                topic, team = b.topic, b.team
            joined = BrandMatch(b.brand, have.addressed or b.addressed, via[:5], topic, team)
            if joined != have:
                state.brands[i] = joined
            return
    state.brands.append(b)


def _depth(post: Any) -> int:
    # Older states stored the bare depth.
    return int(post[0]) if isinstance(post, list) else int(post)


# A hot cascade's first and last event times are read again on each of its events.
@functools.lru_cache(maxsize=4096)
def _ts(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()
