"""The daily delivery layout of the sample generator (`--deliveries daily`, SPEC §2.3) and `--append-day`.

Real files read back with DuckDB. What must hold: the daily layout carries the bulk layout's data (every bulk row,
the same current state of every object), a day's file holds what changed that day, no night delivers a row
before the rows it refers to, and appending the held-back nights one by one gives byte for byte the export
generated whole.
"""

from __future__ import annotations

import datetime as dt
import filecmp
import json
import re
from pathlib import Path

import duckdb
import pytest

from orb_finance.errors import OrbFinanceError
from orb_finance.exports import deliveries, schema
from orb_finance.exports.daily import CUT, REFERENCES
from orb_finance.exports.generate import generate_sample

ARGS = dict(customers=20, months=3, seed=29)
NAME = re.compile(r"^\d{4}-\d{2}-\d{2}-\d{4}\.parquet$")


@pytest.fixture(scope="module")
def exports(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("daily")
    generate_sample(root / "bulk", **ARGS)
    generate_sample(root / "daily", **ARGS, layout="daily")
    return {"bulk": root / "bulk", "daily": root / "daily"}


def every_file(export: Path) -> dict[str, Path]:
    """resource/name -> path, delivered or still held back."""
    found = {}
    for base in (export, deliveries.holding_dir(export) / "pending"):
        for path in base.glob("*/*.parquet"):
            found[f"{path.parent.name}/{path.name}"] = path
    return found


def night_of_file(export: Path) -> dict[str, str]:
    manifest = deliveries.read_manifest(export)
    return {name: night for night, names in manifest["nights"].items() for name in names}


def rows_with_night(con: duckdb.DuckDBPyConnection, export: Path, resource: str) -> str:
    """A view of every delivered row of `resource` with the file it came in and the night that file arrived."""
    nights = night_of_file(export)
    files = [str(p) for n, p in every_file(export).items() if n.startswith(f"{resource}/")]
    con.execute("create or replace temp table nights (file varchar, night date)")
    con.executemany("insert into nights values (?, ?)",
                    [(str(p), nights[n]) for n, p in every_file(export).items() if n.startswith(f"{resource}/")])
    view = f"r_{resource}"
    con.execute(f"create or replace temp table {view} as select r.*, n.night from read_parquet({files}, filename = true) r "
                f"join nights n on n.file = r.filename")
    return view


def test_one_file_per_resource_per_day_and_every_night_listed(exports):
    daily = exports["daily"]
    manifest = deliveries.read_manifest(daily)
    assert manifest["delivered_through"] == "2026-11-01" and manifest["args"]["customers"] == 20
    names = every_file(daily)
    assert names.keys() == {n for files in manifest["nights"].values() for n in files}
    assert all(NAME.match(n.split("/")[1]) for n in names)
    by_resource: dict[str, set[str]] = {}
    for n in names:
        by_resource.setdefault(n.split("/")[0], set()).add(n.split("/")[1][:10])
    assert set(by_resource) == set(schema.RESOURCES)
    revenue_days = by_resource["daily_line_item_revenue_event"]
    assert len(revenue_days) > 85          # nearly every day of three months has revenue events
    assert max(revenue_days) == "2026-11-01"
    # nothing is held back, so the export holds every file and the holding folder none
    assert not list((deliveries.holding_dir(daily) / "pending").glob("*/*"))


def test_a_days_file_holds_what_changed_that_day(exports):
    """A row is delivered in the file of the 24 hours up to the day's 06:00 UTC cut in which it changed, except
    re-sent rows (one delivery later) and rows held until what they refer to has arrived."""
    daily = exports["daily"]
    con = duckdb.connect()
    con.execute("set TimeZone = 'UTC'")
    view = rows_with_night(con, daily, "invoice_metadata")
    early, on_time, late = con.execute(f"""
        select count(*) filter (where night < due), count(*) filter (where night = due),
               count(*) filter (where night > due)
        from (select night, cast(updated_at - interval {CUT} second + interval 1 day - interval 1 microsecond as date) as due
              from {view} where split_part(filename, '/', -1)[1:10] = cast(night as varchar))""").fetchall()[0]
    assert early == 0 and on_time > 0
    assert late < on_time / 20          # re-sent rows, and rows waiting for what they refer to
    # the second batch of a day holds what changed after midnight; the first what changed before
    files = con.execute(f"""select split_part(filename, '/', -1) as name,
                                   bool_and(cast(updated_at as date) = night), bool_and(cast(updated_at as date) < night)
                            from {view} group by 1""").fetchall()
    second = [f for f in files if f[0].endswith("-0001.parquet") and f[1]]
    assert second, "a day delivered in two batches"


def test_no_night_delivers_a_row_before_what_it_refers_to(exports):
    daily = exports["daily"]
    con = duckdb.connect()
    views = {r: rows_with_night(con, daily, r) for r in schema.RESOURCES}
    checked = 0
    for child, column, parent in REFERENCES:
        early = con.execute(f"""
            select count(*) from {views[child]} c
            join (select id, min(night) as night from {views[parent]} group by id) p on p.id = c."{column}"
            where c.night < p.night""").fetchall()[0][0]
        assert early == 0, (child, column, parent)
        checked += con.execute(f"select count(*) from {views[child]} where \"{column}\" is not null").fetchall()[0][0]
    assert checked > 1000


def test_the_daily_layout_carries_every_bulk_row_and_the_same_current_state(exports):
    con = duckdb.connect()
    extra_versions = 0
    for resource, columns in schema.RESOURCES.items():
        cols = ", ".join(f'"{c}"' for c, _ in columns)
        bulk = [str(p) for p in exports["bulk"].glob(f"{resource}/*.parquet")]
        daily = [str(p) for p in every_file(exports["daily"]).values() if f"/{resource}/" in str(p)]
        missing = con.execute(f"select count(*) from (select {cols} from read_parquet({bulk}) "
                              f"except all select {cols} from read_parquet({daily}))").fetchall()[0][0]
        assert missing == 0, resource
        current = ("updated_at desc" if "updated_at" in dict(columns) else "1")
        latest = (f"select {cols} from read_parquet({{files}}) qualify row_number() over "
                  f"(partition by id order by {current}) = 1")
        differ = con.execute(f"select count(*) from (({latest.format(files=bulk)}) except all "
                             f"({latest.format(files=daily)}))").fetchall()[0][0]
        assert differ == 0, resource
        if resource == "invoice_metadata":
            extra_versions = con.execute(f"select count(*) from (select {cols} from read_parquet({daily}) "
                                         f"except all select {cols} from read_parquet({bulk}))").fetchall()[0][0]
    # the daily layout adds a first version of each invoice, as a draft from its creation (and re-deliveries)
    assert extra_versions > 0


def test_rows_are_sent_again_and_days_delivered_again_late(exports):
    daily = exports["daily"]
    nights = night_of_file(daily)
    late = [n for n, night in nights.items() if n.split("/")[1][:10] < night]
    assert late and all(n.split("/")[0] in deliveries_redelivered() for n in late)
    for name in late:
        day = name.split("/")[1][:10]
        first = every_file(daily)[f"{name.split('/')[0]}/{day}-0000.parquet"]
        assert filecmp.cmp(first, every_file(daily)[name], shallow=False)   # the same delivery, again
    con = duckdb.connect()
    view = rows_with_night(con, daily, "daily_line_item_revenue_event")
    resent = con.execute(f"select count(*) from (select id from {view} group by id having count(distinct night) > 1)").fetchall()[0][0]
    assert resent > 0


def deliveries_redelivered() -> tuple[str, ...]:
    from orb_finance.exports.daily import REDELIVERED
    return REDELIVERED


def test_appending_the_held_back_nights_gives_the_export_generated_whole(exports, tmp_path):
    held = tmp_path / "held"
    summary = generate_sample(held, **ARGS, layout="daily", hold_back_days=3)
    assert summary.delivered is not None and summary.delivered.remaining_nights == 3
    assert deliveries.read_manifest(held)["delivered_through"] == "2026-10-29"
    appended = [deliveries.append_day(held) for _ in range(3)]
    assert [a.nights[0] for a in appended] == [dt.date(2026, 10, 30), dt.date(2026, 10, 31), dt.date(2026, 11, 1)]
    listed = deliveries.read_manifest(held)["nights"]
    assert [sum(a.files.values()) for a in appended] == [len(listed[a.nights[0].isoformat()]) for a in appended]
    assert appended[-1].remaining_nights == 0 and appended[-1].files["invoice_metadata"] >= 1
    whole = exports["daily"]
    names = sorted(str(p.relative_to(whole)) for p in whole.glob("[!.]*/*"))
    assert len(names) > 300 and names == sorted(str(p.relative_to(held)) for p in held.glob("[!.]*/*"))
    assert all(filecmp.cmp(whole / n, held / n, shallow=False) for n in names)
    with pytest.raises(OrbFinanceError, match="already holds every night"):
        deliveries.append_day(held)
    manifest = json.loads((deliveries.holding_dir(held) / deliveries.MANIFEST).read_text())
    assert manifest["delivered_through"] == "2026-11-01"


def test_daily_arguments_are_checked(tmp_path):
    with pytest.raises(OrbFinanceError, match="--hold-back-days needs --deliveries daily"):
        generate_sample(tmp_path / "a", customers=2, months=2, hold_back_days=2)
    with pytest.raises(OrbFinanceError, match="--deliveries must be one of bulk, daily"):
        generate_sample(tmp_path / "a", customers=2, months=2, layout="weekly")
    generate_sample(tmp_path / "bulk", customers=2, months=2)
    with pytest.raises(OrbFinanceError, match="is not a daily sample export"):
        deliveries.append_day(tmp_path / "bulk")
