"""The Tryton ERP provider: a real Tryton server reached over JSON-RPC with session auth (SPEC §5).

Owns the mapping to Tryton: customers are parties (code = Orb customer id), invoices are posted customer
invoices (reference = Orb invoice id), credit memos are negative customer invoices whose lines point at the
invoice lines they credit and which are applied to the invoice, payments go through the pay wizard
(description = Orb payment id), voids are cancellations. Creates and posts are batched (many records per
RPC); tax and the customer balance Orb applied are manual tax lines, so every invoice posts in one step.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import urllib.parse
import weakref
from decimal import Decimal
from typing import Any, ClassVar, Sequence

from ... import redact
from ..payloads import (CASH, CUSTOMER_BALANCE, RECEIVABLE, BalanceTransactionPayload, CreditMemoPayload,
                        CustomerPayload, InvoicePayload, PaymentPayload, RevenueJournalPayload)
from ..settings import Field
from .base import (BALANCE_TRANSACTION, CREDIT_MEMO, CUSTOMER, INVOICE, PAYMENT, REVENUE_JOURNAL, BalanceLine,
                   Outcome, Provider, ProviderError, ProviderUnavailable, Removal)
from .http import Auth, HttpTransport, RetryPolicy, excerpt

READ_ONLY = ("search", "read", "search_read", "search_count", "get_preferences", "common.db.login",
             "common.server.version", "fields_get")
# What the provider's defaults refer to: codes of Tryton's universal chart of accounts (the local server,
# tryton_server.py, creates the customer-balance account) and the names of the payment methods.
ACCOUNTS = {"receivable": "1.2.1", "revenue": "4.2.2", "adjustments": "4.3.3", "tax": "2.2.3",
            "customer_balance": "2.2.5", "cash": "1.1.1", "balance_adjustments": "4.3.2",
            # revenue recognition from the warehouse (SPEC §5.2; tryton_server.py creates the Orb ones)
            "deferred_revenue": "2.2.2", "unbilled_revenue": "1.4.2", "usage": "4.2.3", "credit_consumption": "4.2.4",
            "credit_breakage": "4.2.5", "credit_notes": "4.3.4"}
# accounts only a warehouse-recognition setup needs (absent in an invoice-mode chart: not an error there)
RECOGNITION_ACCOUNTS = ("deferred_revenue", "unbilled_revenue", "usage", "credit_consumption", "credit_breakage",
                        "credit_notes")
# The balance kind each account reads back as (reconcile), and whether it is credit-positive. Tryton books credit
# memo lines on the revenue account, so revenue reads back net of credit notes.
ACCOUNT_KINDS = {"receivable": ("receivable", False), "customer_balance": ("customer_balance", True),
                 "cash": ("cash", False), "revenue": ("revenue", True), "adjustments": ("adjustments", True),
                 "tax": ("tax", True), "balance_adjustments": ("balance_adjustments", False),
                 "deferred_revenue": ("deferred_revenue", True), "unbilled_revenue": ("unbilled_revenue", False),
                 "usage": ("recognized", True), "credit_consumption": ("recognized", True),
                 "credit_breakage": ("recognized", True), "credit_notes": ("recognized", True)}
PAYMENT_METHOD = "Orb payment"
BALANCE_PAYMENT_METHOD = "Orb customer balance"


class TrytonError(ProviderError):
    """A Tryton UserError or server-side exception: final for the record."""


class TrytonWarning(ProviderError):
    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


# --- JSON-RPC -----------------------------------------------------------------------------------------

class _Encoder(json.JSONEncoder):
    def default(self, o):
        if isinstance(o, Decimal):
            return {"__class__": "Decimal", "decimal": str(o)}
        if isinstance(o, dt.datetime):
            return {"__class__": "datetime", "year": o.year, "month": o.month, "day": o.day, "hour": o.hour,
                    "minute": o.minute, "second": o.second, "microsecond": o.microsecond}
        if isinstance(o, dt.date):
            return {"__class__": "date", "year": o.year, "month": o.month, "day": o.day}
        return super().default(o)


def _hook(d: dict) -> Any:
    kind = d.get("__class__")
    if kind == "Decimal":
        return Decimal(d["decimal"])
    if kind == "date":
        return dt.date(d["year"], d["month"], d["day"])
    if kind == "datetime":
        return dt.datetime(d["year"], d["month"], d["day"], d["hour"], d["minute"], d["second"], d["microsecond"])
    return d


class _SessionAuth(Auth):
    """Tryton's session authentication: `Session base64(user:uid:token)`, renewed by logging in again."""

    def __init__(self, rpc: "JsonRpc"):
        self.rpc = weakref.proxy(rpc)       # no reference cycle: a dropped client closes its connection at once

    def apply(self, request) -> None:
        if self.rpc.session_header:
            request.headers["Authorization"] = self.rpc.session_header

    def refresh(self) -> None:
        self.rpc.login()


class JsonRpc:
    """Tryton's JSON-RPC at `<url>/<database>/rpc/`, session-authenticated, on the shared HTTP transport
    (http.py: backoff on busy answers, a lost write never re-sent). Tryton's own "busy" answers (a locked
    SQLite database, a concurrency error) are retried here too."""

    def __init__(self, url: str, database: str, user: str, password: str, *, timeout: float = 120,
                 retries: int = 4, backoff: float = 0.5):
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ProviderError(f"tryton url must look like http://127.0.0.1:8000, got {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        self.url = f"{parts.scheme}://{parts.hostname}:{port}"
        self.path = f"/{urllib.parse.quote(database)}/rpc/"
        self.database, self.user, self._password = database, user, password
        self.retries, self.backoff = max(1, int(retries)), backoff
        redact.register(password)
        self.session_header: str | None = None
        self.transport = HttpTransport(self.url, service=f"Tryton at {self.url}", timeout=timeout,
                                       policy=RetryPolicy(retries=self.retries, backoff=backoff),
                                       auth=_SessionAuth(self), headers={"Content-Type": "application/json"})

    @property
    def calls(self) -> int:
        return self.transport.requests

    def close(self) -> None:
        self.transport.close()

    def login(self) -> None:
        result = self._post("common.db.login", [self.user, {"password": self._password}], auth=False)
        uid, token = result[0], result[1]
        redact.register(str(token))
        self.session_header = "Session " + base64.b64encode(f"{self.user}:{uid}:{token}".encode()).decode()
        redact.register(self.session_header.split(" ", 1)[1])
        self.uid = uid

    def call(self, method: str, *params: Any) -> Any:
        return self._post(method, list(params))

    def _post(self, method: str, params: list, auth: bool = True) -> Any:
        read_only = method.endswith(READ_ONLY) or method in READ_ONLY
        body = json.dumps({"id": 0, "method": method, "params": params}, cls=_Encoder)
        delay, last = self.backoff, ""
        for attempt in range(self.retries + 1):
            if attempt:
                self.transport.sleep(delay)
                delay *= 2
            resp = self.transport.request("POST", self.path, content=body, idempotent=read_only,
                                          authenticate=auth, what=method)
            if resp.status_code in (401, 403):
                raise ProviderUnavailable(f"Tryton at {self.url} refused user {self.user!r} on database "
                                          f"{self.database!r} (HTTP {resp.status_code}): check the password variable")
            if resp.status_code != 200:
                raise ProviderUnavailable(f"Tryton at {self.url} answered HTTP {resp.status_code} to {method}: "
                                          f"{excerpt(resp)}")
            answer = json.loads(resp.content, object_hook=_hook)
            if "error" not in answer:
                return answer.get("result")
            error = answer["error"]
            kind = error[0] if isinstance(error, (list, tuple)) and error else str(error)
            detail = error[1] if isinstance(error, (list, tuple)) and len(error) > 1 else ""
            if kind == "UserError":
                message, description = detail[0], detail[1] if len(detail) > 1 else ""
                raise TrytonError(redact.redact(f"{message}" + (f" {description}" if description else "")))
            if kind == "UserWarning":
                raise TrytonWarning(detail[0], redact.redact(detail[1]))
            if kind == "ConcurrencyException" or "database is locked" in str(kind):
                last = f"Tryton busy on {method}: {kind}"
                continue
            raise TrytonError(redact.redact(f"Tryton server error on {method}: {kind}"))
        raise ProviderUnavailable(last or f"Tryton at {self.url} kept failing")


# --- the provider -----------------------------------------------------------------------------------

class TrytonProvider(Provider):
    name: ClassVar[str] = "tryton"
    SETTINGS: ClassVar[dict[str, Field]] = {
        "url": Field("url", "http://127.0.0.1:8000", "the Tryton server"),
        "database": Field("str", "orb"),
        "user": Field("str", "admin"),
        "password_env": Field("env", "TRYTON_PASSWORD", "the NAME of the environment variable holding the password",
                              required=True),
        "timeout": Field("number", 120.0, minimum=1),
        "retries": Field("int", 4, minimum=0),
        "backoff": Field("number", 0.5, minimum=0),
        "batch_size": Field("int", 50, "invoices per create/post call", minimum=1),
        "accounts": Field("section", fields={k: Field("str", v) for k, v in ACCOUNTS.items()}),
        "payment_method": Field("str", PAYMENT_METHOD),
        "balance_payment_method": Field("str", BALANCE_PAYMENT_METHOD),
    }

    def __init__(self, settings=None, *, context=None):
        from ..settings import secret_from_env

        super().__init__(settings, context=context)
        config = self.settings
        self._password = secret_from_env(config, "password", "tryton") or ""
        self.rpc = JsonRpc(config["url"], config["database"], config["user"], self._password,
                           timeout=config["timeout"], retries=config["retries"], backoff=config["backoff"])
        self.batch_size = config["batch_size"]
        self.codes = dict(config["accounts"])
        self.payment_method_name = config["payment_method"]
        self.balance_method_name = config["balance_payment_method"]
        self.rpc.login()
        self.ctx = self.rpc.call("model.res.user.get_preferences", True, {})
        self._resolve()

    def secrets(self) -> list[str]:
        return [self._password] if self._password else []

    def close(self) -> None:
        self.rpc.close()

    # --- setup -----------------------------------------------------------------------------------

    def _m(self, model: str, method: str, *params: Any) -> Any:
        return self.rpc.call(f"model.{model}.{method}", *params, self.ctx)

    def _resolve(self) -> None:
        accounts = self._m("account.account", "search_read",
                           [("code", "in", list(self.codes.values())), ("closed", "!=", True)], 0, None, None, ["code"])
        by_code = {a["code"]: a["id"] for a in accounts}
        optional = {"cash"} | (set(RECOGNITION_ACCOUNTS) if self.context.revenue_recognition != "warehouse" else set())
        missing = [f"{k} ({c})" for k, c in self.codes.items() if c not in by_code and k not in optional]
        if missing:
            raise ProviderError(f"Tryton has no open account with code {', '.join(missing)}; set tryton.accounts")
        self.account = {k: by_code.get(c) for k, c in self.codes.items()}
        rows = self._m("currency.currency", "search_read", [], 0, None, None, ["code", "digits"])
        self.currencies = {c["code"]: c["id"] for c in rows}
        self.digits = {c["code"]: c["digits"] for c in rows}
        journal = self._m("account.journal", "search", [("type", "=", "revenue")], 0, 1, None)
        if not journal:
            raise ProviderError("Tryton has no revenue journal")
        self.journal = journal[0]
        misc = (self._m("account.journal", "search", [("type", "=", "general")], 0, 1, None)
                or self._m("account.journal", "search", [("type", "=", "cash")], 0, 1, None))
        self.misc_journal = misc[0]
        methods = {m["name"]: m for m in self._m("account.invoice.payment.method", "search_read",
                                                 [("name", "in", [self.payment_method_name, self.balance_method_name])],
                                                 0, None, None, ["name", "journal"])}
        if self.payment_method_name not in methods:
            raise ProviderError(f"Tryton has no payment method {self.payment_method_name!r}; set tryton.payment_method")
        self.payment_method = methods[self.payment_method_name]["id"]
        self.payment_journal = methods[self.payment_method_name]["journal"]
        self.balance_method = methods.get(self.balance_method_name, {}).get("id")

    def _currency(self, code: str) -> int:
        try:
            return self.currencies[code]
        except KeyError:
            raise ProviderError(f"Tryton has no currency {code}: create it (with a rate) first") from None

    def _money(self, amount: Decimal, currency: str) -> Decimal:
        """An amount in the currency's digits (Tryton refuses more); Orb amounts are already rounded to them."""
        self._currency(currency)
        exp = Decimal(1).scaleb(-int(self.digits.get(currency, 2)))
        q = amount.quantize(exp)
        if q != amount:
            raise ProviderError(f"amount {amount} has more decimals than {currency} allows")
        return q

    def _with_warnings(self, fn, *args):
        """Run a call; a Tryton user warning (e.g. a date in the future) is accepted, as Orb's data is the
        source of truth, and the call made again."""
        for _ in range(5):
            try:
                return fn(*args)
            except TrytonWarning as w:
                self._m("res.user.warning", "create", [{"user": self.rpc.uid, "name": w.name, "always": False}])
        return fn(*args)

    # --- Provider: lookups ---------------------------------------------------------------------

    def find(self, object_type: str, orb_ids: Sequence[str]) -> dict[str, str]:
        ids = list(orb_ids)
        if not ids:
            return {}
        if object_type == CUSTOMER:
            rows = self._m("party.party", "search_read", [("code", "in", ids)], 0, None, None, ["code"])
            return {r["code"]: str(r["id"]) for r in rows}
        if object_type in (INVOICE, CREDIT_MEMO):
            rows = self._m("account.invoice", "search_read",
                           [("reference", "in", ids), ("type", "=", "out"), ("state", "in", ["posted", "paid"])],
                           0, None, None, ["reference"])
            return {r["reference"]: str(r["id"]) for r in rows}
        if object_type == PAYMENT:
            return {k: str(v) for k, v in self._payment_moves(ids).items()}
        if object_type in (BALANCE_TRANSACTION, REVENUE_JOURNAL):
            return {k: str(v) for k, v in self._live_moves(ids, [("journal", "=", self.misc_journal)]).items()}
        raise ValueError(object_type)

    def _payment_moves(self, orb_ids: Sequence[str]) -> dict[str, int]:
        """Live payment moves by Orb payment id (a move with a cancelling move does not count)."""
        return self._live_moves(orb_ids, [("origin", "like", "account.invoice,%")])

    def _live_moves(self, descriptions: Sequence[str], domain: list) -> dict[str, int]:
        """Posted moves by description (the Orb id they carry) that no cancelling move reverses."""
        rows = self._m("account.move", "search_read",
                       [("description", "in", list(descriptions)), ("state", "=", "posted"), *domain],
                       0, None, None, ["description"])
        if not rows:
            return {}
        cancelled = self._m("account.move", "search_read",
                            [("origin", "in", [f"account.move,{r['id']}" for r in rows])], 0, None, None, ["origin"])
        dead = {int(c["origin"].split(",")[1]) for c in cancelled}
        return {r["description"]: r["id"] for r in rows if r["id"] not in dead}

    def check_customer(self, provider_customer_id: str) -> str:
        text = provider_customer_id.strip()
        if text.isdigit():
            rows = self._m("party.party", "search", [("id", "=", int(text))], 0, 1, None)
        else:
            rows = self._m("party.party", "search", [("code", "=", text)], 0, 1, None)
        if not rows:
            raise ProviderError(f"no Tryton party with id or code {text!r}")
        return str(rows[0])

    # --- Provider: creates ---------------------------------------------------------------------

    def create(self, object_type: str, payloads: Sequence[Any]) -> list[Outcome]:
        if not payloads:
            return []
        handler = {CUSTOMER: self._create_customers, INVOICE: self._create_invoices,
                   CREDIT_MEMO: self._create_memos, PAYMENT: self._create_payments,
                   BALANCE_TRANSACTION: self._create_balances, REVENUE_JOURNAL: self._create_journals}[object_type]
        return handler(list(payloads))

    def _create_many(self, model: str, payloads: list, values: list[dict]) -> list[Outcome]:
        """`model.create` of all the values in one call; when Tryton refuses the batch, one by one, so a
        bad record fails alone with Tryton's message."""
        try:
            ids = self._with_warnings(self._m, model, "create", values)
            return [Outcome(p.orb_id, str(i)) for p, i in zip(payloads, ids)]
        except TrytonError:
            if len(values) == 1:
                raise
        out = []
        for p, v in zip(payloads, values):
            try:
                i, = self._with_warnings(self._m, model, "create", [v])
                out.append(Outcome(p.orb_id, str(i)))
            except TrytonError as exc:
                out.append(Outcome(p.orb_id, None, str(exc)))
        return out

    def _create_customers(self, payloads: list[CustomerPayload]) -> list[Outcome]:
        values = []
        for c in payloads:
            v: dict[str, Any] = {"name": c.name, "code": c.orb_id, "addresses": [("create", [{}])]}
            if c.email:
                v["contact_mechanisms"] = [("create", [{"type": "email", "value": c.email}])]
            values.append(v)
        try:
            return self._create_many("party.party", payloads, values)
        except TrytonError as exc:
            return [Outcome(payloads[0].orb_id, None, str(exc))]

    def _parties(self, party_ids: set[int]) -> dict[int, dict]:
        rows = self._m("party.party", "read", sorted(party_ids), ["addresses", "account_receivable"])
        return {r["id"]: r for r in rows}

    def _drop_drafts(self, references: list[str]) -> None:
        """Drafts left by an earlier attempt whose post failed or was interrupted: deleted before creating."""
        drafts = self._m("account.invoice", "search", [("reference", "in", references), ("state", "=", "draft")],
                         0, None, None)
        if drafts:
            self._m("account.invoice", "delete", drafts)

    def _invoice_header(self, orb_id: str, party: dict, currency: str, on: dt.date, description: str) -> dict:
        if not party["addresses"]:
            raise ProviderError(f"Tryton party {party['id']} has no address (an invoice needs one)")
        return {"type": "out", "company": self.ctx["company"], "party": party["id"],
                "invoice_address": party["addresses"][0], "currency": self._currency(currency),
                "journal": self.journal, "account": party.get("account_receivable") or self.account["receivable"],
                "invoice_date": on, "reference": orb_id, "description": description[:200]}

    def _line(self, description: str, amount: Decimal, currency: str, *, quantity: int = 1, account: str = "revenue",
              note: str | None = None, origin: str | None = None) -> dict:
        v = {"type": "line", "account": self.account[account], "description": description, "quantity": quantity,
             "unit_price": self._money(amount, currency), "currency": self._currency(currency)}
        if note:
            v["note"] = note
        if origin:
            v["origin"] = origin
        return v

    def _invoice_values(self, inv: InvoicePayload, party: dict) -> dict:
        v = self._invoice_header(inv.orb_id, party, inv.currency, inv.invoice_date,
                                 f"Orb invoice {inv.number or inv.orb_id}")
        lines = [self._line(l.description, l.amount, inv.currency, note=f"orb_line_id: {l.orb_id}\nquantity: {l.quantity}")
                 for l in inv.lines]
        if inv.adjustment_amount:
            lines.append(self._line("Invoice-level adjustment (Orb)", inv.adjustment_amount, inv.currency,
                                    account="adjustments"))
        v["lines"] = [("create", lines)]
        taxes = []
        if inv.tax:
            taxes.append({"description": "Tax (Orb)", "account": self.account["tax"],
                          "base": self._money(inv.revenue, inv.currency), "amount": self._money(inv.tax, inv.currency),
                          "manual": True})
        if inv.customer_balance_applied:
            taxes.append({"description": "Customer balance applied (Orb)", "account": self.account["customer_balance"],
                          "base": Decimal(0), "amount": -self._money(inv.customer_balance_applied, inv.currency),
                          "manual": True})
        taxes += self._deferral(inv.revenue, inv.currency)
        if taxes:
            v["taxes"] = [("create", taxes)]
        return v

    @property
    def deferring(self) -> bool:
        return self.context.revenue_recognition == "warehouse"

    def _deferral(self, revenue: Decimal, currency: str) -> list[dict]:
        """SPEC §5.2 revenue_recognition: warehouse: the lines' revenue goes to deferred revenue. Tryton's customer
        invoice lines only take revenue accounts, so two manual lines of no net amount move it in the invoice's own
        move: the revenue account debited, deferred revenue credited (reversed for a credit note)."""
        if not self.deferring or not revenue:
            return []
        amount = self._money(revenue, currency)
        return [{"description": "Deferred (Orb): out of revenue", "account": self.account["revenue"],
                 "base": Decimal(0), "amount": -amount, "manual": True},
                {"description": "Deferred (Orb): to deferred revenue", "account": self.account["deferred_revenue"],
                 "base": Decimal(0), "amount": amount, "manual": True}]

    def _create_and_post(self, payloads: list, build) -> list[Outcome]:
        """Create invoices (or credit notes) in one call and post them in one call; isolate failures."""
        self._drop_drafts([p.orb_id for p in payloads])
        parties = self._parties({int(p.customer_provider_id) for p in payloads if str(p.customer_provider_id).isdigit()})
        outcomes: list[Outcome | None] = [None] * len(payloads)
        values, index = [], []
        for i, p in enumerate(payloads):
            party = parties.get(int(p.customer_provider_id)) if str(p.customer_provider_id).isdigit() else None
            if party is None:
                outcomes[i] = Outcome(p.orb_id, None, f"no Tryton party {p.customer_provider_id!r} for {p.customer_orb_id}")
                continue
            try:
                values.append(build(p, party))
                index.append(i)
            except ProviderError as exc:
                outcomes[i] = Outcome(p.orb_id, None, str(exc))
        created = self._create_many("account.invoice", [payloads[i] for i in index], values) if values else []
        to_post = [(i, out) for i, out in zip(index, created)]
        for i, out in to_post:
            if not out.ok:
                outcomes[i] = out
        ok = [(i, out) for i, out in to_post if out.ok]
        if ok:
            self._post(ok, outcomes)
        return [o if o is not None else Outcome(p.orb_id, None, "not created") for o, p in zip(outcomes, payloads)]

    def _post(self, batch: list[tuple[int, Outcome]], outcomes: list) -> None:
        """Post a batch in one call. Tryton posts all or nothing, so when it refuses, the batch is split in
        halves until the refused invoices stand alone; each of those fails with Tryton's message and its
        draft is deleted (a retry then creates it afresh)."""
        try:
            self._with_warnings(self._m, "account.invoice", "post", [int(out.provider_id) for _, out in batch])
            for i, out in batch:
                outcomes[i] = out
        except TrytonError as exc:
            if len(batch) == 1:
                i, out = batch[0]
                self._m("account.invoice", "delete", [int(out.provider_id)])
                outcomes[i] = Outcome(out.orb_id, None, str(exc))
                return
            half = len(batch) // 2
            self._post(batch[:half], outcomes)
            self._post(batch[half:], outcomes)

    def _create_invoices(self, payloads: list[InvoicePayload]) -> list[Outcome]:
        return self._create_and_post(payloads, self._invoice_values)

    def _create_memos(self, payloads: list[CreditMemoPayload]) -> list[Outcome]:
        invoice_ids = sorted({int(p.invoice_provider_id) for p in payloads})
        lines = self._m("account.invoice.line", "search_read", [("invoice", "in", invoice_ids)], 0, None, None,
                        ["note", "invoice"])
        origin_of: dict[str, int] = {}
        for l in lines:
            for part in (l.get("note") or "").splitlines():
                if part.startswith("orb_line_id: "):
                    origin_of[part.split(": ", 1)[1]] = l["id"]

        def build(m: CreditMemoPayload, party: dict) -> dict:
            v = self._invoice_header(m.orb_id, party, m.currency, m.memo_date,
                                     f"Orb credit note {m.number or m.orb_id} on invoice {m.invoice_number or m.invoice_orb_id}")
            v["lines"] = [("create", [
                self._line(l.description, l.amount, m.currency, quantity=-1, note=f"orb_line_id: {l.orb_id}",
                           origin=f"account.invoice.line,{origin_of[l.origin_line_id]}"
                           if l.origin_line_id in origin_of else None)
                for l in m.lines])]
            taxes = self._deferral(-m.amount, m.currency)
            if m.tax_amount:
                taxes.append({"description": "Tax (Orb)", "account": self.account["tax"],
                              "base": -self._money(m.amount, m.currency),
                              "amount": -self._money(m.tax_amount, m.currency), "manual": True})
            if taxes:
                v["taxes"] = [("create", taxes)]
            return v

        outcomes = self._create_and_post(payloads, build)
        done = [(p, o) for p, o in zip(payloads, outcomes) if o.ok]
        self._apply_memos([(p, o) for p, o in done if p.credit_target == RECEIVABLE])
        for p, o in done:
            if p.credit_target != RECEIVABLE:
                self._transfer_memo(p, int(o.provider_id))
        return outcomes

    def _transfer_memo(self, m: CreditMemoPayload, memo_id: int) -> None:
        """A memo Orb put in the customer's balance (or refunded in cash): its credit moves from the receivable
        to the customer-balance liability (or out of cash), in one posted move whose origin is the memo."""
        target = "customer_balance" if m.credit_target == CUSTOMER_BALANCE else "cash"
        party = int(m.customer_provider_id)
        self._post_move(m.memo_date, f"{m.orb_id}:transfer", [
            ("receivable", party, m.total), (target, party if target == "customer_balance" else None, -m.total)],
            m.currency, origin=f"account.invoice,{memo_id}")

    def _apply_memos(self, done: list[tuple[CreditMemoPayload, Outcome]]) -> None:
        """Apply each adjustment credit note to its invoice (its receivable line becomes a payment line of the
        invoice) while the invoice is open for at least the memo's total; reconcile invoices it settles. A
        refund is not applied: Orb refunds paid invoices, so the money is owed back to the customer."""
        if not done:
            return
        memos = self._m("account.invoice", "read", [int(o.provider_id) for _, o in done], ["move", "account"])
        move_ids = [m["move"] for m in memos]
        receivable_lines = self._m("account.move.line", "search_read",
                                   [("move", "in", move_ids), ("account", "in", sorted({m["account"] for m in memos}))],
                                   0, None, None, ["move"])
        line_of_move = {l["move"]: l["id"] for l in receivable_lines}
        invoices = {r["id"]: r for r in self._m("account.invoice", "read",
                                                sorted({int(p.invoice_provider_id) for p, _ in done}),
                                                ["state", "amount_to_pay"])}
        writes: list[Any] = []
        touched = set()
        for (p, _), memo in zip(done, memos):
            inv = invoices.get(int(p.invoice_provider_id))
            line = line_of_move.get(memo["move"])
            if inv is None or line is None or inv["state"] != "posted" or inv["amount_to_pay"] < p.total:
                continue   # not open for it any more: the credit stays on the party's account
            inv["amount_to_pay"] -= p.total
            writes += [[inv["id"]], {"payment_lines": [("add", [line])]}]
            touched.add(inv["id"])
        if writes:
            self._m("account.invoice", "write", *writes)
            self._reconcile_settled(sorted(touched))

    def _reconcile_settled(self, invoice_ids: list[int]) -> None:
        rows = self._m("account.invoice", "read", invoice_ids, ["state", "amount_to_pay", "lines_to_pay", "payment_lines"])
        for r in rows:
            if r["state"] == "posted" and r["amount_to_pay"] == 0 and r["payment_lines"]:
                self._wizard("account.move.reconcile_lines", "account.move.line", r["lines_to_pay"] + r["payment_lines"])

    def _wizard(self, name: str, model: str, ids: list[int], steps: Sequence[tuple[str, dict]] = ()) -> Any:
        ctx = {**self.ctx, "active_model": model, "active_id": ids[0], "active_ids": ids}
        sid, start, _ = self.rpc.call(f"wizard.{name}.create", self.ctx)
        try:
            result = self.rpc.call(f"wizard.{name}.execute", sid, {}, start, ctx)
            for state, data in steps:
                result = self.rpc.call(f"wizard.{name}.execute", sid, data(result) if callable(data) else data, state, ctx)
            return result
        finally:
            self.rpc.call(f"wizard.{name}.delete", sid, self.ctx)

    def _create_payments(self, payloads: list[PaymentPayload]) -> list[Outcome]:
        out = []
        for p in payloads:           # the pay wizard takes one invoice at a time
            try:
                self._with_warnings(self._pay, p)
                moves = self._payment_moves([p.orb_id])
                if p.orb_id not in moves:
                    raise ProviderError("the pay wizard ran but no payment move carries the Orb payment id")
                out.append(Outcome(p.orb_id, str(moves[p.orb_id])))
            except ProviderError as exc:
                out.append(Outcome(p.orb_id, None, str(exc)))
        return out

    def _pay(self, p: PaymentPayload) -> None:
        invoice_id = int(p.invoice_provider_id)
        ctx = {**self.ctx, "active_model": "account.invoice", "active_id": invoice_id, "active_ids": [invoice_id]}
        call = self.rpc.call
        sid, start, _ = call("wizard.account.invoice.pay.create", self.ctx)
        try:
            view = call("wizard.account.invoice.pay.execute", sid, {}, start, ctx)["view"]
            form = {k: v for k, v in view["defaults"].items() if not k.endswith(".")}
            to_pay = form.get("amount")
            method = self.payment_method
            if p.settled_from == CUSTOMER_BALANCE:
                if self.balance_method is None:
                    raise ProviderError(f"Tryton has no payment method {self.balance_method_name!r} (an invoice "
                                        "settled from the customer balance is paid with it); set tryton.balance_payment_method")
                method = self.balance_method
            form.update(amount=self._money(p.amount, p.currency), payment_method=method, date=p.payment_date,
                        description=p.orb_id)
            result = call("wizard.account.invoice.pay.execute", sid, {"start": form}, "choice", ctx)
            if result.get("view", {}).get("state") == "ask":
                ask = {k: v for k, v in result["view"]["defaults"].items() if not k.endswith(".")}
                if to_pay is not None and p.amount < to_pay:
                    ask["type"] = "partial"
                call("wizard.account.invoice.pay.execute", sid, {"start": form, "ask": ask}, "pay", ctx)
        finally:
            call("wizard.account.invoice.pay.delete", sid, self.ctx)

    # --- Provider: removals --------------------------------------------------------------------

    def remove(self, object_type: str, removals: Sequence[Removal]) -> list[Outcome]:
        out = []
        for r in removals:
            try:
                if object_type == INVOICE:
                    self._with_warnings(self._cancel_invoice, int(r.provider_id))
                elif object_type == CREDIT_MEMO:
                    self._with_warnings(self._cancel_memo, int(r.provider_id))
                elif object_type == PAYMENT:
                    self._with_warnings(self._cancel_payment, int(r.provider_id), r.orb_id)
                elif object_type in (BALANCE_TRANSACTION, REVENUE_JOURNAL):
                    self._with_warnings(self._cancel_move, int(r.provider_id), r.orb_id)
                else:
                    raise ProviderError(f"a {object_type} cannot be removed")
                out.append(Outcome(r.orb_id, None))
            except ProviderError as exc:
                out.append(Outcome(r.orb_id, None, str(exc)))
        return out

    def _unreconcile(self, line_ids: list[int]) -> None:
        reconciled = [l["id"] for l in self._m("account.move.line", "read", line_ids, ["reconciliation"])
                      if l.get("reconciliation")]
        if reconciled:
            self._wizard("account.move.unreconcile_lines", "account.move.line", reconciled)

    def _cancel_invoice(self, invoice_id: int) -> None:
        rows = self._m("account.invoice", "read", [invoice_id], ["state", "lines_to_pay", "payment_lines"])
        if not rows or rows[0]["state"] in ("cancelled",):
            return
        inv = rows[0]
        if inv["state"] == "draft":
            self._m("account.invoice", "delete", [invoice_id])
            return
        # payments and credits applied to it stay on the customer's account as a credit
        self._unreconcile(inv["lines_to_pay"] + inv["payment_lines"])
        if inv["payment_lines"]:
            self._m("account.invoice", "write", [invoice_id], {"payment_lines": [("remove", inv["payment_lines"])]})
        self._m("account.invoice", "cancel", [invoice_id])

    def _detach(self, line_ids: list[int]) -> None:
        """Take move lines out of every invoice they pay (unreconciled first)."""
        if not line_ids:
            return
        self._unreconcile(line_ids)
        invoices = self._m("account.invoice", "search", [("payment_lines", "in", line_ids)], 0, None, None)
        writes: list[Any] = []
        for inv in invoices:
            writes += [[inv], {"payment_lines": [("remove", line_ids)]}]
        if writes:
            self._m("account.invoice", "write", *writes)

    def _cancel_memo(self, memo_id: int) -> None:
        rows = self._m("account.invoice", "read", [memo_id], ["state", "move", "account"])
        if not rows or rows[0]["state"] == "cancelled":
            return
        memo = rows[0]
        if memo["state"] == "draft":
            self._m("account.invoice", "delete", [memo_id])
            return
        lines = self._m("account.move.line", "search", [("move", "=", memo["move"]), ("account", "=", memo["account"])],
                        0, None, None)
        self._detach(lines)
        self._m("account.invoice", "cancel", [memo_id])
        for move_id in self._live_moves([f"{self._memo_reference(memo_id)}:transfer"],
                                        [("origin", "=", f"account.invoice,{memo_id}")]).values():
            self._cancel_move(move_id, None)

    def _memo_reference(self, memo_id: int) -> str:
        return self._m("account.invoice", "read", [memo_id], ["reference"])[0]["reference"]

    def _cancel_payment(self, move_id: int, orb_id: str) -> None:
        if not self._payment_moves([orb_id]):
            return
        self._cancel_move(move_id, orb_id)

    def _cancel_move(self, move_id: int, orb_id: str | None) -> None:
        """Reverse a posted move (a payment, a balance entry, a memo's transfer): unreconciled and taken out of
        the invoices it pays first; a move already reversed is left alone."""
        if self._m("account.move", "search", [("origin", "=", f"account.move,{move_id}")], 0, 1, None):
            return
        lines = self._m("account.move.line", "search", [("move", "=", move_id)], 0, None, None)
        self._detach(lines)
        self._wizard("account.move.cancel", "account.move", [move_id],
                     [("cancel", {"default": {"description": f"void {orb_id or move_id}", "reversal": True}})])

    # --- customer-balance entries ------------------------------------------------------------------

    def _create_balances(self, payloads: list[BalanceTransactionPayload]) -> list[Outcome]:
        contra = {CASH: "cash", "adjustments": "balance_adjustments", RECEIVABLE: "receivable"}

        def write(b: BalanceTransactionPayload) -> str:
            party = int(b.customer_provider_id)
            kind = contra[b.contra]
            return str(self._post_move(b.transaction_date, b.orb_id, [
                (kind, party if kind == "receivable" else None, b.amount),
                ("customer_balance", party, -b.amount)], b.currency))

        return self.each(payloads, lambda b: b.orb_id, write)

    def _create_journals(self, payloads: list[RevenueJournalPayload]) -> list[Outcome]:
        """A month's recognized revenue: one posted move on its last day; each line says the month its revenue
        belongs to (`orb_month:YYYY-MM`: a correction names an earlier month)."""
        def write(j: RevenueJournalPayload) -> str:
            return str(self._post_move(j.entry_date, j.orb_id, [
                (l.kind, None, l.amount, f"orb_month:{l.month:%Y-%m}") for l in j.lines], j.currency))

        return self.each(payloads, lambda j: j.orb_id, write)

    def _rate(self, currency: str, on: dt.date) -> Decimal:
        ctx = {**self.ctx, "date": on}
        rows = self.rpc.call("model.currency.currency.read", [self._currency(currency)], ["rate"], ctx)
        rate = rows[0]["rate"]
        if not rate:
            raise ProviderError(f"Tryton has no {currency} rate on or before {on}")
        return Decimal(rate)

    def _post_move(self, on: dt.date, description: str, lines: list[tuple], currency: str,
                   origin: str | None = None) -> int:
        """One posted move in the miscellaneous journal: (account kind, party, amount in `currency`, debit
        positive). Foreign-currency amounts carry their second currency, converted at Tryton's rate of the day."""
        company_currency = self._company_currency()
        foreign = self._currency(currency) != company_currency
        rate = self._rate(currency, on) if foreign else Decimal(1)
        company_digits = Decimal(1).scaleb(-int(self.digits.get(self._company_code(), 2)))
        values = []
        for kind, party, amount, *line_description in lines:
            amount = self._money(amount, currency)
            company = (amount / rate).quantize(company_digits) if foreign else amount
            v = {"account": self.account[kind], "debit": company if company > 0 else Decimal(0),
                 "credit": -company if company < 0 else Decimal(0)}
            if party is not None:
                v["party"] = party
            if line_description:
                v["description"] = line_description[0]
            if foreign:
                v["second_currency"] = self._currency(currency)
                v["amount_second_currency"] = amount
            values.append(v)
        period = self._m("account.period", "search", [("company", "=", self.ctx["company"]), ("type", "=", "standard"),
                                                     ("start_date", "<=", on), ("end_date", ">=", on)], 0, 1, None)
        if not period:
            raise ProviderError(f"Tryton has no open accounting period for {on}: create the fiscal year first")
        move, = self._m("account.move", "create", [{
            "journal": self.misc_journal, "date": on, "period": period[0], "description": description,
            "company": self.ctx["company"],
            **({"origin": origin} if origin else {}), "lines": [("create", values)]}])
        self._with_warnings(self._m, "account.move", "post", [move])
        return move

    def _company_currency(self) -> int:
        if not hasattr(self, "_company_currency_id"):
            row, = self._m("company.company", "read", [self.ctx["company"]], ["currency"])
            self._company_currency_id = row["currency"]
        return self._company_currency_id

    def _company_code(self) -> str:
        by_id = {v: k for k, v in self.currencies.items()}
        return by_id[self._company_currency()]

    # --- balances (reconcile) ------------------------------------------------------------------------

    def balances(self, as_of: dt.date) -> list[BalanceLine]:
        """Posted move lines dated on or before `as_of`, summed per account kind, currency (the second currency
        where a line has one) and party (its code is the Orb customer id)."""
        kinds = {self.account[k]: k for k in ACCOUNT_KINDS if self.account.get(k)}
        rows = self._m("account.move.line", "search_read",
                       [("account", "in", list(kinds)), ("move.state", "=", "posted"), ("move.date", "<=", as_of)],
                       0, None, None, ["account", "party", "debit", "credit", "second_currency",
                                       "amount_second_currency", "description"])
        parties = {r["party"] for r in rows if r.get("party")}
        codes = {p["id"]: p["code"] for p in self._m("party.party", "read", sorted(parties), ["code"])} if parties else {}
        by_id = {v: k for k, v in self.currencies.items()}
        company = by_id[self._company_currency()]
        sums: dict[tuple, Decimal] = {}
        for r in rows:
            kind = kinds[r["account"]]
            if r.get("second_currency"):
                currency, amount = by_id[r["second_currency"]], r["amount_second_currency"]
            else:
                currency, amount = company, r["debit"] - r["credit"]
            party = codes.get(r.get("party")) if kind in ("receivable", "customer_balance") else None
            month = None
            if ACCOUNT_KINDS[kind][0] == "recognized":
                text = (r.get("description") or "")
                month = dt.date.fromisoformat(text[len("orb_month:"):] + "-01") if text.startswith("orb_month:") else None
            key = (kind, currency, party, month)
            sums[key] = sums.get(key, Decimal(0)) + amount
        out = []
        for (kind, currency, party, month), amount in sorted(sums.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
            balance_kind, credit_positive = ACCOUNT_KINDS[kind]
            detail = kind if balance_kind == "recognized" else None
            out.append(BalanceLine(balance_kind, currency, -amount if credit_positive else amount, party,
                                   month=month, detail=detail))
        return out
