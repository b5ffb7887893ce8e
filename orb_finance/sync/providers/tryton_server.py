"""A local Tryton ERP for the tryton provider: create a ready database and run `trytond` on 127.0.0.1.

Owns the server lifecycle shared by `orbfin sync tryton-server`, the tests and the benchmark: a database
with the invoicing modules, one company (voiding posted customer invoices allowed), the universal chart of
accounts, fiscal years with one invoice sequence per month, currencies with rates, and the payment methods
the provider uses; a cached template copied per use; `trytond` started on a free port and stopped by PID.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import metadata
from pathlib import Path
from typing import Sequence

from ... import children, paths
from ...errors import OrbFinanceError

MODULES = ("account_invoice",)
ADMIN_EMAIL = "admin@example.com"
COMPANY_NAME = "Orb Finance (local Tryton)"
# (code, name, symbol, digits, units per 1 USD): rates are placeholders of the right magnitude; a real
# company keeps its own rates. Every currency an invoice uses needs a rate on or before its date.
CURRENCIES = [
    ("USD", "US Dollar", "$", 2, "1"), ("EUR", "Euro", "€", 2, "0.92"), ("GBP", "Pound Sterling", "£", 2, "0.79"),
    ("JPY", "Yen", "¥", 0, "150"), ("CAD", "Canadian Dollar", "CA$", 2, "1.36"), ("AUD", "Australian Dollar", "A$", 2, "1.52"),
    ("CHF", "Swiss Franc", "CHF", 2, "0.88"), ("SEK", "Swedish Krona", "kr", 2, "10.5"), ("INR", "Indian Rupee", "₹", 2, "83"),
    ("BRL", "Brazilian Real", "R$", 2, "5.0"), ("KWD", "Kuwaiti Dinar", "KD", 3, "0.31"),
]
# What the provider's defaults refer to (codes of the universal chart, names of the payment methods): the
# provider owns them; the server creates what they name.
from .tryton import ACCOUNTS, BALANCE_PAYMENT_METHOD, PAYMENT_METHOD  # noqa: E402


def default_years(today: dt.date | None = None) -> list[int]:
    today = today or dt.date.today()
    return [today.year - 1, today.year, today.year + 1]


def parse_years(text: str | None) -> list[int]:
    if not text:
        return default_years()
    first, _, last = str(text).partition("-")
    try:
        years = list(range(int(first), int(last or first) + 1))
    except ValueError:
        raise OrbFinanceError(f"--years must look like 2025 or 2025-2027, got {text!r}") from None
    if not years or len(years) > 30:
        raise OrbFinanceError(f"--years {text!r}: between 1 and 30 years")
    return years


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def write_conf(directory: Path, port: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "db").mkdir(exist_ok=True)
    conf = directory / "trytond.conf"
    conf.write_text(f"[database]\nuri = sqlite://\npath = {directory / 'db'}\n\n[web]\nlisten = 127.0.0.1:{port}\n"
                    "\n[session]\ntimeout = 86400\n", encoding="utf-8")
    return conf


# --- creating a database -------------------------------------------------------------------------------

def create_database(directory: Path, database: str, years: Sequence[int], password: str) -> Path:
    """trytond-admin (modules and admin user) then the bootstrap; returns the SQLite file. About 15-60 s."""
    directory = Path(directory)
    conf = write_conf(directory, free_port())
    db_file = directory / "db" / f"{database}.sqlite"
    db_file.unlink(missing_ok=True)
    db_file.touch()                                    # trytond's SQLite backend needs the file to exist
    passfile = directory / ".admin-passfile"
    passfile.write_text(password + "\n", encoding="utf-8")
    passfile.chmod(0o600)
    env = {**os.environ, "TRYTONPASSFILE": str(passfile)}
    try:
        admin = subprocess.run(children.command([_bin("trytond-admin"), "-c", str(conf), "-d", database, "-u", *MODULES,
                                                 "--activate-dependencies", "--email", ADMIN_EMAIL]),
                               env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=900)
    finally:
        passfile.unlink(missing_ok=True)
    if admin.returncode != 0:
        raise OrbFinanceError(f"trytond-admin failed: {(admin.stderr or admin.stdout).strip().splitlines()[-1:]}")
    boot = subprocess.run(children.command([sys.executable, "-m", __name__, "_bootstrap", str(conf), database,
                                            ",".join(map(str, years))]),
                          capture_output=True, text=True, timeout=900)
    if boot.returncode != 0:
        raise OrbFinanceError(f"Tryton bootstrap failed: {boot.stderr.strip()[-2000:]}")
    _checkpoint(db_file)
    return db_file


def _checkpoint(db_file: Path) -> None:
    """Fold the WAL into the database file so a plain file copy is complete."""
    con = sqlite3.connect(str(db_file))
    try:
        con.execute("pragma wal_checkpoint(truncate)")
    finally:
        con.close()


def template_key(years: Sequence[int], password: str = "") -> str:
    """Changes when a pinned version, this module (the bootstrap), the years or the admin password change."""
    versions = {name: metadata.version(name) for name in ("trytond", "trytond-account", "trytond-account-invoice")}
    source = Path(__file__).read_bytes()
    blob = json.dumps({"versions": versions, "years": list(years), "modules": MODULES,
                       "password": hashlib.sha256(password.encode()).hexdigest()}, sort_keys=True).encode() + source
    return hashlib.sha256(blob).hexdigest()[:16]


def template(cache_dir: Path, years: Sequence[int], password: str = "admin") -> Path:
    """A cached template database (built once per key); copy it with `copy_database`, never open it."""
    cache_dir = Path(cache_dir)
    target = cache_dir / f"template-{template_key(years, password)}.sqlite"
    if target.exists():
        return target
    build = cache_dir / f"build-{os.getpid()}"
    shutil.rmtree(build, ignore_errors=True)
    db_file = create_database(build, "template", years, password)
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")      # two test workers may build it at once
    shutil.copyfile(db_file, tmp)
    os.replace(tmp, target)
    shutil.rmtree(build, ignore_errors=True)
    return target


def copy_database(template_file: Path, directory: Path, database: str) -> Path:
    (Path(directory) / "db").mkdir(parents=True, exist_ok=True)
    target = Path(directory) / "db" / f"{database}.sqlite"
    shutil.copyfile(template_file, target)
    return target


# --- running the server ------------------------------------------------------------------------------

@dataclass
class TrytonServer:
    directory: Path
    database: str
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "TrytonServer":
        conf = write_conf(self.directory, self.port)
        log = open(self.directory / "trytond.log", "ab")
        # trytond dies with this process, even when it is killed with SIGKILL (children.py)
        self.proc = subprocess.Popen(children.command([_bin("trytond"), "-c", str(conf), "-d", self.database]),
                                     stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        deadline = time.monotonic() + timeout
        body = json.dumps({"id": 0, "method": "common.server.version", "params": []}).encode()
        while True:
            if self.proc.poll() is not None:
                raise OrbFinanceError(f"trytond exited with code {self.proc.returncode}; see {self.directory / 'trytond.log'}")
            try:
                req = urllib.request.Request(self.url + "/rpc/", data=body, headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=2) as resp:
                    if resp.status == 200:
                        return self
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise OrbFinanceError(f"trytond did not answer on {self.url} within {timeout:.0f}s")
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=15)
        self.proc = None

    def __enter__(self) -> "TrytonServer":
        return self.start() if self.proc is None else self

    def __exit__(self, *exc) -> None:
        self.stop()

    def provider_settings(self, password_env: str) -> dict:
        return {"url": self.url, "database": self.database, "user": "admin", "password_env": password_env}


# --- `orbfin sync tryton-server` ------------------------------------------------------------------------

def cli(args: argparse.Namespace, console) -> int:
    directory = paths.resolve(args.dir or "warehouse/tryton")   # --dir comes absolute from the command line
    db_file = directory / "db" / f"{args.database}.sqlite"
    password_file = directory / "admin.password"
    years = parse_years(args.years)
    if not db_file.exists() or db_file.stat().st_size == 0:
        password = os.environ.get("TRYTON_PASSWORD") or secrets.token_urlsafe(18)
        console.print(f"creating Tryton database {db_file} (fiscal years {years[0]}-{years[-1]}); this takes a minute")
        create_database(directory, args.database, years, password)
        if not os.environ.get("TRYTON_PASSWORD"):
            password_file.write_text(password + "\n", encoding="utf-8")
            password_file.chmod(0o600)
            console.print(f"admin password written to {password_file} (export TRYTON_PASSWORD=$(cat {password_file}))")
    if args.init_only:
        return 0
    server = TrytonServer(directory, args.database, port=args.port)
    # SIGTERM (a service manager's stop, `kill`) stops trytond as Ctrl-C does, instead of ending this process alone
    previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        server.start()
        console.print(f"Tryton is serving database {args.database!r} on {server.url} (user admin); Ctrl-C stops it.\n"
                      f"accounting_sync.yml:\n  provider: tryton\n  tryton:\n    url: {server.url}\n"
                      f"    database: {args.database}\n    user: admin\n    password_env: TRYTON_PASSWORD")
        while server.proc is not None and server.proc.poll() is None:
            time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        signal.signal(signal.SIGTERM, previous)
    return 0


def _raise_keyboard_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


# --- the bootstrap (runs in its own process: trytond's pool and config are process-wide) --------------

def _bootstrap(conf: str, database: str, years: list[int]) -> None:
    import trytond.config as tconfig
    tconfig.update_etc(conf) if hasattr(tconfig, "update_etc") else tconfig.config.update_etc(conf)
    from trytond.pool import Pool
    from trytond.transaction import Transaction

    from trytond.transaction import TransactionError

    Pool.start()
    pool = Pool(database)
    pool.init()
    extras: dict = {}
    for _ in range(20):     # as trytond's dispatcher does: a TransactionError says which tables to lock first
        with Transaction().start(database, 0, context={}, **extras) as transaction:
            try:
                currencies = _currencies(pool)
                company = _company(pool, currencies["USD"])
                with Transaction().set_context(company=company.id, companies=[company.id]):
                    _chart(pool, company)
                    for year in years:
                        _fiscal_year(pool, company, year)
                    _payment_methods(pool, company)
            except TransactionError as exc:
                transaction.rollback()
                exc.fix(extras)
                continue
            transaction.commit()
            return
    raise RuntimeError("bootstrap kept hitting transaction errors")


def _currencies(pool) -> dict:
    Currency = pool.get("currency.currency")
    out = {}
    for code, name, symbol, digits, rate in CURRENCIES:
        c, = Currency.create([{
            "name": name, "code": code, "symbol": symbol, "digits": digits,
            "rounding": Decimal(1).scaleb(-digits),
            "rates": [("create", [{"date": dt.date(2000, 1, 1), "rate": Decimal(rate)}])],
        }])
        out[code] = c
    return out


def _company(pool, currency):
    Party = pool.get("party.party")
    Company = pool.get("company.company")
    User = pool.get("res.user")
    party, = Party.create([{"name": COMPANY_NAME, "addresses": [("create", [{}])]}])
    company, = Company.create([{"party": party.id, "currency": currency.id, "cancel_invoice_out": True}])
    admin, = User.search([("login", "=", "admin")])
    User.write([admin], {"companies": [("add", [company.id])], "company": company.id})
    return company


def _chart(pool, company) -> None:
    AccountTemplate = pool.get("account.account.template")
    ModelData = pool.get("ir.model.data")
    CreateChart = pool.get("account.create_chart", type="wizard")
    Account = pool.get("account.account")

    template = AccountTemplate(ModelData.get_id("account", "account_template_root_en"))
    session_id, _, _ = CreateChart.create()
    wizard = CreateChart(session_id)
    wizard.account.account_template = template
    wizard.account.company = company
    wizard.transition_create_account()
    state = wizard.states["properties"]
    for name, value in state.get_defaults(wizard, "properties", list(wizard.properties._fields)).items():
        if name in wizard.properties._fields:
            setattr(wizard.properties, name, value)
    receivable, = Account.search([("code", "=", ACCOUNTS["receivable"]), ("company", "=", company.id)])
    payable, = Account.search([("code", "=", "2.1.1"), ("company", "=", company.id)])
    wizard.properties.company = company
    wizard.properties.account_receivable = receivable
    wizard.properties.account_payable = payable
    wizard.transition_create_properties()
    # rounding differences of foreign-currency invoices go to the exchange gain/loss account
    Configuration = pool.get("account.configuration")
    exchange, = Account.search([("code", "=", "6.2.1"), ("company", "=", company.id)])
    config = Configuration(1)
    config.currency_exchange_credit_account = exchange
    config.currency_exchange_debit_account = exchange
    config.save()
    # a liability for the customer balances Orb applies to invoices
    other, = Account.search([("code", "=", "2.2.4"), ("company", "=", company.id)])
    # (per party: the provider reads each customer's balance back for reconcile)
    Account.create([{"name": "Customer Balances (Orb)", "code": ACCOUNTS["customer_balance"], "type": other.type.id,
                     "parent": other.parent.id, "company": company.id, "party_required": True}])
    # revenue by kind for revenue recognition from the warehouse (SPEC §5.2); deferred (2.2.2) and unbilled (1.4.2)
    # revenue are the chart's own
    services, = Account.search([("code", "=", ACCOUNTS["revenue"]), ("company", "=", company.id)])
    adjustments, = Account.search([("code", "=", ACCOUNTS["adjustments"]), ("company", "=", company.id)])
    Account.create([
        {"name": name, "code": ACCOUNTS[key], "type": base.type.id, "parent": base.parent.id, "company": company.id}
        for key, name, base in (("usage", "Usage Revenue (Orb)", services),
                                ("credit_consumption", "Prepaid Credit Consumption (Orb)", services),
                                ("credit_breakage", "Prepaid Credit Breakage (Orb)", services),
                                ("credit_notes", "Credit Notes (Orb)", adjustments))])


def _fiscal_year(pool, company, year: int) -> None:
    Sequence = pool.get("ir.sequence.strict")
    SequenceType = pool.get("ir.sequence.type")
    FiscalYear = pool.get("account.fiscalyear")
    InvoiceSequence = pool.get("account.fiscalyear.invoice_sequence")
    ModelData = pool.get("ir.model.data")

    move_type = SequenceType(ModelData.get_id("account", "sequence_type_account_move"))
    invoice_type = SequenceType(ModelData.get_id("account_invoice", "sequence_type_account_invoice"))
    move_seq, = Sequence.create([{"name": f"Moves {year}", "sequence_type": move_type.id, "company": company.id}])
    fy, = FiscalYear.create([{"name": str(year), "company": company.id, "move_sequence": move_seq.id,
                              "start_date": dt.date(year, 1, 1), "end_date": dt.date(year, 12, 31)}])
    FiscalYear.create_period([fy])
    # one sequence per month: Tryton numbers customer invoices in date order within a sequence, so a
    # month-long sequence only asks the sync to send each month's invoices in date order
    values = []
    for period in fy.periods:
        if period.type != "standard":
            continue
        tag = f"{period.start_date:%Y%m}"
        inv, cn = Sequence.create([
            {"name": f"INV {tag}", "sequence_type": invoice_type.id, "company": company.id, "prefix": f"INV-{tag}-",
             "padding": 5},
            {"name": f"CN {tag}", "sequence_type": invoice_type.id, "company": company.id, "prefix": f"CN-{tag}-",
             "padding": 5}])
        values.append({"company": company.id, "fiscalyear": fy.id, "period": period.id,
                       "in_invoice_sequence": inv.id, "in_credit_note_sequence": cn.id,
                       "out_invoice_sequence": inv.id, "out_credit_note_sequence": cn.id})
    InvoiceSequence.create(values)


def _payment_methods(pool, company) -> None:
    Journal = pool.get("account.journal")
    Account = pool.get("account.account")
    Method = pool.get("account.invoice.payment.method")
    cash_journal, = Journal.search([("type", "=", "cash")], limit=1)
    cash, = Account.search([("code", "=", ACCOUNTS["cash"]), ("company", "=", company.id)])
    balance, = Account.search([("code", "=", ACCOUNTS["customer_balance"]), ("company", "=", company.id)])
    Method.create([
        {"name": PAYMENT_METHOD, "company": company.id, "journal": cash_journal.id, "debit_account": cash.id,
         "credit_account": cash.id},
        {"name": BALANCE_PAYMENT_METHOD, "company": company.id, "journal": cash_journal.id,
         "debit_account": balance.id, "credit_account": balance.id},
    ])


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "_bootstrap":
        _bootstrap(sys.argv[2], sys.argv[3], [int(y) for y in sys.argv[4].split(",")])
    else:
        raise SystemExit("usage: orbfin sync tryton-server --help")
