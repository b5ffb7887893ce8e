"""Intuit's QuickBooks Online v3 XSD set (../shared/reference/qbo-xsd) as a JSON checker for the QuickBooks tests:
a request or response body validates when its XML reading (the mapping of the folder's README) does.

Tests that use it call `schema_or_skip()`, which skips, saying why, where the folder is absent (a clean clone in CI).
"""

from __future__ import annotations

import functools
from pathlib import Path
from decimal import Decimal
from typing import Any

import pytest

from .conftest import PROJECT

XSD_DIR = PROJECT.parent / "shared" / "reference" / "qbo-xsd"
NAMESPACE = "http://schema.intuit.com/finance/v3"
# XML attributes that Intuit's JSON writes as plain keys (README of the XSD folder).
ATTRIBUTES = {"domain", "sparse", "status", "time", "requestId", "startPosition", "maxResults", "totalCount", "bId",
              "operation", "optionsData", "code", "element", "type"}


@functools.lru_cache(maxsize=1)
def _schema():
    import xmlschema

    return xmlschema.XMLSchema10(str(XSD_DIR / "IntuitRestServiceDef.xsd"))


def schema_or_skip():
    if not (XSD_DIR / "IntuitRestServiceDef.xsd").exists():
        pytest.skip(f"Intuit's XSD set is not here ({XSD_DIR} is absent, e.g. a clean clone without ../shared): "
                    "the schema check is skipped")
    return _schema()


def _xml_form(value: Any, key: str | None = None) -> Any:
    if isinstance(value, dict):
        if "value" in value and set(value) <= {"value", "name", "type"}:          # a ReferenceType
            out = {"$": _scalar(value["value"])}
            out.update({f"@{k}": _scalar(v) for k, v in value.items() if k != "value"})
            return out
        return {(f"@{k}" if k in ATTRIBUTES else k): (_scalar(v) if k in ATTRIBUTES else _xml_form(v, k))
                for k, v in value.items()}
    if isinstance(value, list):
        return [_xml_form(v, key) for v in value]
    return _scalar(value)


def _scalar(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float, Decimal)):
        return format(Decimal(repr(value)) if isinstance(value, float) else Decimal(value), "f")
    return value


def errors(element: str, body: Any) -> list[str]:
    """Why `body` (JSON) is not a valid `element` of Intuit's schema: [] when it is."""
    import xmlschema
    from xmlschema.converters import UnorderedConverter

    schema = _schema()
    _, errs = schema.elements[element].encode(_xml_form(body), converter=UnorderedConverter,
                                             namespaces={"": NAMESPACE}, validation="lax")
    return [str(e.reason or e.message) for e in errs]


def response_errors(body: dict) -> list[str]:
    """An API answer: `IntuitResponse` (an entity, a query answer, a batch answer or a Fault)."""
    return errors("IntuitResponse", body)


def request_errors(path: str, body: Any) -> list[str]:
    """A request body by its path: `.../batch` an IntuitBatchRequest, `.../<entity>` that entity."""
    tail = path.split("?", 1)[0].rstrip("/").rsplit("/", 1)[-1].lower()
    if tail == "batch":
        return errors("IntuitBatchRequest", body)
    name = ENTITIES.get(tail)
    assert name is not None, f"no XSD element for a request to {path}"
    return errors(name, body)


ENTITIES = {"customer": "Customer", "invoice": "Invoice", "creditmemo": "CreditMemo", "payment": "Payment",
            "journalentry": "JournalEntry", "item": "Item", "account": "Account"}
