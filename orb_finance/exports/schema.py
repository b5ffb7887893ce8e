"""The generator's side of the export contract: every resource, its columns in file order and their spec types.

Mirrors `models/staging/orb/_orb__sources.yml` (the tests compare the two). Rows are built as tuples in this
column order with integer-encoded values, the encoding each spec type uses in memory:

* ts   -> int, seconds since the Unix epoch (UTC)
* date -> int, days since 1970-01-01
* dec  -> int, micro-units (value x 1,000,000), written as DECIMAL(18, 6): money never goes through float
* int, bool, str -> themselves; json -> JSON text
"""

from __future__ import annotations

from typing import Any, Final

Row = tuple[Any, ...]

_ID: Final = [("id", "str"), ("created_at", "ts"), ("updated_at", "ts")]
_DELETED: Final = [("deleted_at", "ts")]

_LADDER: Final = [
    ("quantity", "dec"), ("subtotal", "dec"), ("adjusted_subtotal", "dec"), ("credits_applied", "dec"),
    ("conversion_rate", "dec"), ("partially_invoiced_amount", "dec"), ("amount", "dec"), ("rounded_amount", "dec"),
]

_BILLING_BODY: Final = [
    ("invoice_id", "str"), ("customer_id", "str"), ("subscription_id", "str"), ("price_id", "str"), ("item_id", "str"),
    ("name", "str"), ("start_date", "ts"), ("end_date", "ts"), *_LADDER, ("tax_amount", "dec"), ("total", "dec"),
    ("invoicing_currency", "str"), ("pricing_currency", "str"), ("invoice_date", "ts"), ("voided_at", "ts"),
]

_DAILY_BODY: Final = [
    ("invoice_id", "str"), ("invoice_line_item_id", "str"), ("customer_id", "str"), ("subscription_id", "str"),
    ("price_id", "str"), ("item_id", "str"), ("timeframe_start", "ts"), ("timeframe_end", "ts"), *_LADDER,
    ("invoicing_currency", "str"), ("pricing_currency", "str"),
]

_LEDGER_BODY: Final = [
    ("customer_id", "str"), ("ledger_sequence_number", "int"), ("entry_type", "str"), ("entry_status", "str"),
    ("currency", "str"), ("amount", "dec"), ("starting_balance", "dec"), ("ending_balance", "dec"),
    ("credit_block_id", "str"), ("credit_block_expiry_date", "ts"), ("cost_basis", "dec"), ("invoice_id", "str"),
    ("price_id", "str"), ("description", "str"),
]

_CREDIT_NOTE_LINE_BODY: Final = [
    ("credit_note_id", "str"), ("invoice_id", "str"), ("invoice_line_item_id", "str"), ("item_id", "str"),
    ("name", "str"), ("quantity", "dec"), ("subtotal", "dec"), ("amount", "dec"), ("tax_amount", "dec"),
    ("total", "dec"), ("start_date", "ts"), ("end_date", "ts"), ("voided_at", "ts"),
]

_EVENT_TAIL: Final = [("timestamp", "ts"), ("lock_adjusted_timestamp", "ts"), ("is_revert", "bool")]

RESOURCES: Final[dict[str, list[tuple[str, str]]]] = {
    "customer": [
        *_ID, *_DELETED, ("external_customer_id", "str"), ("name", "str"), ("email", "str"), ("currency", "str"),
        ("timezone", "str"), ("payment_provider", "str"), ("payment_provider_id", "str"),
        ("billing_address", "json"), ("metadata", "json"),
    ],
    "item": [*_ID, *_DELETED, ("name", "str"), ("external_connections", "json"), ("archived_at", "ts")],
    "invoice_metadata": [
        *_ID, *_DELETED, ("invoice_number", "str"), ("customer_id", "str"), ("subscription_id", "str"),
        ("status", "str"), ("invoice_source", "str"), ("invoicing_currency", "str"), ("subtotal", "dec"),
        ("total", "dec"), ("amount_due", "dec"), ("invoice_date", "ts"), ("due_date", "ts"), ("issued_at", "ts"),
        ("paid_at", "ts"), ("voided_at", "ts"), ("payment_provider", "str"), ("payment_provider_id", "str"),
        ("memo", "str"), ("metadata", "json"),
    ],
    "invoice_line_item_billing": [*_ID, *_BILLING_BODY],
    "invoice_line_item_billing_event": [*_ID, ("invoice_line_item_id", "str"), *_BILLING_BODY, *_EVENT_TAIL],
    "daily_line_item_revenue": [*_ID, *_DAILY_BODY, ("reverted_at", "ts")],
    "daily_line_item_revenue_event": [*_ID, *_DAILY_BODY, *_EVENT_TAIL],
    "credit_ledger_entry": [*_ID, *_LEDGER_BODY, ("reverted_at", "ts")],
    "credit_ledger_entry_event": [
        *_ID, ("credit_ledger_entry_id", "str"), *_LEDGER_BODY, *_EVENT_TAIL,
        ("recognized_revenue_amount", "dec"), ("invoicing_currency", "str"),
    ],
    "credit_note": [
        *_ID, *_DELETED, ("credit_note_number", "str"), ("invoice_id", "str"), ("customer_id", "str"),
        ("type", "str"), ("reason", "str"), ("subtotal", "dec"), ("total", "dec"), ("memo", "str"),
        ("voided_at", "ts"),
    ],
    "credit_note_line_item": [*_ID, *_DELETED, *_CREDIT_NOTE_LINE_BODY],
    "credit_note_line_item_event": [*_ID, ("credit_note_line_item_id", "str"), *_CREDIT_NOTE_LINE_BODY, *_EVENT_TAIL],
    "customer_balance_transaction": [
        *_ID, *_DELETED, ("customer_id", "str"), ("action", "str"), ("type", "str"), ("amount", "dec"),
        ("starting_balance", "dec"), ("ending_balance", "dec"), ("currency", "str"), ("invoice_id", "str"),
        ("credit_note_id", "str"), ("description", "str"),
    ],
    "payment_attempt": [
        *_ID, *_DELETED, ("invoice_id", "str"), ("customer_id", "str"), ("amount", "dec"), ("currency", "str"),
        ("payment_provider", "str"), ("payment_provider_id", "str"), ("succeeded", "bool"),
    ],
    "accounting_period_lock": [
        *_ID, *_DELETED, ("period_start", "date"), ("period_end", "date"), ("status", "str"), ("locked_at", "ts"),
    ],
    "subscription": [
        *_ID, *_DELETED, ("customer_id", "str"), ("plan_id", "str"), ("status", "str"), ("start_date", "ts"),
        ("end_date", "ts"), ("net_terms", "int"), ("invoicing_threshold", "dec"), ("metadata", "json"),
    ],
    "subscription_version": [
        *_ID, *_DELETED, ("subscription_id", "str"), ("plan_id", "str"), ("start_date", "ts"), ("ended_at", "ts"),
    ],
    "plan": [
        *_ID, *_DELETED, ("name", "str"), ("currency", "str"), ("net_terms", "int"), ("status", "str"),
        ("external_plan_id", "str"),
    ],
    "price": [
        *_ID, *_DELETED, ("plan_id", "str"), ("item_id", "str"), ("billable_metric_id", "str"), ("name", "str"),
        ("currency", "str"), ("cadence", "str"), ("billing_mode", "str"), ("price_type", "str"),
        ("unit_amount", "dec"), ("conversion_rate", "dec"),
    ],
    "price_interval": [
        *_ID, *_DELETED, ("subscription_id", "str"), ("price_id", "str"), ("start_date", "ts"), ("end_date", "ts"),
        ("fixed_fee_quantity", "dec"),
    ],
    "coupon": [
        *_ID, *_DELETED, ("redemption_code", "str"), ("discount_type", "str"), ("percentage_discount", "dec"),
        ("amount_discount", "dec"), ("duration_in_months", "int"), ("max_redemptions", "int"), ("archived_at", "ts"),
    ],
    "coupon_redemption": [
        *_ID, *_DELETED, ("coupon_id", "str"), ("subscription_id", "str"), ("adjustment_id", "str"),
        ("start_date", "ts"), ("end_date", "ts"),
    ],
    "adjustment": [
        *_ID, *_DELETED, ("adjustment_type", "str"), ("amount_discount", "dec"), ("percentage_discount", "dec"),
        ("minimum_amount", "dec"), ("maximum_amount", "dec"), ("is_invoice_level", "bool"),
        ("applies_to_price_ids", "json"), ("reason", "str"),
    ],
    "adjustment_interval": [
        *_ID, *_DELETED, ("adjustment_id", "str"), ("subscription_id", "str"), ("start_date", "ts"), ("end_date", "ts"),
    ],
    "billable_metric": [
        *_ID, *_DELETED, ("name", "str"), ("description", "str"), ("item_id", "str"), ("status", "str"),
    ],
    "processor_payments": [
        ("id", "str"), ("amount", "int"), ("currency", "str"), ("status", "str"), ("created", "int"),
        ("metadata", "json"), ("fee", "int"),
    ],
}

# Resources written from DuckDB (daily expansion) rather than from Python row buffers.
DAILY_RESOURCES: Final = ("daily_line_item_revenue", "daily_line_item_revenue_event")

# With fmt="csv", these (the big ones) are written gzip-compressed as .csv.gz; the others as plain .csv.
GZIP_CSV_RESOURCES: Final = frozenset({
    "daily_line_item_revenue", "daily_line_item_revenue_event", "invoice_line_item_billing_event",
    "credit_ledger_entry_event",
})

_INDEX: Final[dict[str, dict[str, int]]] = {
    name: {col: i for i, (col, _) in enumerate(cols)} for name, cols in RESOURCES.items()
}
_NAMES: Final[dict[str, tuple[str, ...]]] = {name: tuple(index) for name, index in _INDEX.items()}


def columns(resource: str) -> list[str]:
    return [name for name, _ in RESOURCES[resource]]


def make_row(resource: str, **values: Any) -> Row:
    """A row of `resource` in file column order; columns not given are null. Unknown names are an error."""
    if not values.keys() <= _INDEX[resource].keys():
        raise KeyError(f"{resource}: unknown columns {sorted(values.keys() - _INDEX[resource].keys())}")
    return tuple(map(values.get, _NAMES[resource]))


def replace(resource: str, row: Row, **changes: Any) -> Row:
    """A copy of `row` with some columns changed (a later version of the same object)."""
    index = _INDEX[resource]
    values = list(row)
    for name, value in changes.items():
        values[index[name]] = value
    return tuple(values)


def get(resource: str, row: Row, column: str) -> Any:
    return row[_INDEX[resource][column]]
