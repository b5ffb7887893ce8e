"""The sync marts on the hand-written export (fixtures/sync_export/README.md works every value out)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import pytest


@pytest.fixture(scope="module")
def day1(sync_warehouses):
    con = duckdb.connect(str(sync_warehouses.day1), read_only=True)
    yield con
    con.close()


@pytest.fixture(scope="module")
def day2(sync_warehouses):
    con = duckdb.connect(str(sync_warehouses.day2), read_only=True)
    yield con
    con.close()


def rows(con, sql):
    return con.execute(sql).fetchall()


def test_customers_are_only_those_with_an_issued_invoice(day1):
    assert rows(day1, "select customer_id, currency, issued_invoice_count from marts.sync_customers order by 1") == [
        ("cus_acme", "USD", 5), ("cus_bolt", "EUR", 2), ("cus_cobalt", "USD", 2)]


def test_invoices_leave_out_drafts_and_deleted_but_keep_voided(day1, day2):
    ids = [r[0] for r in rows(day1, "select invoice_id from marts.sync_invoices order by 1")]
    assert ids == ["inv_a1", "inv_a2", "inv_a3", "inv_a4", "inv_a5", "inv_b1", "inv_b2", "inv_c1", "inv_c2"]
    assert rows(day2, "select is_included, is_voided, voided_at, line_amount, line_tax_amount from marts.sync_invoices "
                      "where invoice_id = 'inv_a4'") == [
        (False, True, dt.datetime(2026, 4, 2), Decimal("200.00"), Decimal("20.00"))]


def test_invoice_amounts_split_into_revenue_tax_and_customer_balance(day1):
    assert rows(day1, "select total, amount_due, customer_balance_applied, line_amount, line_tax_amount, "
                      "adjustment_amount from marts.sync_invoices where invoice_id = 'inv_a2'") == [
        (Decimal("55"), Decimal("45"), Decimal("10"), Decimal("50"), Decimal("5"), Decimal("0"))]


def test_a_voided_invoice_keeps_the_lines_it_was_issued_with(day2):
    assert rows(day2, "select invoice_line_item_id, amount from marts.sync_invoice_lines where invoice_id = 'inv_a4' "
                      "order by line_number") == [("ili_a4_2", Decimal("50")), ("ili_a4_1", Decimal("150"))]


def test_credit_memos_carry_live_state_and_removal_date(day1, day2):
    assert rows(day1, "select credit_note_id, is_live, total from marts.sync_credit_memos order by 1") == [
        ("cn_a2", True, Decimal("22")), ("cn_a4", True, Decimal("55")), ("cn_b2", True, Decimal("59.5"))]
    # day 2: cn_a4's invoice was voided, cn_b2 itself was voided
    assert rows(day2, "select credit_note_id, is_live, removed_at from marts.sync_credit_memos order by 1") == [
        ("cn_a2", True, None), ("cn_a4", False, dt.datetime(2026, 4, 2)), ("cn_b2", False, dt.datetime(2026, 4, 3))]
    assert rows(day2, "select credit_note_line_item_id from marts.sync_credit_memo_lines") == [("cnl_a2_1",)]


def test_payments_are_succeeded_attempts_or_one_synthetic_mark_paid_payment(day1, day2):
    assert rows(day1, "select payment_id, invoice_id, amount, currency, payment_date, payment_source "
                      "from marts.sync_payments order by payment_id") == [
        ("pa_a1", "inv_a1", Decimal("110"), "USD", dt.date(2026, 1, 20), "payment_attempt"),
        ("pa_b2", "inv_b2", Decimal("238"), "EUR", dt.date(2026, 2, 20), "payment_attempt"),
        ("paid:inv_b1", "inv_b1", Decimal("119"), "EUR", dt.date(2026, 2, 1), "marked_paid"),
    ]
    assert rows(day2, "select payment_id, amount from marts.sync_payments where invoice_id = 'inv_a2'") == [
        ("pa_a2", Decimal("23"))]


def test_money_columns_are_decimal(day1):
    types = dict(rows(day1, "select column_name, data_type from information_schema.columns "
                            "where table_schema = 'marts' and table_name = 'sync_payments'"))
    assert types["amount"] == "DECIMAL(38,6)"          # money_type(), as every mart
