"""Incremental nights (SPEC §2.3, §6) whose rows change days long past of the incremental revenue models
(int_revenue_usage_daily, revenue_daily): the night equals a full build. Apart from test_incremental.py so that
make test's two sessions can run it beside that file's equality tests (pytest-xdist gives a file to one session).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest

from test_incremental import HELD_BACK, Nights, differences


# --- a night whose rows change old days of the incremental marts ---------------------------------------------------

def resend(con, export: Path, resource: str, where: str, changes: str, name: str = "2026-11-02-0000") -> int:
    """Write a delivery of `resource` re-sending the latest version of the rows `where` holds, with `changes`
    (a DuckDB `replace` list) and a newer updated_at; the number of rows sent."""
    files = f"read_parquet('{export / resource}/*.parquet', union_by_name = true)"
    target = export / resource / f"{name}.parquet"
    con.execute(f"copy (select * replace ({changes + ', ' if changes else ''}"
                f"timestamp '2026-11-02 12:00:00' as updated_at) from {files} where {where} "
                f"qualify row_number() over (partition by id order by updated_at desc) = 1) to '{target}' (format parquet)")
    return con.execute(f"select count(*) from read_parquet('{target}')").fetchall()[0][0]


@pytest.mark.slow
def test_a_night_changing_old_days_equals_a_full_build(dbt_builder, nights_home, tmp_path):
    """One night re-sends rows that change revenue of days long past, each through another input of the
    incremental revenue models (int_revenue_usage_daily, revenue_daily): an invoice whose status alone changes
    (void: its credit-note proration goes), a new increment ledger entry making an invoice a credit purchase (its
    daily revenue goes), a daily revenue row moved to another day, a late revert of an old day, and a customer
    whose currency changes (its ledger revenue moves currency). The night builds those models incrementally and
    every table equals a full build."""
    site = Nights(tmp_path / "site", 11, dbt_builder, nights_home)
    site.append(HELD_BACK)
    first = site.night()
    assert first.swapped, first.reason()
    export, db = site.export, site.live
    before = tmp_path / "before.duckdb"
    shutil.copyfile(db, before)
    con = duckdb.connect(str(db), read_only=True)
    q = lambda sql: con.execute(sql).fetchall()
    credited = q("select invoice_id, min(service_date) from intermediate.int_credit_note_lines_prorated "
                 "group by 1 order by 2, 1 limit 1")[0][0]
    purchased = q("select invoice_id from intermediate.int_daily_revenue_recognized where invoice_id <> "
                  f"'{credited}' group by 1 order by count(*) desc, 1 limit 1")[0][0]
    moved, reverted = [r[0] for r in q(
        "select daily_line_item_revenue_id from intermediate.int_daily_revenue_recognized where invoice_id not in "
        f"('{credited}', '{purchased}') and revenue_date < date '2026-09-01' order by revenue_date, 1 limit 2")]
    recurrency = q("select customer_id from intermediate.int_credit_ledger_entries_valued where revenue <> 0 "
                   "group by 1 order by 1 limit 1")[0][0]
    con.close()

    con = duckdb.connect()
    assert resend(con, export, "invoice_metadata", f"id = '{credited}'", "'void' as status, "
                  "timestamp '2026-11-02 09:00:00' as voided_at") == 1
    assert resend(con, export, "credit_ledger_entry", "id = (select min(id) from read_parquet("
                  f"'{export}/credit_ledger_entry/*.parquet', union_by_name = true))",
                  f"'mutated-increment' as id, 'increment' as entry_type, '{purchased}' as invoice_id, "
                  f"(select customer_id from read_parquet('{export}/invoice_metadata/*.parquet', union_by_name = true) "
                  f"where id = '{purchased}' limit 1) as customer_id, cast(null as timestamp) as reverted_at, "
                  "1000000 + ledger_sequence_number as ledger_sequence_number") == 1
    assert resend(con, export, "daily_line_item_revenue", f"id = '{moved}'",
                  "timeframe_start + interval 40 day as timeframe_start, "
                  "timeframe_end + interval 40 day as timeframe_end") == 1
    assert resend(con, export, "daily_line_item_revenue", f"id = '{reverted}'",
                  "timestamp '2026-11-02 10:00:00' as reverted_at", name="2026-11-02-0001") == 1
    assert resend(con, export, "customer", f"id = '{recurrency}'",
                  "case when currency = 'EUR' then 'USD' else 'EUR' end as currency") == 1
    con.close()

    night = site.night()
    assert night.swapped, night.reason()
    assert night.started_from == "copy"
    con = duckdb.connect(str(db), read_only=True)
    assert dict(con.execute("select model, last_mode from orb_state.downstream_state").fetchall()) == {
        "int_revenue_usage_daily": "incremental", "revenue_daily": "incremental"}
    con.close()
    changed = differences(before, db)
    for table in ("int_revenue_usage_daily", "revenue_daily", "int_credit_ledger_entries_valued",
                  "int_credit_note_lines_prorated"):
        assert any(d.split(":")[0].endswith(f".{table}") for d in changed), f"the night changed {table}"

    assert differences(db, site.full_build("full")) == []
