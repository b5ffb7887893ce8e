"""The record view and its CSV export: SPEC §5 columns, filters, no spreadsheet formula, no secret."""

from __future__ import annotations

import csv
import socket

import pytest

from orb_finance.sync.records import CSV_COLUMNS, neutralise


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_csv_has_the_spec_columns_and_the_filtered_records_newest_first(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    out = sync_setup.root / "payments.csv"
    proc = sync_setup.cli("records", "--object-type", "payment", "--status", "synced", "--csv", str(out), check=True)
    assert "3 record(s) written" in proc.stdout
    rows = read_csv(out)
    assert rows[0] == ["record_id", "attempted_at", "object_type", "orb_id", "provider", "provider_id", "status",
                       "error", "invoice_number", "amount", "currency", "action"] == CSV_COLUMNS
    body = [dict(zip(rows[0], r)) for r in rows[1:]]
    assert [r["orb_id"] for r in body] == ["pa_b2", "paid:inv_b1", "pa_a1"]      # sent in date order; newest first
    assert [int(r["record_id"]) for r in body] == sorted((int(r["record_id"]) for r in body), reverse=True)
    assert body[2] == {**body[2], "object_type": "payment", "provider": "beancount", "provider_id": "payment/pa_a1/1",
                       "status": "synced", "error": "", "invoice_number": "INV-0001", "amount": "110.00",
                       "currency": "USD", "action": "create"}


def test_a_formula_in_a_value_is_neutralised(sync_setup, sync_warehouses):
    sync_setup.run(sync_warehouses.day1)
    out = sync_setup.root / "all.csv"
    sync_setup.cli("records", "--csv", str(out), check=True)
    rows = read_csv(out)
    inv_a5 = next(r for r in rows if r[3] == "inv_a5")
    assert inv_a5[8] == "'=HYPERLINK(\"http://evil.example/\",\"x\")"
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell


@pytest.mark.parametrize("value, expected", [
    ("=1+2", "'=1+2"), ("+SUM(A1)", "'+SUM(A1)"), ("-2+3", "'-2+3"), ("@cmd", "'@cmd"), ("\t=x", "'\t=x"),
    ("INV-0001", "INV-0001"), ("", ""), (None, ""), ("a=b", "a=b"),
])
def test_neutralise(value, expected):
    assert neutralise(value) == expected


def test_no_secret_in_output_records_or_csv(sync_setup, sync_warehouses, monkeypatch):
    """The Tryton password is named by its environment variable; it never reaches a log, record or export."""
    secret = "s3cret-Tryton-pw-42"
    monkeypatch.setenv("ORBFIN_TEST_TRYTON_PASSWORD", secret)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]            # nothing listens here: the provider is unreachable
    sync_setup.write(provider="tryton", tryton={"url": f"http://127.0.0.1:{port}", "database": "orb", "user": "admin",
                                                "password_env": "ORBFIN_TEST_TRYTON_PASSWORD", "retries": 1})
    assert secret not in sync_setup.config.read_text()
    run = sync_setup.cli("run", "--duckdb-path", str(sync_warehouses.day1))
    assert run.returncode != 0
    assert "127.0.0.1" in run.stderr                       # it says what it could not reach ...
    assert secret not in run.stdout + run.stderr          # ... and not the password
    out = sync_setup.root / "records.csv"
    sync_setup.cli("records", "--csv", str(out), check=True)
    assert secret not in out.read_text()
    if sync_setup.state.exists():
        assert secret.encode() not in sync_setup.state.read_bytes()
