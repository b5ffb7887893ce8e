"""The one secrets rule: every secret value this process knows is replaced by `***` in any text that leaves it.

Owns the registry of secret values (the environment variables the sync settings name, and the tokens providers
obtain at run time) and the redaction of text and JSON-like data: errors, sync records, CSV, run.json, HTML,
request logs. A value is also recognised in the forms an echoing server or proxy sends it back in (JSON-escaped,
URL-encoded, HTML-escaped, inside an HTTP Basic header).
"""

from __future__ import annotations

import base64
import html
import json
import threading
import urllib.parse
from typing import Any, Iterable

MASK = "***"
# Shorter values would mask ordinary words and numbers; real secrets are longer.
MIN_LENGTH = 4

_lock = threading.Lock()
_values: set[str] = set()
_ordered: list[str] = []          # longest first, so a secret inside another is masked whole


def variants(value: str) -> set[str]:
    """The forms a secret takes when a request carrying it is echoed back."""
    out = {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1],
           urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value, safe=""), html.escape(value)}
    return {v for v in out if len(v) >= MIN_LENGTH}


def register(*values: str | None) -> None:
    """Remember secret values (and their encoded forms) for every later `redact`."""
    global _ordered
    with _lock:
        changed = False
        for value in values:
            if value and len(value) >= MIN_LENGTH:
                new = variants(str(value)) - _values
                if new:
                    _values.update(new)
                    changed = True
        if changed:
            _ordered = sorted(_values, key=len, reverse=True)


def register_basic_auth(user: str, password: str) -> None:
    """An HTTP Basic credential: the password and the base64 header value that carries it."""
    register(password, base64.b64encode(f"{user}:{password}".encode()).decode())


def known() -> list[str]:
    with _lock:
        return list(_ordered)


def forget_all() -> None:
    """Tests only: start from an empty registry."""
    global _ordered
    with _lock:
        _values.clear()
        _ordered = []


def redact(text: Any, extra: Iterable[str] = ()) -> Any:
    """`text` with every known secret (and `extra` ones) replaced by ***; None stays None."""
    if text is None:
        return None
    if not isinstance(text, str):
        text = str(text)
    values = _ordered
    extra = [v for e in extra if e for v in variants(str(e))]
    if extra:
        values = sorted(set(values) | set(extra), key=len, reverse=True)
    for value in values:
        if value in text:
            text = text.replace(value, MASK)
    return text


def redact_data(data: Any) -> Any:
    """A JSON-like structure (dicts, lists, strings, numbers) with every string redacted."""
    if isinstance(data, str):
        return redact(data)
    if isinstance(data, dict):
        return {redact(k) if isinstance(k, str) else k: redact_data(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact_data(v) for v in data]
    return data
