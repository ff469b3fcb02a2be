"""Stage 2: which watched brands a mention names, and whether it speaks *to* them.

A watchlist is a TOML file::

    [[brand]]
    name = "Acme"                      # the name escalations carry
    handles = ["AcmeCustServ", "Acme"]  # the brand's own accounts; @handle or a reply to it = addressed
    hashtags = ["Acme"]                 # #Acme = about
    keywords = ["acme widget"]          # whole words, any case = about

    team = "care"                       # optional: who owns what no topic claims

    [brand.policy]                      # optional: this brand's escalation policy
    reach = [5000, 50000, 500000, 2000000]
    vip = ["big_customer"]

    [[brand.topic]]                     # optional, repeatable: routing by topic
    name = "billing"
    team = "billing-desk"
    examples = ["I was charged twice", "where is my refund"]

(The policy keys are :class:`pipeline.escalation.Policy`'s; they are checked there.
Topics are matched by :mod:`pipeline.classification.topics`.)

Matching is a set lookup per @handle and #hashtag in the text plus one compiled regular
expression for all keywords, so its cost does not grow with the number of brands.

The handles are the brand's own accounts: what they post (a support agent answering)
is the brand talking, not a customer (:meth:`Watchlist.account_of`).
"""

from __future__ import annotations

import re
import tomllib
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.classification.topics import OTHER, Topic
from pipeline.records import BrandMatch, Mention

_HANDLE = re.compile(r"(?<![\w@])@(\w{1,100})")
_HASHTAG = re.compile(r"(?<![\w#])#(\w{1,140})")


class WatchlistError(ValueError):
    pass


@dataclass(frozen=True)
class Brand:
    name: str
    handles: tuple[str, ...] = ()
    hashtags: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    # The [brand.policy] table as written; pipeline.escalation.Policies reads it.
    policy: Mapping[str, Any] = field(default_factory=dict, hash=False, compare=False)
    topics: tuple[Topic, ...] = ()
    # Who owns this brand's complaints that no topic claims.
    team: str | None = None


class Watchlist:
    def __init__(self, brands: list[Brand]) -> None:
        names = [b.name for b in brands]
        dupes = {n for n in names if names.count(n) > 1}
        if dupes:
            raise WatchlistError(f"brand listed twice: {', '.join(sorted(dupes))}")
        self.brands = tuple(brands)
        self._handles: dict[str, list[str]] = defaultdict(list)
        self._hashtags: dict[str, list[str]] = defaultdict(list)
        self._keywords: dict[str, list[str]] = defaultdict(list)
        for b in brands:
            for h in b.handles:
                self._handles[h.lstrip("@").lower()].append(b.name)
            for t in b.hashtags:
                self._hashtags[t.lstrip("#").lower()].append(b.name)
            for k in b.keywords:
                self._keywords[" ".join(k.lower().split())].append(b.name)
        # Longest first, so "acme widget" wins over "acme" where both are listed.
        alternatives = sorted(self._keywords, key=len, reverse=True)
        self._keyword_re = (
            re.compile(
                r"(?<!\w)(" + "|".join(re.escape(k).replace(r"\ ", r"\s+") for k in alternatives) + r")(?!\w)",
                re.IGNORECASE,
            )
            if alternatives
            else None
        )

    @classmethod
    def load(cls, path: Path) -> Watchlist:
        try:
            doc = tomllib.loads(Path(path).read_text())
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise WatchlistError(f"cannot read watchlist {path}: {exc}") from None
        return cls.from_dict(doc, source=str(path))

    @classmethod
    def from_dict(cls, doc: dict[str, object], source: str = "watchlist") -> Watchlist:
        entries = doc.get("brand")
        if not isinstance(entries, list) or not entries:
            raise WatchlistError(f"{source}: expected one or more [[brand]] tables")
        brands = []
        for i, e in enumerate(entries):
            if not isinstance(e, dict) or not isinstance(e.get("name"), str) or not e["name"]:
                raise WatchlistError(f"{source}: brand #{i + 1} needs a name")
            lists = {}
            for key in ("handles", "hashtags", "keywords"):
                value = e.get(key, [])
                if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                    raise WatchlistError(f"{source}: brand {e['name']!r}: {key} must be a list of strings")
                lists[key] = tuple(value)
            if not any(lists.values()):
                raise WatchlistError(f"{source}: brand {e['name']!r} has no handles, hashtags or keywords")
            unknown = set(e) - {"name", "handles", "hashtags", "keywords", "policy", "topic", "team"}
            if unknown:
                raise WatchlistError(f"{source}: brand {e['name']!r}: unknown keys {sorted(unknown)}")
            policy = e.get("policy", {})
            if not isinstance(policy, dict):
                raise WatchlistError(f"{source}: brand {e['name']!r}: policy must be a table ([brand.policy])")
            team = e.get("team")
            if team is not None and (not isinstance(team, str) or not team.strip()):
                raise WatchlistError(f"{source}: brand {e['name']!r}: team must be a non-empty string")
            topics = parse_topics(e.get("topic", []), f"{source}: brand {e['name']!r}")
            brands.append(Brand(e["name"], **lists, policy=policy, topics=topics, team=team))
        return cls(brands)

    def topics(self) -> dict[str, tuple[Topic, ...]]:
        """Brand name -> its topics, for brands that list some."""
        return {b.name: b.topics for b in self.brands if b.topics}

    def teams(self) -> dict[str, str | None]:
        """Brand name -> the team that owns what none of its topics claims."""
        return {b.name: b.team for b in self.brands}

    def account_of(self, mention: Mention) -> str | None:
        """The watched brand whose own account wrote ``mention`` (its author's handle is
        one of the brand's handles), or None for a customer."""
        owners = self._handles.get(mention.author.handle.lstrip("@").lower())
        return owners[0] if owners else None

    def policy_tables(self) -> dict[str, Mapping[str, Any]]:
        """Brand name -> its [brand.policy] table, for brands that have one."""
        return {b.name: b.policy for b in self.brands if b.policy}

    def match(self, mention: Mention) -> tuple[BrandMatch, ...]:
        """Every brand the mention names; addressed when it speaks to the brand's account."""
        found: dict[str, tuple[bool, list[str]]] = {}

        def add(brand: str, addressed: bool, via: str) -> None:
            was_addressed, vias = found.get(brand, (False, []))
            if via not in vias:
                vias.append(via)
            found[brand] = (was_addressed or addressed, vias)

        text = mention.text
        if mention.in_reply_to_handle:
            for b in self._handles.get(mention.in_reply_to_handle.lower(), ()):
                add(b, True, f"reply to @{mention.in_reply_to_handle}")
        for handle in _HANDLE.findall(text):
            for b in self._handles.get(handle.lower(), ()):
                add(b, True, f"@{handle}")
        for tag in _HASHTAG.findall(text):
            for b in self._hashtags.get(tag.lower(), ()):
                add(b, False, f"#{tag}")
        if self._keyword_re is not None:
            for m in self._keyword_re.finditer(text):
                for b in self._keywords.get(" ".join(m.group(1).lower().split()), ()):
                    add(b, False, f"keyword {m.group(1)!r}")
        return tuple(BrandMatch(b, addressed, tuple(via)) for b, (addressed, via) in found.items())


def parse_topics(value: object, where: str) -> tuple[Topic, ...]:
    """``[[brand.topic]]`` tables (or a topics file's ``[[topic]]``), checked."""
    if not isinstance(value, list):
        raise WatchlistError(f"{where}: topics are [[brand.topic]] tables")
    out: list[Topic] = []
    for i, t in enumerate(value):
        if not isinstance(t, dict):
            raise WatchlistError(f"{where}: topic #{i + 1} must be a table")
        name, team, examples = t.get("name"), t.get("team"), t.get("examples")
        label = f"{where}: topic {name!r}" if isinstance(name, str) else f"{where}: topic #{i + 1}"
        unknown = set(t) - {"name", "team", "examples"}
        if unknown:
            raise WatchlistError(f"{label}: unknown keys {sorted(unknown)}")
        if not isinstance(name, str) or not name.strip():
            raise WatchlistError(f"{label}: needs a name")
        if name.strip().lower() == OTHER:
            raise WatchlistError(f"{label}: {OTHER!r} is what no topic claims; name it otherwise")
        if not isinstance(team, str) or not team.strip():
            raise WatchlistError(f"{label}: needs a team (who owns it)")
        phrases = examples if isinstance(examples, list) else []
        if not phrases or not all(isinstance(x, str) and x.strip() for x in phrases):
            raise WatchlistError(f"{label}: examples must be a non-empty list of phrases")
        if any(o.name == name for o in out):
            raise WatchlistError(f"{label}: listed twice")
        out.append(Topic(name, team, tuple(phrases)))
    return tuple(out)
