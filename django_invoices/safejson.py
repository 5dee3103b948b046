"""Decoding JSON that comes from outside (callbacks, API answers, request bodies).

``json.loads`` lets two kinds of hostile input through as something other than a
``ValueError``: nesting deep enough to raise ``RecursionError``, and ``\\ud800``-style
escapes that decode to lone surrogates, which no UTF-8 database column can store. Here
both are a ``ValueError`` like any other malformed JSON.
"""

from __future__ import annotations

import json
import re
from typing import Any

# A \uD800-\uDFFF escape; only then can the decoded value hold a lone surrogate.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def loads(raw: bytes | str) -> Any:
    """The JSON value in ``raw`` (UTF-8 when bytes); ``ValueError`` when it is unusable."""
    text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    try:
        value = json.loads(text)
    except RecursionError as exc:
        raise ValueError("JSON nested too deeply") from exc
    if _SURROGATE_ESCAPE.search(text):
        try:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
        except (UnicodeEncodeError, RecursionError) as exc:
            raise ValueError("JSON text with an unpaired surrogate escape") from exc
    return value


def contains_nul(raw: bytes | str) -> bool:
    """NUL characters, raw or escaped: no database text or JSON column can store them."""
    if isinstance(raw, str):
        raw = raw.encode("utf-8", "replace")
    return b"\x00" in raw or b"\\u0000" in raw.lower()
