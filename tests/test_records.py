"""The cascade stage's input record: mentions packed per partition, read back one by one."""

from __future__ import annotations

from dataclasses import fields, replace

import orjson
import pytest

from pipeline.records import BATCH_BYTES, ClassifiedBatch, ClassifiedMention, Mention, partition_of
from tests.factories import classified


def cascade(root: str, reposts: int, text: str = "") -> list[ClassifiedMention]:
    reposts_ = [
        classified(id=f"{root}-{i}", kind="repost", parent_id=root, root_id=root, text=text) for i in range(reposts)
    ]
    return [classified(id=root), *reposts_]


def test_each_mention_goes_to_its_cascades_partition_in_order() -> None:
    mentions = [m for r in ("a", "b", "c", "d", "e") for m in cascade(r, 3)]
    records = ClassifiedBatch.pack(mentions, partitions=4)
    assert len(records) == len({p for p, _ in records}), "one record per partition"
    seen = []
    for p, raw in records:
        items = [ClassifiedMention.from_dict(d) for d in ClassifiedBatch.items(raw)]
        assert {partition_of(cm.cascade_key, 4) for cm in items} == {p}
        seen += items
    assert sorted(seen, key=mentions.index) == mentions
    for p, _ in records:  # order within a partition kept
        ours = [cm for cm in seen if partition_of(cm.cascade_key, 4) == p]
        assert ours == [cm for cm in mentions if partition_of(cm.cascade_key, 4) == p]


def test_partition_of_is_kafkas_default_partitioner() -> None:
    from aiokafka.partitioner import DefaultPartitioner

    for key in ("twitter:1", "twitter:abc", "mastodon:x-99"):
        assert partition_of(key, 6) == DefaultPartitioner()(key.encode(), list(range(6)), list(range(6)))


def test_records_stay_under_the_size_bound_and_a_large_mention_goes_alone() -> None:
    mentions = cascade("a", 80, text="x" * 9_000)  # about 9 KB each: several records
    # Longer than any valid mention (10,000 characters at most), yet still sent.
    reply = classified(id="a-huge", kind="reply", parent_id="a", root_id="a", text="y")
    huge = replace(reply, mention=replace(reply.mention, text="y" * (BATCH_BYTES + 1)))
    records = ClassifiedBatch.pack([*mentions, huge], partitions=1)
    assert len(records) > 3 and all(len(raw) <= BATCH_BYTES + 200 for _, raw in records[:-1])
    assert [d["mention"]["id"] for d in ClassifiedBatch.items(records[-1][1])] == ["a-huge"]
    ids = [d["mention"]["id"] for _, raw in records for d in ClassifiedBatch.items(raw)]
    assert ids == [m.mention.id for m in [*mentions, huge]]


def test_to_json_is_what_pack_sends() -> None:
    mentions = cascade("a", 2)
    ((_, raw),) = ClassifiedBatch.pack(mentions, partitions=1)
    assert ClassifiedBatch(tuple(mentions)).to_json() == raw
    assert [ClassifiedMention.from_dict(d) for d in ClassifiedBatch.items(raw)] == mentions


def test_a_bare_classified_mention_is_read_as_a_record_of_one() -> None:
    cm = classified(id="r")
    (item,) = ClassifiedBatch.items(cm.to_json())
    assert ClassifiedMention.from_dict(item) == cm


@pytest.mark.parametrize("raw", [b"{oops", b"[]", b"{}", b'{"mentions": {}}', b'{"schema_version": 2, "mentions": []}'])
def test_anything_else_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        ClassifiedBatch.items(raw)


def test_items_are_not_decoded_so_one_bad_mention_costs_only_itself() -> None:
    raw = b'{"schema_version":1,"mentions":[{"mention":1},' + classified(id="r").to_json() + b"]}"
    bad, good = ClassifiedBatch.items(raw)
    with pytest.raises((KeyError, TypeError, AttributeError)):
        ClassifiedMention.from_dict(bad)
    assert ClassifiedMention.from_dict(good).mention.id == "r"
    assert orjson.dumps(bad) == b'{"mention":1}'


def test_a_mention_encodes_every_field_and_reads_back_the_same() -> None:
    m = replace(
        classified().mention,
        parent_id="p1",
        root_id="r1",
        in_reply_to_handle="AcmeCustServ",
        lang="en",
        url="https://twitter.example/s/1",
    )
    d = m.to_dict()
    assert list(d) == [f.name for f in fields(Mention)]  # a new field must be encoded too
    assert Mention.from_dict(orjson.loads(orjson.dumps(d))) == m
