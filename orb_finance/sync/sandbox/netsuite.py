"""The local NetSuite sandbox (`orbfin sync sandbox netsuite`): SuiteTalk REST web services as Oracle documents them,
for trying the sync and for its tests. Production code never imports it.

Owns one fake account (1234567_SB1): the record API v1 (customer, invoice, creditMemo, customerPayment,
journalEntry; items, accounts, currencies, subsidiaries read-only), `eid:` upserts with NetSuite's sublist rules
(`item` appended on update unless `?replace=item`; `apply`/`credit` keyed by doc), 204 + Location on writes,
`!transform/creditMemo`, SuiteQL over the books (SQLite: transaction, transactionline, transactionaccountingline,
customer, account, currency, item, accountingperiod), asynchronous jobs completing after a delay, the
`o:errorDetails` envelope, closed periods, a concurrency limit answering 429, and both auth modes: OAuth 1.0a
signatures verified with oauthlib's server-side verifier, OAuth 2.0 client credentials with a PS256 JWT assertion.
"""

from __future__ import annotations

import base64
import collections
import copy
import datetime as dt
import json
import re
import secrets
import sqlite3
import threading
import time
import urllib.parse
from decimal import Decimal, InvalidOperation
from typing import Any

from ... import redact
from . import Fault, Request, Response, Sandbox

ACCOUNT = "1234567_SB1"
REST = "/services/rest"
PERIOD_YEARS = range(2000, 2041)
TIMESTAMP_SKEW = 300                # seconds a TBA timestamp may be off
TOKEN_LIFETIME = 3600
ENVELOPE_TYPES = {400: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.1",
                  401: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.2",
                  403: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.4",
                  404: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.5",
                  405: "https://www.w3.org/Protocols/rfc2616/rfc2616-sec10.html#sec10.4.6",
                  429: "https://tools.ietf.org/html/rfc6585#section-4"}
TITLES = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
          429: "Too Many Requests"}
INVALID_LOGIN_DETAIL = ("Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at "
                        "Setup > Users/Roles > User Management > View Login Audit Trail.")
# Unverified: Oracle documents HTTP 429 for REST over the concurrency limit but not its error code.
CONCURRENCY_CODE = "CONCURRENCY_LIMIT_EXCEEDED"

# --- the account's reference data (ids as NetSuite shows them) ---------------------------------------------

SUBSIDIARIES = {"1": {"name": "Orb Demo Inc.", "currency": "1"}}
CURRENCIES = {"1": "USD", "2": "GBP", "3": "CAD", "4": "EUR", "5": "JPY", "6": "AUD", "7": "CHF", "8": "SEK",
              "9": "KWD", "10": "BRL", "11": "INR", "12": "SGD"}
BANKS = {code: str(10 + int(cid)) for cid, code in CURRENCIES.items()}          # "Bank <CUR>" per currency
ACCOUNTS = {
    "1": ("1100", "Undeposited Funds", "OthCurrAsset"),
    **{acct: (f"10{int(acct):02d}", f"Bank {code}", "Bank") for code, acct in BANKS.items()},
    "120": ("1200", "Accounts Receivable", "AcctRec"),
    "250": ("2500", "Customer balances (Orb)", "OthCurrLiab"),
    "260": ("2600", "Sales tax payable", "OthCurrLiab"),
    "400": ("4000", "Revenue", "Income"),
    "410": ("4100", "Invoice adjustments (Orb)", "Income"),
    "610": ("6100", "Customer balance adjustments (Orb)", "Expense"),
}
AR_ACCOUNT, UNDEPOSITED = "120", "1"
ITEMS = {
    "200": {"itemid": "Orb usage (unmapped)", "externalid": None, "type": "serviceSaleItem", "account": "400"},
    "210": {"itemid": "Tax (Orb)", "externalid": None, "type": "otherChargeSaleItem", "account": "260"},
    "211": {"itemid": "Invoice adjustment (Orb)", "externalid": None, "type": "otherChargeSaleItem", "account": "410"},
    "212": {"itemid": "Customer balance applied (Orb)", "externalid": None, "type": "otherChargeSaleItem",
            "account": "250"},
    **{str(300 + n): {"itemid": f"Service {4000 + n}", "externalid": f"ITEM-{4000 + n}", "type": "serviceSaleItem",
                      "account": "400"} for n in range(40)},
}
ITEM_TYPES = ("serviceSaleItem", "otherChargeSaleItem", "nonInventorySaleItem")

# --- record shapes: field kinds; sublists and their line fields --------------------------------------------

ITEM_LINE = {"item": "ref:item", "description": "str", "quantity": "number", "rate": "number", "amount": "money",
             "revRecStartDate": "date", "revRecEndDate": "date", "line": "number"}
APPLY_LINE = {"doc": "ref:transaction", "apply": "bool", "amount": "money", "line": "number"}
JOURNAL_LINE = {"account": "ref:account", "debit": "money", "credit": "money", "entity": "ref:customer",
                "memo": "str", "line": "number"}
HEADER = {"externalId": "str", "subsidiary": "ref:subsidiary", "currency": "ref:currency", "tranDate": "date",
          "tranId": "str", "memo": "str", "exchangeRate": "number"}
FIELDS: dict[str, dict[str, Any]] = {
    "customer": {"externalId": "str", "companyName": "str", "email": "str", "isPerson": "bool",
                 "subsidiary": "ref:subsidiary", "currency": "ref:currency", "comments": "str", "entityId": "str",
                 "phone": "str"},
    "invoice": {**HEADER, "entity": "ref:customer", "dueDate": "date", "otherRefNum": "str", "item": ITEM_LINE},
    "creditMemo": {**HEADER, "entity": "ref:customer", "otherRefNum": "str", "item": ITEM_LINE, "apply": APPLY_LINE},
    "customerPayment": {**HEADER, "customer": "ref:customer", "account": "ref:account", "undepFunds": "bool",
                        "payment": "money", "apply": APPLY_LINE, "credit": APPLY_LINE},
    "journalEntry": {**HEADER, "line": JOURNAL_LINE},
}
KEYED = {"apply", "credit"}                 # keyed sublists (by doc): matching lines updated, others added
TRANSACTIONS = ("invoice", "creditMemo", "customerPayment", "journalEntry")
TYPE_CODES = {"invoice": "CustInvc", "creditMemo": "CustCred", "customerPayment": "CustPymt", "journalEntry": "Journal"}
TRAN_PREFIX = {"invoice": "INV", "creditMemo": "CM", "customerPayment": "PYMT", "journalEntry": "JE"}
READ_ONLY = ("account", "currency", "subsidiary", *ITEM_TYPES)
RECORD_TYPES = {t.lower(): t for t in (*FIELDS, *READ_ONLY)}
CUSTOM = re.compile(r"^cust(body|col|entity)[a-z0-9_]*$")
EXTERNAL_ID = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
DATE_COLUMNS = {"trandate", "duedate", "startdate", "enddate", "createddate"}


class Refusal(Exception):
    """A request NetSuite refuses: the error envelope."""

    def __init__(self, status: int, code: str, detail: str, path: str | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status, self.code, self.detail, self.path, self.headers = status, code, detail, path, headers or {}

    def response(self) -> Response:
        item = {"detail": self.detail, "o:errorCode": self.code}
        if self.path:
            item["o:errorPath"] = self.path
        return Response(self.status, {"type": ENVELOPE_TYPES.get(self.status, ENVELOPE_TYPES[400]),
                                      "title": TITLES.get(self.status, "Bad Request"), "status": self.status,
                                      "o:errorDetails": [item]}, dict(self.headers))


def _money(value: Any, path: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise Refusal(400, "INVALID_FLD_VALUE", f"Invalid number {value!r}.", path) from None
    if not d.is_finite():
        raise Refusal(400, "INVALID_FLD_VALUE", f"Invalid number {value!r}.", path)
    return d


def _d(text: Any) -> Decimal:
    return Decimal(str(text)) if text not in (None, "") else Decimal(0)


def _period(day: str) -> str:
    return day[:7]


def _period_name(month: str) -> str:
    return dt.date.fromisoformat(month + "-01").strftime("%b %Y")


def _mdy(iso: str) -> str:
    try:
        d = dt.date.fromisoformat(iso[:10])
    except ValueError:
        return iso
    return f"{d.month}/{d.day}/{d.year}"


# --- SuiteQL over the books -------------------------------------------------------------------------------

class _DecimalSum:
    """SUM over money kept as text: exact (SQLite's own SUM would go through floats)."""

    def __init__(self):
        self.total: Decimal | None = None

    def step(self, value):
        if value is None:
            return
        self.total = (self.total or Decimal(0)) + Decimal(str(value))

    def finalize(self):
        return None if self.total is None else format(self.total, "f")


def _to_date(text: Any, fmt: Any = "YYYY-MM-DD") -> str:
    formats = {"YYYY-MM-DD": "%Y-%m-%d", "MM/DD/YYYY": "%m/%d/%Y", "DD/MM/YYYY": "%d/%m/%Y", "DD.MM.YYYY": "%d.%m.%Y"}
    if str(fmt).upper() not in formats:
        raise ValueError(f"TO_DATE format {fmt!r} is not supported here")
    return dt.datetime.strptime(str(text), formats[str(fmt).upper()]).date().isoformat()


SCHEMA = """
create table transaction (id integer primary key, tranid text, externalid text, type text, recordtype text,
    entity integer, trandate text, duedate text, currency integer, subsidiary integer, memo text,
    foreigntotal text, foreignamountunpaid text, status text, postingperiod integer, createddate text);
create table transactionline (transaction integer, id integer, linesequencenumber integer, mainline text,
    item integer, entity integer, foreignamount text, quantity text, memo text);
create table transactionaccountingline (transaction integer, transactionline integer, account integer,
    accountingbook integer, amount text, debit text, credit text, netamount text, posting text);
create table customer (id integer primary key, entityid text, externalid text, companyname text, email text,
    currency integer, subsidiary integer, isperson text);
create table account (id integer primary key, acctnumber text, fullname text, accountsearchdisplayname text,
    accttype text, isinactive text);
create table currency (id integer primary key, symbol text, name text, isbasecurrency text);
create table item (id integer primary key, itemid text, externalid text, displayname text, itemtype text,
    incomeaccount integer);
create table subsidiary (id integer primary key, name text, currency integer);
create table accountingperiod (id integer primary key, periodname text, startdate text, enddate text, closed text,
    isquarter text, isyear text, isadjust text);
create index tl_tran on transactionline (transaction);
create index tal_tran on transactionaccountingline (transaction);
create index tran_eid on transaction (externalid);
"""


def _quote_transaction(sql: str) -> str:
    """`transaction` is a keyword to SQLite, a table name to SuiteQL: quoted outside string literals."""
    parts = re.split(r"('(?:[^']|'')*')", sql)
    return "".join(p if p.startswith("'") else re.sub(r"(?i)(?<!\")\btransaction\b(?!\")", "\"transaction\"", p) for p in parts)


class Books:
    """The SuiteQL tables, kept in step with every write (SQLite in memory)."""

    def __init__(self):
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self._one = lambda sql, *args: self.db.execute(_quote_transaction(sql), *args)
        self._many = lambda sql, rows: self.db.executemany(_quote_transaction(sql), rows)
        self.db.create_aggregate("SUM", 1, _DecimalSum)
        self.db.create_function("TO_DATE", 2, _to_date)
        self.db.create_function("TO_DATE", 1, _to_date)
        self.db.create_function("NVL", 2, lambda a, b: a if a is not None else b)
        self.db.executescript(_quote_transaction(SCHEMA))
        self._many("insert into account values (?, ?, ?, ?, ?, 'F')",
                            [(int(i), n, name, f"{n} {name}", kind) for i, (n, name, kind) in ACCOUNTS.items()])
        self._many("insert into currency values (?, ?, ?, ?)",
                            [(int(i), c, c, "T" if i == "1" else "F") for i, c in CURRENCIES.items()])
        self._many("insert into item values (?, ?, ?, ?, ?, ?)",
                            [(int(i), v["itemid"], v["externalid"], v["itemid"], v["type"], int(v["account"]))
                             for i, v in ITEMS.items()])
        self._many("insert into subsidiary values (?, ?, ?)",
                            [(int(i), v["name"], int(v["currency"])) for i, v in SUBSIDIARIES.items()])
        periods, n = [], 1
        for year in PERIOD_YEARS:
            for month in range(1, 13):
                start = dt.date(year, month, 1)
                end = (dt.date(year + month // 12, month % 12 + 1, 1) - dt.timedelta(days=1))
                periods.append((n, start.strftime("%b %Y"), start.isoformat(), end.isoformat(), "F", "F", "F", "F"))
                n += 1
        self._many("insert into accountingperiod values (?, ?, ?, ?, ?, ?, ?, ?)", periods)

    def period_id(self, day: str) -> int:
        year, month = int(day[:4]), int(day[5:7])
        return (year - PERIOD_YEARS.start) * 12 + month

    def close_periods(self, months: set[str]) -> None:
        self._one("update accountingperiod set closed = 'F'")
        self._many("update accountingperiod set closed = 'T' where substr(startdate, 1, 7) = ?",
                            [(m,) for m in sorted(months)])

    def drop(self, rid: str) -> None:
        i = int(rid)
        self._one('delete from transaction where id = ?', (i,))
        self._one("delete from transactionline where transaction = ?", (i,))
        self._one("delete from transactionaccountingline where transaction = ?", (i,))
        self._one("delete from customer where id = ?", (i,))

    def put_customer(self, rec: dict) -> None:
        self.drop(rec["id"])
        self._one("insert into customer values (?, ?, ?, ?, ?, ?, ?, ?)",
                        (int(rec["id"]), rec.get("entityId"), rec.get("externalId"), rec.get("companyName"),
                         rec.get("email"), int(rec["currency"]), int(rec["subsidiary"]),
                         "T" if rec.get("isPerson") else "F"))

    def put_transaction(self, rtype: str, rec: dict, unpaid: Decimal | None, total: Decimal,
                        lines: list[tuple[str, str | None, str | None, Decimal, str | None]]) -> None:
        """lines: (account, entity, item, amount debit-positive, memo); the first is the main line."""
        self.drop(rec["id"])
        i = int(rec["id"])
        self._one('insert into transaction values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
                        (i, rec.get("tranId"), rec.get("externalId"), TYPE_CODES[rtype], rtype.lower(),
                         int(rec["entity"]) if rec.get("entity") else None, rec["tranDate"], rec.get("dueDate"),
                         int(rec["currency"]), int(rec["subsidiary"]), rec.get("memo"), format(total, "f"),
                         format(unpaid, "f") if unpaid is not None else None, rec.get("status"),
                         self.period_id(rec["tranDate"]), rec.get("createdDate")))
        tl, tal = [], []
        for n, (account, entity, item, amount, memo) in enumerate(lines):
            tl.append((i, n, n, "T" if n == 0 else "F", int(item) if item else None, int(entity) if entity else None,
                       format(amount, "f"), None, memo))
            tal.append((i, n, int(account), 1, format(amount, "f"), format(amount, "f") if amount > 0 else None,
                        format(-amount, "f") if amount < 0 else None, format(amount, "f"), "T"))
        self._many("insert into transactionline values (?, ?, ?, ?, ?, ?, ?, ?, ?)", tl)
        self._many("insert into transactionaccountingline values (?, ?, ?, ?, ?, ?, ?, ?, ?)", tal)

    def set_unpaid(self, rid: str, unpaid: Decimal | None, status: str | None) -> None:
        self._one('update transaction set foreignamountunpaid = ?, status = ? where id = ?',
                        (format(unpaid, "f") if unpaid is not None else None, status, int(rid)))

    def query(self, sql: str) -> tuple[list[str], list[tuple]]:
        cur = self._one(sql)
        return [d[0].lower() for d in cur.description], cur.fetchall()


# --- the sandbox --------------------------------------------------------------------------------------------

class NetSuiteSandbox(Sandbox):
    vendor = "netsuite"

    def __init__(self, directory=None, *, request_log: str | None = None, faults: list[Fault] | None = None,
                 concurrency_limit: int = 5, async_delay: float = 1.0, latency: float = 0.0,
                 closed_periods: tuple[str, ...] = (), unique_tran_ids: bool = True):
        super().__init__(directory, request_log=request_log, faults=faults)
        self.concurrency_limit = int(concurrency_limit)
        self.async_delay = float(async_delay)
        self.latency = float(latency)
        self.unique_tran_ids = unique_tran_ids
        self.state.setdefault("closed_periods", [])
        self.state["closed_periods"] = sorted(set(self.state["closed_periods"]) | set(closed_periods))
        self._flight = 0
        self._flight_lock = threading.Lock()
        self._nonces: dict[str, float] = {}
        self.peak_in_flight = 0
        self.refused_busy = 0
        creds = self.state["credentials"]
        redact.register(*(creds[k] for k in ("consumer_key", "consumer_secret", "token_id", "token_secret",
                                             "client_id")), *self.state["tokens"])
        self._reindex()

    # --- state -------------------------------------------------------------------------------------------

    def initial_state(self) -> dict[str, Any]:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric import rsa

        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()).decode()
        public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo).decode()
        return {
            "account": ACCOUNT,
            "credentials": {"consumer_key": secrets.token_hex(32), "consumer_secret": secrets.token_hex(32),
                            "token_id": secrets.token_hex(32), "token_secret": secrets.token_hex(32),
                            "client_id": secrets.token_hex(32),
                            "certificate_id": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("="),
                            "private_key": private, "public_key": public},
            "next_id": 1000, "tran_seq": {}, "records": {t: {} for t in FIELDS}, "jobs": {}, "next_job": 1,
            "tokens": {}, "closed_periods": [], "idempotency": {},
        }

    def _reindex(self) -> None:
        """The derived indexes (external ids, applications, the SuiteQL tables) from the stored records."""
        self.books = Books()
        self.books.close_periods(set(self.state["closed_periods"]))
        self.eids: dict[str, dict[str, str]] = {t: {} for t in FIELDS}
        self.applied: dict[str, dict[str, Decimal]] = {}     # doc -> {applying record: amount}
        self.credited: dict[str, dict[str, Decimal]] = {}    # credit doc -> {payment: amount}
        self.kind_of: dict[str, str] = {}                    # internal id -> record type
        self._queued = collections.deque(sorted((j["id"] for j in self.state["jobs"].values() if not j["done"]),
                                                key=int))     # jobs not run yet, oldest first
        for rtype, records in self.state["records"].items():
            for rid, rec in records.items():
                self.kind_of[rid] = rtype
                if rec.get("externalId"):
                    self.eids[rtype][rec["externalId"]] = rid
                self._index_applications(rtype, rec, add=True)
        for rtype, records in self.state["records"].items():
            for rec in records.values():
                self._index_books(rtype, rec)

    def records(self, rtype: str) -> dict[str, dict]:
        """Tests: the stored records of a type, by internal id."""
        return self.state["records"][RECORD_TYPES[rtype.lower()]]

    def settings(self) -> dict[str, Any]:
        # the sync's state store beside the settings file (relative paths in it are relative to its folder): a trial
        # against the sandbox never mixes with a real account's records
        return {"provider": "netsuite", "state_path": "netsuite_sandbox_sync_state.sqlite", "netsuite": {
            "account_id": ACCOUNT, "base_url": self.url, "auth": "tba",
            "certificate_id": self.state["credentials"]["certificate_id"],
            "subsidiary": "1", "bank_accounts": {code: BANKS[code] for code in sorted(BANKS)},
            "accounts": {"receivable": AR_ACCOUNT, "customer_balance": "250", "balance_adjustments": "610"},
            "tax_item": "210", "adjustment_item": "211", "customer_balance_item": "212", "default_item": "200"}}

    def credentials(self) -> dict[str, str]:
        c = self.state["credentials"]
        return {"NETSUITE_CONSUMER_KEY": c["consumer_key"], "NETSUITE_CONSUMER_SECRET": c["consumer_secret"],
                "NETSUITE_TOKEN_ID": c["token_id"], "NETSUITE_TOKEN_SECRET": c["token_secret"],
                "NETSUITE_CLIENT_ID": c["client_id"], "NETSUITE_PRIVATE_KEY": c["private_key"]}

    def configure(self, *, closed_periods: list[str] | None = None, concurrency_limit: int | None = None,
                  async_delay: float | None = None, latency: float | None = None) -> None:
        with self.lock:
            if closed_periods is not None:
                self.state["closed_periods"] = sorted(set(closed_periods))
                self.books.close_periods(set(self.state["closed_periods"]))
                self.save_state()
            if concurrency_limit is not None:
                self.concurrency_limit = int(concurrency_limit)
            if async_delay is not None:
                self.async_delay = float(async_delay)
            if latency is not None:
                self.latency = float(latency)

    # --- dispatch: the concurrency limit and the admin endpoint ---------------------------------------------

    def dispatch(self, req: Request) -> tuple[Response, bool]:
        if req.path == "/_sandbox/netsuite" and req.method == "POST":
            try:
                self.configure(**(req.json() or {}))
            except (TypeError, ValueError) as exc:
                return Response(400, {"error": f"{exc}; settable: closed_periods, concurrency_limit, async_delay, "
                                               "latency"}), False
            return Response(204), False
        if req.path.startswith("/_sandbox/"):
            return super().dispatch(req)
        with self._flight_lock:
            busy = self._flight >= self.concurrency_limit
            if busy:
                self.refused_busy += 1
            else:
                self._flight += 1
                self.peak_in_flight = max(self.peak_in_flight, self._flight)
        if busy:
            resp = Refusal(429, CONCURRENCY_CODE, "Request limit exceeded: the account's concurrency limit of "
                           f"{self.concurrency_limit} requests is reached. Retry later.").response()
            self.log(req, resp)
            return resp, False
        try:
            if self.latency:
                time.sleep(self.latency)
            return super().dispatch(req)
        finally:
            with self._flight_lock:
                self._flight -= 1

    def handle(self, req: Request) -> Response:
        try:
            if req.path == f"{REST}/auth/oauth2/v1/token" and req.method == "POST":
                return self._token(req)
            if not req.path.startswith(REST + "/"):
                raise Refusal(404, "NONEXISTENT_ID", f"The resource {req.path} does not exist.")
            self._authenticate(req)
            self._run_due_jobs()
            if req.path.startswith(f"{REST}/async/v1/job"):
                return self._job_request(req)
            if req.path == f"{REST}/query/v1/suiteql" and req.method == "POST":
                return self._suiteql(req)
            if req.path.startswith(f"{REST}/record/v1/"):
                if "respond-async" in req.headers.get("prefer", "") and req.method in ("POST", "PUT", "PATCH", "DELETE"):
                    return self._submit_job(req)
                return self._record_request(req)
            raise Refusal(404, "NONEXISTENT_ID", f"The resource {req.path} does not exist.")
        except Refusal as refusal:
            return refusal.response()
        except Exception:                                     # a bug of the sandbox: said, not a dropped connection
            import sys
            import traceback
            traceback.print_exc(file=sys.stderr)
            return Refusal(500, "UNEXPECTED_ERROR", "An unexpected error occurred in the sandbox.").response()

    # --- authentication ---------------------------------------------------------------------------------

    def _authenticate(self, req: Request) -> None:
        header = req.headers.get("authorization", "")
        if header.startswith("OAuth "):
            ok = self._verify_tba(req, header)
        elif header.startswith("Bearer "):
            expiry = self.state["tokens"].get(header[7:].strip())
            ok = expiry is not None and expiry > time.time()
        else:
            ok = False
        if not ok:
            raise Refusal(401, "INVALID_LOGIN", INVALID_LOGIN_DETAIL)

    def _verify_tba(self, req: Request, header: str) -> bool:
        from oauthlib.common import Request as OAuthRequest
        from oauthlib.oauth1.rfc5849 import signature

        creds = self.state["credentials"]
        try:   # the header's parameters, percent-decoded (RFC 5849 3.5.1)
            params = dict(signature.collect_parameters(headers={"Authorization": header},
                                                       exclude_oauth_signature=False, with_realm=True))
        except (ValueError, IndexError):
            return False
        if (params.get("realm") != ACCOUNT or params.get("oauth_consumer_key") != creds["consumer_key"]
                or params.get("oauth_token") != creds["token_id"]
                or params.get("oauth_signature_method") != "HMAC-SHA256" or params.get("oauth_version", "1.0") != "1.0"):
            return False
        try:
            stamp = int(params.get("oauth_timestamp", ""))
        except ValueError:
            return False
        now = time.time()
        nonce = params.get("oauth_nonce", "")
        if abs(now - stamp) > TIMESTAMP_SKEW or not nonce or f"{nonce}:{stamp}" in self._nonces:
            return False
        uri = f"http://{req.headers.get('host', '127.0.0.1')}{req.raw_path or req.path}"
        query = urllib.parse.urlsplit(req.raw_path or req.path).query
        collected = signature.collect_parameters(uri_query=query, headers={"Authorization": header},
                                                 exclude_oauth_signature=True, with_realm=False)
        request = OAuthRequest(uri, http_method=req.method, headers={"Authorization": header})
        request.params = collected
        request.signature = params.get("oauth_signature")
        if not signature.verify_hmac_sha256(request, creds["consumer_secret"], creds["token_secret"]):
            return False
        self._nonces = {k: v for k, v in self._nonces.items() if now - v < 2 * TIMESTAMP_SKEW}
        self._nonces[f"{nonce}:{stamp}"] = now
        return True

    def _token(self, req: Request) -> Response:
        """OAuth 2.0 client credentials: a JWT assertion signed with the certificate's key (PS256/ES256...)."""
        import jwt

        form = dict(urllib.parse.parse_qsl(req.body.decode("utf-8", "replace")))
        assertion = form.get("client_assertion", "")
        redact.register(assertion)
        if (form.get("grant_type") != "client_credentials" or form.get("client_assertion_type")
                != "urn:ietf:params:oauth:client-assertion-type:jwt-bearer" or not assertion):
            return Response(400, {"error": "invalid_request"})
        creds = self.state["credentials"]
        audience = f"http://{req.headers.get('host', '127.0.0.1')}{REST}/auth/oauth2/v1/token"
        try:
            head = jwt.get_unverified_header(assertion)
            if head.get("kid") != creds["certificate_id"]:
                return Response(400, {"error": "invalid_client"})
            claims = jwt.decode(assertion, creds["public_key"], algorithms=["PS256", "PS384", "PS512"],
                                audience=audience, options={"require": ["exp", "iat", "iss", "aud"]})
        except jwt.PyJWTError:
            return Response(400, {"error": "invalid_client"})
        scope = claims.get("scope")
        scopes = scope if isinstance(scope, list) else str(scope or "").replace(",", " ").split()
        if claims.get("iss") != creds["client_id"] or "rest_webservices" not in scopes \
                or int(claims["exp"]) - int(claims["iat"]) > 3600:
            return Response(400, {"error": "invalid_client"})
        token = secrets.token_urlsafe(48)
        redact.register(token)
        now = time.time()
        self.state["tokens"] = {t: e for t, e in self.state["tokens"].items() if e > now}
        self.state["tokens"][token] = now + TOKEN_LIFETIME
        self.save_state()
        return Response(200, {"access_token": token, "expires_in": str(TOKEN_LIFETIME), "token_type": "Bearer"})

    # --- asynchronous jobs ------------------------------------------------------------------------------

    def _submit_job(self, req: Request) -> Response:
        key = req.headers.get("x-netsuite-idempotency-key")
        host = req.headers.get("host", "127.0.0.1")
        if key and key in self.state["idempotency"]:
            earlier = self.state["idempotency"][key]
            raise Refusal(400, "IDEMPOTENCY_ERROR", f"A request with the idempotency key {key} was already "
                          "submitted.", headers={"Location": f"http://{host}{REST}/async/v1/job/{earlier}"})
        job_id = str(self.state["next_job"])
        self.state["next_job"] += 1
        self.state["jobs"][job_id] = {
            "id": job_id, "method": req.method, "path": req.path, "raw_path": req.raw_path, "query": req.query,
            "headers": {k: v for k, v in req.headers.items() if k in ("content-type", "host",
                                                                      "x-netsuite-propertynamevalidation")},
            "body": req.body.decode("utf-8"), "submitted": time.time(), "done": False}
        if key:
            self.state["idempotency"][key] = job_id
        self._queued.append(job_id)
        self.save_state()
        return Response(202, None, {"Location": f"http://{host}{REST}/async/v1/job/{job_id}",
                                    "Preference-Applied": "respond-async"})

    def _run_due_jobs(self) -> None:
        """Run, in the order they came, the jobs whose delay has passed (whether or not anyone polls them)."""
        now = time.time()
        due = []
        while self._queued and now >= self.state["jobs"][self._queued[0]]["submitted"] + self.async_delay:
            due.append(self.state["jobs"][self._queued.popleft()])
        for job in due:
            request = Request(job["method"], job["path"], dict(job["query"]), dict(job["headers"]),
                              job["body"].encode("utf-8"), job.get("raw_path", ""))
            job["started"] = _now_iso()
            try:
                resp = self._record_request(request)
            except Refusal as refusal:
                resp = refusal.response()
            job.update(done=True, ended=_now_iso(), result={"status": resp.status, "headers": resp.headers,
                                                            "body": resp.body})
        if due:
            self.save_state()

    def _job_request(self, req: Request) -> Response:
        m = re.match(rf"^{REST}/async/v1/job/(\d+)(/task(?:/(\d+)(/result)?)?)?/?$", req.path)
        if not m or req.method != "GET":
            raise Refusal(404, "NONEXISTENT_ID", "The async job resource does not exist.")
        job = self.state["jobs"].get(m.group(1))
        if job is None:
            raise Refusal(404, "NONEXISTENT_ID", f"The job {m.group(1)} does not exist.")
        host = req.headers.get("host", "127.0.0.1")
        base = f"http://{host}{REST}/async/v1/job/{job['id']}"
        failed = job["done"] and job["result"]["status"] >= 400
        progress = "pending" if not job["done"] else ("failed" if failed else "succeeded")
        if m.group(2) is None:
            return Response(200, {"links": [{"rel": "self", "href": base}], "completed": job["done"], "id": job["id"],
                                  "progress": progress, "task": {"links": [{"rel": "self", "href": base + "/task"}]}})
        if m.group(3) is None:
            return Response(200, {"links": [{"rel": "self", "href": base + "/task"}], "count": 1, "hasMore": False,
                                  "items": [{"links": [{"rel": "self", "href": f"{base}/task/{job['id']}"}],
                                             "id": job["id"]}], "offset": 0, "totalResults": 1})
        if m.group(3) != job["id"]:
            raise Refusal(404, "NONEXISTENT_ID", f"The task {m.group(3)} does not exist.")
        task = f"{base}/task/{job['id']}"
        if m.group(4) is None:
            body = {"links": [{"rel": "related", "href": task + "/result"}, {"rel": "self", "href": task}],
                    "completed": job["done"], "id": job["id"], "progress": progress}
            if job["done"]:
                body.update(startTime=job["started"], endTime=job["ended"])
            return Response(200, body)
        if not job["done"]:
            raise Refusal(404, "NONEXISTENT_ID", f"The task {job['id']} has no result yet.")
        result = job["result"]
        return Response(result["status"], result["body"], dict(result["headers"]))

    # --- SuiteQL --------------------------------------------------------------------------------------------

    def _suiteql(self, req: Request) -> Response:
        if "transient" not in req.headers.get("prefer", ""):
            raise Refusal(400, "INVALID_PARAMETER", "SuiteQL requests must carry the header Prefer: transient.")
        try:
            q = str((req.json() or {}).get("q") or "").strip().rstrip(";")
        except ValueError:
            raise Refusal(400, "INVALID_CONTENT", "The request body is not valid JSON.") from None
        if not re.match(r"(?is)^select\b", q) or ";" in q:
            raise Refusal(400, "INVALID_PARAMETER", "Invalid search query. Only a single SELECT is supported.")
        try:
            limit = min(1000, max(1, int(req.query.get("limit", 1000))))
            offset = max(0, int(req.query.get("offset", 0)))
        except ValueError:
            raise Refusal(400, "INVALID_PARAMETER", "limit and offset must be whole numbers.") from None
        try:
            names, rows = self.books.query(q)
        except (sqlite3.Error, ValueError) as exc:
            raise Refusal(400, "INVALID_PARAMETER", "Invalid search query. Detailed unprocessed description "
                          f"follows. Search error occurred: {exc}.") from None
        page = rows[offset:offset + limit]
        items = []
        for row in page:
            item = {}
            for name, value in zip(names, row):
                if value is None:
                    continue                       # NetSuite leaves null columns out
                text = value if isinstance(value, str) else str(value)
                item[name] = _mdy(text) if name in DATE_COLUMNS else text
            item["links"] = []
            items.append(item)
        host = req.headers.get("host", "127.0.0.1")
        return Response(200, {"links": [{"rel": "self", "href": f"http://{host}{req.raw_path}"}], "count": len(items),
                              "hasMore": offset + len(items) < len(rows), "items": items, "offset": offset,
                              "totalResults": len(rows)})

    # --- records ----------------------------------------------------------------------------------------

    def _record_request(self, req: Request) -> Response:
        m = re.match(rf"^{REST}/record/v1/([A-Za-z]+)(?:/([^/!]+))?(?:/!transform/([A-Za-z]+))?/?$", req.path)
        if not m:
            raise Refusal(404, "NONEXISTENT_ID", f"The resource {req.path} does not exist.")
        rtype = RECORD_TYPES.get(m.group(1).lower())
        if rtype is None:
            raise Refusal(400, "INVALID_RCRD_TYPE", f"The record type [{m.group(1)}] is invalid.")
        key, target = m.group(2), m.group(3)
        host = req.headers.get("host", "127.0.0.1")
        if target:
            if req.method != "POST":
                raise Refusal(405, "INVALID_METHOD", "Transforms use POST.")
            return self._transform(rtype, key, RECORD_TYPES.get(target.lower(), target), req, host)
        if rtype in READ_ONLY:
            if req.method != "GET":
                raise Refusal(405, "INVALID_METHOD", f"The {rtype} record is read-only here.")
            return self._get_reference(rtype, key, host)
        if req.method == "GET":
            if key is None:
                return self._list(rtype, host)
            rid = self._resolve(rtype, key)
            return Response(200, self._render(rtype, self.state["records"][rtype][rid], host,
                                              req.query.get("fields"), req.query.get("expandSubResources") == "true"))
        if req.method == "POST" and key is None:
            body = self._body(req)
            if body.get("externalId") and body["externalId"] in self.eids[rtype]:
                raise Refusal(400, "DUP_RCRD", f"A {rtype} record with the external ID {body['externalId']} "
                              "already exists.", "externalId")
            rid = self._write(rtype, None, body, set(), req)
            return self._written(rtype, rid, host)
        if key is None:
            raise Refusal(405, "INVALID_METHOD", "Collection writes need Prefer: respond-async.")
        if req.method == "PUT":
            if not key.startswith("eid:"):
                raise Refusal(400, "INVALID_PARAMETER", "PUT (insert or update) works with an external ID only: "
                              f"/{rtype}/eid:<external id>.")
            eid = key[4:]
            if not EXTERNAL_ID.match(eid):
                raise Refusal(400, "INVALID_ID", f"The external ID {eid} contains characters that are not allowed.")
            body = self._body(req)
            if body.get("externalId") not in (None, eid):
                raise Refusal(400, "INVALID_CONTENT", "The externalId in the body differs from the one in the URL.",
                              "externalId")
            body["externalId"] = eid
            rid = self._write(rtype, self.eids[rtype].get(eid), body, self._replace(req), req)
            return self._written(rtype, rid, host)
        rid = self._resolve(rtype, key)
        if req.method == "PATCH":
            body = self._body(req)
            if body.get("externalId") and self.eids[rtype].get(body["externalId"], rid) != rid:
                raise Refusal(400, "DUP_RCRD", f"A {rtype} record with the external ID {body['externalId']} "
                              "already exists.", "externalId")
            self._write(rtype, rid, body, self._replace(req), req)
            return Response(204)
        if req.method == "DELETE":
            self._delete(rtype, rid)
            return Response(204)
        raise Refusal(405, "INVALID_METHOD", f"{req.method} is not supported here.")

    @staticmethod
    def _replace(req: Request) -> set[str]:
        return {s.strip() for s in (req.query.get("replace") or "").split(",") if s.strip()}

    @staticmethod
    def _body(req: Request) -> dict:
        try:
            body = json.loads(req.body.decode("utf-8"), parse_float=Decimal) if req.body else {}
        except ValueError:
            raise Refusal(400, "INVALID_CONTENT", "The request body is not valid JSON.") from None
        if not isinstance(body, dict):
            raise Refusal(400, "INVALID_CONTENT", "The request body must be a JSON object.")
        return body

    def _written(self, rtype: str, rid: str, host: str) -> Response:
        return Response(204, None, {"Location": f"http://{host}{REST}/record/v1/{rtype}/{rid}"})

    def _resolve(self, rtype: str, key: str) -> str:
        if key.startswith("eid:"):
            rid = self.eids[rtype].get(key[4:])
        else:
            rid = key if key in self.state["records"][rtype] else None
        if rid is None:
            raise Refusal(404, "NONEXISTENT_ID", "The record instance does not exist. Provide a valid record "
                          "instance ID.")
        return rid

    def _get_reference(self, rtype: str, key: str | None, host: str) -> Response:
        table = {"account": {i: {"id": i, "acctNumber": v[0], "acctName": v[1], "acctType": {"id": v[2]}}
                             for i, v in ACCOUNTS.items()},
                 "currency": {i: {"id": i, "symbol": c, "name": c} for i, c in CURRENCIES.items()},
                 "subsidiary": {i: {"id": i, "name": v["name"], "currency": {"id": v["currency"]}}
                                for i, v in SUBSIDIARIES.items()}}
        if rtype in ITEM_TYPES:
            rows = {i: {"id": i, "itemId": v["itemid"], "externalId": v["externalid"],
                        "incomeAccount": {"id": v["account"]}} for i, v in ITEMS.items() if v["type"] == rtype}
        else:
            rows = table[rtype]
        if key is None:
            return Response(200, {"count": len(rows), "hasMore": False, "offset": 0, "totalResults": len(rows),
                                  "items": [{"id": i, "links": []} for i in rows], "links": []})
        if key.startswith("eid:"):
            key = next((i for i, r in rows.items() if r.get("externalId") == key[4:]), "")
        if key not in rows:
            raise Refusal(404, "NONEXISTENT_ID", "The record instance does not exist. Provide a valid record "
                          "instance ID.")
        return Response(200, {**rows[key], "links": [{"rel": "self", "href": f"http://{host}{REST}/record/v1/"
                                                                             f"{rtype}/{key}"}]})

    def _list(self, rtype: str, host: str) -> Response:
        ids = sorted(self.state["records"][rtype], key=int)
        return Response(200, {"links": [], "count": len(ids), "hasMore": False, "offset": 0, "totalResults": len(ids),
                              "items": [{"id": i, "links": [{"rel": "self", "href": f"http://{host}{REST}/record/v1/"
                                                                                   f"{rtype}/{i}"}]} for i in ids]})

    # --- reading: references as NetSuite returns them ---------------------------------------------------

    def _render(self, rtype: str, rec: dict, host: str, fields: str | None, expand: bool) -> dict:
        link = lambda t, i: [{"rel": "self", "href": f"http://{host}{REST}/record/v1/{t}/{i}"}]
        out: dict[str, Any] = {"links": link(rtype, rec["id"]), "id": rec["id"]}
        spec = FIELDS[rtype]
        for name, value in rec.items():
            if name in ("id", "status"):
                continue
            kind = spec.get(name)
            if isinstance(kind, dict):
                if expand:
                    out[name] = {"items": [self._render_line(kind, line) for line in value], "links": []}
                else:
                    out[name] = {"links": link(rtype, f"{rec['id']}/{name}")}
            else:
                out[name] = self._render_value(kind, value)
        if rtype in TRANSACTIONS:
            total = self._total(rtype, rec)
            out["total"] = float(total)
            if rtype == "invoice":
                remaining = self._remaining(rec["id"])
                out.update(amountRemaining=float(remaining), amountPaid=float(total - remaining),
                           status={"id": "open" if remaining else "paidInFull",
                                   "refName": "Open" if remaining else "Paid In Full"})
        if fields:
            wanted = {f.strip() for f in fields.split(",")} | {"links", "id"}
            out = {k: v for k, v in out.items() if k in wanted}
        return out

    def _render_line(self, spec: dict, line: dict) -> dict:
        return {name: self._render_value(spec.get(name), value) for name, value in line.items()}

    def _render_value(self, kind: Any, value: Any) -> Any:
        """A reference as {"id", "refName"}, money as a JSON number, anything else as stored."""
        if isinstance(kind, str) and kind.startswith("ref:") and value is not None:
            return {"id": value, "refName": self._ref_name(kind[4:], value)}
        if kind == "money" and value is not None:
            return float(value)
        return value

    def _ref_name(self, kind: str, rid: str) -> str:
        if kind == "item":
            return ITEMS.get(rid, {}).get("itemid", rid)
        if kind == "account":
            return ACCOUNTS.get(rid, ("", rid))[1]
        if kind == "currency":
            return CURRENCIES.get(rid, rid)
        if kind == "subsidiary":
            return SUBSIDIARIES.get(rid, {}).get("name", rid)
        if kind == "customer":
            return self.state["records"]["customer"].get(rid, {}).get("companyName", rid)
        rtype = self.kind_of.get(rid)
        return self.state["records"][rtype][rid].get("tranId", rid) if rtype else rid

    # --- writing ----------------------------------------------------------------------------------------

    def _ref(self, kind: str, value: Any, path: str) -> str:
        """The internal id a reference names ({"id"} or {"externalId"}, or a bare id)."""
        if isinstance(value, dict):
            rid, eid = value.get("id"), value.get("externalId")
        else:
            rid, eid = value, None
        rid = str(rid) if rid not in (None, "") else None
        found = None
        if kind == "item":
            if rid in ITEMS:
                found = rid
            elif eid is not None:
                found = next((i for i, v in ITEMS.items() if v["externalid"] == str(eid)), None)
        elif kind == "account":
            found = rid if rid in ACCOUNTS else None
        elif kind == "currency":
            found = rid if rid in CURRENCIES else None
        elif kind == "subsidiary":
            found = rid if rid in SUBSIDIARIES else None
        elif kind == "customer":
            if rid in self.state["records"]["customer"]:
                found = rid
            elif eid is not None:
                found = self.eids["customer"].get(str(eid))
        elif kind == "transaction":
            if rid in self.kind_of and self.kind_of[rid] in TRANSACTIONS:
                found = rid
        if found is None:
            shown = rid if rid is not None else f"externalId {eid}"
            raise Refusal(400, "INVALID_KEY_OR_REF", f"Invalid {kind} reference key {shown}.", path)
        return found

    def _normalize(self, spec: dict, body: dict, path: str, strict: bool) -> dict:
        out: dict[str, Any] = {}
        for name, value in body.items():
            where = f"{path}{name}"
            kind = spec.get(name)
            if kind is None:
                if CUSTOM.match(name) or not strict:
                    out[name] = value if not isinstance(value, Decimal) else format(value, "f")
                    continue
                raise Refusal(400, "INVALID_CONTENT", f"Invalid content in the request body: the property "
                              f"'{name}' does not exist on this record.", where)
            if isinstance(kind, dict):
                items = value.get("items") if isinstance(value, dict) else None
                if not isinstance(items, list):
                    raise Refusal(400, "INVALID_CONTENT", f"The sublist {name} must be written as {{\"items\": "
                                  "[...]}}.", where)
                out[name] = [self._normalize(kind, line if isinstance(line, dict) else {}, f"{where}.items[{n}].",
                                             strict) for n, line in enumerate(items)]
            elif value is None:
                out[name] = None
            elif kind.startswith("ref:"):
                out[name] = self._ref(kind[4:], value, where)
            elif kind == "money" or kind == "number":
                out[name] = format(_money(value, where), "f")
            elif kind == "date":
                try:
                    out[name] = dt.date.fromisoformat(str(value)[:10]).isoformat()
                except ValueError:
                    raise Refusal(400, "INVALID_FLD_VALUE", f"Invalid date value {value!r} (use YYYY-MM-DD).",
                                  where) from None
            elif kind == "bool":
                out[name] = bool(value)
            else:
                out[name] = str(value)
        return out

    def _write(self, rtype: str, rid: str | None, body: dict, replace: set[str], req: Request) -> str:
        strict = req.headers.get("x-netsuite-propertynamevalidation", "warning").lower() == "error"
        fields = self._normalize(FIELDS[rtype], body, "", strict)
        existing = self.state["records"][rtype].get(rid) if rid else None
        if existing is None:
            rec = {"createdDate": _now_iso()}
        else:
            rec = copy.deepcopy(existing)
            if rtype in TRANSACTIONS and self._closed(existing["tranDate"]):
                raise self._closed_refusal(existing["tranDate"])
        for name, value in fields.items():
            kind = FIELDS[rtype].get(name)
            if isinstance(kind, dict) and existing is not None and name not in replace and rec.get(name):
                if name in KEYED:
                    merged = {line.get("doc"): line for line in rec[name]}
                    for line in value:
                        merged[line.get("doc")] = {**merged.get(line.get("doc"), {}), **line}
                    rec[name] = list(merged.values())
                else:
                    rec[name] = rec[name] + value         # a non-keyed sublist is appended to
            else:
                rec[name] = value
        new_id = rid or self._next_id()
        rec["id"] = new_id
        self._validate(rtype, rec)
        if existing is not None:
            self._index_applications(rtype, existing, add=False)
            old_eid = existing.get("externalId")
            if old_eid and self.eids[rtype].get(old_eid) == new_id:
                del self.eids[rtype][old_eid]
        if rtype in TRANSACTIONS and not rec.get("tranId"):
            seq = self.state["tran_seq"].get(rtype, 1)
            self.state["tran_seq"][rtype] = seq + 1
            rec["tranId"] = f"{TRAN_PREFIX[rtype]}{seq}"
        self.state["records"][rtype][new_id] = rec
        self.kind_of[new_id] = rtype
        if rec.get("externalId"):
            self.eids[rtype][rec["externalId"]] = new_id
        self._index_applications(rtype, rec, add=True)
        self._reindex_around(rtype, rec, existing)
        self.save_state()
        return new_id

    def _next_id(self) -> str:
        self.state["next_id"] += 1
        return str(self.state["next_id"])

    def _delete(self, rtype: str, rid: str) -> None:
        rec = self.state["records"][rtype][rid]
        if rtype in TRANSACTIONS:
            if self._closed(rec["tranDate"]):
                raise self._closed_refusal(rec["tranDate"])
            if self.applied.get(rid) or self.credited.get(rid):
                raise Refusal(400, "USER_ERROR", "This record cannot be deleted because it has dependent records: "
                              "payments or credits are applied to it.")
        elif rtype == "customer" and any(r.get("entity") == rid or r.get("customer") == rid
                                         for t in TRANSACTIONS for r in self.state["records"][t].values()):
            raise Refusal(400, "USER_ERROR", "This record cannot be deleted because it has dependent records.")
        self._index_applications(rtype, rec, add=False)
        del self.state["records"][rtype][rid]
        self.kind_of.pop(rid, None)
        if rec.get("externalId") and self.eids[rtype].get(rec["externalId"]) == rid:
            del self.eids[rtype][rec["externalId"]]
        self.books.drop(rid)
        self._reindex_around(rtype, None, rec)
        self.save_state()

    def _transform(self, rtype: str, key: str | None, target: str, req: Request, host: str) -> Response:
        if rtype != "invoice" or target != "creditMemo" or key is None:
            raise Refusal(400, "INVALID_PARAMETER", f"The transform of {rtype} into {target} is not supported here.")
        rid = self._resolve("invoice", key)
        invoice = self.state["records"]["invoice"][rid]
        body = self._body(req)
        if body.get("externalId") and body["externalId"] in self.eids["creditMemo"]:
            raise Refusal(400, "DUP_RCRD", f"A creditMemo record with the external ID {body['externalId']} already "
                          "exists.", "externalId")
        remaining = self._remaining(rid)
        lines = [{k: v for k, v in line.items() if k in ("item", "description", "quantity", "amount")}
                 for line in invoice.get("item", [])]
        memo: dict[str, Any] = {"entity": {"id": invoice["entity"]}, "currency": {"id": invoice["currency"]},
                                "subsidiary": {"id": invoice["subsidiary"]}, "tranDate": invoice["tranDate"],
                                "item": {"items": [{**l, "item": {"id": l["item"]}} for l in lines]}}
        total = self._total("invoice", invoice)
        if remaining > 0:
            memo["apply"] = {"items": [{"doc": {"id": rid}, "apply": True, "amount": str(min(total, remaining))}]}
        memo.update(body)
        new_id = self._write("creditMemo", None, memo, set(), req)
        return self._written("creditMemo", new_id, host)

    # --- rules --------------------------------------------------------------------------------------------

    def _closed(self, day: str) -> bool:
        return _period(day) in self.state["closed_periods"]

    def _closed_refusal(self, day: str) -> Refusal:
        name = _period_name(_period(day))
        return Refusal(400, "USER_ERROR", f"The accounting period {name} is closed: a transaction dated {day} cannot "
                       "be posted, changed or deleted in it.", "tranDate")

    def _total(self, rtype: str, rec: dict) -> Decimal:
        if rtype in ("invoice", "creditMemo"):
            return sum((_d(l.get("amount")) for l in rec.get("item", [])), Decimal(0))
        if rtype == "customerPayment":
            return _d(rec.get("payment"))
        return sum((_d(l.get("debit")) for l in rec.get("line", [])), Decimal(0))

    def _receivable(self, rid: str) -> Decimal:
        """What a document put on the customer's receivable (debit positive)."""
        rtype = self.kind_of.get(rid)
        rec = self.state["records"][rtype][rid] if rtype else {}
        if rtype == "invoice":
            return self._total(rtype, rec)
        if rtype == "creditMemo":
            return -self._total(rtype, rec)
        if rtype == "journalEntry":
            return sum((_d(l.get("debit")) - _d(l.get("credit")) for l in rec.get("line", [])
                        if l.get("account") == AR_ACCOUNT), Decimal(0))
        return Decimal(0)

    def _remaining(self, rid: str, exclude: str | None = None) -> Decimal:
        """Open on a debit document (invoice, journal entry debiting the receivable) after what is applied to it."""
        applied = sum((a for r, a in self.applied.get(rid, {}).items() if r != exclude), Decimal(0))
        return max(Decimal(0), self._receivable(rid)) - applied

    def _unused_credit(self, rid: str, exclude: str | None = None) -> Decimal:
        """Left of a credit document (credit memo, journal entry crediting the receivable) after its own
        applications and the payments that use it."""
        used = sum((a for r, a in self.credited.get(rid, {}).items() if r != exclude), Decimal(0))
        rtype = self.kind_of.get(rid)
        if rtype == "creditMemo":
            rec = self.state["records"][rtype][rid]
            used += sum((_d(l.get("amount")) for l in rec.get("apply", []) if l.get("apply", True)), Decimal(0))
        return max(Decimal(0), -self._receivable(rid)) - used

    def _validate(self, rtype: str, rec: dict) -> None:
        customers = self.state["records"]["customer"]
        if rtype == "customer":
            rec.setdefault("subsidiary", "1")
            rec.setdefault("currency", SUBSIDIARIES[rec["subsidiary"]]["currency"])
            if not rec.get("companyName") and not rec.get("isPerson"):
                raise Refusal(400, "USER_ERROR", "Please enter value(s) for: Company Name", "companyName")
            return
        party_field = "customer" if rtype == "customerPayment" else "entity"
        party = rec.get(party_field)
        if rtype != "journalEntry":
            if not party:
                raise Refusal(400, "USER_ERROR", f"Please enter value(s) for: {party_field}", party_field)
            customer = customers[party]
            rec.setdefault("currency", customer["currency"])
            rec.setdefault("subsidiary", customer["subsidiary"])
            if rec["currency"] != customer["currency"]:
                raise Refusal(400, "USER_ERROR", f"The currency {CURRENCIES[rec['currency']]} is not a currency of "
                              f"customer {customer.get('companyName')} ({CURRENCIES[customer['currency']]}).",
                              "currency")
            if rec["subsidiary"] != customer["subsidiary"]:
                raise Refusal(400, "USER_ERROR", "The subsidiary differs from the customer's subsidiary.", "subsidiary")
        rec.setdefault("subsidiary", "1")
        rec.setdefault("currency", SUBSIDIARIES[rec["subsidiary"]]["currency"])
        rec.setdefault("tranDate", dt.date.today().isoformat())
        if self._closed(rec["tranDate"]):
            raise self._closed_refusal(rec["tranDate"])
        own = rec["id"]
        if rtype in ("invoice", "creditMemo"):
            lines = rec.get("item") or []
            if not lines:
                raise Refusal(400, "USER_ERROR", "You must enter at least one line item for this transaction.", "item")
            for n, line in enumerate(lines):
                if not line.get("item"):
                    raise Refusal(400, "USER_ERROR", "Please enter value(s) for: Item", f"item.items[{n}].item")
                if line.get("amount") is None:
                    line["amount"] = format(_d(line.get("rate")) * _d(line.get("quantity") or 1), "f")
        if rtype == "invoice" and self.unique_tran_ids and rec.get("tranId"):
            for other in self.state["records"]["invoice"].values():
                if other["id"] != own and other.get("tranId") == rec["tranId"]:
                    raise Refusal(400, "USER_ERROR", f"The transaction number {rec['tranId']} is already used by "
                                  f"invoice {other['id']}.", "tranId")
        if rtype == "journalEntry":
            lines = rec.get("line") or []
            if len(lines) < 2:
                raise Refusal(400, "USER_ERROR", "A journal entry needs at least two lines.", "line")
            debit = sum((_d(l.get("debit")) for l in lines), Decimal(0))
            credit = sum((_d(l.get("credit")) for l in lines), Decimal(0))
            if debit != credit:
                raise Refusal(400, "USER_ERROR", f"The transaction is out of balance: debits {debit}, credits "
                              f"{credit}.", "line")
            for n, l in enumerate(lines):
                if not l.get("account"):
                    raise Refusal(400, "USER_ERROR", "Please enter value(s) for: Account", f"line.items[{n}].account")
                if l.get("account") == AR_ACCOUNT and not l.get("entity"):
                    raise Refusal(400, "USER_ERROR", "A line on Accounts Receivable needs a customer (Name).",
                                  f"line.items[{n}].entity")
        if rtype == "customerPayment" and not rec.get("account") and not rec.get("undepFunds"):
            raise Refusal(400, "USER_ERROR", "Please enter value(s) for: Account", "account")
        # credits a payment uses (credit memos, journal entries crediting the receivable), then the documents it
        # pays; an apply line without an amount gets what is open on the document, at most what is left to apply
        credits = Decimal(0)
        for n, line in enumerate(rec.get("credit") or []):
            if not line.get("apply", True):
                continue
            doc = line.get("doc")
            unused = self._unused_credit(doc, exclude=own) if doc else Decimal(0)
            amount = _d(line.get("amount")) if line.get("amount") is not None else unused
            if not doc or self._party(doc) != party or amount < 0 or amount > unused:
                raise Refusal(400, "USER_ERROR", f"The credit {doc} cannot be applied for {amount} (unused: "
                              f"{unused}).", f"credit.items[{n}]")
            line["amount"] = format(amount, "f")
            credits += amount
        available = (self._total(rtype, rec) if rtype == "creditMemo"
                     else _d(rec.get("payment")) + credits if rtype == "customerPayment" else Decimal(0))
        lines = [(n, l) for n, l in enumerate(rec.get("apply") or []) if l.get("apply", True)]
        applied_total = Decimal(0)
        for n, line in sorted(lines, key=lambda nl: nl[1].get("amount") is None):
            doc = line.get("doc")
            where = f"apply.items[{n}]"
            if not doc or self._party(doc) != party:
                raise Refusal(400, "USER_ERROR", f"The document {doc} is not open for this customer.", where + ".doc")
            remaining = self._remaining(doc, exclude=own)
            if line.get("amount") is None:
                amount = max(Decimal(0), min(remaining, available - applied_total))
                line["amount"] = format(amount, "f")
            amount = _d(line.get("amount"))
            if amount < 0 or amount > remaining:
                raise Refusal(400, "USER_ERROR", f"The amount applied to {self._ref_name('transaction', doc)} "
                              f"({amount}) exceeds its amount remaining ({remaining}).", where + ".amount")
            applied_total += amount
        if rtype in ("creditMemo", "customerPayment") and applied_total > available:
            raise Refusal(400, "USER_ERROR", f"The amount applied ({applied_total}) exceeds the "
                          + ("credit memo's total" if rtype == "creditMemo" else "payment and the credits used")
                          + f" ({available}).", "apply")

    def _party(self, rid: str) -> str | None:
        rtype = self.kind_of.get(rid)
        if rtype is None:
            return None
        rec = self.state["records"][rtype][rid]
        if rtype == "journalEntry":
            return next((l.get("entity") for l in rec.get("line", []) if l.get("account") == AR_ACCOUNT), None)
        return rec.get("customer") or rec.get("entity")

    # --- derived indexes ----------------------------------------------------------------------------------

    def _index_applications(self, rtype: str, rec: dict, *, add: bool) -> None:
        if rtype not in ("creditMemo", "customerPayment"):
            return
        for sublist, index in (("apply", self.applied), ("credit", self.credited)):
            for line in rec.get(sublist, []):
                doc = line.get("doc")
                if not doc or not line.get("apply", True):
                    continue
                if add:
                    index.setdefault(doc, {})[rec["id"]] = _d(line.get("amount"))
                else:
                    index.get(doc, {}).pop(rec["id"], None)

    def _reindex_around(self, rtype: str, rec: dict | None, old: dict | None) -> None:
        """The SuiteQL rows of a written (or deleted) record and of the documents its applications touch."""
        if rec is not None:
            self._index_books(rtype, rec)
        touched = set()
        for r in (rec, old):
            for sublist in ("apply", "credit"):
                touched |= {l.get("doc") for l in (r or {}).get(sublist, []) if l.get("doc")}
        for doc in touched:
            dtype = self.kind_of.get(doc)
            if dtype:
                self._index_books(dtype, self.state["records"][dtype][doc])

    def _index_books(self, rtype: str, rec: dict) -> None:
        if rtype == "customer":
            self.books.put_customer(rec)
            return
        total = self._total(rtype, rec)
        entity = rec.get("customer") or rec.get("entity")
        lines: list[tuple[str, str | None, str | None, Decimal, str | None]] = []
        unpaid: Decimal | None = None
        status = None
        if rtype == "invoice":
            lines.append((AR_ACCOUNT, entity, None, total, rec.get("memo")))
            lines += [(ITEMS[l["item"]]["account"], entity, l["item"], -_d(l.get("amount")), l.get("description"))
                      for l in rec.get("item", [])]
            unpaid = self._remaining(rec["id"])
            status = "A" if unpaid else "B"                # Open / Paid In Full
        elif rtype == "creditMemo":
            lines.append((AR_ACCOUNT, entity, None, -total, rec.get("memo")))
            lines += [(ITEMS[l["item"]]["account"], entity, l["item"], _d(l.get("amount")), l.get("description"))
                      for l in rec.get("item", [])]
            unpaid = self._unused_credit(rec["id"])
        elif rtype == "customerPayment":
            account = rec.get("account") or UNDEPOSITED
            lines.append((account, entity, None, total, rec.get("memo")))
            lines.append((AR_ACCOUNT, entity, None, -total, rec.get("memo")))
        else:
            for l in rec.get("line", []):
                lines.append((l["account"], l.get("entity"), None, _d(l.get("debit")) - _d(l.get("credit")),
                              l.get("memo")))
            receivable = self._receivable(rec["id"])
            unpaid = self._remaining(rec["id"]) if receivable > 0 else self._unused_credit(rec["id"])
        self.books.put_transaction(rtype, rec, unpaid, total, lines)


def _now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


SANDBOX = NetSuiteSandbox
