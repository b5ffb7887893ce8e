"""The sample-export generator (`orbfin generate-sample`): real files, read back with DuckDB.

Expected values are identities that must hold on any Orb export (SPEC §2-§3) or are worked out by hand;
nothing is copied from the generator's output. The end-to-end tests run the real dbt staging build.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import functools
import json
import os
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from orb_finance import paths, warehouse
from orb_finance.errors import OrbFinanceError
from orb_finance.exports import schema
from orb_finance.exports.generate import GenerationSummary, generate_sample

END = dt.date(2026, 11, 1)
END_TS = dt.datetime(2026, 11, 1)
SOURCES_YML = paths.PROJECT_ROOT / "models" / "staging" / "orb" / "_orb__sources.yml"
MINOR_DIGITS = {"USD": 2, "EUR": 2, "JPY": 0}
EVENT_RESOURCES = ("invoice_line_item_billing_event", "daily_line_item_revenue_event", "credit_ledger_entry_event",
                   "credit_note_line_item_event")


# --- fixtures and helpers ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=1)
def contract() -> dict[str, dict[str, Any]]:
    tables = yaml.safe_load(SOURCES_YML.read_text())["sources"][0]["tables"]
    return {t["name"]: t for t in tables}


def _reader(folder: Path, columns: list[str]) -> str:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    suffixes = {p.suffix for p in files}
    if suffixes == {".parquet"}:
        return f"read_parquet('{folder}/*.parquet', filename = true, union_by_name = true)"
    if suffixes == {".jsonl"}:
        as_text = ", ".join(f"'{c}': 'VARCHAR'" for c in columns)   # as staging reads JSON: every value as text
        return f"read_json('{folder}/*.jsonl', format = 'newline_delimited', filename = true, columns = {{{as_text}}})"
    globs = ", ".join(f"'{p}'" for p in files)
    return f"read_csv([{globs}], header = true, filename = true, union_by_name = true)"


def open_export(export: Path) -> duckdb.DuckDBPyConnection:
    """Views raw.<resource> (every delivered row, with filename) and cur.<resource> (SPEC §2.2 row rules)."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE SCHEMA raw; CREATE SCHEMA cur")
    for name, table in contract().items():
        folder = export / name
        if not folder.is_dir():
            continue
        columns = [c["name"] for c in table["columns"]]
        con.execute(f"CREATE VIEW raw.{name} AS SELECT * FROM {_reader(folder, columns)}")
        rule = table["meta"]["row_rule"]
        order = "filename DESC" if rule in ("event", "feed") else "updated_at DESC, filename DESC"
        con.execute(f"CREATE VIEW cur.{name} AS SELECT * EXCLUDE (filename) FROM raw.{name} "
                    f"QUALIFY row_number() OVER (PARTITION BY id ORDER BY {order}) = 1")
    return con


def rows(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return con.execute(sql).fetchall()


def scalar(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> Any:
    return con.execute(sql, params or []).fetchone()[0]


def round_minor(value: Decimal, currency: str) -> Decimal:
    """SPEC §3 rounding: to the currency's minor unit, half away from zero (ROUND_HALF_UP on Decimal)."""
    return value.quantize(Decimal(1).scaleb(-MINOR_DIGITS[currency]), rounding=ROUND_HALF_UP)


@pytest.fixture(scope="session")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated export; ORB_SAMPLE_EXPORT=<dir> checks an existing (e.g. 20000 x 24) export instead."""
    existing = os.environ.get("ORB_SAMPLE_EXPORT")
    if existing:
        return Path(existing)
    out = tmp_path_factory.mktemp("sample") / "export"
    summary = generate_sample(out, customers=40, months=8, seed=11)
    assert isinstance(summary, GenerationSummary)
    return out


@pytest.fixture(scope="session")
def con(export: Path) -> duckdb.DuckDBPyConnection:
    return open_export(export)


# --- shape: resources, columns, deliveries, determinism -------------------------------------------------

def test_every_resource_has_exactly_the_contract_columns(export: Path, con: duckdb.DuckDBPyConnection) -> None:
    declared = contract()
    assert set(declared) == set(schema.RESOURCES)
    for name, table in declared.items():
        expected = [c["name"] for c in table["columns"]]
        assert schema.columns(name) == expected, name
        files = sorted((export / name).iterdir())
        assert files, f"{name} has no delivery files"
        for path in files:
            got = [r[0] for r in rows(con, f"DESCRIBE SELECT * FROM read_parquet('{path}')")]
            assert got == expected, path


def test_two_deliveries_and_the_later_one_sorts_last(export: Path) -> None:
    for name in schema.RESOURCES:
        names = sorted(p.name for p in (export / name).iterdir())
        dates = sorted({n[:10] for n in names})
        assert set(dates) <= {"2026-10-31", "2026-11-01"}, (name, names)
        assert all(n[10:16].startswith("-") and n[11:15].isdigit() for n in names)
    for name in ("invoice_metadata", "daily_line_item_revenue", "daily_line_item_revenue_event"):
        names = {p.name for p in (export / name).iterdir()}
        assert {"2026-10-31-0000.parquet", "2026-11-01-0000.parquet"} <= names


def test_later_delivery_carries_the_final_state(con: duckdb.DuckDBPyConnection) -> None:
    # An invoice delivered as issued first, then paid or void with a newer updated_at.
    changed = rows(con, """
        SELECT a.status, b.status FROM raw.invoice_metadata a JOIN raw.invoice_metadata b USING (id)
        WHERE a.filename LIKE '%2026-10-31-%' AND b.filename LIKE '%2026-11-01-%' AND b.updated_at > a.updated_at""")
    assert ("issued", "paid") in changed and ("issued", "void") in changed
    # A daily revenue row delivered, then re-delivered with reverted_at set.
    assert scalar(con, """
        SELECT count(*) FROM raw.daily_line_item_revenue a JOIN raw.daily_line_item_revenue b USING (id)
        WHERE a.reverted_at IS NULL AND b.reverted_at IS NOT NULL AND b.updated_at > a.updated_at
          AND b.filename > a.filename""") > 0
    # Every later version of an id has a newer updated_at than the earlier one.
    for name, table in contract().items():
        if table["meta"]["row_rule"] in ("mutable", "append_only"):
            assert scalar(con, f"""
                SELECT count(*) FROM raw.{name} a JOIN raw.{name} b USING (id)
                WHERE a.filename < b.filename AND b.updated_at <= a.updated_at""") == 0, name


def test_events_are_duplicated_across_batches_identically(con: duckdb.DuckDBPyConnection) -> None:
    for name in EVENT_RESOURCES:
        assert scalar(con, f"SELECT count(*) - count(DISTINCT id) FROM raw.{name}") > 0, name
        distinct_rows = scalar(con, f"SELECT count(*) FROM (SELECT DISTINCT * EXCLUDE (filename) FROM raw.{name})")
        assert distinct_rows == scalar(con, f"SELECT count(DISTINCT id) FROM raw.{name}"), name


def test_ids_look_like_orb_ids_and_are_unique(con: duckdb.DuckDBPyConnection) -> None:
    for name in schema.RESOURCES:
        bad = scalar(con, f"SELECT count(*) FROM cur.{name} WHERE NOT regexp_matches(id, '^[a-z]+_[0-9A-Za-z]{{12,}}$')")
        assert bad == 0, name
    all_ids = " UNION ALL ".join(f"SELECT id FROM cur.{name}" for name in schema.RESOURCES)
    assert scalar(con, f"SELECT count(*) - count(DISTINCT id) FROM ({all_ids})") == 0


def test_nothing_happens_after_the_export_time(con: duckdb.DuckDBPyConnection) -> None:
    export_time = END_TS + dt.timedelta(hours=6)
    for name, table in contract().items():
        cols = {c["name"] for c in table["columns"]}
        for col in ("created_at", "updated_at", "deleted_at", "reverted_at", "voided_at", "paid_at", "issued_at"):
            if col in cols:
                latest = scalar(con, f"SELECT max({col}) FROM raw.{name}")
                assert latest is None or latest <= export_time, (name, col, latest)


def _same_files(a: Path, b: Path) -> bool:
    names_a = sorted(str(p.relative_to(a)) for p in a.rglob("*") if p.is_file())
    names_b = sorted(str(p.relative_to(b)) for p in b.rglob("*") if p.is_file())
    if names_a != names_b:
        return False
    return all(filecmp.cmp(a / n, b / n, shallow=False) for n in names_a)


def test_same_arguments_give_identical_files_and_a_new_seed_changes_them(tmp_path: Path) -> None:
    args = dict(customers=12, months=4, seed=3)
    generate_sample(tmp_path / "a", **args)
    generate_sample(tmp_path / "b", **args)
    assert _same_files(tmp_path / "a", tmp_path / "b")
    generate_sample(tmp_path / "c", **{**args, "seed": 4})
    a, c = open_export(tmp_path / "a"), open_export(tmp_path / "c")
    ids_a = {r[0] for r in rows(a, "SELECT id FROM cur.customer")}
    ids_c = {r[0] for r in rows(c, "SELECT id FROM cur.customer")}
    assert ids_a.isdisjoint(ids_c)


def test_chunk_size_does_not_change_the_data(tmp_path: Path) -> None:
    generate_sample(tmp_path / "one", customers=11, months=4, seed=5)
    generate_sample(tmp_path / "many", customers=11, months=4, seed=5, chunk_size=3)
    assert len(list((tmp_path / "many" / "daily_line_item_revenue").iterdir())) > 2
    one, many = open_export(tmp_path / "one"), open_export(tmp_path / "many")
    for name in schema.RESOURCES:
        got_one = sorted(rows(one, f"SELECT * EXCLUDE (filename) FROM raw.{name}"), key=repr)
        got_many = sorted(rows(many, f"SELECT * EXCLUDE (filename) FROM raw.{name}"), key=repr)
        assert got_one == got_many, name


def test_end_date_moves_the_window(tmp_path: Path) -> None:
    generate_sample(tmp_path / "e", customers=5, months=3, seed=1, end_date="2025-03-01")
    c = open_export(tmp_path / "e")
    assert scalar(c, "SELECT max(updated_at) FROM raw.invoice_metadata") <= dt.datetime(2025, 3, 1, 6)
    assert scalar(c, "SELECT min(invoice_date) FROM cur.invoice_metadata WHERE subscription_id IS NOT NULL") \
        >= dt.datetime(2024, 12, 1)
    assert sorted(p.name for p in (tmp_path / "e" / "daily_line_item_revenue").iterdir()) == [
        "2025-02-28-0000.parquet", "2025-03-01-0000.parquet"]


def test_bad_arguments_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(OrbFinanceError, match="first day of a month"):
        generate_sample(tmp_path, customers=2, months=3, end_date="2026-11-15")
    with pytest.raises(OrbFinanceError, match="--format"):
        generate_sample(tmp_path, customers=2, months=3, fmt="xlsx")
    with pytest.raises(OrbFinanceError, match="--customers"):
        generate_sample(tmp_path, customers=0)


def test_summary_counts_rows_and_renders(tmp_path: Path) -> None:
    summary = generate_sample(tmp_path / "s", customers=6, months=3, seed=2)
    c = open_export(tmp_path / "s")
    for name in schema.RESOURCES:
        assert summary.rows[name] == scalar(c, f"SELECT count(*) FROM raw.{name}"), name
    assert summary.files == sum(1 for p in (tmp_path / "s").glob("*/*") if p.is_file())    # (and fx_rates.csv)
    assert summary.fx_rates == tmp_path / "s" / "fx_rates.csv" and summary.fx_rates.is_file()
    assert summary.seconds > 0 and summary.peak_rss_mb > 0
    from rich.console import Console
    console = Console(record=True, width=120)
    console.print(summary.render())
    text = console.export_text()
    assert "daily_line_item_revenue_event" in text and "peak RSS" in text


# --- the accounting account: realism and identities ----------------------------------------------------

def test_customers_currencies_churn_plan_changes(con: duckdb.DuckDBPyConnection) -> None:
    currencies = {r[0] for r in rows(con, "SELECT DISTINCT currency FROM cur.customer")}
    assert currencies == {"USD", "EUR", "JPY"}
    assert scalar(con, "SELECT mode(currency) FROM cur.customer") == "USD"
    # deleted customers have no invoices
    assert scalar(con, "SELECT count(*) FROM cur.customer WHERE deleted_at IS NOT NULL") > 0
    assert scalar(con, """SELECT count(*) FROM cur.invoice_metadata i JOIN cur.customer c ON c.id = i.customer_id
                          WHERE c.deleted_at IS NOT NULL""") == 0
    assert scalar(con, "SELECT count(*) FROM cur.subscription WHERE status = 'ended' AND end_date <= ?", [END_TS]) > 0
    assert scalar(con, "SELECT count(DISTINCT start_date) FROM cur.subscription") > 1
    assert scalar(con, """SELECT count(*) FROM (SELECT subscription_id FROM cur.subscription_version
                          GROUP BY 1 HAVING count(DISTINCT plan_id) > 1)""") > 0
    assert scalar(con, "SELECT count(*) FROM cur.customer WHERE json_valid(billing_address) AND timezone <> ''") \
        == scalar(con, "SELECT count(*) FROM cur.customer")


def test_value_ladder_on_every_line(con: duckdb.DuckDBPyConnection) -> None:
    lines = rows(con, """
        SELECT subtotal, adjusted_subtotal, credits_applied, conversion_rate, partially_invoiced_amount, amount,
               rounded_amount, tax_amount, total, invoicing_currency, pricing_currency FROM cur.invoice_line_item_billing""")
    assert len(lines) > 100
    seen: dict[str, int] = defaultdict(int)
    for sub, adj, credits, rate, pia, amount, rounded, tax, total, ccy, pccy in lines:
        assert amount == (adj - credits) * rate - pia
        assert rounded == round_minor(amount, ccy)
        assert total == rounded + tax
        assert adj <= sub and 0 <= credits <= adj
        seen["discount"] += adj < sub
        seen["credits"] += credits > 0
        seen["virtual"] += rate != 1 and pccy != ccy
        seen["partial"] += pia > 0
        seen["six_decimals"] += amount != round_minor(amount, ccy)
    assert all(seen[k] > 0 for k in ("discount", "credits", "virtual", "partial", "six_decimals")), seen
    # tax: EUR 19 %, JPY 10 %, USD 0-8 %
    rates = rows(con, """SELECT invoicing_currency, min(tax_amount / rounded_amount), max(tax_amount / rounded_amount)
                         FROM cur.invoice_line_item_billing WHERE rounded_amount >= 100 GROUP BY 1""")
    for ccy, low, high in rates:
        expected = {"EUR": (0.189, 0.191), "JPY": (0.099, 0.101), "USD": (0.0, 0.081)}[ccy]
        assert expected[0] <= low and high <= expected[1], (ccy, low, high)


def test_invoice_totals_and_amount_due(con: duckdb.DuckDBPyConnection) -> None:
    bad = rows(con, """
        WITH lines AS (SELECT invoice_id, sum(rounded_amount) AS subtotal, sum(tax_amount) AS tax
                       FROM cur.invoice_line_item_billing GROUP BY 1),
             applied AS (SELECT invoice_id, sum(CASE type WHEN 'decrement' THEN amount ELSE -amount END) AS applied
                         FROM cur.customer_balance_transaction
                         WHERE action = 'applied_to_invoice' AND deleted_at IS NULL GROUP BY 1)
        SELECT i.id FROM cur.invoice_metadata i JOIN lines l ON l.invoice_id = i.id
        LEFT JOIN applied a ON a.invoice_id = i.id
        WHERE i.subtotal <> l.subtotal OR i.total <> l.subtotal + l.tax
           OR i.amount_due <> i.total - coalesce(a.applied, 0)""")
    assert bad == []
    # every non-draft invoice has its lines; drafts carry amount_due = total
    assert scalar(con, """SELECT count(*) FROM cur.invoice_metadata i WHERE status <> 'draft' AND NOT EXISTS
                          (SELECT 1 FROM cur.invoice_line_item_billing l WHERE l.invoice_id = i.id)""") == 0
    assert scalar(con, "SELECT count(*) FROM cur.invoice_metadata WHERE status = 'draft' AND amount_due <> total") == 0
    assert scalar(con, "SELECT count(*) FROM cur.invoice_metadata WHERE total < subtotal OR subtotal < 0") == 0
    # due date = invoice date + net terms of the subscription
    assert scalar(con, """SELECT count(*) FROM cur.invoice_metadata i JOIN cur.subscription s
                          ON s.id = i.subscription_id WHERE i.status <> 'draft'
                          AND i.due_date <> i.invoice_date + to_days(CAST(s.net_terms AS INTEGER))""") == 0
    # the balance moves amount_due both ways
    assert scalar(con, "SELECT count(*) FROM cur.invoice_metadata WHERE amount_due < total") > 0
    assert scalar(con, "SELECT count(*) FROM cur.invoice_metadata WHERE amount_due > total") > 0


def test_invoice_kinds_and_statuses(con: duckdb.DuckDBPyConnection) -> None:
    by = dict(rows(con, "SELECT status, count(*) FROM cur.invoice_metadata WHERE deleted_at IS NULL GROUP BY 1"))
    assert by["paid"] > by["issued"] > 0 and by["void"] > 0 and by["draft"] > 0
    assert set(r[0] for r in rows(con, "SELECT DISTINCT invoice_source FROM cur.invoice_metadata")) == {
        "subscription", "partial", "one_off"}
    # subscription invoices are dated the 1st; the drafts are the upcoming period's invoice
    assert scalar(con, """SELECT count(*) FROM cur.invoice_metadata WHERE invoice_source = 'subscription'
                          AND day(invoice_date) <> 1""") == 0
    assert {r[0] for r in rows(con, """SELECT DISTINCT invoice_date FROM cur.invoice_metadata
                                       WHERE status = 'draft' AND deleted_at IS NULL""")} == {END_TS}
    assert scalar(con, "SELECT count(*) FROM cur.invoice_metadata WHERE status = 'draft' AND deleted_at IS NOT NULL") > 0
    # partial invoices are mid-month; the period invoice after them subtracts what they billed
    partial = rows(con, """
        SELECT p.price_id, p.start_date, p.rounded_amount, f.partially_invoiced_amount
        FROM cur.invoice_line_item_billing p JOIN cur.invoice_metadata pi ON pi.id = p.invoice_id
        JOIN cur.invoice_line_item_billing f ON f.price_id = p.price_id AND f.start_date = p.start_date
             AND f.customer_id = p.customer_id AND f.invoice_id <> p.invoice_id
        WHERE pi.invoice_source = 'partial'""")
    assert partial and all(pia == rounded for _, _, rounded, pia in partial)
    # every voided invoice has a re-issued replacement for the same period
    assert scalar(con, """SELECT count(*) FROM cur.invoice_metadata v WHERE status = 'void' AND NOT EXISTS (
                          SELECT 1 FROM cur.invoice_metadata r WHERE r.customer_id = v.customer_id
                          AND r.invoice_date = v.invoice_date AND r.status IN ('issued', 'paid')
                          AND r.created_at > v.voided_at)""") == 0
    assert scalar(con, """SELECT count(*) FROM cur.invoice_line_item_billing l JOIN cur.invoice_metadata i
                          ON i.id = l.invoice_id WHERE (i.status = 'void') <> (l.voided_at IS NOT NULL)""") == 0


def test_ar_aging_has_every_bucket_as_of_the_export_end(con: duckdb.DuckDBPyConnection) -> None:
    buckets = {r[0] for r in rows(con, """
        SELECT CASE WHEN d <= 0 THEN 'current' WHEN d <= 30 THEN '1-30' WHEN d <= 60 THEN '31-60'
                    WHEN d <= 90 THEN '61-90' ELSE '91+' END
        FROM (SELECT date_diff('day', CAST(due_date AS DATE), DATE '2026-11-01') AS d FROM cur.invoice_metadata
              WHERE deleted_at IS NULL AND status = 'issued' AND voided_at IS NULL AND paid_at IS NULL)""")}
    assert buckets == {"current", "1-30", "31-60", "61-90", "91+"}


def test_daily_revenue_of_elapsed_lines_sums_to_the_billed_line(con: duckdb.DuckDBPyConnection) -> None:
    ladder = ("quantity", "subtotal", "adjusted_subtotal", "credits_applied", "partially_invoiced_amount", "amount",
              "rounded_amount")
    sums = ", ".join(f"sum(d.{c}) AS d_{c}" for c in ladder)
    diff = " OR ".join(f"l.{c} <> coalesce(d.d_{c}, 0)" for c in ladder)
    checked = rows(con, f"""
        WITH d AS (SELECT invoice_line_item_id, {sums}, count(*) AS n,
                          count(DISTINCT CAST(timeframe_start AS DATE)) AS days,
                          bool_and(timeframe_end = timeframe_start + INTERVAL 1 DAY) AS whole_days,
                          min(timeframe_start) AS first_day, max(timeframe_start) AS last_day
                   FROM cur.daily_line_item_revenue d WHERE reverted_at IS NULL GROUP BY 1)
        SELECT l.id, ({diff}) AS differs, d.n = d.days AND d.whole_days AND d.first_day = l.start_date
               AND d.last_day = l.end_date - INTERVAL 1 DAY AS one_row_per_day
        FROM cur.invoice_line_item_billing l LEFT JOIN d ON d.invoice_line_item_id = l.id
        WHERE l.voided_at IS NULL AND l.end_date <= TIMESTAMP '2026-11-01'""")
    assert len(checked) > 100
    assert [r for r in checked if r[1] or not r[2]] == []
    # usage lines spread unevenly over days, fixed fees evenly (to the minor unit)
    assert scalar(con, """SELECT count(*) FROM (SELECT invoice_line_item_id FROM cur.daily_line_item_revenue
                          WHERE reverted_at IS NULL GROUP BY 1 HAVING max(rounded_amount) > 2 * min(rounded_amount)
                          AND min(rounded_amount) > 0)""") > 0
    # draft lines and credit purchases accrue daily revenue too
    assert scalar(con, """SELECT count(*) FROM cur.daily_line_item_revenue d JOIN cur.invoice_metadata i
                          ON i.id = d.invoice_id WHERE i.status = 'draft'""") > 0
    assert scalar(con, """SELECT count(*) FROM cur.daily_line_item_revenue d JOIN cur.credit_ledger_entry e
                          ON e.invoice_id = d.invoice_id AND e.entry_type = 'increment'""") > 0


def test_reverted_daily_rows_are_replaced_and_voids_fully_reverted(con: duckdb.DuckDBPyConnection) -> None:
    # a backdated change: reverted rows of a billed line, replaced by new rows for the same days
    replaced = scalar(con, """
        SELECT count(*) FROM cur.daily_line_item_revenue r JOIN cur.daily_line_item_revenue n
        ON n.invoice_line_item_id = r.invoice_line_item_id AND n.timeframe_start = r.timeframe_start
        AND n.id <> r.id AND n.reverted_at IS NULL AND n.created_at = r.reverted_at
        WHERE r.reverted_at IS NOT NULL""")
    assert replaced > 0
    assert scalar(con, """SELECT count(*) FROM cur.daily_line_item_revenue d JOIN cur.invoice_metadata i
                          ON i.id = d.invoice_id WHERE i.status = 'void' AND d.reverted_at IS NULL""") == 0
    assert scalar(con, "SELECT count(*) FROM raw.daily_line_item_revenue WHERE reverted_at <= created_at") == 0
    assert scalar(con, """SELECT count(*) FROM cur.daily_line_item_revenue d JOIN cur.invoice_metadata i
                          ON i.id = d.invoice_id WHERE i.status = 'void'""") > 0


def _signed(column: str) -> str:
    return f"sum(CASE WHEN is_revert THEN -{column} ELSE {column} END)"


def test_event_sums_equal_current_state(con: duckdb.DuckDBPyConnection) -> None:
    # daily revenue, per line (so also per currency)
    assert rows(con, f"""
        WITH e AS (SELECT invoice_line_item_id AS k, {_signed('rounded_amount')} AS v
                   FROM cur.daily_line_item_revenue_event GROUP BY 1),
             c AS (SELECT invoice_line_item_id AS k, sum(rounded_amount) AS v FROM cur.daily_line_item_revenue
                   WHERE reverted_at IS NULL GROUP BY 1)
        SELECT * FROM e FULL JOIN c USING (k) WHERE coalesce(e.v, 0) <> coalesce(c.v, 0)""") == []
    assert scalar(con, "SELECT count(*) FROM cur.daily_line_item_revenue_event WHERE is_revert") > 0
    # billing: live lines
    assert rows(con, f"""
        WITH e AS (SELECT invoicing_currency AS k, {_signed('rounded_amount')} AS v
                   FROM cur.invoice_line_item_billing_event GROUP BY 1),
             c AS (SELECT invoicing_currency AS k, sum(rounded_amount) AS v FROM cur.invoice_line_item_billing
                   WHERE voided_at IS NULL GROUP BY 1)
        SELECT * FROM e FULL JOIN c USING (k) WHERE coalesce(e.v, 0) <> coalesce(c.v, 0)""") == []
    # credit notes: live lines
    assert rows(con, f"""
        WITH e AS (SELECT credit_note_line_item_id AS k, {_signed('total')} AS v
                   FROM cur.credit_note_line_item_event GROUP BY 1),
             c AS (SELECT id AS k, total AS v FROM cur.credit_note_line_item
                   WHERE voided_at IS NULL AND deleted_at IS NULL)
        SELECT * FROM e FULL JOIN c USING (k) WHERE coalesce(e.v, 0) <> coalesce(c.v, 0)""") == []
    # credit ledger: recognized revenue of events vs units x cost basis of current entries
    assert rows(con, f"""
        WITH units AS (SELECT *, CASE WHEN entry_type IN ('decrement', 'credit_block_expiry') THEN abs(amount)
                                      WHEN entry_type = 'amendment' THEN -abs(amount) ELSE 0 END AS u
                       FROM cur.credit_ledger_entry),
             e AS (SELECT invoicing_currency AS k, {_signed('recognized_revenue_amount')} AS v
                   FROM cur.credit_ledger_entry_event GROUP BY 1),
             c AS (SELECT cu.currency AS k, sum(u * CAST(coalesce(cost_basis, 0) AS DECIMAL(38, 12))) AS v FROM units
                   JOIN cur.customer cu ON cu.id = units.customer_id WHERE reverted_at IS NULL GROUP BY 1)
        SELECT * FROM e FULL JOIN c USING (k) WHERE coalesce(e.v, 0) <> coalesce(c.v, 0)""") == []
    assert scalar(con, """
        SELECT count(*) FROM cur.credit_ledger_entry_event WHERE recognized_revenue_amount <>
            (CASE WHEN entry_type IN ('decrement', 'credit_block_expiry') THEN abs(amount)
                  WHEN entry_type = 'amendment' THEN -abs(amount) ELSE 0 END)
            * CAST(coalesce(cost_basis, 0) AS DECIMAL(38, 12))""") == 0


def test_lock_adjusted_timestamps_follow_the_closed_periods(con: duckdb.DuckDBPyConnection) -> None:
    locks = rows(con, "SELECT status, locked_at, deleted_at FROM cur.accounting_period_lock ORDER BY period_start")
    assert locks[-1][0] == "lock_pending" and any(d is not None for _, _, d in locks)
    assert scalar(con, """SELECT count(*) FROM cur.accounting_period_lock WHERE status = 'closed' AND locked_at
                          < period_end + INTERVAL 5 DAY""") == 0
    moved_total = 0
    for name in EVENT_RESOURCES:
        bad, moved = rows(con, f"""
            WITH closed AS (SELECT locked_at, period_end FROM cur.accounting_period_lock
                            WHERE status = 'closed' AND deleted_at IS NULL),
                 e AS (SELECT e.id, e."timestamp" AS ts, e.lock_adjusted_timestamp AS lat,
                              (SELECT max(period_end) FROM closed WHERE closed.locked_at <= e.created_at) AS p
                       FROM cur.{name} e)
            SELECT count(*) FILTER (WHERE lat <> CASE WHEN p IS NOT NULL AND CAST(ts AS DATE) <= p
                                                      THEN CAST(p + 1 AS TIMESTAMP) ELSE ts END
                                       OR (p IS NOT NULL AND CAST(lat AS DATE) <= p)),
                   count(*) FILTER (WHERE lat <> ts)
            FROM e""")[0]
        assert bad == 0, name
        moved_total += moved
    assert moved_total > 0
    assert scalar(con, "SELECT count(*) FROM cur.daily_line_item_revenue_event WHERE lock_adjusted_timestamp "
                       "<> \"timestamp\"") > 0


def test_credit_ledger_balances_chain_per_customer(con: duckdb.DuckDBPyConnection) -> None:
    entries = rows(con, """SELECT customer_id, ledger_sequence_number, entry_type, amount, starting_balance,
                                  ending_balance FROM cur.credit_ledger_entry WHERE reverted_at IS NULL
                           ORDER BY customer_id, ledger_sequence_number""")
    by_customer: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for e in entries:
        by_customer[e[0]].append(e)
    assert len(by_customer) >= 3
    for customer, chain in by_customer.items():
        assert [e[1] for e in chain] == list(range(1, len(chain) + 1)), customer
        balance = Decimal(0)
        for _, _, entry_type, amount, start, end in chain:
            assert start == balance
            if entry_type in ("increment", "amendment"):
                assert amount > 0
                delta = amount
            elif entry_type in ("decrement", "credit_block_expiry", "void"):
                assert amount < 0
                delta = amount
            else:
                assert amount >= 0 and entry_type in ("expiration_change", "void_initiated")
                delta = Decimal(0)
            assert end == start + delta
            balance = end
    types = {r[0] for r in rows(con, "SELECT DISTINCT entry_type FROM cur.credit_ledger_entry")}
    assert types == {"increment", "decrement", "expiration_change", "credit_block_expiry", "void", "void_initiated",
                     "amendment"}
    # void only on free grants; purchases have a cost basis below 1 and their invoice
    assert scalar(con, """SELECT count(*) FROM cur.credit_ledger_entry WHERE entry_type IN ('void', 'void_initiated')
                          AND cost_basis IS NOT NULL""") == 0
    assert scalar(con, """SELECT count(*) FROM cur.credit_ledger_entry WHERE entry_type = 'increment'
                          AND invoice_id IS NOT NULL AND cost_basis < 1""") > 0
    assert scalar(con, """SELECT count(*) FROM cur.credit_ledger_entry WHERE entry_type = 'increment'
                          AND invoice_id IS NULL AND cost_basis IS NULL""") > 0
    # a reverted entry re-emitted with a new id
    assert scalar(con, """SELECT count(*) FROM cur.credit_ledger_entry r JOIN cur.credit_ledger_entry n
                          ON n.customer_id = r.customer_id AND n.ledger_sequence_number = r.ledger_sequence_number
                          AND n.id <> r.id AND n.reverted_at IS NULL AND n.amount = r.amount
                          WHERE r.reverted_at IS NOT NULL""") > 0
    # the ledger is in the customer's currency
    assert scalar(con, """SELECT count(*) FROM cur.credit_ledger_entry e JOIN cur.customer c ON c.id = e.customer_id
                          WHERE e.currency <> c.currency""") == 0


def test_credits_applied_on_lines_equal_the_decrements(con: duckdb.DuckDBPyConnection) -> None:
    assert rows(con, """
        WITH d AS (SELECT invoice_id, price_id, -sum(amount) AS drawn FROM cur.credit_ledger_entry
                   WHERE entry_type = 'decrement' AND reverted_at IS NULL
                   AND invoice_id IN (SELECT invoice_id FROM cur.invoice_line_item_billing) GROUP BY 1, 2),
             l AS (SELECT invoice_id, price_id, sum(credits_applied) AS applied FROM cur.invoice_line_item_billing
                   WHERE credits_applied <> 0 GROUP BY 1, 2)
        SELECT * FROM d FULL JOIN l USING (invoice_id, price_id) WHERE coalesce(drawn, 0) <> coalesce(applied, 0)""") == []


def test_credit_purchases_are_recognized_through_the_ledger(con: duckdb.DuckDBPyConnection) -> None:
    purchases = rows(con, """
        WITH expiry AS (SELECT credit_block_id, max(credit_block_expiry_date) AS expires   -- after any extension
                        FROM cur.credit_ledger_entry GROUP BY 1)
        SELECT e.credit_block_id, CAST(e.amount AS DECIMAL(38, 6)) * e.cost_basis, l.rounded_amount, x.expires,
               i.invoice_source, i.subscription_id
        FROM cur.credit_ledger_entry e JOIN cur.invoice_line_item_billing l ON l.invoice_id = e.invoice_id
        JOIN cur.invoice_metadata i ON i.id = e.invoice_id JOIN expiry x USING (credit_block_id)
        WHERE e.entry_type = 'increment'""")
    assert purchases
    for _, paid_for, billed, _, source, subscription in purchases:
        assert paid_for == billed and source == "one_off" and subscription is None
    recognized = dict(rows(con, """
        SELECT credit_block_id, sum(CASE WHEN entry_type IN ('decrement', 'credit_block_expiry') THEN abs(amount)
                                         WHEN entry_type = 'amendment' THEN -abs(amount) ELSE 0 END
                                    * CAST(cost_basis AS DECIMAL(38, 12)))
        FROM cur.credit_ledger_entry WHERE reverted_at IS NULL GROUP BY 1"""))
    expired = [(block, billed) for block, _, billed, expiry, _, _ in purchases if expiry < END_TS]
    assert expired, "a purchased block expires inside the window"
    for block, billed in expired:
        assert recognized[block] == billed
    assert scalar(con, """SELECT count(*) FROM cur.credit_ledger_entry WHERE entry_type = 'credit_block_expiry'
                          AND cost_basis IS NOT NULL""") > 0


def test_customer_balance_chain_and_actions(con: duckdb.DuckDBPyConnection) -> None:
    txs = rows(con, """SELECT customer_id, type, amount, starting_balance, ending_balance FROM cur.customer_balance_transaction
                       WHERE deleted_at IS NULL ORDER BY customer_id, created_at""")
    balance: dict[str, Decimal] = defaultdict(Decimal)
    for customer, type_, amount, start, end in txs:
        assert amount > 0 and start == balance[customer]
        assert end == start + (amount if type_ == "increment" else -amount)
        balance[customer] = end
    actions = set(rows(con, "SELECT DISTINCT action, type FROM cur.customer_balance_transaction"))
    assert {("manual_adjustment", "increment"), ("applied_to_invoice", "decrement"),
            ("small_invoice_carryover", "decrement"), ("applied_to_invoice", "increment"),
            ("credit_note_applied", "increment")} <= actions
    assert scalar(con, "SELECT count(*) FROM cur.customer_balance_transaction WHERE deleted_at IS NOT NULL") > 0
    # a carryover is followed by an increment applied to the customer's next invoice
    assert scalar(con, """SELECT count(*) FROM cur.customer_balance_transaction c
                          JOIN cur.customer_balance_transaction a ON a.customer_id = c.customer_id
                          AND a.action = 'applied_to_invoice' AND a.type = 'increment' AND a.created_at > c.created_at
                          AND a.amount = c.amount WHERE c.action = 'small_invoice_carryover'""") > 0
    # balances are in the customer's currency
    assert scalar(con, """SELECT count(*) FROM cur.customer_balance_transaction t JOIN cur.customer c
                          ON c.id = t.customer_id WHERE t.currency <> c.currency""") == 0


def test_credit_notes(con: duckdb.DuckDBPyConnection) -> None:
    assert scalar(con, "SELECT count(*) FROM cur.credit_note_line_item WHERE total <> amount + tax_amount") == 0
    assert rows(con, """SELECT n.id FROM cur.credit_note n JOIN cur.credit_note_line_item l ON l.credit_note_id = n.id
                        GROUP BY n.id, n.subtotal, n.total
                        HAVING n.subtotal <> sum(l.amount) OR n.total <> sum(l.total)""") == []
    kinds = set(rows(con, """SELECT n.type, i.status FROM cur.credit_note n JOIN cur.invoice_metadata i
                             ON i.id = n.invoice_id WHERE n.deleted_at IS NULL AND n.voided_at IS NULL"""))
    # refunds on paid invoices, adjustments on issued ones and on paid ones (before or after the payment)
    assert {("refund", "paid"), ("adjustment", "issued"), ("adjustment", "paid")} == kinds
    # every note on an invoice already paid when it was created went to the customer's balance, with its total
    assert scalar(con, """SELECT count(*) FROM cur.credit_note n JOIN cur.invoice_metadata i ON i.id = n.invoice_id
                          WHERE n.deleted_at IS NULL AND n.voided_at IS NULL AND i.paid_at < n.created_at
                          AND NOT EXISTS (SELECT 1 FROM cur.customer_balance_transaction t
                                          WHERE t.credit_note_id = n.id AND t.action = 'credit_note_applied'
                                          AND t.amount = n.total)""") == 0
    # an adjustment before a marked payment: the invoice was paid without an attempt
    assert scalar(con, """SELECT count(*) FROM cur.credit_note n JOIN cur.invoice_metadata i ON i.id = n.invoice_id
                          WHERE n.type = 'adjustment' AND i.status = 'paid' AND n.created_at < i.paid_at""") > 0
    assert scalar(con, "SELECT count(*) FROM cur.credit_note WHERE voided_at IS NOT NULL") > 0
    assert scalar(con, "SELECT count(*) FROM cur.credit_note WHERE deleted_at IS NOT NULL") > 0
    assert scalar(con, """SELECT count(*) FROM cur.credit_note n JOIN cur.credit_note_line_item l
                          ON l.credit_note_id = n.id WHERE (n.voided_at IS NULL) <> (l.voided_at IS NULL)
                          OR (n.deleted_at IS NULL) <> (l.deleted_at IS NULL)""") == 0
    assert scalar(con, "SELECT count(DISTINCT reason) FROM cur.credit_note") >= 2
    with_dates = dict(rows(con, "SELECT start_date IS NULL, count(*) FROM cur.credit_note_line_item GROUP BY 1"))
    assert with_dates.get(True) and with_dates.get(False)
    # a credit of the invoice as a whole names no invoice line; no line names one that is not in the export
    assert scalar(con, "SELECT count(*) FROM cur.credit_note_line_item WHERE invoice_line_item_id IS NULL") > 0
    assert scalar(con, """SELECT count(*) FROM cur.credit_note_line_item l WHERE l.invoice_line_item_id IS NOT NULL
                          AND NOT EXISTS (SELECT 1 FROM cur.invoice_line_item_billing b
                                          WHERE b.id = l.invoice_line_item_id)""") == 0
    # some credit notes are created after the period of the service they credit was closed
    assert scalar(con, """SELECT count(*) FROM cur.credit_note_line_item l
                          JOIN cur.invoice_line_item_billing b ON b.id = l.invoice_line_item_id
                          JOIN cur.accounting_period_lock k ON k.status = 'closed' AND k.deleted_at IS NULL
                           AND CAST(coalesce(l.start_date, b.start_date) AS DATE) <= k.period_end
                           AND k.locked_at <= l.created_at""") > 0
    # refund notes put their total on the customer's balance
    assert rows(con, """SELECT n.id FROM cur.credit_note n LEFT JOIN cur.customer_balance_transaction t
                        ON t.credit_note_id = n.id AND t.action = 'credit_note_applied'
                        WHERE n.type = 'refund' AND (t.amount IS NULL OR t.amount <> n.total)""") == []


def test_payments_and_processor_mismatches(con: duckdb.DuckDBPyConnection) -> None:
    # a succeeded attempt pays amount_due; every succeeded attempt's invoice is paid
    assert scalar(con, """SELECT count(*) FROM cur.payment_attempt a JOIN cur.invoice_metadata i ON i.id = a.invoice_id
                          WHERE a.succeeded AND (a.amount <> i.amount_due OR i.status <> 'paid')""") == 0
    assert scalar(con, "SELECT count(*) FROM cur.payment_attempt WHERE NOT succeeded") > 0
    assert scalar(con, """SELECT count(*) FROM cur.invoice_metadata i WHERE status = 'paid' AND amount_due > 0
                          AND NOT EXISTS (SELECT 1 FROM cur.payment_attempt a WHERE a.invoice_id = i.id)""") > 0
    statuses = {r[0] for r in rows(con, "SELECT DISTINCT status FROM cur.processor_payments")}
    assert {"succeeded", "failed", "refunded"} <= statuses
    recon = dict(rows(con, """
        WITH orb AS (SELECT i.id, i.invoicing_currency AS ccy,
                            coalesce((SELECT sum(amount) FROM cur.payment_attempt a WHERE a.invoice_id = i.id
                                      AND a.succeeded), i.amount_due) AS paid
                     FROM cur.invoice_metadata i WHERE i.status = 'paid' AND i.deleted_at IS NULL),
             proc AS (SELECT json_extract_string(metadata, '$.orb_invoice_id') AS id, upper(currency) AS ccy,
                             sum(amount) AS minor FROM cur.processor_payments WHERE status = 'succeeded' GROUP BY 1, 2)
        SELECT CASE WHEN orb.id IS NULL THEN 'missing_in_orb' WHEN proc.id IS NULL THEN 'missing_in_processor'
                    WHEN orb.paid = proc.minor / CASE orb.ccy WHEN 'JPY' THEN 1 ELSE 100 END THEN 'matched'
                    ELSE 'amount_mismatch' END AS match_status, count(*)
        FROM orb FULL JOIN proc USING (id) GROUP BY 1"""))
    assert recon["matched"] > 10 * recon["amount_mismatch"] > 0
    assert recon["missing_in_processor"] > 0 and recon["missing_in_orb"] > 0
    # Stripe's shape: lower-case currency, whole minor units, unix seconds, the Orb invoice in metadata
    assert scalar(con, """SELECT count(*) FROM cur.processor_payments WHERE currency <> lower(currency)
                          OR created < 1600000000 OR json_extract_string(metadata, '$.orb_invoice_id') IS NULL""") == 0


# --- formats ------------------------------------------------------------------------------------------------

def _normalized(c: duckdb.DuckDBPyConnection, name: str) -> list[tuple[Any, ...]]:
    """The rows of a resource parsed by the contract types (as staging does), order-free."""
    exprs = []
    for col in contract()[name]["columns"]:
        q = f'"{col["name"]}"'
        kind = col["data_type"]
        if kind == "ts":
            exprs.append(f"CAST(CAST(CAST({q} AS VARCHAR) AS TIMESTAMPTZ) AS TIMESTAMP)")
        elif kind == "dec":
            exprs.append(f"CAST(CAST({q} AS VARCHAR) AS DECIMAL(18, 6))")
        elif kind == "json":
            exprs.append(f"CAST(json(CAST({q} AS VARCHAR)) AS VARCHAR)")
        elif kind in ("int", "bool", "date"):
            exprs.append(f"CAST({q} AS VARCHAR)")
        else:
            exprs.append(q)
    return rows(c, f"SELECT {', '.join(exprs)} FROM raw.{name} ORDER BY ALL")


@pytest.fixture(scope="session")
def tiny_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("formats")
    out = {}
    for fmt in ("parquet", "csv", "jsonl"):
        out[fmt] = root / fmt
        generate_sample(out[fmt], customers=10, months=4, seed=9, fmt=fmt)
    return out


def test_orphan_credit_note_lines_only_when_asked(tmp_path: Path) -> None:
    # customer 2 (EUR) carries every kind of credit note; its service credit names an invoice line only when asked
    def orphans(out: Path) -> list[tuple]:
        c = open_export(out)
        return rows(c, """SELECT l.name FROM cur.credit_note_line_item l WHERE l.invoice_line_item_id IS NOT NULL
                          AND NOT EXISTS (SELECT 1 FROM cur.invoice_line_item_billing b
                                          WHERE b.id = l.invoice_line_item_id)""")
    generate_sample(tmp_path / "plain", customers=3, months=3, seed=9)
    generate_sample(tmp_path / "asked", customers=3, months=3, seed=9, orphan_credit_note_lines=True)
    assert orphans(tmp_path / "plain") == []
    assert orphans(tmp_path / "asked") == [("Service credit",)]


def test_csv_and_jsonl_hold_the_same_data_as_parquet(tiny_exports: dict[str, Path]) -> None:
    cons = {fmt: open_export(path) for fmt, path in tiny_exports.items()}
    for name in schema.RESOURCES:
        expected = _normalized(cons["parquet"], name)
        assert expected, name
        assert _normalized(cons["csv"], name) == expected, ("csv", name)
        assert _normalized(cons["jsonl"], name) == expected, ("jsonl", name)


def test_file_encodings(tiny_exports: dict[str, Path]) -> None:
    csv_dir = tiny_exports["csv"]
    assert {p.name.split(".", 1)[1] for p in (csv_dir / "daily_line_item_revenue").iterdir()} == {"csv.gz"}
    assert {p.name.split(".", 1)[1] for p in (csv_dir / "customer").iterdir()} == {"csv"}
    line = json.loads(next(iter((tiny_exports["jsonl"] / "invoice_line_item_billing").glob("*.jsonl")))
                      .read_text().splitlines()[0])
    assert isinstance(line["rounded_amount"], str) and len(line["rounded_amount"].split(".")[1]) == 6
    assert line["created_at"].endswith("Z") and "T" in line["created_at"]
    processor = json.loads(next(iter((tiny_exports["jsonl"] / "processor_payments").glob("*.jsonl")))
                           .read_text().splitlines()[0])
    assert isinstance(processor["amount"], int) and isinstance(processor["metadata"], dict)


# --- end to end: the real dbt staging build ------------------------------------------------------------------

def _staging_build(export_dir: Path, db_path: Path, target_path: Path) -> warehouse.DbtResult:
    """dbt build of the staging models and the tests on staging alone (not tests that also need marts)."""
    for stale in (db_path, db_path.with_suffix(".duckdb.wal")):
        stale.unlink(missing_ok=True)
    return warehouse.build(export_dir, db_path, select=["staging"], target_path=target_path, show_progress=False,
                           skip_unit_tests=True)


def _assert_clean(result: warehouse.DbtResult) -> None:
    assert result.success, result.reason()
    statuses = {n.status for n in result.nodes}
    assert statuses <= {"success", "pass", "warn"}, statuses
    # no warning: the sample names no invoice line it did not export (unless asked: test below)
    assert [n.name for n in result.nodes if n.status == "warn"] == []
    staged = {n.name for n in result.nodes if n.resource_type == "model" and n.name.startswith("stg_orb__")}
    assert len(staged) == len(schema.RESOURCES)
    # every staging model's column checks ran (one test per model, tests/dbt/generic/column_checks.sql), and the
    # event-copy tests of the four event sources
    assert {n.name for n in result.nodes if n.name.startswith("column_checks_stg_orb__")} == {
        f"column_checks_{model}" for model in staged}
    assert sum(n.name.startswith("source_orb_event_copies_agree_") for n in result.nodes) == 4


@pytest.fixture(scope="session")
def staging_builds(export: Path, tiny_exports: dict[str, Path], tmp_path_factory: pytest.TempPathFactory,
                   dbt_builder: Any) -> dict[str, warehouse.DbtResult]:
    """Real dbt staging builds of the parquet export and of csv + jsonl."""
    # Both text formats in one export directory (identical rows, deduplicated by id): one build parses both.
    root = tmp_path_factory.mktemp("text_build")
    mixed = root / "export"
    for fmt in ("csv", "jsonl"):
        for path in tiny_exports[fmt].rglob("*"):
            if path.is_file():
                dest = mixed / path.parent.name / path.name
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(path.read_bytes())
    # One after the other at the session's warehouse and target paths: the second build reuses dbt's parse.
    return {name: _staging_build(path, dbt_builder.db_path, dbt_builder.target_path)
            for name, path in (("parquet", export), ("text", mixed))}


def test_staging_builds_with_every_test_passing(staging_builds: dict[str, warehouse.DbtResult]) -> None:
    _assert_clean(staging_builds["parquet"])


def test_staging_reads_csv_and_jsonl(staging_builds: dict[str, warehouse.DbtResult]) -> None:
    _assert_clean(staging_builds["text"])
