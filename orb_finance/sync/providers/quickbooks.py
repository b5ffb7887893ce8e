"""The QuickBooks Online provider: Intuit's Accounting API v3 (JSON, minorversion 75+) over OAuth 2.0 (SPEC §5.3).

Owns the mapping to QuickBooks (DECISIONLOG "QuickBooks mapping"): customers, invoices (item lines, tax, invoice
adjustments and the customer balance Orb applied as lines on items of their own), credit memos (applied to their
invoice by a zero-amount payment, or moved to the customer balance or paid out by a line of their own), payments,
customer-balance movements as journal entries; voids and deletions; the OAuth token refresh with the rotating
refresh token kept in the state store; the lookup key of every object written before it is sent (QuickBooks can
only query a few fields) and a deterministic requestid per attempt; batches of 30; and the books read back.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, ClassVar, Sequence

import httpx

from ... import redact
from ...errors import OrbFinanceError
from ..payloads import (CASH, CUSTOMER_BALANCE, RECEIVABLE, BalanceTransactionPayload, CreditMemoPayload,
                        CustomerPayload, InvoicePayload, LinePayload, PaymentPayload)
from ..settings import Field
from .base import (ADJUSTMENTS, BALANCE_ADJUSTMENTS, BALANCE_TRANSACTION, CREDIT_MEMO, CREDIT_NOTES, CUSTOMER,
                   INVOICE, PAYMENT, REVENUE, TAX, AnswerLost, BalanceLine, Outcome, Provider, ProviderError,
                   ProviderUnavailable, Removal)
from .base import CASH as CASH_KIND
from .base import CUSTOMER_BALANCE as CUSTOMER_BALANCE_KIND
from .base import RECEIVABLE as RECEIVABLE_KIND
from .http import Auth, HttpTransport, RateLimit, RetryPolicy, dumps_json, excerpt

PRODUCTION_URL = "https://quickbooks.api.intuit.com"
TOKEN_URL = "https://oauth.platform.intuit.com/oauth2/v1/tokens/bearer"
DOC_NUMBER_MAX = 21
BATCH_MAX = 30
PAGE = 1000
# Faults that concern the whole company, not one record: the run stops.
COMPANY_FAULTS = {"100", "120", "3100", "3200", "6190"}
MARKER = re.compile(r"(?:^|\s)orb:(\S+)")
CENT = Decimal("0.005")


class QuickBooksError(ProviderError):
    """A fault Intuit answered for one request: final for the record, with Intuit's code and message."""

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.code = code


def doc_number(number: str | None, orb_id: str) -> str:
    """The DocNumber of a document: Orb's number when it fits QuickBooks' 21 characters, else its first 13
    characters and 7 of a hash of the Orb id (deterministic: the same object always gets the same one)."""
    base = (number or "").strip() or orb_id
    if len(base) <= DOC_NUMBER_MAX:
        return base
    return f"{base[:13]}-{hashlib.sha256(orb_id.encode()).hexdigest()[:7]}"


def note(orb_id: str, invoice: str | None = None, customer: str | None = None, text: str | None = None) -> str:
    """The PrivateNote that names the Orb object (and the invoice and customer it belongs to)."""
    parts = [f"orb:{orb_id}"]
    if invoice:
        parts.append(f"orb-invoice:{invoice}")
    if customer:
        parts.append(f"orb-customer:{customer}")
    if text:
        parts.append(text)
    return " ".join(parts)[:4000]


def tags(text: str | None) -> dict[str, str]:
    """The orb:, orb-invoice: and orb-customer: tags of a PrivateNote or Notes."""
    out = {}
    for word in (text or "").split():
        for key in ("orb", "orb-invoice", "orb-customer"):
            if word.startswith(key + ":") and key not in out:
                out[key] = word[len(key) + 1:]
    return out


def voided(obj: dict) -> bool:
    return str(obj.get("PrivateNote") or "").startswith("Voided")


def _q(value: Any) -> str:
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def _money(value: Any) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value if value is not None else 0))


def _provider_id(key: dict, obj: dict) -> str:
    """The provider id the sync records: the QuickBooks Id, prefixed by its entity where the object type is
    usually another entity (a payment settled from the customer balance is a credit memo)."""
    entity = key["entity"]
    return obj["Id"] if key.get("default", entity) == entity else f"{entity}:{obj['Id']}"


def _ref(value: Any) -> str | None:
    return str(value["value"]) if isinstance(value, dict) and value.get("value") is not None else None


# --- OAuth 2.0 -------------------------------------------------------------------------------------------

class _OAuth(Auth):
    """Bearer access tokens from Intuit's token endpoint. The refresh token rotates: each new one is written to
    the state store before the access token it came with is used; the first comes from the environment."""

    def __init__(self, provider: "QuickBooksProvider"):
        self.provider = provider
        self.access_token: str | None = None
        self.refreshes = 0

    def apply(self, request: httpx.Request) -> None:
        if self.access_token is None:
            self.refresh()
        request.headers["Authorization"] = f"Bearer {self.access_token}"

    def refresh(self) -> None:
        p = self.provider
        token = p.refresh_token()
        resp = p.token_transport.request(
            "POST", httpx.URL(p.settings["token_url"]).raw_path.decode(), content=urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": token}),
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
            authenticate=False, idempotent=True, what="the token refresh")
        if resp.status_code != 200:
            try:
                error = resp.json().get("error")
            except ValueError:
                error = None
            if error == "invalid_grant":
                raise ProviderUnavailable(
                    "QuickBooks refused the refresh token (invalid_grant): reconnect the app to the company and put "
                    f"the new refresh token in ${p.settings['refresh_token_env']}")
            if error == "invalid_client":
                raise ProviderUnavailable(f"QuickBooks refused the app's keys (invalid_client): check "
                                          f"${p.settings['client_id_env']} and ${p.settings['client_secret_env']}")
            raise ProviderUnavailable(f"QuickBooks' token endpoint answered HTTP {resp.status_code}: {excerpt(resp)}")
        answer = resp.json()
        access, rotated = answer.get("access_token"), answer.get("refresh_token")
        if not access:
            raise ProviderUnavailable("QuickBooks' token endpoint answered without an access token")
        redact.register(access, rotated)
        if rotated and rotated != token:
            p.keep_refresh_token(rotated)
        self.access_token = access
        self.refreshes += 1


# --- the provider ------------------------------------------------------------------------------------------

@dataclass
class _Send:
    """One create to send: its payload, QuickBooks entity and body, lookup key, and what to do once it exists."""
    payload: Any
    entity: str
    body: dict
    key: dict
    requestid: str
    params: dict = field(default_factory=dict)
    then: Callable[["_Send", dict], None] | None = None


class QuickBooksProvider(Provider):
    name: ClassVar[str] = "quickbooks"
    OBJECT_TYPES: ClassVar[tuple[str, ...]] = (CUSTOMER, INVOICE, CREDIT_MEMO, PAYMENT, BALANCE_TRANSACTION)
    SETTINGS: ClassVar[dict[str, Field]] = {
        "base_url": Field("url", PRODUCTION_URL, "the API (https://sandbox-quickbooks.api.intuit.com for Intuit's "
                                                 "sandbox companies, or the local sandbox)"),
        "token_url": Field("url", TOKEN_URL, "Intuit's OAuth 2.0 token endpoint"),
        "realm_id": Field("str", None, "the company id (realm id) the app is connected to"),
        "client_id_env": Field("env", "QBO_CLIENT_ID", "the NAME of the variable holding the app's client id",
                               required=True),
        "client_secret_env": Field("env", "QBO_CLIENT_SECRET", "the NAME of the variable holding the client secret",
                                   required=True),
        "refresh_token_env": Field("env", "QBO_REFRESH_TOKEN", "the NAME of the variable holding the first refresh "
                                   "token (the newest one is then kept in the state store)", required=True),
        "minor_version": Field("int", 75, minimum=75),
        "item_map": Field("str_map", {}, "Orb item id -> QuickBooks item id (else the item's 'quickbooks' "
                                         "external connection)"),
        "tax_item": Field("str", None, "the item tax lines are booked on (its account: sales tax payable)"),
        "customer_balance_item": Field("str", None, "the item whose account is the customer-balance liability"),
        "adjustment_item": Field("str", None, "the item for invoice amounts on no line (total - lines - tax)"),
        "refund_item": Field("str", None, "the item whose account refunds paid out come from"),
        "deposit_account": Field("str", None, "the account payments are deposited to (default: Undeposited Funds)"),
        "balance_adjustments_account": Field("str", None, "the account manual balance adjustments are booked on"),
        "tax_code": Field("str", None, "TaxCodeRef put on every line (e.g. NON; non-US companies need one)"),
        "batch": Field("bool", True, "create up to batch_size objects per /batch request"),
        "batch_size": Field("int", BATCH_MAX, "objects per batch (Intuit: at most 30)", minimum=1),
        "requests_per_second": Field("int", 9, "Intuit allows 10 per company and app", minimum=1),
        "requests_per_minute": Field("int", 480, "Intuit allows 500 per company", minimum=1),
        "batches_per_minute": Field("int", 36, "Intuit allows 40 batch requests per minute", minimum=1),
        "throttle_wait": Field("number", 60.0, "seconds to wait after a 429 (Intuit asks for 60)", minimum=0),
        "throttle_retries": Field("int", 10, "429s tolerated per request before the run stops", minimum=0),
        "timeout": Field("number", 125.0, "seconds (QuickBooks cuts requests at 120)", minimum=1),
        "retries": Field("int", 4, minimum=0),
        "backoff": Field("number", 1.0, minimum=0),
        "request_log": Field("path", None, "write every exchange as JSON Lines (secrets redacted)"),
    }

    def __init__(self, settings=None, *, context=None):
        from ..settings import secret_from_env

        super().__init__(settings, context=context)
        c = self.settings
        if not c.get("realm_id"):
            raise ProviderError("quickbooks: realm_id is required (the company id shown in the app's connection)")
        self.realm = str(c["realm_id"])
        self._client_id = secret_from_env(c, "client_id", "quickbooks") or ""
        self._client_secret = secret_from_env(c, "client_secret", "quickbooks") or ""
        self._first_refresh = secret_from_env(c, "refresh_token", "quickbooks") or ""
        redact.register_basic_auth(self._client_id, self._client_secret)
        redact.register(self._client_id)
        self.batch_size = min(int(c["batch_size"]), BATCH_MAX)
        self.use_batch = bool(c["batch"])
        self._memory: dict[str, str] = {}           # meta facts when there is no state store (scripts, tests)
        self._store = None
        policy = RetryPolicy(retries=int(c["retries"]), backoff=float(c["backoff"]),
                             throttle_wait=float(c["throttle_wait"]), throttle_retries=int(c["throttle_retries"]))
        self.oauth = _OAuth(self)
        log = c.get("request_log")
        token_url = httpx.URL(c["token_url"])
        self.token_transport = HttpTransport(f"{token_url.scheme}://{token_url.netloc.decode()}",
                                             service="QuickBooks' token endpoint", timeout=float(c["timeout"]),
                                             policy=policy, request_log=log)
        self.token_transport.client.auth = httpx.BasicAuth(self._client_id, self._client_secret)
        self.api = HttpTransport(c["base_url"], service="QuickBooks", timeout=float(c["timeout"]), policy=policy,
                                 auth=self.oauth, headers={"Accept": "application/json"},
                                 rate_limit=RateLimit(int(c["requests_per_second"]), int(c["requests_per_minute"])),
                                 request_log=log)
        self.batch_limit = RateLimit(per_minute=int(c["batches_per_minute"]))
        self._item_accounts: dict[str, str] = {}
        self._receivables: dict[str, str] | None = None
        self._seen: dict[tuple[str, str], dict] = {}

    @classmethod
    def check_settings(cls, settings: Any) -> None:
        if settings.revenue_recognition == "warehouse":
            raise OrbFinanceError(
                "quickbooks: revenue_recognition: warehouse is for Beancount and Tryton (SPEC §5.2). QuickBooks "
                "books each invoice's lines on its items' income accounts: map Orb items to QuickBooks items whose "
                "account is a deferred revenue account and recognise it there, or post the month's journals that "
                "`orbfin journal export --month YYYY-MM` writes. Set revenue_recognition: invoice.")
        if not settings.provider_settings.get("realm_id"):
            raise OrbFinanceError("quickbooks: realm_id is required (the company id the app is connected to)")

    def secrets(self) -> list[str]:
        return [s for s in (self._client_id, self._client_secret, self._first_refresh, self.oauth.access_token) if s]

    def close(self) -> None:
        self.api.close()
        self.token_transport.close()
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- facts kept in the state store (the refresh token, lookup keys) ----------------------------------

    def _meta_store(self):
        if self._store is None and self.context.state_path is not None:
            from ..state import StateStore

            self._store = StateStore(self.context.state_path)
        return self._store

    def _get_metas(self, keys: list[str]) -> dict[str, str]:
        store = self._meta_store()
        return store.get_metas(keys) if store is not None else {k: self._memory[k] for k in keys if k in self._memory}

    def _set_metas(self, values: dict[str, str | None]) -> None:
        store = self._meta_store()
        if store is not None:
            store.set_metas(values)
        for k, v in values.items():
            if v is None:
                self._memory.pop(k, None)
            else:
                self._memory[k] = v

    def _token_key(self) -> str:
        return f"quickbooks:{self.realm}:refresh_token"

    def refresh_token(self) -> str:
        """The newest refresh token: the state store's, unless the environment holds a new first one (the app was
        connected again)."""
        seed = hashlib.sha256(self._first_refresh.encode()).hexdigest()
        kept = self._get_metas([self._token_key()]).get(self._token_key())
        if kept:
            value = json.loads(kept)
            if value.get("seed") == seed and value.get("token"):
                redact.register(value["token"])
                return value["token"]
        if not self._first_refresh:
            raise ProviderUnavailable(f"quickbooks: ${self.settings['refresh_token_env']} is empty")
        return self._first_refresh

    def keep_refresh_token(self, token: str) -> None:
        seed = hashlib.sha256(self._first_refresh.encode()).hexdigest()
        self._set_metas({self._token_key(): json.dumps({"token": token, "seed": seed})})

    def _key_name(self, object_type: str, orb_id: str) -> str:
        return f"quickbooks:{self.realm}:{object_type}:{orb_id}"

    def _keys(self, object_type: str, orb_ids: Sequence[str]) -> dict[str, dict]:
        names = {self._key_name(object_type, i): i for i in orb_ids}
        return {names[k]: json.loads(v) for k, v in self._get_metas(list(names)).items()}

    def _requestid(self, what: str, orb_id: str, attempt: int) -> str:
        return hashlib.sha256(f"{self.realm}|{what}|{orb_id}|{attempt}".encode()).hexdigest()[:36]

    # --- talking to the API -------------------------------------------------------------------------------

    def _path(self, entity: str) -> str:
        return f"/v3/company/{self.realm}/{entity.lower()}"

    def _call(self, method: str, entity: str, body: Any = None, *, params: dict | None = None,
              idempotent: bool | None = None, what: str | None = None) -> dict:
        params = {"minorversion": str(self.settings["minor_version"]), **(params or {})}
        content = dumps_json(body) if body is not None and not isinstance(body, str) else body
        headers = {"Content-Type": "application/json" if not isinstance(body, str) else "application/text"}
        resp = self.api.request(method, self._path(entity), params=params, content=content,
                                headers=headers if body is not None else None, idempotent=idempotent, what=what)
        return self._answer(resp)

    def _answer(self, resp: httpx.Response) -> dict:
        status = resp.status_code
        if status == 401:
            raise ProviderUnavailable("QuickBooks refused the access token again after refreshing it (HTTP 401): "
                                      "reconnect the app to the company")
        try:
            body = json.loads(resp.content, parse_float=Decimal) if resp.content else {}
        except ValueError:
            body = None
        fault = body.get("Fault") if isinstance(body, dict) else None
        if fault:
            self._raise(fault, status)
        if status >= 400 or body is None:
            raise ProviderUnavailable(f"QuickBooks answered HTTP {status}: {excerpt(resp)}")
        return body

    def _raise(self, fault: dict, status: int = 400) -> None:
        errors = fault.get("Error") or [{}]
        first = errors[0]
        code = str(first.get("code") or "")
        text = "; ".join(f"{e.get('Message') or ''}: {e.get('Detail') or ''}".strip(": ") for e in errors)
        message = redact.redact(f"QuickBooks {code} {text}".strip())
        if code in COMPANY_FAULTS or fault.get("type") in ("AuthenticationFault", "AuthorizationFault") \
                or status == 403:
            raise ProviderUnavailable(message)
        raise QuickBooksError(message, code)

    def query(self, sql: str) -> list[dict]:
        """Every row of a SELECT, paged (1000 a page)."""
        entity = re.search(r"\bfrom\s+(\w+)", sql, re.I).group(1)
        out: list[dict] = []
        start = 1
        while True:
            text = f"{sql} STARTPOSITION {start} MAXRESULTS {PAGE}"
            if len(text) < 1500:
                answer = self.api.request("GET", self._path("query"), params={
                    "query": text, "minorversion": str(self.settings["minor_version"])}, what="a query")
                answer = self._answer(answer)
            else:
                answer = self._call("POST", "query", text, idempotent=True, what="a query")
            rows = answer.get("QueryResponse", {}).get(entity, [])
            out.extend(rows)
            if len(rows) < PAGE:
                return out
            start += PAGE

    def _in(self, entity: str, field_name: str, values: Sequence[str], extra: str = "") -> list[dict]:
        rows: list[dict] = []
        values = sorted(set(values))
        for i in range(0, len(values), 30):
            chunk = ", ".join(_q(v) for v in values[i:i + 30])
            rows += self.query(f"SELECT * FROM {entity} WHERE {field_name} IN ({chunk}){extra}")
        return rows

    def _read(self, entity: str, oid: str) -> dict | None:
        try:
            return self._call("GET", f"{entity}/{oid}", what=f"reading {entity} {oid}")[entity]
        except QuickBooksError as exc:
            if exc.code == "610":
                return None
            raise

    # --- lookups ----------------------------------------------------------------------------------------

    def _lookup(self, object_type: str, keys: dict[str, dict]) -> dict[str, list[dict]]:
        """Every QuickBooks object (voided ones too) carrying each Orb id's marker, found by its lookup key."""
        found: dict[str, list[dict]] = {i: [] for i in keys}
        by_entity: dict[tuple[str, str], list[tuple[str, Any]]] = {}
        for orb_id, key in keys.items():
            entity, fld = key["entity"], key["field"]
            by_entity.setdefault((entity, fld), []).append((orb_id, key["value"]))
        for (entity, fld), pairs in by_entity.items():
            if fld == "CustomerRef+TxnDate":
                customers = [v[0] for _, v in pairs]
                dates = [v[1] for _, v in pairs]
                rows = self._in(entity, "CustomerRef", customers,
                                f" AND TxnDate >= {_q(min(dates))} AND TxnDate <= {_q(max(dates))}")
            else:
                rows = self._in(entity, fld, [v for _, v in pairs])
            wanted = {orb_id for orb_id, _ in pairs}
            for row in rows:
                text = row.get("Notes") if entity == "Customer" else row.get("PrivateNote")
                marks = set(re.findall(r"(?:^|\s)orb:(\S+)", text or ""))
                for orb_id in marks & wanted:
                    found[orb_id].append(row)
        return found

    def find(self, object_type: str, orb_ids: Sequence[str]) -> dict[str, str]:
        keys = self._keys(object_type, orb_ids)
        if not keys:
            return {}
        found = self._lookup(object_type, keys)
        out: dict[str, str] = {}
        incomplete: list[tuple[str, dict, dict]] = []
        for orb_id, rows in found.items():
            live = [r for r in rows if not voided(r)]
            self._seen[(object_type, orb_id)] = live[0] if live else None
            if not live:
                continue
            key = keys[orb_id]
            if key.get("apply") and _money(live[0].get("RemainingCredit")) > 0:
                incomplete.append((orb_id, live[0], key))
            else:
                out[orb_id] = _provider_id(key, live[0])
        if incomplete:       # a memo still to be applied counts as done once its invoice has nothing open
            invoices = {r["Id"]: r for r in self._in("Invoice", "Id", [k["apply"] for _, _, k in incomplete])}
            for orb_id, row, key in incomplete:
                inv = invoices.get(key["apply"])
                if inv is None or voided(inv) or _money(inv.get("Balance")) <= 0:
                    out[orb_id] = _provider_id(key, row)
        return out

    def check_customer(self, provider_customer_id: str) -> str:
        cid = provider_customer_id.strip()
        if not cid.isdigit():
            raise ProviderError(f"{provider_customer_id!r} is not a QuickBooks customer Id (a number)")
        row = self._read("Customer", cid)
        if row is None:
            raise ProviderError(f"QuickBooks has no customer {cid}")
        if row.get("Active") is False:
            raise ProviderError(f"QuickBooks customer {cid} ({row.get('DisplayName')}) is inactive")
        return row["Id"]

    # --- creates ------------------------------------------------------------------------------------------

    def create(self, object_type: str, payloads: Sequence[Any]) -> list[Outcome]:
        keys = self._keys(object_type, [p.orb_id for p in payloads])
        outcomes: dict[str, Outcome] = {}
        sends: list[_Send] = []
        build = {CUSTOMER: self._customer, INVOICE: self._invoice, CREDIT_MEMO: self._memo,
                 PAYMENT: self._payment, BALANCE_TRANSACTION: self._journal}[object_type]
        for p in payloads:
            key = keys.get(p.orb_id, {})
            try:
                send = build(p, key)
            except ProviderError as exc:
                outcomes[p.orb_id] = Outcome(p.orb_id, None, str(exc))
                continue
            adopted = self._seen.pop((object_type, p.orb_id), None)
            if adopted is not None:      # ours, already there (e.g. a memo found but not yet applied)
                outcomes[p.orb_id] = self._finish(object_type, send, adopted)
                continue
            sends.append(send)
        todo = [s for s in sends if s.payload.orb_id not in outcomes]
        # the lookup key of everything about to be sent, committed before the first byte goes out
        self._set_metas({self._key_name(object_type, s.payload.orb_id): json.dumps(s.key) for s in todo})
        for i in range(0, len(todo), self.batch_size):
            chunk = todo[i:i + self.batch_size]
            created = self._send(object_type, chunk)
            for s in chunk:
                result = created[s.payload.orb_id]
                if isinstance(result, QuickBooksError):
                    outcomes[s.payload.orb_id] = self._refused(object_type, s, result)
                else:
                    outcomes[s.payload.orb_id] = self._finish(object_type, s, result)
        return [outcomes[p.orb_id] for p in payloads]

    def _finish(self, object_type: str, send: _Send, obj: dict) -> Outcome:
        try:
            if send.then is not None:
                send.then(send, obj)
        except ProviderError as exc:
            return Outcome(send.payload.orb_id, None, f"created as {send.entity} {obj['Id']}, but {exc}")
        return Outcome(send.payload.orb_id, _provider_id(send.key, obj))

    def _refused(self, object_type: str, send: _Send, error: QuickBooksError) -> Outcome:
        if object_type == CUSTOMER and error.code == "6240":
            try:
                return self._finish(object_type, send, self._adopt_customer(send))
            except ProviderError as exc:
                error = exc        # type: ignore[assignment]
        # a refusal is final for this attempt: the next attempt (orbfin sync retry) gets a new requestid
        key = dict(send.key, attempt=int(send.key.get("attempt", 0)) + 1)
        self._set_metas({self._key_name(object_type, send.payload.orb_id): json.dumps(key)})
        return Outcome(send.payload.orb_id, None, str(error))

    def _send(self, object_type: str, chunk: list[_Send]) -> dict[str, dict | QuickBooksError]:
        """Create each object of the chunk (one batch request, or one request each); a lost answer is settled by
        looking the objects up, and only those not found are sent again (with the same requestid)."""
        out: dict[str, dict | QuickBooksError] = {}
        pending = list(chunk)
        for attempt in range(int(self.settings["retries"]) + 1):
            if attempt:        # the answer was lost: look the objects up before sending anything again
                self.api.sleep(min(float(self.settings["backoff"]) * 2 ** (attempt - 1), 60.0))
                try:
                    found = self._lookup(object_type, {s.payload.orb_id: s.key for s in pending})
                except ProviderUnavailable as exc:
                    raise AnswerLost(f"QuickBooks did not answer the create of {len(pending)} {object_type}(s) and "
                                     f"could not be asked whether it happened ({exc}): the records stay pending and "
                                     "are looked up on the next run") from None
                for s in pending:
                    live = [r for r in found[s.payload.orb_id] if not voided(r)]
                    if live:
                        out[s.payload.orb_id] = live[0]
                pending = [s for s in pending if s.payload.orb_id not in out]
                if not pending:
                    return out
            try:
                if self.use_batch and len(pending) > 1:
                    out.update(self._batch(pending))
                else:
                    for s in list(pending):
                        out[s.payload.orb_id] = self._single(s)
                        pending.remove(s)
                return out
            except AnswerLost:
                pending = [s for s in pending if s.payload.orb_id not in out]
                continue
        raise AnswerLost(f"QuickBooks did not answer the create of {len(pending)} {object_type}(s) and they were not "
                         "found by their lookup keys: the records stay pending and are looked up on the next run")

    def _single(self, s: _Send) -> dict | QuickBooksError:
        try:
            answer = self._call("POST", s.entity, s.body, params={"requestid": s.requestid, **s.params},
                                idempotent=False, what=f"creating {s.entity} for {s.payload.orb_id}")
        except QuickBooksError as exc:
            return exc
        return answer[s.entity]

    def _batch(self, sends: list[_Send]) -> dict[str, dict | QuickBooksError]:
        items = [{"bId": str(n), "operation": "create", s.entity: s.body} for n, s in enumerate(sends)]
        rid = hashlib.sha256("|".join(s.requestid for s in sends).encode()).hexdigest()[:36]
        if any(s.params for s in sends):    # an include= option applies to a single request only
            return {s.payload.orb_id: self._single(s) for s in sends}
        self.batch_limit.wait()
        answer = self._call("POST", "batch", {"BatchItemRequest": items}, params={"requestid": rid},
                            idempotent=False, what=f"a batch of {len(items)} creates")
        out: dict[str, dict | QuickBooksError] = {}
        by_bid = {str(r.get("bId")): r for r in answer.get("BatchItemResponse", [])}
        for n, s in enumerate(sends):
            r = by_bid.get(str(n))
            if r is None:
                out[s.payload.orb_id] = QuickBooksError("QuickBooks answered the batch without this item")
            elif r.get("Fault"):
                try:
                    self._raise(r["Fault"])
                except QuickBooksError as exc:
                    out[s.payload.orb_id] = exc
            else:
                out[s.payload.orb_id] = r[s.entity]
        return out

    # --- the objects ----------------------------------------------------------------------------------------

    def _key(self, entity: str, fld: str, value: Any, previous: dict, **extra: Any) -> dict:
        return {"entity": entity, "field": fld, "value": value, "attempt": int(previous.get("attempt", 0)),
                "removed": bool(previous.get("removed")), **extra}

    def _customer(self, c: CustomerPayload, previous: dict) -> _Send:
        name = re.sub(r"\s+", " ", (c.name or c.orb_id).replace(":", "-")).strip()[:100] or c.orb_id
        body: dict[str, Any] = {"DisplayName": name, "CompanyName": name[:100],
                                "Notes": f"orb:{c.orb_id}" + (f" {c.external_customer_id}" if c.external_customer_id
                                                              else "")}
        if c.currency:
            body["CurrencyRef"] = {"value": c.currency}
        if c.email:
            body["PrimaryEmailAddr"] = {"Address": c.email}
        key = self._key("Customer", "DisplayName", name, previous)
        return _Send(c, "Customer", body, key, self._requestid(CUSTOMER, c.orb_id, key["attempt"]))

    def _adopt_customer(self, send: _Send) -> dict:
        """6240: the name is taken. A customer with no Orb id (someone made it by hand, Orb's own mapping advice)
        or with this one is adopted (the Orb id is added to its notes); one of another Orb customer is not: this
        one is created as "<name> (<orb id>)"."""
        c: CustomerPayload = send.payload
        name = send.body["DisplayName"]
        rows = self.query(f"SELECT * FROM Customer WHERE DisplayName = {_q(name)}")
        if not rows:
            raise QuickBooksError(f"QuickBooks 6240: the name {name!r} is taken by a vendor or employee")
        row = rows[0]
        marks = set(MARKER.findall(row.get("Notes") or ""))
        if marks and c.orb_id not in marks:
            alt = f"{name[:80]} ({c.orb_id})"
            body = dict(send.body, DisplayName=alt)
            send.key = dict(send.key, value=alt)
            self._set_metas({self._key_name(CUSTOMER, c.orb_id): json.dumps(send.key)})
            result = self._single(_Send(c, "Customer", body, send.key, self._requestid(CUSTOMER + "-alt", c.orb_id,
                                                                                         send.key["attempt"])))
            if isinstance(result, QuickBooksError):
                raise result
            return result
        if c.currency and _ref(row.get("CurrencyRef")) not in (None, c.currency):
            raise QuickBooksError(f"QuickBooks customer {row['Id']} {name!r} is in {_ref(row.get('CurrencyRef'))}, the "
                                  f"Orb customer in {c.currency}: map another one (orbfin sync map-customer)")
        if c.orb_id not in marks:
            notes = ((row.get("Notes") or "") + f" orb:{c.orb_id}").strip()
            for _ in range(2):
                try:
                    return self._call("POST", "Customer", {"Id": row["Id"], "SyncToken": row["SyncToken"],
                                                           "sparse": True, "Notes": notes},
                                      what=f"adopting customer {row['Id']}")["Customer"]
                except QuickBooksError as exc:
                    if exc.code != "5010":
                        raise
                    row = self._read("Customer", row["Id"]) or row
        return row

    def _item(self, line: LinePayload) -> str:
        mapped = self.settings["item_map"].get(line.item_id or "")
        if mapped:
            return mapped
        for name, entity_id in line.item_connections:
            if name.lower() == "quickbooks" and entity_id:
                return entity_id
        raise ProviderError(f"Orb item {line.item_id or '(none)'} ({line.item_name or line.description}) has no "
                            "QuickBooks item: map it with quickbooks.item_map, or give the Orb item an external "
                            "connection named 'quickbooks'")

    def _special(self, setting: str, what: str) -> str:
        value = self.settings.get(setting)
        if not value:
            raise ProviderError(f"{what}: set quickbooks.{setting} to the QuickBooks item to book it on")
        return str(value)

    def _line(self, item: str, amount: Decimal, description: str, quantity: Decimal | None = None,
              service_date: dt.date | None = None) -> dict:
        detail: dict[str, Any] = {"ItemRef": {"value": item}}
        if quantity is not None and quantity != 0:
            price = (amount / quantity).quantize(Decimal("1E-7")).normalize()
            if abs(price * quantity - amount) < CENT and price.as_tuple().exponent >= -7:
                detail["Qty"], detail["UnitPrice"] = quantity.normalize(), price
            else:
                description = f"{description} (quantity {quantity.normalize()})"
        if service_date is not None:
            detail["ServiceDate"] = service_date.isoformat()
        if self.settings.get("tax_code"):
            detail["TaxCodeRef"] = {"value": self.settings["tax_code"]}
        return {"DetailType": "SalesItemLineDetail", "Amount": amount, "Description": description[:4000],
                "SalesItemLineDetail": detail}

    def _item_lines(self, lines: Sequence[LinePayload]) -> list[dict]:
        out = []
        for line in lines:
            end = line.end_date - dt.timedelta(days=1) if line.end_date else None
            served = end if end and (line.start_date is None or end >= line.start_date) else line.start_date
            out.append(self._line(self._item(line), line.amount, f"{line.description} [orb {line.orb_id}]",
                                  line.quantity, served))
        return out

    def _invoice(self, inv: InvoicePayload, previous: dict) -> _Send:
        lines = self._item_lines(inv.lines)
        if inv.tax:
            lines.append(self._line(self._special("tax_item", "an invoice with tax"), inv.tax, "Tax"))
        if inv.adjustment_amount:
            lines.append(self._line(self._special("adjustment_item", "an invoice amount on no line"),
                                    inv.adjustment_amount, "Invoice adjustment"))
        if inv.customer_balance_applied:
            lines.append(self._line(self._special("customer_balance_item", "customer balance applied to an invoice"),
                                    -inv.customer_balance_applied, "Customer balance applied"))
        if not lines:
            lines.append(self._line(self._special("adjustment_item", "an invoice with no line"), Decimal(0),
                                    "No billable lines"))
        number = doc_number(inv.number, inv.orb_id)
        body: dict[str, Any] = {
            "CustomerRef": {"value": inv.customer_provider_id}, "DocNumber": number,
            "TxnDate": inv.invoice_date.isoformat(), "CurrencyRef": {"value": inv.currency},
            "PrivateNote": note(inv.orb_id, inv.orb_id, inv.customer_orb_id,
                                f"Orb invoice {inv.number}" if inv.number and inv.number != number else None),
            "Line": lines}
        if inv.due_date:
            body["DueDate"] = inv.due_date.isoformat()
        if inv.memo:
            body["CustomerMemo"] = {"value": inv.memo[:1000]}
        key = self._key("Invoice", "DocNumber", number, previous)
        return _Send(inv, "Invoice", body, key, self._requestid(INVOICE, inv.orb_id, key["attempt"]),
                     params={"include": "allowduplicatedocnum"} if key["removed"] else {})

    def _memo(self, m: CreditMemoPayload, previous: dict) -> _Send:
        lines = self._item_lines(m.lines)
        if m.tax_amount:
            lines.append(self._line(self._special("tax_item", "a credit memo with tax"), m.tax_amount, "Tax"))
        applied = None
        if m.credit_target == CUSTOMER_BALANCE:
            lines.append(self._line(self._special("customer_balance_item", "a credit note Orb put in the customer's "
                                                  "balance"), -m.total, "Credited to the customer balance"))
        elif m.credit_target == CASH:
            lines.append(self._line(self._special("refund_item", "a credit note refunded in cash"), -m.total,
                                    "Refunded"))
        else:
            applied = m.invoice_provider_id
        number = doc_number(m.number, m.orb_id)
        body = {"CustomerRef": {"value": m.customer_provider_id}, "DocNumber": number,
                "TxnDate": m.memo_date.isoformat(), "CurrencyRef": {"value": m.currency},
                "PrivateNote": note(m.orb_id, m.invoice_orb_id, m.customer_orb_id,
                                    f"credit note {m.number or m.orb_id} on invoice {m.invoice_number or m.invoice_orb_id}"
                                    + (f": {m.reason}" if m.reason else "")),
                "Line": lines}
        key = self._key("CreditMemo", "DocNumber", number, previous, apply=applied)
        return _Send(m, "CreditMemo", body, key, self._requestid(CREDIT_MEMO, m.orb_id, key["attempt"]),
                     params={"include": "allowduplicatedocnum"} if key["removed"] else {},
                     then=self._apply_memo if applied else None)

    def _apply_memo(self, send: _Send, memo: dict) -> None:
        """Apply a credit memo to its invoice: a zero-amount payment linking both (Intuit's way), for what the
        invoice still has open. Looked up first, so a second call after a lost answer applies nothing twice."""
        p = send.payload
        orb_id = p.orb_id
        invoice_id = send.key["apply"]
        remaining = _money(memo.get("RemainingCredit", memo.get("TotalAmt")))
        if remaining <= 0:
            return
        invoice = self._read("Invoice", invoice_id)
        if invoice is None or voided(invoice):
            return
        amount = min(remaining, _money(invoice.get("Balance")))
        if amount <= 0:
            return
        customer = _ref(memo["CustomerRef"])
        link_id = f"link:{orb_id}"
        existing = [r for r in self.query(f"SELECT * FROM Payment WHERE CustomerRef = {_q(customer)} AND TxnDate = "
                                          f"{_q(memo['TxnDate'])}")
                    if MARKER.findall(r.get("PrivateNote") or "") == [link_id] and not voided(r)]
        if existing:
            return
        body = {"CustomerRef": {"value": customer}, "TotalAmt": Decimal(0), "TxnDate": memo["TxnDate"],
                "CurrencyRef": {"value": _ref(memo.get("CurrencyRef"))},
                "PrivateNote": note(link_id, tags(memo.get("PrivateNote")).get("orb-invoice"),
                                    tags(memo.get("PrivateNote")).get("orb-customer"), "applies a credit"),
                "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice_id, "TxnType": "Invoice"}]},
                         {"Amount": amount, "LinkedTxn": [{"TxnId": memo["Id"], "TxnType": "CreditMemo"}]}]}
        rid = self._requestid("link", orb_id, int(send.key.get("attempt", 0)))
        self._call("POST", "Payment", body, params={"requestid": rid}, idempotent=True,
                   what=f"applying credit memo {memo['Id']}")

    def _payment(self, p: PaymentPayload, previous: dict) -> _Send:
        if p.settled_from == CUSTOMER_BALANCE:
            number = doc_number(None, p.orb_id)
            body = {"CustomerRef": {"value": p.customer_provider_id}, "DocNumber": number,
                    "TxnDate": p.payment_date.isoformat(), "CurrencyRef": {"value": p.currency},
                    "PrivateNote": note(p.orb_id, p.invoice_orb_id, p.customer_orb_id,
                                        "invoice settled from the customer balance"),
                    "Line": [self._line(self._special("customer_balance_item", "a payment from the customer balance"),
                                        p.amount, f"Invoice {p.invoice_number or p.invoice_orb_id} settled from the "
                                        "customer balance")]}
            key = self._key("CreditMemo", "DocNumber", number, previous, apply=p.invoice_provider_id,
                            default="Payment")
            return _Send(p, "CreditMemo", body, key, self._requestid(PAYMENT, p.orb_id, key["attempt"]),
                         params={"include": "allowduplicatedocnum"} if key["removed"] else {},
                         then=self._apply_memo)
        body = {"CustomerRef": {"value": p.customer_provider_id}, "TotalAmt": p.amount,
                "TxnDate": p.payment_date.isoformat(), "CurrencyRef": {"value": p.currency},
                "PaymentRefNum": (p.payment_provider_id or p.orb_id)[:21],
                "PrivateNote": note(p.orb_id, p.invoice_orb_id, p.customer_orb_id,
                                    f"{p.source} {p.payment_provider or ''}".strip()),
                "Line": [{"Amount": p.amount, "LinkedTxn": [{"TxnId": p.invoice_provider_id, "TxnType": "Invoice"}]}]}
        if self.settings.get("deposit_account"):
            body["DepositToAccountRef"] = {"value": self.settings["deposit_account"]}
        key = self._key("Payment", "CustomerRef+TxnDate", [p.customer_provider_id, p.payment_date.isoformat()],
                        previous)
        return _Send(p, "Payment", body, key, self._requestid(PAYMENT, p.orb_id, key["attempt"]))

    def _receivable_accounts(self) -> dict[str, str]:
        """The Accounts Receivable account of each currency (QuickBooks opens one per currency)."""
        if self._receivables is None:
            rows = self.query("SELECT * FROM Account WHERE AccountType = 'Accounts Receivable'")
            self._receivables = {}
            for r in rows:
                self._receivables.setdefault(_ref(r.get("CurrencyRef")) or "", r["Id"])
        return self._receivables

    def _receivable_account(self, currency: str) -> str:
        try:
            return self._receivable_accounts()[currency]
        except KeyError:
            raise ProviderError(f"QuickBooks has no Accounts Receivable account in {currency}") from None

    def item_account(self, item: str) -> str:
        if item not in self._item_accounts:
            row = self._read("Item", item)
            if row is None or not _ref(row.get("IncomeAccountRef")):
                raise ProviderError(f"QuickBooks item {item} does not exist or has no income account")
            self._item_accounts[item] = _ref(row["IncomeAccountRef"])
        return self._item_accounts[item]

    def _journal(self, b: BalanceTransactionPayload, previous: dict) -> _Send:
        liability = self.item_account(self._special("customer_balance_item", "a customer-balance movement"))
        if b.contra == CASH:
            contra = self.settings.get("deposit_account")
            if not contra:
                raise ProviderError("a customer-balance movement paid in or out: set quickbooks.deposit_account")
        elif b.contra == RECEIVABLE:
            contra = self._receivable_account(b.currency)
        else:
            contra = self.settings.get("balance_adjustments_account")
            if not contra:
                raise ProviderError("a customer-balance adjustment: set quickbooks.balance_adjustments_account")
        customer = {"Type": "Customer", "EntityRef": {"value": b.customer_provider_id}}
        debit, credit = ("Debit", "Credit") if b.amount > 0 else ("Credit", "Debit")
        text = f"Customer balance: {b.action.replace('_', ' ')}" + (f" ({b.description})" if b.description else "")
        lines = [{"DetailType": "JournalEntryLineDetail", "Amount": abs(b.amount), "Description": text[:4000],
                  "JournalEntryLineDetail": {"PostingType": debit, "AccountRef": {"value": str(contra)},
                                             **({"Entity": customer} if b.contra == RECEIVABLE else {})}},
                 {"DetailType": "JournalEntryLineDetail", "Amount": abs(b.amount), "Description": text[:4000],
                  "JournalEntryLineDetail": {"PostingType": credit, "AccountRef": {"value": liability},
                                             "Entity": customer}}]
        number = doc_number(None, b.orb_id)
        body = {"DocNumber": number, "TxnDate": b.transaction_date.isoformat(), "CurrencyRef": {"value": b.currency},
                "PrivateNote": note(b.orb_id, b.invoice_orb_id, b.customer_orb_id, b.action), "Line": lines}
        key = self._key("JournalEntry", "DocNumber", number, previous)
        return _Send(b, "JournalEntry", body, key, self._requestid(BALANCE_TRANSACTION, b.orb_id, key["attempt"]))

    # --- removals -------------------------------------------------------------------------------------------

    def remove(self, object_type: str, removals: Sequence[Removal]) -> list[Outcome]:
        def take_out(r: Removal) -> str:
            entity, oid = self._entity_of(object_type, r.provider_id)
            if entity == "Invoice":
                self._void("Invoice", oid, "void")
            elif entity == "CreditMemo":
                self._delete_memo(oid, r.orb_id)
            elif entity == "Payment":
                self._void("Payment", oid, "void")
            else:
                self._void(entity, oid, "delete")
            name = self._key_name(object_type, r.orb_id)
            kept = self._get_metas([name]).get(name)
            if kept:
                key = json.loads(kept)
                key.update(attempt=int(key.get("attempt", 0)) + 1, removed=True)
                self._set_metas({name: json.dumps(key)})
            return r.provider_id
        return self.each(removals, lambda r: r.orb_id, take_out)

    def _entity_of(self, object_type: str, provider_id: str) -> tuple[str, str]:
        if ":" in provider_id:
            entity, oid = provider_id.split(":", 1)
            return entity, oid
        return {CUSTOMER: "Customer", INVOICE: "Invoice", CREDIT_MEMO: "CreditMemo", PAYMENT: "Payment",
                BALANCE_TRANSACTION: "JournalEntry"}[object_type], provider_id

    def _void(self, entity: str, oid: str, operation: str) -> None:
        """Void (an invoice, a payment) or delete (the rest); one already gone or voided is left alone. A stale
        SyncToken (5010: someone edited it meanwhile) is read again once."""
        for _ in range(2):
            row = self._read(entity, oid)
            if row is None or (operation == "void" and voided(row)):
                return
            body: dict[str, Any] = {"Id": row["Id"], "SyncToken": row["SyncToken"]}
            params = {"operation": operation}
            if entity == "Payment" and operation == "void":
                body["sparse"] = True
                params = {"operation": "update", "include": "void"}
            try:
                self._call("POST", entity, body, params=params, idempotent=True, what=f"{operation} {entity} {oid}")
                return
            except QuickBooksError as exc:
                if exc.code == "610":
                    return
                if exc.code != "5010":
                    raise

    def _delete_memo(self, oid: str, orb_id: str) -> None:
        """A credit memo: the zero-amount payments that apply it are deleted first, then the memo."""
        memo = self._read("CreditMemo", oid)
        if memo is None:
            return
        links = self.query(f"SELECT * FROM Payment WHERE CustomerRef = {_q(_ref(memo['CustomerRef']))} AND TxnDate = "
                           f"{_q(memo['TxnDate'])}")
        for row in links:
            if MARKER.findall(row.get("PrivateNote") or "") == [f"link:{orb_id}"]:
                self._void("Payment", row["Id"], "delete")
        self._void("CreditMemo", oid, "delete")

    # --- the books, read back (orbfin sync reconcile) ----------------------------------------------------

    def balances(self, as_of: dt.date) -> list[BalanceLine]:
        """The sync's documents dated on or before `as_of`, read from QuickBooks, with QuickBooks' postings:
        an invoice debits Accounts Receivable by its total and credits each line's item account; a credit memo
        the reverse; a payment debits its deposit account and credits Accounts Receivable; a journal entry its
        lines. Lines on the tax, customer-balance, adjustment and refund items read back as those kinds;
        receivables per customer and per Orb invoice."""
        day = _q(as_of.isoformat())
        specials = {str(self.settings[k]): kind for k, kind in (
            ("tax_item", TAX), ("customer_balance_item", CUSTOMER_BALANCE_KIND), ("adjustment_item", ADJUSTMENTS),
            ("refund_item", CASH_KIND)) if self.settings.get(k)}
        sums: dict[tuple, Decimal] = {}

        def add(kind: str, currency: str, amount: Decimal, customer: str | None = None, invoice: str | None = None):
            if amount:
                key = (kind, currency, customer, invoice)
                sums[key] = sums.get(key, Decimal(0)) + amount

        accounts = self._journal_kinds()
        for entity in ("Invoice", "CreditMemo", "Payment", "JournalEntry"):
            for row in self.query(f"SELECT * FROM {entity} WHERE TxnDate <= {day}"):
                t = tags(row.get("PrivateNote"))
                if "orb" not in t:
                    continue
                cur = _ref(row.get("CurrencyRef")) or ""
                cust, inv = t.get("orb-customer"), t.get("orb-invoice")
                total = _money(row.get("TotalAmt"))
                if entity == "Invoice":
                    add(RECEIVABLE_KIND, cur, total, cust, inv)
                    for line in self._sales_lines(row):
                        item, amount = line
                        kind = specials.get(item, REVENUE)
                        # credit-positive kinds: revenue, tax, adjustments, customer balance; cash is debit-positive
                        add(kind, cur, -amount if kind == CASH_KIND else amount, None if kind != CUSTOMER_BALANCE_KIND
                            else cust)
                elif entity == "CreditMemo":
                    add(RECEIVABLE_KIND, cur, -total, cust, inv)
                    for item, amount in self._sales_lines(row):
                        kind = specials.get(item, CREDIT_NOTES)
                        if kind in (CREDIT_NOTES, CASH_KIND):
                            add(kind, cur, amount)
                        else:
                            add(kind, cur, -amount, cust if kind == CUSTOMER_BALANCE_KIND else None)
                elif entity == "Payment":
                    add(CASH_KIND, cur, total)
                    applied = Decimal(0)
                    for line in row.get("Line", []):
                        link = (line.get("LinkedTxn") or [{}])[0]
                        amount = _money(line.get("Amount"))
                        if link.get("TxnType") == "Invoice":
                            add(RECEIVABLE_KIND, cur, -amount, cust, inv)
                            applied += amount
                        elif link.get("TxnType") == "CreditMemo":
                            add(RECEIVABLE_KIND, cur, amount, cust, inv)
                            applied -= amount
                    add(RECEIVABLE_KIND, cur, applied - total, cust, None)
                else:
                    self._journal_lines(row, cur, cust, inv, accounts, add)
        out = []
        for (kind, currency, customer, invoice), amount in sorted(sums.items(), key=lambda kv: tuple(str(x) for x in
                                                                                                       kv[0])):
            out.append(BalanceLine(kind, currency, amount, customer, orb_object=invoice))
        return out

    def _sales_lines(self, row: dict) -> list[tuple[str, Decimal]]:
        return [(_ref(l["SalesItemLineDetail"].get("ItemRef")) or "", _money(l.get("Amount")))
                for l in row.get("Line", []) if l.get("DetailType") == "SalesItemLineDetail"]

    def _journal_kinds(self) -> dict[str, str]:
        """The balance kind of each account the sync's journal entries use."""
        kinds: dict[str, str] = {}
        if self.settings.get("customer_balance_item"):
            kinds[self.item_account(str(self.settings["customer_balance_item"]))] = CUSTOMER_BALANCE_KIND
        if self.settings.get("deposit_account"):
            kinds[str(self.settings["deposit_account"])] = CASH_KIND
        if self.settings.get("balance_adjustments_account"):
            kinds[str(self.settings["balance_adjustments_account"])] = BALANCE_ADJUSTMENTS
        for account in self._receivable_accounts().values():
            kinds[account] = RECEIVABLE_KIND
        return kinds

    def _journal_lines(self, row: dict, cur: str, cust: str | None, inv: str | None, kinds: dict[str, str],
                       add) -> None:
        for line in row.get("Line", []):
            d = line.get("JournalEntryLineDetail") or {}
            kind = kinds.get(_ref(d.get("AccountRef")) or "")
            if kind is None:
                continue
            amount = _money(line.get("Amount"))
            debit = amount if d.get("PostingType") == "Debit" else -amount
            if kind == CUSTOMER_BALANCE_KIND:
                add(kind, cur, -debit, cust)
            elif kind == RECEIVABLE_KIND:
                add(kind, cur, debit, cust, inv)
            else:
                add(kind, cur, debit)
