"""`orbfin sync sandbox quickbooks`: a local QuickBooks Online company speaking the Accounting API v3 (JSON) shapes
the provider uses, with Intuit's documented errors, limits and OAuth 2.0 token rotation.

Owns one company (realm): its accounts, items, customers, invoices, credit memos, payments and journal entries;
create, read, sparse update, `operation=void|delete` (and a payment's `operation=update&include=void`), `query` (GET
and POST; the subset QuickBooks supports: AND only, filterable fields only, STARTPOSITION/MAXRESULTS), `batch` (30
items), SyncToken checks (5010), `requestid` replay, open balances computed as QuickBooks reports them
(Invoice.Balance, CreditMemo.RemainingCredit, Payment.UnappliedAmt, Customer.Balance), the OAuth discovery document
and token endpoint (access tokens that expire, refresh tokens that rotate), 10 requests/s and 500/min per realm
(429 in XML, as Intuit answers it), and switches for the error catalogue (`POST /_sandbox/company`) and for
scripted 401 / 429 / 5xx / slow answers (`POST /_sandbox/faults`; `faults()` below builds them).
Where Intuit does not document a rule (voiding an invoice that still has payments applied, deleting a credit memo
that is applied), the sandbox refuses it with a business-validation fault: stricter than QuickBooks may be, so a
provider that relies on it is caught here.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import secrets
import threading
import time
import urllib.parse
from collections import deque
from decimal import Decimal, InvalidOperation
from typing import Any

from ...sync.providers.http import dumps_json
from . import Fault, Request, Response, Sandbox

REALM = "9341453050719087"
HOME_CURRENCY = "USD"
CURRENCIES = {"USD": "United States Dollar", "EUR": "Euro", "GBP": "British Pound Sterling", "CAD": "Canadian Dollar",
              "AUD": "Australian Dollar", "JPY": "Japanese Yen", "CHF": "Swiss Franc", "SEK": "Swedish Krona",
              "INR": "Indian Rupee", "BRL": "Brazilian Real", "KWD": "Kuwaiti Dinar"}
MINOR_VERSION = 75
BATCH_LIMIT = 30
MAX_RESULTS = 1000
CLIENT_ID = "orb-sandbox-client"

# Money and quantity fields: kept as exact decimal text in the state, written as JSON numbers.
NUMBERS = {"Amount", "TotalAmt", "Balance", "UnitPrice", "Qty", "RemainingCredit", "UnappliedAmt", "HomeTotalAmt",
           "HomeBalance", "ExchangeRate"}
# Entities by the path segment that names them (URIs are case-sensitive: lower case, as Intuit documents).
ENTITIES = {"customer": "Customer", "item": "Item", "account": "Account", "invoice": "Invoice",
            "creditmemo": "CreditMemo", "payment": "Payment", "journalentry": "JournalEntry"}
TRANSACTIONS = ("Invoice", "CreditMemo", "Payment", "JournalEntry")
META = ("MetaData.CreateTime", "MetaData.LastUpdatedTime")
# What a query may filter on (Intuit's data-queries page and the XSD's `Filterable` annotations); others -> 4001.
FILTERABLE = {
    "Customer": {"Id", "DisplayName", "GivenName", "MiddleName", "FamilyName", "CompanyName", "Active", "Balance",
                 *META},
    "Item": {"Id", "Name", "Sku", "Type", "Active", *META},
    "Account": {"Id", "Name", "AccountType", "Classification", "Active", *META},
    "Invoice": {"Id", "DocNumber", "TxnDate", "CustomerRef", "DueDate", "Balance", "TotalAmt", *META},
    "CreditMemo": {"Id", "DocNumber", "TxnDate", "CustomerRef", "Balance", "TotalAmt", *META},
    "Payment": {"Id", "TxnDate", "CustomerRef", "TotalAmt", *META},
    "JournalEntry": {"Id", "DocNumber", "TxnDate", "TotalAmt", *META},
}

# The company a new sandbox starts with: accounts, and items (ids 100-108 are the sample export's `quickbooks`
# item connections, orbfin generate-sample; 1-4 are what the provider's settings name).
ACCOUNTS = [
    ("1", "Accounts Receivable (A/R)", "Accounts Receivable", "Asset", "USD"),
    ("2", "Undeposited Funds", "Other Current Asset", "Asset", None),
    ("3", "Checking", "Bank", "Asset", "USD"),
    ("4", "Services", "Income", "Revenue", None),
    ("5", "Sales tax payable (Orb)", "Other Current Liability", "Liability", None),
    ("6", "Customer balances (Orb)", "Other Current Liability", "Liability", None),
    ("7", "Invoice adjustments (Orb)", "Income", "Revenue", None),
    ("8", "Customer balance adjustments (Orb)", "Expense", "Expense", None),
    ("9", "Refunds paid (Orb)", "Other Current Asset", "Asset", None),
]
SPECIAL_ITEMS = [("1", "Sales tax (Orb)", "5"), ("2", "Customer balance (Orb)", "6"),
                 ("3", "Invoice adjustment (Orb)", "7"), ("4", "Refund paid (Orb)", "9")]
SAMPLE_ITEMS = ["Platform fee", "Seats", "API requests", "Compute hours", "Data transfer", "Prepaid credits",
                "Professional services", "Premium support", "Legacy add-on"]

MESSAGES = {
    "120": "Authorization Failure",
    "610": "Object Not Found",
    "2020": "Required param missing, need to supply the required value for the API",
    "2050": "String length is either shorter or longer than supported by specification",
    "2170": "Invalid Enumeration",
    "2500": "Invalid Reference Id",
    "4000": "Error parsing query",
    "4001": "Invalid query",
    "5010": "Stale Object Error",
    "6000": "A business validation error has occurred while processing your request",
    "6140": "Duplicate Document Number Error",
    "6190": "Invalid Company Status",
    "6210": "Account Period Closed",
    "6240": "Duplicate Name Exists Error",
}


class QboFault(Exception):
    def __init__(self, code: str, detail: str, element: str | None = None, status: int = 400,
                 kind: str = "ValidationFault"):
        super().__init__(detail)
        self.code, self.detail, self.element, self.status, self.kind = code, detail, element, status, kind

    def fault(self) -> dict:
        message = MESSAGES.get(self.code, "Error")
        detail = (f"Business Validation Error: {self.detail}" if self.code == "6000" else f"{message} : {self.detail}")
        error = {"Message": message, "Detail": detail, "code": self.code}
        if self.element:
            error["element"] = self.element
        return {"Error": [error], "type": self.kind}


def _dec(value: Any, field: str = "Amount") -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise QboFault("2170", f"{field} is not a number: {value!r}", field) from None
    if not d.is_finite():
        raise QboFault("2170", f"{field} is not a number: {value!r}", field)
    return d


def _text(value: Decimal) -> str:
    return format(value, "f")


def _exact(value: Any) -> Any:
    """The state (amounts as text) as an answer (amounts as JSON numbers)."""
    if isinstance(value, dict):
        return {k: (Decimal(v) if k in NUMBERS and isinstance(v, str) else _exact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_exact(v) for v in value]
    return value


def _stored(value: Any) -> Any:
    """A request body (numbers parsed as Decimal) as state (amounts as text)."""
    if isinstance(value, dict):
        return {k: _stored(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_stored(v) for v in value]
    if isinstance(value, Decimal):
        return _text(value)
    return value


def _ref_value(ref: Any) -> str | None:
    return str(ref["value"]) if isinstance(ref, dict) and ref.get("value") is not None else None


def _throttled_body() -> str:
    return ('<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<IntuitResponse xmlns="http://schema.intuit.com/'
            'finance/v3" time="' + _now() + '"><Fault type="SERVICE"><Error code="3001"><Message>message='
            'ThrottleExceeded; errorCode=003001; statusCode=429</Message><Detail>The request limit was reached. Retry '
            'after 60 seconds.</Detail></Error></Fault></IntuitResponse>')


def _unauthorized_body() -> dict:
    """Intuit's 401 answer: its own lower-case envelope, not an IntuitResponse."""
    return {"warnings": None, "intuitObject": None,
            "fault": {"error": [{"message": "message=AuthenticationFailed; errorCode=003200; statusCode=401",
                                 "detail": "Token expired or invalid", "code": "3200", "element": None}],
                      "type": "AUTHENTICATION"},
            "report": None, "queryResponse": None, "batchItemResponse": [], "attachableResponse": [],
            "syncErrorResponse": None, "requestId": None, "time": int(time.time() * 1000), "status": None,
            "cdcresponse": []}


def _now() -> str:
    now = dt.datetime.now(dt.timezone(dt.timedelta(hours=-8)))
    return now.isoformat(timespec="milliseconds")


def scripted(kind: str, count: int = 1, *, match: str = r"/v3/company/", delay: float = 0.0) -> list[Fault]:
    """Scripted answers for `Sandbox(faults=...)` or `POST /_sandbox/faults`: "unauthorized" (401 in Intuit's
    envelope), "throttled" (429 in XML, no Retry-After), "server_error" (500), "unavailable" (503), "slow"
    (answers after `delay` seconds), "drop" (no answer), "commit_then_drop" (done, answer lost)."""
    if kind == "unauthorized":
        return [Fault(match, 401, _unauthorized_body(), count=count)]
    if kind == "throttled":
        return [Fault(match, 429, _throttled_body(), count=count, content_type="text/xml")]
    if kind in ("server_error", "unavailable"):
        status = 500 if kind == "server_error" else 503
        body = {"Fault": {"Error": [{"Message": "An application error has occurred while processing your request",
                                     "Detail": "System Failure Error: temporary", "code": "10000"}],
                          "type": "SystemFault"}, "time": _now()}
        return [Fault(match, status, body, count=count)]
    if kind in ("slow", "drop", "commit_then_drop"):
        return [Fault(match, 0, None, kind=kind, count=count, delay=delay)]
    raise ValueError(kind)


# --- the query language -----------------------------------------------------------------------------------

_TOKEN = re.compile(r"\s*(?:(?P<str>'(?:\\.|[^'\\])*')|(?P<op><=|>=|!=|<>|=|<|>|\(|\)|,|\*)|(?P<word>[A-Za-z_][\w.]*)"
                    r"|(?P<num>-?\d+(?:\.\d+)?))", re.S)


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    text = text.strip().rstrip(";")
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise QboFault("4000", f"QueryParserError: Encountered \"{text[pos:pos + 10]}\" at column {pos + 1}")
        kind = m.lastgroup
        value = m.group(kind)
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", value[1:-1])
        out.append((kind, value))
        pos = m.end()
    return out


def parse_query(text: str) -> dict:
    """`SELECT * | COUNT(*) FROM Entity [WHERE f op v [AND ...]] [ORDERBY f [ASC|DESC]] [STARTPOSITION n]
    [MAXRESULTS n]`: no OR, no projections, no joins (QuickBooks' subset)."""
    toks = _tokens(text)
    i = 0

    def take(kind=None, word=None):
        nonlocal i
        if i >= len(toks):
            raise QboFault("4000", f"QueryParserError: Encountered end of query: {text}")
        k, v = toks[i]
        if (kind and k != kind) or (word and v.lower() != word):
            raise QboFault("4000", f"QueryParserError: Encountered \"{v}\" at token {i + 1}: {text}")
        i += 1
        return v

    def peek_word(word):
        return i < len(toks) and toks[i][0] == "word" and toks[i][1].lower() == word

    take("word", "select")
    count = False
    if toks[i] == ("op", "*"):
        i += 1
    elif peek_word("count"):
        i += 1
        take("op")
        take("op")
        take("op")
        count = True
    else:
        raise QboFault("4000", f"QueryParserError: only SELECT * or COUNT(*) are supported: {text}")
    take("word", "from")
    entity = take("word")
    if entity not in FILTERABLE:
        raise QboFault("4001", f"QueryValidationError: Entity '{entity}' is not supported (names are case-sensitive)")
    where: list[tuple[str, str, Any]] = []
    order, start, limit = None, 1, 100
    if peek_word("where"):
        i += 1
        while True:
            field = take("word")
            if peek_word("in"):
                i += 1
                op = "in"
                take("op")
                values = []
                while True:
                    values.append(take())
                    if toks[i] == ("op", ")"):
                        i += 1
                        break
                    take("op")
                value: Any = values
            elif peek_word("like"):
                i += 1
                op, value = "like", take("str")
            else:
                op, value = take("op"), take()
                if op not in ("=", "<", ">", "<=", ">=", "!="):
                    raise QboFault("4000", f"QueryParserError: operator {op} is not supported")
            if field not in FILTERABLE[entity]:
                raise QboFault("4001", f"QueryValidationError: property '{field}' is not queryable")
            where.append((field, op, value))
            if peek_word("or"):
                raise QboFault("4000", "QueryParserError: Encountered \" \"OR\" \"OR\"\": OR is not supported")
            if peek_word("and"):
                i += 1
                continue
            break
    while i < len(toks):
        w = take("word").lower()
        if w == "orderby":
            field = take("word")
            desc = False
            if peek_word("asc") or peek_word("desc"):
                desc = take("word").lower() == "desc"
            order = (field, desc)
        elif w == "startposition":
            start = int(take("num"))
        elif w == "maxresults":
            limit = min(int(take("num")), MAX_RESULTS)
        elif w == "or":
            raise QboFault("4000", "QueryParserError: OR is not supported")
        else:
            raise QboFault("4000", f"QueryParserError: Encountered \"{w}\": {text}")
    return {"entity": entity, "where": where, "order": order, "start": max(1, start), "limit": max(1, limit),
            "count": count}


def _field(obj: dict, field: str) -> Any:
    value: Any = obj
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if isinstance(value, dict) and "value" in value:
        value = value["value"]
    return value


def _compare(left: Any, op: str, right: Any) -> bool:
    if left is None:
        return False
    if isinstance(left, bool):
        right_b = str(right).lower() == "true"
        return (left == right_b) if op == "=" else (left != right_b) if op == "!=" else False
    try:
        l, r = Decimal(str(left)), Decimal(str(right))
    except InvalidOperation:
        l, r = str(left), str(right)
    if op == "=":
        return l == r
    if op == "!=":
        return l != r
    if op == "<":
        return l < r
    if op == ">":
        return l > r
    if op == "<=":
        return l <= r
    if op == ">=":
        return l >= r
    raise ValueError(op)


def _matches(obj: dict, where: list) -> bool:
    for field, op, value in where:
        left = _field(obj, field)
        if op == "in":
            if not any(_compare(left, "=", v) for v in value):
                return False
        elif op == "like":
            pattern = "^" + ".*".join(re.escape(p) for p in value.split("%")) + "$"
            if left is None or not re.match(pattern, str(left), re.I | re.S):
                return False
        elif not _compare(left, op, value):
            return False
    return True


# --- the sandbox ----------------------------------------------------------------------------------------

class QuickBooksSandbox(Sandbox):
    vendor = "quickbooks"

    def __init__(self, directory=None, *, request_log=None, faults=None, access_token_ttl: float = 3600.0,
                 refresh_grace: float = 86400.0, per_second: int = 10, per_minute: int = 500,
                 batch_per_minute: int = 40):
        self.access_token_ttl, self.refresh_grace = access_token_ttl, refresh_grace
        self.limits = [(per_second, 1.0), (per_minute, 60.0)]
        self.batch_limit = (batch_per_minute, 60.0)
        self.arrivals: deque[float] = deque()
        self.batch_arrivals: deque[float] = deque()
        self.rate_lock = threading.Lock()
        self.token_requests = 0
        super().__init__(directory, request_log=request_log, faults=faults)
        from ... import redact

        auth = self.state["auth"]
        redact.register(auth["client_secret"], *auth["refresh"], *auth["access"])
        redact.register_basic_auth(auth["client_id"], auth["client_secret"])

    # --- state ----------------------------------------------------------------------------------------

    def initial_state(self) -> dict[str, Any]:
        stamp = {"CreateTime": _now(), "LastUpdatedTime": _now()}
        entities: dict[str, dict[str, dict]] = {name: {} for name in ENTITIES.values()}
        for aid, name, kind, classification, currency in ACCOUNTS:
            entities["Account"][aid] = {
                "Id": aid, "SyncToken": "0", "MetaData": stamp, "domain": "QBO", "sparse": False, "Name": name,
                "FullyQualifiedName": name, "Active": True, "AccountType": kind, "Classification": classification,
                "CurrencyRef": {"value": currency or HOME_CURRENCY, "name": CURRENCIES[currency or HOME_CURRENCY]},
                "CurrentBalance": "0"}
        items = SPECIAL_ITEMS + [(str(100 + n), name, "4") for n, name in enumerate(SAMPLE_ITEMS)]
        for iid, name, account in items:
            entities["Item"][iid] = {
                "Id": iid, "SyncToken": "0", "MetaData": stamp, "domain": "QBO", "sparse": False, "Name": name,
                "FullyQualifiedName": name, "Active": True, "Type": "Service",
                "IncomeAccountRef": {"value": account, "name": next(a[1] for a in ACCOUNTS if a[0] == account)}}
        refresh = "RT1-" + secrets.token_urlsafe(24)
        return {"realm": REALM, "entities": entities, "next_txn": 1000, "next_name": 10, "next_list": 200,
                "requestids": {}, "company": {"status": "active", "closed_through": None,
                                              "warn_duplicate_doc_number": True, "home_currency": HOME_CURRENCY},
                "auth": {"client_id": CLIENT_ID, "client_secret": "sandbox-" + secrets.token_urlsafe(18),
                         "refresh": {refresh: None}, "access": {}}}

    @property
    def realm(self) -> str:
        return self.state["realm"]

    def _next_id(self, entity: str) -> str:
        key = "next_txn" if entity in TRANSACTIONS else "next_name" if entity == "Customer" else "next_list"
        self.state[key] += 1
        return str(self.state[key])

    # --- trying the sync against it ---------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        return {"provider": "quickbooks", "quickbooks": {
            "base_url": self.url, "token_url": f"{self.url}/oauth2/v1/tokens/bearer", "realm_id": self.realm,
            "client_id_env": "QBO_CLIENT_ID", "client_secret_env": "QBO_CLIENT_SECRET",
            "refresh_token_env": "QBO_REFRESH_TOKEN",
            "tax_item": "1", "customer_balance_item": "2", "adjustment_item": "3", "refund_item": "4",
            "deposit_account": "2", "balance_adjustments_account": "8",
            "item_map": {}}}

    def credentials(self) -> dict[str, str]:
        auth = self.state["auth"]
        live = [t for t, superseded in auth["refresh"].items() if superseded is None]
        return {"QBO_CLIENT_ID": auth["client_id"], "QBO_CLIENT_SECRET": auth["client_secret"],
                "QBO_REFRESH_TOKEN": live[-1]}

    # --- what tests and users read ------------------------------------------------------------------------

    def entities(self, entity: str) -> list[dict]:
        """Every live object of an entity, as an API read answers it (balances computed)."""
        with self.lock:
            return [_exact(self._view(entity, o)) for o in self.state["entities"][entity].values()]

    # --- serving --------------------------------------------------------------------------------------

    def handle(self, req: Request) -> Response:
        path = req.path
        if path in ("/.well-known/openid_configuration", "/.well-known/openid_sandbox_configuration"):
            return Response(200, self._discovery(req))
        if path == "/oauth2/v1/tokens/bearer" and req.method == "POST":
            return self._token(req)
        if path == "/_sandbox/company" and req.method == "POST":
            self.state["company"].update(req.json() or {})
            self.save_state()
            return Response(200, self.state["company"])
        if path == "/_sandbox/expire-tokens" and req.method == "POST":
            self.state["auth"]["access"] = {}
            self.save_state()
            return Response(204)
        m = re.match(r"^/v3/company/([^/]+)/(.+)$", path)
        if not m:
            return Response(404, {"Fault": {"Error": [{"Message": "Not found", "Detail": f"no route {path}",
                                                       "code": "404"}], "type": "SystemFault"}, "time": _now()})
        if not self._authorized(req):
            return Response(401, _unauthorized_body())
        if m.group(1) != self.realm:
            return self._fault(QboFault("100", f"the token is not for company {m.group(1)}", status=403,
                                        kind="AuthorizationFault"))
        is_batch = m.group(2) == "batch"
        if not self._admit(is_batch):
            return Response(429, _throttled_body(), content_type="text/xml")
        requestid = req.query.get("requestid")
        if requestid and req.method == "POST":
            if len(requestid) > 50:
                return self._fault(QboFault("2050", "requestid is longer than 50 characters", "requestid"))
            seen = self.state["requestids"].get(requestid)
            if seen is not None:
                return Response(seen[0], seen[1].encode("utf-8"))
        try:
            resp = self._api(req, m.group(2))
        except QboFault as fault:
            resp = self._fault(fault)
        if requestid and req.method == "POST":
            self.state["requestids"][requestid] = [resp.status, resp.payload().decode("utf-8")]
            self.save_state()
        return resp

    def _fault(self, fault: QboFault) -> Response:
        return Response(fault.status, dumps_json({"Fault": fault.fault(), "time": _now()}))

    def _answer(self, body: dict) -> Response:
        return Response(200, dumps_json({**_exact(body), "time": _now()}))

    def _discovery(self, req: Request) -> dict:
        base = f"http://{req.headers.get('host') or '127.0.0.1'}"
        return {"issuer": "https://oauth.platform.intuit.com/op/v1",
                "authorization_endpoint": f"{base}/connect/oauth2",
                "token_endpoint": f"{base}/oauth2/v1/tokens/bearer",
                "userinfo_endpoint": f"{base}/v1/openid_connect/userinfo",
                "revocation_endpoint": f"{base}/oauth2/v1/tokens/revoke",
                "jwks_uri": f"{base}/op/v1/jwks",
                "response_types_supported": ["code"], "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "scopes_supported": ["openid", "email", "profile", "address", "phone"],
                "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
                "claims_supported": ["aud", "exp", "iat", "iss", "realmid", "sub"]}

    def _token(self, req: Request) -> Response:
        from ... import redact

        self.token_requests += 1
        auth = self.state["auth"]
        header = req.headers.get("authorization", "")
        form = dict(urllib.parse.parse_qsl(req.body.decode("utf-8")))
        try:
            user, _, password = base64.b64decode(header.split(" ", 1)[1]).decode().partition(":")
        except (IndexError, ValueError):
            user, password = form.get("client_id", ""), form.get("client_secret", "")
        if (user, password) != (auth["client_id"], auth["client_secret"]):
            return Response(401, {"error": "invalid_client"})
        if form.get("grant_type") != "refresh_token":
            return Response(400, {"error": "unsupported_grant_type"})
        token = form.get("refresh_token", "")
        superseded = auth["refresh"].get(token, "unknown")
        if superseded == "unknown" or (superseded is not None and time.time() - superseded > self.refresh_grace):
            return Response(400, {"error": "invalid_grant"})
        now = time.time()
        new_refresh = "RT1-" + secrets.token_urlsafe(24)
        for t, s in auth["refresh"].items():
            if s is None:
                auth["refresh"][t] = now
        auth["refresh"][new_refresh] = None
        access = "eyJ" + secrets.token_urlsafe(40)
        auth["access"] = {a: exp for a, exp in auth["access"].items() if exp > now}
        auth["access"][access] = now + self.access_token_ttl
        redact.register(new_refresh, access)
        self.save_state()
        return Response(200, {"token_type": "bearer", "expires_in": int(self.access_token_ttl),
                              "x_refresh_token_expires_in": 8726400, "refresh_token": new_refresh,
                              "access_token": access})

    def _authorized(self, req: Request) -> bool:
        header = req.headers.get("authorization", "")
        if not header.lower().startswith("bearer "):
            return False
        expires = self.state["auth"]["access"].get(header[7:].strip())
        return expires is not None and expires > time.time()

    def _admit(self, is_batch: bool) -> bool:
        """10 requests a second and 500 a minute per realm (40 batch requests a minute)."""
        with self.rate_lock:
            now = time.monotonic()
            while self.arrivals and now - self.arrivals[0] >= 60.0:
                self.arrivals.popleft()
            for n, window in self.limits:
                if n and sum(1 for t in self.arrivals if now - t < window) >= n:
                    return False
            if is_batch:
                while self.batch_arrivals and now - self.batch_arrivals[0] >= 60.0:
                    self.batch_arrivals.popleft()
                n, window = self.batch_limit
                if n and len(self.batch_arrivals) >= n:
                    return False
                self.batch_arrivals.append(now)
            self.arrivals.append(now)
            return True

    # --- the API ---------------------------------------------------------------------------------------

    def _api(self, req: Request, rest: str) -> Response:
        try:
            minor = int(req.query.get("minorversion") or MINOR_VERSION)
        except ValueError:
            raise QboFault("2170", "minorversion must be a number", "minorversion") from None
        del minor    # below 75 is answered as 75 (Intuit, since 2025-08-01)
        if rest == "query":
            text = req.query.get("query") if req.method == "GET" else req.body.decode("utf-8")
            if not text:
                raise QboFault("4000", "QueryParserError: no query")
            return self._answer({"QueryResponse": self._query(text)})
        if rest == "batch" and req.method == "POST":
            return self._answer({"BatchItemResponse": self._batch(self._body(req))})
        parts = rest.split("/")
        entity = ENTITIES.get(parts[0])
        if entity is None:
            raise QboFault("4001", f"Unsupported entity path {parts[0]!r} (URIs are case-sensitive)", status=400)
        if req.method == "GET" and len(parts) == 2:
            return self._answer({entity: self._view(entity, self._get(entity, parts[1]))})
        if req.method == "POST" and len(parts) == 1:
            operation = req.query.get("operation")
            if operation == "update" and req.query.get("include") == "void":
                operation = "void"
            obj = self._write(entity, operation, self._body(req),
                              allow_duplicate="allowduplicatedocnum" in (req.query.get("include") or ""))
            return self._answer({entity: obj})
        raise QboFault("4001", f"{req.method} {rest} is not supported", status=405)

    def _body(self, req: Request) -> Any:
        try:
            return json.loads(req.body.decode("utf-8"), parse_float=Decimal) if req.body else {}
        except ValueError:
            raise QboFault("500", "Unsupported Operation: the request body is not JSON (UTF-8)", status=400) from None

    def _write(self, entity: str, operation: str | None, body: Any, *, allow_duplicate: bool = False) -> dict:
        if not isinstance(body, dict):
            raise QboFault("2020", f"a {entity} object is required in the request body")
        body = _stored(body)
        if self.state["company"]["status"] != "active":
            raise QboFault("6190", "Subscription period has ended or canceled or there was a billing problem: you "
                                   "can't add data to QuickBooks Online Plus because your trial or subscription period "
                                   "ended, you canceled your subscription, or there was a billing problem.")
        if operation in ("void", "delete"):
            obj = self._removal(entity, operation, body)
        elif operation in (None, "create", "update"):
            obj = self._update(entity, body) if body.get("Id") else self._create(entity, body, allow_duplicate)
        else:
            raise QboFault("2170", f"operation {operation!r} is not supported", "operation")
        self.save_state()
        return obj

    # --- reads ------------------------------------------------------------------------------------------

    def _get(self, entity: str, oid: str) -> dict:
        obj = self.state["entities"][entity].get(str(oid))
        if obj is None:
            raise QboFault("610", f"Something you're trying to use has been made inactive. Check the fields with "
                                  f"accounts, customers, items, vendors or employees. ({entity} Id={oid})", "Id")
        return obj

    def _view(self, entity: str, obj: dict) -> dict:
        if entity == "Customer":
            return {**obj, "Balance": _text(self._customer_balance(obj["Id"]))}
        return obj

    def _customer_balance(self, cid: str) -> Decimal:
        """What QuickBooks reports as Customer.Balance: open invoices, less unapplied credits and payments, plus
        journal-entry lines on Accounts Receivable naming the customer."""
        es = self.state["entities"]
        total = Decimal(0)
        for inv in es["Invoice"].values():
            if _ref_value(inv.get("CustomerRef")) == cid:
                total += Decimal(inv["Balance"])
        for memo in es["CreditMemo"].values():
            if _ref_value(memo.get("CustomerRef")) == cid:
                total -= Decimal(memo["RemainingCredit"])
        for pay in es["Payment"].values():
            if _ref_value(pay.get("CustomerRef")) == cid:
                total -= Decimal(pay.get("UnappliedAmt") or "0")
        for je in es["JournalEntry"].values():
            for line in je.get("Line", []):
                d = line.get("JournalEntryLineDetail") or {}
                entity = (d.get("Entity") or {}).get("EntityRef")
                if _ref_value(entity) == cid and self._account_type(_ref_value(d.get("AccountRef"))) == \
                        "Accounts Receivable":
                    amount = Decimal(line["Amount"])
                    total += amount if d.get("PostingType") == "Debit" else -amount
        return total

    def _account_type(self, aid: str | None) -> str | None:
        acc = self.state["entities"]["Account"].get(aid or "")
        return acc["AccountType"] if acc else None

    def _query(self, text: str) -> dict:
        q = parse_query(text)
        rows = [self._view(q["entity"], o) for o in self.state["entities"][q["entity"]].values()
                if _matches(self._view(q["entity"], o), q["where"])]
        if q["count"]:
            return {"totalCount": len(rows)}
        if q["order"]:
            field, desc = q["order"]
            rows.sort(key=lambda o: (_field(o, field) is None, str(_field(o, field))), reverse=desc)
        else:
            rows.sort(key=lambda o: int(o["Id"]) if str(o["Id"]).isdigit() else 0)
        page = rows[q["start"] - 1:q["start"] - 1 + q["limit"]]
        if not page:
            return {}
        return {q["entity"]: page, "startPosition": q["start"], "maxResults": len(page)}

    def _batch(self, body: Any) -> list[dict]:
        items = (body or {}).get("BatchItemRequest") if isinstance(body, dict) else None
        if not isinstance(items, list) or not items:
            raise QboFault("2020", "BatchItemRequest is required")
        if len(items) > BATCH_LIMIT:
            raise QboFault("6000", f"Batch request contains {len(items)} items; the maximum is {BATCH_LIMIT}")
        out = []
        for item in items:          # in order, each on its own: one item's fault does not stop the others
            bid = str(item.get("bId") or "")
            if not bid or len(bid) > 36:
                raise QboFault("2050", "bId is required, at most 36 characters", "bId")
            try:
                if "Query" in item:
                    out.append({"bId": bid, "QueryResponse": _exact(self._query(item["Query"]))})
                    continue
                entity = next((k for k in item if k in ENTITIES.values()), None)
                if entity is None:
                    raise QboFault("2020", "a batch item names one entity or a Query")
                op = item.get("operation") or "create"
                obj = self._write(entity, None if op == "create" else op, item[entity])
                out.append({"bId": bid, entity: _exact(obj)})
            except QboFault as fault:
                out.append({"bId": bid, "Fault": fault.fault()})
        return out

    # --- writes -----------------------------------------------------------------------------------------

    def _stamp(self, obj: dict, new: bool) -> None:
        now = _now()
        meta = dict(obj.get("MetaData") or {})
        if new:
            meta["CreateTime"] = now
        meta["LastUpdatedTime"] = now
        obj["MetaData"] = meta
        obj["domain"], obj["sparse"] = "QBO", False

    def _ref(self, entity: str, ref: Any, element: str, *, active: bool = True) -> dict:
        rid = _ref_value(ref)
        if rid is None:
            raise QboFault("2020", f"Required parameter {element} is missing in the request", element)
        obj = self.state["entities"][entity].get(rid)
        if obj is None:
            raise QboFault("2500", f"Invalid Reference Id : {entity} assigned to this transaction has been deleted. "
                                   f"Before you can modify this transaction, you must restore {entity} (Id={rid})",
                           element)
        if active and obj.get("Active") is False:
            raise QboFault("610", f"Something you're trying to use has been made inactive: {entity} Id={rid}", element)
        return obj

    def _check_sync_token(self, current: dict, body: dict) -> None:
        if str(body.get("SyncToken")) != str(current["SyncToken"]):
            raise QboFault("5010", f"You and root were working on this at the same time. root finished before you "
                                   f"did, so your work was not saved. (SyncToken {body.get('SyncToken')} is stale; "
                                   f"the current one is {current['SyncToken']})", "SyncToken")

    def _bump(self, obj: dict) -> None:
        obj["SyncToken"] = str(int(obj["SyncToken"]) + 1)
        self._stamp(obj, False)

    def _currency(self, ref: Any, default: str) -> dict:
        code = _ref_value(ref) or default
        if code not in CURRENCIES:
            raise QboFault("2500", f"Invalid Reference Id : currency {code} is not a currency of this company",
                           "CurrencyRef")
        return {"value": code, "name": CURRENCIES[code]}

    def _create(self, entity: str, body: dict, allow_duplicate: bool) -> dict:
        if entity in ("Invoice", "CreditMemo"):
            obj = self._new_sales(entity, body, allow_duplicate)
        else:
            obj = {"Customer": self._new_customer, "Payment": self._new_payment, "JournalEntry": self._new_journal,
                   "Item": self._new_item, "Account": self._new_account}[entity](entity, body)
        obj["Id"] = self._next_id(entity)
        obj["SyncToken"] = "0"
        self._stamp(obj, True)
        self._apply_links(entity, obj, +1)
        self.state["entities"][entity][obj["Id"]] = obj
        return self._view(entity, obj)

    def _new_customer(self, entity: str, body: dict) -> dict:
        name = (body.get("DisplayName") or "").strip()
        if not name:
            raise QboFault("2020", "Required parameter DisplayName is missing in the request", "DisplayName")
        if len(name) > 500:
            raise QboFault("2050", f"DisplayName: max 500 characters, supplied {len(name)}", "DisplayName")
        if ":" in name:
            raise QboFault("6000", "DisplayName cannot contain a colon (:)", "DisplayName")
        self._unique_name(name, None)
        obj = {k: v for k, v in body.items() if k not in ("Id", "SyncToken", "MetaData", "Balance", "sparse")}
        obj["DisplayName"] = name
        obj["FullyQualifiedName"] = name
        obj["PrintOnCheckName"] = obj.get("CompanyName") or name
        obj["Active"] = body.get("Active", True)
        obj["CurrencyRef"] = self._currency(body.get("CurrencyRef"), self.state["company"]["home_currency"])
        self._receivable_account(obj["CurrencyRef"]["value"])
        return obj

    def _receivable_account(self, currency: str) -> None:
        """QuickBooks opens an Accounts Receivable account per currency when a customer first uses it."""
        accounts = self.state["entities"]["Account"]
        if any(a["AccountType"] == "Accounts Receivable" and a["CurrencyRef"]["value"] == currency
               for a in accounts.values()):
            return
        aid = self._next_id("Account")
        name = f"Accounts Receivable (A/R) - {currency}"
        accounts[aid] = {"Id": aid, "SyncToken": "0", "Name": name, "FullyQualifiedName": name, "Active": True,
                         "AccountType": "Accounts Receivable", "Classification": "Asset",
                         "CurrencyRef": {"value": currency, "name": CURRENCIES[currency]}, "CurrentBalance": "0"}
        self._stamp(accounts[aid], True)

    def _unique_name(self, name: str, own_id: str | None) -> None:
        for other in self.state["entities"]["Customer"].values():
            if other["DisplayName"].lower() == name.lower() and other["Id"] != own_id:
                raise QboFault("6240", f"The name supplied already exists. : Another customer, vendor or employee is "
                                       f"already using this name. Please use a different name.", "DisplayName")

    def _new_item(self, entity: str, body: dict) -> dict:
        if not body.get("Name"):
            raise QboFault("2020", "Required parameter Name is missing in the request", "Name")
        self._ref("Account", body.get("IncomeAccountRef"), "IncomeAccountRef")
        return {**body, "Active": body.get("Active", True), "FullyQualifiedName": body["Name"]}

    def _new_account(self, entity: str, body: dict) -> dict:
        if not body.get("Name") or not body.get("AccountType"):
            raise QboFault("2020", "Required parameters Name and AccountType", "Name")
        return {**body, "Active": True, "FullyQualifiedName": body["Name"],
                "CurrencyRef": self._currency(body.get("CurrencyRef"), self.state["company"]["home_currency"])}

    def _txn_date(self, body: dict) -> str:
        text = body.get("TxnDate") or dt.date.today().isoformat()
        try:
            day = dt.date.fromisoformat(str(text))
        except ValueError:
            raise QboFault("2170", f"TxnDate {text!r} is not a date (yyyy-MM-dd)", "TxnDate") from None
        closed = self.state["company"].get("closed_through")
        if closed and day <= dt.date.fromisoformat(str(closed)):
            raise QboFault("6210", f"The account period has closed: the books are closed through {closed} and this "
                                   f"transaction is dated {day}", "TxnDate")
        return day.isoformat()

    def _customer_of(self, body: dict) -> dict:
        return self._ref("Customer", body.get("CustomerRef"), "CustomerRef")

    def _check_currency(self, body: dict, customer: dict) -> dict:
        cur = self._currency(body.get("CurrencyRef"), customer["CurrencyRef"]["value"])
        if cur["value"] != customer["CurrencyRef"]["value"]:
            raise QboFault("6000", f"The currency of the transaction ({cur['value']}) must match the currency of "
                                   f"the customer {customer['DisplayName']} ({customer['CurrencyRef']['value']})",
                           "CurrencyRef")
        return cur

    def _doc_number(self, entity: str, body: dict, allow_duplicate: bool) -> str | None:
        number = body.get("DocNumber")
        if number is None:
            return None
        number = str(number)
        if len(number) > 21:
            raise QboFault("2050", f"String length is either shorter or longer than supported by specification. "
                                   f"Min:0 Max:21 supported. Supplied length:{len(number)}", "DocNumber")
        if self.state["company"].get("warn_duplicate_doc_number") and not allow_duplicate:
            for other in self.state["entities"][entity].values():
                if other.get("DocNumber") == number:
                    raise QboFault("6140", f"You must specify a different number. This number has already been "
                                           f"used. DocNumber={number} is assigned to TxnType={entity} with "
                                           f"TxnId={other['Id']}", "DocNumber")
        return number

    def _new_sales(self, entity: str, body: dict, allow_duplicate: bool) -> dict:
        customer = self._customer_of(body)
        obj = {k: v for k, v in body.items() if k not in ("Id", "SyncToken", "MetaData", "TotalAmt", "Balance",
                                                          "RemainingCredit", "LinkedTxn", "sparse", "HomeTotalAmt",
                                                          "HomeBalance")}
        obj["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        obj["CurrencyRef"] = self._check_currency(body, customer)
        obj["TxnDate"] = self._txn_date(body)
        number = self._doc_number(entity, body, allow_duplicate)
        if number is not None:
            obj["DocNumber"] = number
        lines = body.get("Line")
        if not isinstance(lines, list) or not lines:
            raise QboFault("2020", "Required parameter Line is missing in the request", "Line")
        out_lines, total = [], Decimal(0)
        for n, line in enumerate(l for l in lines if l.get("DetailType") != "SubTotalLineDetail"):
            if line.get("DetailType") != "SalesItemLineDetail" or not isinstance(line.get("SalesItemLineDetail"), dict):
                raise QboFault("2170", f"Line {n + 1}: DetailType must be SalesItemLineDetail", "Line.DetailType")
            detail = dict(line["SalesItemLineDetail"])
            item = self._ref("Item", detail.get("ItemRef"), "Line.SalesItemLineDetail.ItemRef")
            amount = _dec(line.get("Amount"), "Line.Amount")
            if "Qty" in detail and "UnitPrice" in detail:
                product = _dec(detail["Qty"], "Qty") * _dec(detail["UnitPrice"], "UnitPrice")
                if abs(product - amount) >= Decimal("0.005"):
                    raise QboFault("6000", f"Amount is not equal to UnitPrice * Qty. Supplied value:{amount} "
                                           f"(Qty {detail['Qty']} x UnitPrice {detail['UnitPrice']} = {product})",
                                   "Line.Amount")
            if "ServiceDate" in detail:
                try:
                    dt.date.fromisoformat(str(detail["ServiceDate"]))
                except ValueError:
                    raise QboFault("2170", f"ServiceDate {detail['ServiceDate']!r} is not a date",
                                   "ServiceDate") from None
            detail["ItemRef"] = {"value": item["Id"], "name": item["Name"]}
            out = {**line, "Id": str(n + 1), "LineNum": n + 1, "Amount": _text(amount), "SalesItemLineDetail": detail}
            out_lines.append(out)
            total += amount
        if total < 0:
            raise QboFault("6000", f"The {entity} total can't be negative (lines add up to {total})", "Line")
        out_lines.append({"Amount": _text(total), "DetailType": "SubTotalLineDetail", "SubTotalLineDetail": {}})
        obj["Line"] = out_lines
        obj["TotalAmt"] = _text(total)
        obj["Balance"] = _text(total)
        if entity == "CreditMemo":
            obj["RemainingCredit"] = _text(total)
        obj["LinkedTxn"] = []
        return obj

    def _new_payment(self, entity: str, body: dict) -> dict:
        customer = self._customer_of(body)
        obj = {k: v for k, v in body.items() if k not in ("Id", "SyncToken", "MetaData", "UnappliedAmt", "sparse")}
        obj["CustomerRef"] = {"value": customer["Id"], "name": customer["DisplayName"]}
        obj["CurrencyRef"] = self._check_currency(body, customer)
        obj["TxnDate"] = self._txn_date(body)
        if body.get("TotalAmt") is None:
            raise QboFault("2020", "Required parameter TotalAmt is missing in the request", "TotalAmt")
        total = _dec(body["TotalAmt"], "TotalAmt")
        if total < 0:
            raise QboFault("6000", "A payment amount can't be negative", "TotalAmt")
        account = self._ref("Account", body.get("DepositToAccountRef") or {"value": "2"}, "DepositToAccountRef")
        obj["DepositToAccountRef"] = {"value": account["Id"], "name": account["Name"]}
        applied, lines = Decimal(0), []
        for line in body.get("Line") or []:
            amount = _dec(line.get("Amount"), "Line.Amount")
            links = line.get("LinkedTxn") or []
            if amount < 0 or len(links) != 1:
                raise QboFault("6000", "Each payment line links one transaction with a positive amount", "Line")
            link = links[0]
            kind, target_id = link.get("TxnType"), str(link.get("TxnId"))
            if kind == "Invoice":
                target = self._ref("Invoice", {"value": target_id}, "LinkedTxn.TxnId", active=False)
                open_amount = Decimal(target["Balance"])
                applied += amount
            elif kind == "CreditMemo":
                target = self._ref("CreditMemo", {"value": target_id}, "LinkedTxn.TxnId", active=False)
                open_amount = Decimal(target["RemainingCredit"])
                applied -= amount
            else:
                raise QboFault("2170", f"LinkedTxn.TxnType {kind!r}: a payment links an Invoice or a CreditMemo",
                               "LinkedTxn.TxnType")
            if _ref_value(target["CustomerRef"]) != customer["Id"]:
                raise QboFault("6000", f"{kind} {target_id} belongs to another customer", "LinkedTxn.TxnId")
            if amount > open_amount:
                raise QboFault("6000", f"The amount applied to {kind} {target_id} ({amount}) is more than its open "
                                       f"balance ({open_amount})", "Line.Amount")
            lines.append({"Amount": _text(amount), "LinkedTxn": [{"TxnId": target_id, "TxnType": kind}]})
        if applied > total:
            raise QboFault("6000", f"The payment applies {applied} but its total is {total}", "TotalAmt")
        obj["Line"] = lines
        obj["TotalAmt"] = _text(total)
        obj["UnappliedAmt"] = _text(total - applied)
        obj["ProcessPayment"] = False
        return obj

    def _new_journal(self, entity: str, body: dict) -> dict:
        obj = {k: v for k, v in body.items() if k not in ("Id", "SyncToken", "MetaData", "TotalAmt", "sparse")}
        obj["TxnDate"] = self._txn_date(body)
        obj["CurrencyRef"] = self._currency(body.get("CurrencyRef"), self.state["company"]["home_currency"])
        if body.get("DocNumber") is not None:
            obj["DocNumber"] = self._doc_number(entity, body, True)
        lines = body.get("Line")
        if not isinstance(lines, list) or len(lines) < 2:
            raise QboFault("2020", "A journal entry needs at least two lines", "Line")
        debit = credit = Decimal(0)
        out = []
        for n, line in enumerate(lines):
            detail = line.get("JournalEntryLineDetail")
            if line.get("DetailType") != "JournalEntryLineDetail" or not isinstance(detail, dict):
                raise QboFault("2170", f"Line {n + 1}: DetailType must be JournalEntryLineDetail", "Line.DetailType")
            account = self._ref("Account", detail.get("AccountRef"), "JournalEntryLineDetail.AccountRef")
            amount = _dec(line.get("Amount"), "Line.Amount")
            if amount < 0:
                raise QboFault("6000", "Journal entry line amounts can't be negative: use the other posting type",
                               "Line.Amount")
            posting = detail.get("PostingType")
            if posting not in ("Debit", "Credit"):
                raise QboFault("2170", f"PostingType {posting!r} is not Debit or Credit", "PostingType")
            entity_ref = (detail.get("Entity") or {}).get("EntityRef")
            if account["AccountType"] == "Accounts Receivable":
                if (detail.get("Entity") or {}).get("Type") != "Customer" or _ref_value(entity_ref) is None:
                    raise QboFault("6000", "When you use Accounts Receivable, you must choose a customer in the Name "
                                           "field.", "Entity")
            if _ref_value(entity_ref) is not None:
                self._ref("Customer", entity_ref, "Entity.EntityRef")
            debit += amount if posting == "Debit" else 0
            credit += amount if posting == "Credit" else 0
            out.append({**line, "Id": str(n), "Amount": _text(amount)})
        if debit != credit:
            raise QboFault("6000", f"Journal entries must balance: debits {debit}, credits {credit}", "Line")
        obj["Line"] = out
        obj["TotalAmt"] = _text(debit)
        return obj

    def _apply_links(self, entity: str, obj: dict, sign: int) -> None:
        """A payment's links reduce (sign +1) or restore (-1) what its invoices and credit memos have open."""
        if entity != "Payment":
            return
        es = self.state["entities"]
        for line in obj.get("Line", []):
            link = line["LinkedTxn"][0]
            amount = Decimal(line["Amount"]) * sign
            target = es["Invoice" if link["TxnType"] == "Invoice" else "CreditMemo"].get(link["TxnId"])
            if target is None:
                continue
            field = "Balance" if link["TxnType"] == "Invoice" else "RemainingCredit"
            target[field] = _text(Decimal(target[field]) - amount)
            if link["TxnType"] == "CreditMemo":
                target["Balance"] = target["RemainingCredit"]
            backlink = {"TxnId": obj["Id"], "TxnType": "Payment"}
            links = target.setdefault("LinkedTxn", [])
            if sign > 0 and backlink not in links:
                links.append(backlink)
            elif sign < 0 and backlink in links:
                links.remove(backlink)

    def _update(self, entity: str, body: dict) -> dict:
        current = self._get(entity, body["Id"])
        self._check_sync_token(current, body)
        if entity != "Customer" or not body.get("sparse"):
            raise QboFault("6000", f"This sandbox updates customers sparsely only (sparse: true); {entity} "
                                   "documents are voided or deleted and created again", "sparse")
        changes = {k: v for k, v in body.items() if k not in ("Id", "SyncToken", "sparse", "MetaData", "Balance")}
        if "DisplayName" in changes:
            self._unique_name(str(changes["DisplayName"]), current["Id"])
        if "CurrencyRef" in changes and _ref_value(changes["CurrencyRef"]) != current["CurrencyRef"]["value"]:
            raise QboFault("6000", "A customer's currency can't be changed", "CurrencyRef")
        current.update(changes)
        self._bump(current)
        return self._view(entity, current)

    def _removal(self, entity: str, operation: str, body: dict) -> dict:
        oid = str(body.get("Id") or "")
        current = self._get(entity, oid)
        self._check_sync_token(current, body)
        if entity not in TRANSACTIONS:
            raise QboFault("6000", f"A {entity} can't be {operation}d; make it inactive (Active: false) instead")
        linked = [l for l in current.get("LinkedTxn", []) if l.get("TxnType") == "Payment"]
        if entity in ("Invoice", "CreditMemo") and linked:
            raise QboFault("6000", f"{entity} {oid} has payments or credits applied (Payment "
                                   f"{', '.join(l['TxnId'] for l in linked)}): take them off first", "Id")
        if operation == "delete":
            self._apply_links(entity, current, -1)
            del self.state["entities"][entity][oid]
            return {"Id": oid, "status": "Deleted", "domain": "QBO"}
        if entity not in ("Invoice", "Payment"):
            raise QboFault("6000", f"A {entity} can't be voided; delete it instead", "operation")
        if not str(current.get("PrivateNote") or "").startswith("Voided"):
            self._apply_links(entity, current, -1)
            for line in current.get("Line", []):
                line["Amount"] = "0"
                detail = line.get("SalesItemLineDetail")
                if detail and "Qty" in detail:
                    detail["Qty"] = "0"
                line.pop("LinkedTxn", None) if entity == "Payment" else None
            current["TotalAmt"] = "0"
            if entity == "Invoice":
                current["Balance"] = "0"
            else:
                current["UnappliedAmt"] = "0"
            current["PrivateNote"] = ("Voided - " + str(current.get("PrivateNote") or "")).rstrip(" -")
        self._bump(current)
        return self._view(entity, current)


SANDBOX = QuickBooksSandbox
