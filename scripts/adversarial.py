#!/usr/bin/env python
"""An adversarial pass over bad input: break a small hand-written export in many ways, build each with real dbt, and
count the cases that behave (a clear error naming the file and, where it has one, the row or line and the column; or
the input read exactly).

    .venv/bin/python scripts/adversarial.py                 # every case (about 45 dbt builds, ~10 minutes)
    .venv/bin/python scripts/adversarial.py -k csv -v       # the cases whose name holds "csv", with each message

Each case copies tests/python/fixtures/exports/<base> under a folder whose name holds an apostrophe, changes one
thing, and builds only the staging models it needs (plus their source tests). Prints one line per case and the
figures "cases tried, cases that behave"; exits 1 when a case misbehaves. Not part of `make test` (tests/python
holds the cases that must never regress, one build each); this is the wider net, run by hand after a change to how
deliveries are read.
"""

from __future__ import annotations

import argparse
import gzip
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import duckdb  # noqa: E402

from orb_finance import paths, warehouse  # noqa: E402
from orb_finance.errors import OrbFinanceError  # noqa: E402

FIXTURES = ROOT / "tests" / "python" / "fixtures" / "exports"
INV = "invoice_metadata/2026-10-31-0000.csv"            # staging_rules: inv_1 .. inv_4 (rows 1-4)
DLR = "daily_line_item_revenue/2026-10-31-0000.csv"     # staging_rules: dlr_1, dlr_2
CUS = "customer/2026-10-31-0000.csv"
CLE = "credit_ledger_entry_event/2026-10-31-0000.csv"   # conflicting_events: cle_evt_1, cle_evt_2


@dataclass
class Case:
    name: str
    change: Callable[[Path], None]
    select: list[str]
    expect_error: list[str] = field(default_factory=list)   # substrings of the error ({export} is the export path)
    check_sql: str | None = None                             # else: the build passes and this query returns `rows`
    rows: list[tuple] | None = None
    base: str = "staging_rules"
    nights: int = 1                                          # 2: the change happens between two builds
    folder: str = "o'reilly's export"                        # where the export copy goes, and the warehouse file
    warehouse: str = "o'reilly's warehouse/o'reilly.duckdb"  # (another warehouse path costs dbt a full parse)


# --- ways to break a file ----------------------------------------------------------------------------------------

def edit(relative: str, old: str, new: str, count: int = 1) -> Callable[[Path], None]:
    def change(export: Path) -> None:
        path = export / relative
        text = path.read_text()
        assert old in text, f"{relative}: {old!r} not found"
        path.write_text(text.replace(old, new, count))
    return change


def rewrite(relative: str, make: Callable[[bytes], bytes]) -> Callable[[Path], None]:
    def change(export: Path) -> None:
        path = export / relative
        path.write_bytes(make(path.read_bytes()))
    return change


def line(relative: str, n: int, make: Callable[[str], str]) -> Callable[[Path], None]:
    """Change physical line n (1 = the header)."""
    def change(export: Path) -> None:
        path = export / relative
        lines = path.read_text().split("\n")
        lines[n - 1] = make(lines[n - 1])
        path.write_text("\n".join(lines))
    return change


def to_parquet(relative: str, types: dict[str, str]) -> Callable[[Path], None]:
    def change(export: Path) -> None:
        path = export / relative
        casts = ", ".join(f"cast({c} as {t}) as {c}" for c, t in types.items())
        target = path.with_name(path.name.replace(".csv", ".parquet"))
        con = duckdb.connect()
        con.execute(f"copy (select *{f' replace ({casts})' if casts else ''} from read_csv(?, all_varchar = true)) "
                    f"to {paths.sql_string(target)}", [str(path)])
        con.close()
        path.unlink()
    return change


def gzip_file(relative: str, truncate: bool = False) -> Callable[[Path], None]:
    def change(export: Path) -> None:
        path = export / relative
        data = gzip.compress(path.read_bytes())
        (path.with_name(path.name + ".gz")).write_bytes(data[: len(data) // 2] if truncate else data)
        path.unlink()
    return change


def move(relative: str, to: str) -> Callable[[Path], None]:
    def change(export: Path) -> None:
        (export / to).parent.mkdir(parents=True, exist_ok=True)
        shutil.move(export / relative, export / to)
    return change


def both(*changes: Callable[[Path], None]) -> Callable[[Path], None]:
    def change(export: Path) -> None:
        for c in changes:
            c(export)
    return change


def inv_row(n: int, column: str, value: str) -> Callable[[Path], None]:
    """staging_rules invoice_metadata 2026-10-31: set `column` of record n (its line is n + 1: no quoted line breaks)."""
    def change(export: Path) -> None:
        path = export / INV
        lines = path.read_text().split("\n")
        header = lines[0].split(",")
        fields = lines[n].split(",")
        fields[header.index(column)] = value
        lines[n] = ",".join(fields)
        path.write_text("\n".join(lines))
    return change


IM = ["stg_orb__invoice_metadata"]
ONE_CLE = lambda export: (export / "credit_ledger_entry_event" / "2026-11-01-0000.csv").unlink()  # noqa: E731
CU = ["stg_orb__customer"]
EV = ["stg_orb__credit_ledger_entry_event", "source:orb.credit_ledger_entry_event"]


def value_refused(column: str, value: str, row: int = 1, what: str = "") -> Case:
    return Case(f"value: {column} {value!r}", inv_row(row, column, value), IM,
                [f"file {{export}}/{INV}, row {row}, column {column}: '{value}' {what}"])


CASES = [
    # CSV structure
    Case("csv: a record with a field too many", line(INV, 3, lambda s: s + ",EXTRA"), IM,
         [f"file {{export}}/{INV}, line 3 (row 2): expected 19 fields", "got 20"]),
    Case("csv: a record with a field too few", line(INV, 2, lambda s: s.rsplit(",", 1)[0]), IM,
         [f"file {{export}}/{INV}, line 2 (row 1): expected 19 fields", "got 18"]),
    Case("csv: a bad record after a quoted line break", both(
        inv_row(1, "memo", '"first line\nsecond line"'), line(INV, 5, lambda s: s + ",x")), IM,
         [f"file {{export}}/{INV}, line 5 (row 3): expected 19 fields"]),
    Case("csv: a bad record in a CRLF file", both(
        line(INV, 4, lambda s: s + ",x"), rewrite(INV, lambda b: b.replace(b"\n", b"\r\n"))), IM,
         [f"file {{export}}/{INV}, line 4 (row 3): expected 19 fields"]),
    Case("csv: an unclosed quote", inv_row(2, "memo", '"never closed'), IM, [f"file {{export}}/{INV}", "line 3 (row 2)"]),
    Case("csv: a quote inside an unquoted value (kept as written)", inv_row(2, "memo", 'ab"c'), IM,
         check_sql="select memo from staging.stg_orb__invoice_metadata where invoice_id = 'inv_2'", rows=[('ab"c',)]),
    Case("csv: semicolon-separated", rewrite(INV, lambda b: b.replace(b",", b";")), IM,
         [f"file {{export}}/{INV}: the header is one field"]),
    Case("csv: tab-separated", rewrite(INV, lambda b: b.replace(b",", b"\t")), IM,
         [f"file {{export}}/{INV}: the header is one field"]),
    Case("csv: an empty file", rewrite(INV, lambda b: b""), IM, [f"file {{export}}/{INV}: the file is empty"]),
    Case("csv: a header and no records", rewrite(INV, lambda b: b.split(b"\n")[0] + b"\n"), IM,
         check_sql="select invoice_id from staging.stg_orb__invoice_metadata order by 1", rows=[("inv_1",), ("inv_3",)]),
    Case("csv: a column named twice", line(INV, 1, lambda s: s.replace(",memo", ",total")), IM,
         [f"file {{export}}/{INV}: the header names column 'total' more than once"]),
    Case("csv: header names in capitals", line(INV, 1, lambda s: s.upper()), IM,
         check_sql="select count(*) from staging.stg_orb__invoice_metadata", rows=[(4,)]),
    Case("csv: a UTF-8 byte order mark and CRLF", rewrite(INV, lambda b: b"\xef\xbb\xbf" + b.replace(b"\n", b"\r\n")), IM,
         check_sql="select invoice_id, total from staging.stg_orb__invoice_metadata where invoice_id = 'inv_2'",
         rows=[("inv_2", 5500)]),
    Case("csv: Latin-1 bytes (not UTF-8)", rewrite(INV, lambda b: b.replace(b",first", b",caf\xe9")), IM,
         [f"file {{export}}/{INV}, line 4 (row 3): the line is not UTF-8"]),
    Case("csv: a 3 MB memo", inv_row(2, "memo", "m" * 3_000_000), IM,
         check_sql="select length(memo) from staging.stg_orb__invoice_metadata where invoice_id = 'inv_2'",
         rows=[(3_000_000,)]),
    Case("csv: a line over 64 MiB (DuckDB's own message)", inv_row(2, "memo", "m" * (65 * 1024 * 1024)), IM,
         ["CSV Error on Line: 3", "Maximum line size of 67108864 bytes exceeded", f"file = {{export}}/{INV}"]),
    Case("csv: no newline after the last record", rewrite(INV, lambda b: b.rstrip(b"\n")), IM,
         check_sql="select count(*) from staging.stg_orb__invoice_metadata", rows=[(4,)]),
    Case("csv: a blank line between records (skipped)", line(INV, 3, lambda s: s + "\n"), IM,
         check_sql="select count(*) from staging.stg_orb__invoice_metadata", rows=[(4,)]),
    Case("csv.gz: read like .csv", gzip_file(INV), IM,
         check_sql="select count(*) from staging.stg_orb__invoice_metadata", rows=[(4,)]),
    Case("csv.gz: a bad record", both(line(INV, 3, lambda s: s + ",x"), gzip_file(INV)), IM,
         [f"file {{export}}/{INV}.gz, row 2: expected 19 fields"]),
    Case("csv.gz: a truncated file", gzip_file(INV, truncate=True), IM, [f"{{export}}/{INV}.gz"]),
    Case("csv: a NUL byte in a value", inv_row(2, "memo", "a\0b"), IM,
         check_sql="select length(memo) from staging.stg_orb__invoice_metadata where invoice_id = 'inv_2'", rows=[(3,)]),
    Case("csv: extension in capitals (.CSV)", move(INV, INV.replace(".csv", ".CSV")), IM,
         check_sql="select count(*) from staging.stg_orb__invoice_metadata", rows=[(4,)]),

    # values
    value_refused("amount_due", "1_000", what="is not a decimal number"),
    value_refused("amount_due", "1e3", what="is not a decimal number"),
    Case("value: amount_due '1,000'", inv_row(1, "amount_due", '"1,000"'), IM,
         [f"file {{export}}/{INV}, row 1, column amount_due: '1,000' is not a decimal number"]),
    value_refused("amount_due", "NaN", what="is not a decimal number"),
    value_refused("amount_due", "0x10", what="is not a decimal number"),
    value_refused("amount_due", "108.2500001", what="is not a decimal number"),
    value_refused("due_date", "infinity", what="is not a timestamp"),
    value_refused("due_date", "epoch", what="is not a timestamp"),
    value_refused("due_date", "2026-13-45", what="is not a timestamp"),
    value_refused("due_date", "2026/10/31", what="is not a timestamp"),
    value_refused("due_date", "-2026-10-31", what="is not a timestamp"),
    value_refused("status", "refunded", what="is not one of"),
    Case("value: updated_at empty", inv_row(1, "updated_at", ""), IM,
         [f"file {{export}}/{INV}, row 1, column updated_at: is null (required)"]),
    Case("value: a +02:00 offset is converted to UTC", inv_row(1, "due_date", "2026-10-31T02:00:00+02:00"), IM,
         check_sql="select due_date from staging.stg_orb__invoice_metadata where invoice_id = 'inv_1'",
         rows=[(__import__("datetime").datetime(2026, 10, 31, 0, 0),)]),
    Case("value: ledger_sequence_number '0x10'", both(ONE_CLE, edit(CLE, ",cus_a,1,increment,", ",cus_a,0x10,increment,")), EV,
         [f"file {{export}}/{CLE}, row 1, column ledger_sequence_number: '0x10' is not a whole number"],
         base="conflicting_events"),
    Case("value: is_revert 'maybe'", both(ONE_CLE, edit(CLE, "false,0.00,USD", "maybe,0.00,USD")), EV,
         [f"file {{export}}/{CLE}, row 1, column is_revert: 'maybe' is not true or false"], base="conflicting_events"),

    # parquet
    Case("parquet: total DOUBLE", to_parquet(INV, {"total": "double"}), IM,
         ["file {export}/invoice_metadata/2026-10-31-0000.parquet: column 'total' is DOUBLE",
          "floats are refused for money"]),
    Case("parquet: one DOUBLE delivery among DECIMAL ones", both(
        to_parquet(INV, {"total": "decimal(18, 2)"}),
        to_parquet("invoice_metadata/2026-11-01-0000.csv", {"total": "double"})), IM,
         ["file {export}/invoice_metadata/2026-11-01-0000.parquet: column 'total' is DOUBLE"]),
    Case("parquet: an amount as text '1_000'", both(inv_row(1, "total", "1_000"), to_parquet(INV, {})), IM,
         ["file {export}/invoice_metadata/2026-10-31-0000.parquet, row 1, column total: '1_000' is not a decimal number"]),
    Case("parquet: DECIMAL(38, 10) read exactly", to_parquet(INV, {"total": "decimal(38, 10)"}), IM,
         check_sql="select total from staging.stg_orb__invoice_metadata where invoice_id = 'inv_2'", rows=[(5500,)]),
    Case("parquet: a truncated file", both(to_parquet(INV, {}), rewrite(
        "invoice_metadata/2026-10-31-0000.parquet", lambda b: b[: len(b) // 2])), IM,
         ["{export}/invoice_metadata/2026-10-31-0000.parquet"]),
    Case("parquet: a required column missing", both(
        line(INV, 1, lambda s: s.replace(",total,", ",total_amount,")), to_parquet(INV, {})), IM,
         ["file {export}/invoice_metadata/2026-10-31-0000.parquet: missing required column 'total'"]),

    # JSON Lines
    Case("jsonl: a malformed record", rewrite("customer/2026-11-01-0000.jsonl", lambda b: b + b'{"id": "cus_x", \n'), CU,
         ["{export}/customer/2026-11-01-0000.jsonl"]),
    Case("jsonl: a nested object where text is expected", rewrite(
        "customer/2026-11-01-0000.jsonl", lambda b: b.replace(b'"updated_at": "2026-10-20T00:00:00Z"',
                                                              b'"updated_at": {"at": "2026-10-20"}')), CU,
         ["file {export}/customer/2026-11-01-0000.jsonl, row 1, column updated_at", "is not a timestamp"]),

    # events
    Case("events: one id, two different copies", lambda e: None, EV,
         [f"event cle_evt_1 was delivered with different values", f"file {{export}}/{CLE} row 1",
          "differ in recognized_revenue_amount ('0.00' vs '777777.00')"], base="conflicting_events"),
    Case("events: the changed copy arrives on a later night", move(
        "credit_ledger_entry_event/2026-11-01-0000.csv", "../held-back.csv"), EV,
         ["event cle_evt_1 was delivered with different values", "differ in recognized_revenue_amount ('0.000000'"],
         base="conflicting_events", nights=2),
    Case("events: copies written differently but equal", edit(
        "credit_ledger_entry_event/2026-11-01-0000.csv", ",777777.00,", ",0,"), EV,
         check_sql="select event_id, recognized_revenue_amount from staging.stg_orb__credit_ledger_entry_event order by 1",
         rows=[("cle_evt_1", 0), ("cle_evt_2", 25)], base="conflicting_events"),

    # paths
    Case("paths: spaces and letters beyond ASCII in both paths", lambda e: None, IM, folder="exports à Zürich",
         warehouse="entrepôt de données/finance 2026.duckdb",
         check_sql="select count(*) from staging.stg_orb__invoice_metadata", rows=[(4,)]),
    Case('paths: a double quote in the warehouse file name', lambda e: None, IM, warehouse='wh/the "main" books.duckdb',
         expect_error=["the warehouse file name 'the \"main\" books.duckdb' holds a double quote"]),

    # the export directory
    Case("export: a stray file", lambda e: (e / "invoice_metadata" / "x.csv.part").write_text("half"), IM,
         ["{export}/invoice_metadata/x.csv.part: not a delivery file"]),
    Case("export: deliveries moved into a nested folder", move(INV, "invoice_metadata/2026-10/2026-10-31-0000.csv"), IM,
         ["{export}/invoice_metadata/2026-10: a folder inside a resource directory"]),
    Case("export: the required customer resource missing", lambda e: shutil.rmtree(e / "customer"), IM,
         ["required resource 'customer' has no delivery files"]),
]


def run(case: Case, work: Path, verbose: bool) -> tuple[bool, str]:
    export = work / case.folder / "export"
    db = work / case.warehouse
    db.parent.mkdir(parents=True, exist_ok=True)
    target = work / "target" / str(abs(hash(case.warehouse)))      # one dbt state per warehouse path
    if export.parent.exists():
        shutil.rmtree(export.parent)
    shutil.copytree(FIXTURES / case.base, export, ignore=shutil.ignore_patterns("README.md"))
    for stale in (db, Path(f"{db}.wal")):
        stale.unlink(missing_ok=True)
    if case.nights == 2:
        case.change(export)
        first = warehouse.build(export, db, select=case.select, target_path=target, show_progress=False)
        if not first.success:
            return False, f"night 1 failed: {first.reason()}"
        shutil.move(export.parent / "held-back.csv", export / "credit_ledger_entry_event" / "2026-11-01-0000.csv")
    else:
        case.change(export)
    try:
        result = warehouse.build(export, db, select=case.select, target_path=target, show_progress=False)
    except OrbFinanceError as exc:                          # refused before dbt started
        said = str(exc)
        missing = [s.format(export=export) for s in case.expect_error if s.format(export=export) not in said]
        return bool(case.expect_error) and not missing, said
    said = " ".join((result.reason() or "").split())
    if case.expect_error:
        if result.success:
            return False, "accepted (an error was expected)"
        missing = [s.format(export=export) for s in case.expect_error if s.format(export=export) not in said]
        return not missing, said if not missing else f"message lacks {missing}: {said}"
    if not result.success:
        return False, f"refused: {said}"
    con = duckdb.connect(str(db), read_only=True)
    try:
        got = con.execute(case.check_sql).fetchall()
    finally:
        con.close()
    return got == case.rows, f"read {got!r}" + ("" if got == case.rows else f", expected {case.rows!r}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-k", default="", help="only the cases whose name holds this text")
    parser.add_argument("-v", action="store_true", help="print each case's message")
    parser.add_argument("--workdir", default=None, help="where the copies and the warehouse go (default: a temp dir)")
    args = parser.parse_args()
    work = Path(args.workdir or tempfile.mkdtemp(prefix="orbfin-adversarial-"))
    cases = [c for c in CASES if args.k in c.name]
    behaved = 0
    started = time.monotonic()
    for case in cases:
        t = time.monotonic()
        try:
            ok, said = run(case, work, args.v)
        except Exception as exc:                             # a broken case is a finding too, not a crash
            ok, said = False, f"the case itself failed: {type(exc).__name__}: {exc}"
        behaved += ok
        print(f"{'ok  ' if ok else 'BAD '} {case.name} ({time.monotonic() - t:.0f}s)" + (f"\n       {said[:600]}" if args.v or not ok else ""),
              flush=True)
    print(f"\n{len(cases)} cases tried, {behaved} behave ({time.monotonic() - started:.0f}s; work dir {work})")
    return 0 if behaved == len(cases) else 1


if __name__ == "__main__":
    sys.exit(main())
