"""Tweet normalisation shared by training and inference, so both see the same text."""

from __future__ import annotations

import html
import re

_URL = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,100}")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """Handles become @user and links http: the model must learn complaint language,
    not which brand accounts happened to be in the training data."""
    text = html.unescape(text)
    text = _URL.sub("http", text)
    text = _HANDLE.sub("@user", text)
    return _SPACE.sub(" ", text).strip()
