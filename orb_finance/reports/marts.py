"""The finance marts as the nightly reports read them: every row, exact decimals, a stable order.

Owns which marts are reported (those of `models/marts/finance/_finance__models.yml`, in its order), the
row order of each (so two runs on the same warehouse write the same files), which DECIMAL columns are money
and in which row's currency (`currency`, or `reporting_currency` for converted amounts), and the currencies'
minor units (the `currencies` seed) that decide how money is shown.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import yaml

from .. import paths

FINANCE_MODELS_YML = paths.PROJECT_ROOT / "models" / "marts" / "finance" / "_finance__models.yml"
DEFAULT_MINOR_UNIT = 2

# Row order per mart; the rest are ordered by every column, left to right (grain columns come first).
ORDER_BY = {
    "ar_aging": "currency, days_past_due desc nulls last, invoice_id",
    "ar_aging_summary": "currency, bucket_order",
    "ar_aging_monthly": "month_end, currency, bucket_order",
    "invoice_status_summary": "currency, status",
    "payment_reconciliation": "currency, match_status, invoice_id",
    "customer_balances": "currency, customer_id",
}
# DECIMAL columns that are not money: exchange rates and prepaid credit units (shown with their own format).
RATE_COLUMNS = frozenset({"average_rate", "closing_rate"})
UNIT_COLUMNS = frozenset({"prepaid_credit_units"})


@dataclass(frozen=True)
class Column:
    name: str
    type: str                      # DuckDB type, e.g. DECIMAL(38,6), DATE, BIGINT, VARCHAR

    @property
    def is_decimal(self) -> bool:
        return self.type.upper().startswith("DECIMAL")

    @property
    def is_money(self) -> bool:
        """Every DECIMAL column of a finance mart is an amount of money, except rates and credit units."""
        return self.is_decimal and self.name not in RATE_COLUMNS | UNIT_COLUMNS

    @property
    def is_rate(self) -> bool:
        return self.is_decimal and self.name in RATE_COLUMNS

    @property
    def is_units(self) -> bool:
        return self.is_decimal and self.name in UNIT_COLUMNS

    @property
    def is_date(self) -> bool:
        return self.type.upper() == "DATE"


@dataclass
class Mart:
    name: str
    columns: list[Column]
    rows: list[tuple[Any, ...]]

    def index(self, column: str) -> int:
        return [c.name for c in self.columns].index(column)

    def currency_index(self) -> int | None:
        names = [c.name for c in self.columns]
        return names.index("currency") if "currency" in names else None

    def money_currency_index(self, column: Column) -> int | None:
        """Where the currency of a money column is: `reporting_currency` for converted amounts (`*_reporting`,
        or every amount of a mart without `currency`), else `currency`."""
        names = [c.name for c in self.columns]
        if "reporting_currency" in names and (column.name.endswith("_reporting") or "currency" not in names):
            return names.index("reporting_currency")
        return self.currency_index()


def finance_mart_names(models_yml: Path = FINANCE_MODELS_YML) -> list[str]:
    doc = yaml.safe_load(models_yml.read_text(encoding="utf-8"))
    return [m["name"] for m in doc.get("models", [])]


def read_marts(db_path: Path, names: list[str] | None = None) -> tuple[list[Mart], dict[str, int]]:
    """Every finance mart (all rows, in a stable order) and the minor units of the currencies."""
    names = names or finance_mart_names()
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        marts = []
        for name in names:
            cols = con.execute(
                "select column_name, data_type from duckdb_columns() where schema_name = 'marts' and table_name = ? "
                "order by column_index", [name]).fetchall()
            if not cols:
                raise LookupError(f"the warehouse {db_path} has no table marts.{name}")
            order = ORDER_BY.get(name, "all")
            rows = con.execute(f"select * from marts.{name} order by {order}").fetchall()
            marts.append(Mart(name, [Column(c, t) for c, t in cols], rows))
        minor_units = dict(con.execute("select currency_code, minor_unit from seeds.currencies").fetchall())
    finally:
        con.close()
    return marts, {k: int(v) for k, v in minor_units.items()}


@dataclass(frozen=True)
class MartDoc:
    description: str
    columns: dict[str, str]

    @property
    def question(self) -> str:
        """The question the mart answers: its description's first sentence when it is one."""
        first = self.description.split("?", 1)[0]
        return first + "?" if "?" in self.description and ". " not in first else ""


DOCS_MD = paths.PROJECT_ROOT / "models" / "docs.md"
_DOC_BLOCK = re.compile(r"{%\s*docs\s+(\w+)\s*%}(.*?){%\s*enddocs\s*%}", re.S)
_DOC_REF = re.compile(r"{{\s*doc\(\s*['\"](\w+)['\"]\s*\)\s*}}")


def mart_docs(models_yml: Path = FINANCE_MODELS_YML) -> dict[str, MartDoc]:
    """Each finance mart's description and column descriptions, from its properties file (doc blocks of
    models/docs.md filled in)."""
    blocks = {name: body.strip() for name, body in _DOC_BLOCK.findall(DOCS_MD.read_text(encoding="utf-8"))} \
        if DOCS_MD.exists() else {}

    def text(value: object) -> str:
        filled = _DOC_REF.sub(lambda m: blocks.get(m.group(1), ""), str(value or ""))
        return " ".join(filled.replace("`", "").split())

    doc = yaml.safe_load(models_yml.read_text(encoding="utf-8"))
    return {m["name"]: MartDoc(text(m.get("description")), {c["name"]: text(c.get("description")) for c in m["columns"]})
            for m in doc.get("models", [])}


# Words a header keeps in capitals (or spells its own way); the rest are lower case after the first.
_HEADER_WORDS = {"id": "ID", "ar": "AR", "orb": "Orb", "as": "As", "of": "of"}


def column_label(name: str) -> str:
    """A readable header for a column: net_billings -> 'Net billings', invoice_id -> 'Invoice ID',
    ar_outstanding -> 'AR outstanding', as_of_date -> 'As-of date', total_revenue_reporting ->
    'Total revenue (reporting currency)'."""
    suffix = ""
    if name.endswith("_reporting"):
        name, suffix = name[: -len("_reporting")], " (reporting currency)"
    text = name.replace("as_of_", "as-of_")
    words = [_HEADER_WORDS.get(w, w) for w in text.split("_") if w]
    label = " ".join(words)
    label = label[:1].upper() + label[1:]
    return label + suffix


def warehouse_facts(db_path: Path) -> list[tuple[str, str]]:
    """Where the warehouse's numbers come from, for a report's cover: the export it was built from, the delivery
    files read (how many, the newest) and the rows staged. Empty when the warehouse keeps no such record (a
    warehouse built on Spark, a hand-made one)."""
    con = duckdb.connect(str(db_path), read_only=True)
    try:
        try:
            roots = [r[0] for r in con.execute(
                "select distinct export_root from orb_state.staged_resources order by 1").fetchall()]
            files = con.execute("select count(*), coalesce(sum(row_count), 0), max(regexp_extract(path, '[^/]*$')) "
                                "from orb_state.processed_files").fetchall()[0]
        except duckdb.Error:
            return []
    finally:
        con.close()
    facts = [("Source (Orb export)", ", ".join(roots) or "unknown")]
    if files[0]:
        facts.append(("Delivery files read", f"{files[0]:,} files, {files[1]:,} rows; newest delivery {files[2]}"))
    facts.append(("Warehouse", str(db_path)))
    return facts


def minor_unit(currency: str | None, minor_units: dict[str, int]) -> int:
    return minor_units.get(currency or "", DEFAULT_MINOR_UNIT)


def format_money(value: Decimal | None, currency: str | None, minor_units: dict[str, int], *,
                 with_code: bool = False) -> str:
    """1234.5 USD -> '1,234.50'; JPY -> '1,235'; KWD -> '1,234.500' (half away from zero, for display only)."""
    if value is None:
        return ""
    places = minor_unit(currency, minor_units)
    q = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = f"{q:,.{places}f}"
    if text.startswith("-") and q == 0:
        text = text[1:]
    return f"{text} {currency}" if with_code and currency else text


def money_text(value: Decimal, places: int) -> str:
    """An exact amount as CSV text with its currency's decimals: 2593850.000000 JPY -> '2593850', 12.5 USD ->
    '12.50'; digits beyond the minor unit are kept when they are not zero (8462.128 USD -> '8462.128'), so the
    text is always the exact value."""
    exact = Decimal(value)
    q = exact.quantize(Decimal(1).scaleb(-places)) if places >= 0 else exact
    if q == exact:
        text = format(q, "f")
    else:
        text = format(exact.normalize(), "f")
    return "0" + text[2:] if text.startswith("-0") and Decimal(text) == 0 else text


def cell_text(value: Any) -> str:
    """A value as CSV text: decimals exactly as stored (trailing zeros dropped), dates ISO, null empty."""
    if value is None:
        return ""
    if isinstance(value, Decimal):
        text = format(value.normalize(), "f") if value != 0 else "0"
        return text
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
