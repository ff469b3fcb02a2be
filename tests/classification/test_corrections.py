"""Corrections from ops become 'not a complaint' training rows."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from pipeline.classification.corrections import merge
from tests.factories import complaints_csv_text


def correction(post_id: str, text: str, label: int = 0) -> dict[str, object]:
    return {"platform": "twitter", "post_id": post_id, "text": text, "label": label, "brand": "Acme"}


def test_corrected_posts_join_the_training_rows(tmp_path: Path) -> None:
    data = tmp_path / "train.csv"
    data.write_text(complaints_csv_text(8))
    existing = next(csv.DictReader(data.open()))["text"]
    found = [
        correction("1", "so broken it's art, love it"),
        correction("1", "so broken it's art, love it!"),  # the latest word on a post wins
        correction("2", existing),  # already in the file: left as it is
        correction("3", "not a label I know", label=1),
    ]
    out = tmp_path / "merged.csv"
    assert merge(data, found, out) == 1
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 9
    last = rows[-1]
    assert (last["text"], last["label"], last["domain"], last["severity"]) == (
        "so broken it's art, love it!",
        "0",
        "corrections",
        "0",
    )
    assert last["id"] == "twitter:1" and last["sentiment"] == "" and last["emotion"] == ""


def test_the_training_file_needs_text_and_label(tmp_path: Path) -> None:
    data = tmp_path / "bad.csv"
    data.write_text("tweet,label\nhello,0\n")
    with pytest.raises(ValueError, match="no column 'text'"):
        merge(data, [], tmp_path / "out.csv")
