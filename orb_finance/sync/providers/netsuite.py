"""The NetSuite provider: SuiteTalk REST web services (record API v1, SuiteQL, asynchronous jobs) on the shared
HTTP transport, with token-based auth (OAuth 1.0a, HMAC-SHA256) or OAuth 2.0 client credentials (SPEC §5.3).

Owns the mapping to NetSuite records (customer, invoice, creditMemo, customerPayment, journalEntry: DECISIONLOG.md
"NetSuite mapping"), idempotent writes (externalId = the Orb id, `PUT .../eid:<id>?replace=item`: an upsert),
lookups by SuiteQL, asynchronous writes (`Prefer: respond-async`: the record stays pending with its job id and a
later run polls the job), NetSuite's error envelope (`o:errorDetails`, a closed period named), voids as the
REST API allows them, and the books read back through SuiteQL for `orbfin sync reconcile`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, Callable, ClassVar, Sequence

import httpx

from ... import redact
from ...errors import OrbFinanceError
from ..payloads import (CASH, CUSTOMER_BALANCE, RECEIVABLE, BalanceTransactionPayload, CreditMemoPayload,
                        CustomerPayload, InvoicePayload, LinePayload, PaymentPayload)
from ..settings import Field
from .base import (BALANCE_TRANSACTION, CREDIT_MEMO, CUSTOMER, INVOICE, PAYMENT, AnswerLost, BalanceLine, Outcome,
                   Pending, Provider, ProviderError, ProviderUnavailable, Removal)
from .http import Auth, HttpTransport, RetryPolicy, excerpt

REST = "/services/rest"
RECORD = f"{REST}/record/v1"
SUITEQL = f"{REST}/query/v1/suiteql"
TOKEN_PATH = f"{REST}/auth/oauth2/v1/token"
ASYNC_JOB = f"{REST}/async/v1/job"

# The NetSuite record of each Orb object, its SuiteQL transaction type, and the sublists a re-upsert replaces
# (a non-keyed sublist such as `item` is appended to on update unless named in `replace`).
RECORDS = {CUSTOMER: "customer", INVOICE: "invoice", CREDIT_MEMO: "creditMemo", PAYMENT: "customerPayment",
           BALANCE_TRANSACTION: "journalEntry"}
TRAN_TYPES = {INVOICE: "CustInvc", CREDIT_MEMO: "CustCred", PAYMENT: "CustPymt", BALANCE_TRANSACTION: "Journal"}
REPLACE = {INVOICE: "item", CREDIT_MEMO: "item,apply", PAYMENT: "apply,credit", BALANCE_TRANSACTION: "line"}
# Suffixes of the external ids of the records the sync writes beside an object (never produced by external_id()).
VOID, TRANSFER, FROM_BALANCE, VOIDED = "--void-", "--xfer", "--bal", "--voided-"
IN_LIST = 500                     # ids per SuiteQL IN list (Oracle allows 1000)
INVALID_LOGIN = "INVALID_LOGIN"
CLOSED_PERIOD = re.compile(r"period", re.I)
CLOSED_WORDS = re.compile(r"\b(closed|locked|lock)\b", re.I)
SAFE = re.compile(r"[A-Za-z0-9_]")
ENCODED = re.compile(r"-(u[0-9a-f]{4}|[0-9a-f]{2})")


# --- external ids ----------------------------------------------------------------------------------------

def external_id(orb_id: str) -> str:
    """The NetSuite externalId of an Orb id. NetSuite allows letters, digits, `_` and `-`; any other character
    (e.g. the `:` of `paid:inv_1`) and `-` itself are written `-xx` (`-uxxxx` above U+00FF): reversible, and
    never two dashes in a row, so the sync's own suffixes (`--void-...`) cannot collide with an Orb id."""
    out = []
    for ch in orb_id:
        if SAFE.match(ch):
            out.append(ch)
        else:
            code = ord(ch)
            out.append(f"-{code:02x}" if code < 256 else f"-u{code:04x}")
    return "".join(out)


def orb_id_of(eid: str) -> str:
    return ENCODED.sub(lambda m: chr(int(m.group(1)[1:] if m.group(1).startswith("u") else m.group(1), 16)), eid)


def reference(value: str) -> dict[str, str]:
    """A NetSuite reference from a setting or mapping: digits are an internal id, `eid:X` or any other text an
    external id."""
    text = str(value).strip()
    if text.isdigit():
        return {"id": text}
    return {"externalId": text[4:] if text.startswith("eid:") else text}


def _iso(day: dt.date) -> str:
    return day.isoformat()


# --- JSON with exact decimals ----------------------------------------------------------------------------

_MARK = "\u0000dec:"


def _dumps(body: Any) -> str:
    """JSON whose money values are exact decimal literals (never a float on the way)."""
    def mark(o: Any) -> Any:
        if isinstance(o, Decimal):
            return _MARK + format(o, "f")
        raise TypeError(type(o).__name__)
    text = json.dumps(body, default=mark, ensure_ascii=False, separators=(",", ":"))
    return re.sub(r'"\\u0000dec:(-?[0-9]+(?:\.[0-9]+)?)"', r"\1", text)


def _json(response: httpx.Response) -> Any:
    try:
        return json.loads(response.content, parse_float=Decimal) if response.content else None
    except ValueError:
        return None


# --- authentication ------------------------------------------------------------------------------------

class TokenAuth(Auth):
    """Token-based authentication: every request signed with OAuth 1.0a, HMAC-SHA256, realm = the account id
    (oauthlib's client). The JSON body is not part of the signature; the query string is."""

    def __init__(self, realm: str, consumer_key: str, consumer_secret: str, token_id: str, token_secret: str,
                 refused: Callable[[], str]):
        from oauthlib.oauth1 import SIGNATURE_HMAC_SHA256, Client

        self.client = Client(consumer_key, client_secret=consumer_secret, resource_owner_key=token_id,
                             resource_owner_secret=token_secret, signature_method=SIGNATURE_HMAC_SHA256, realm=realm)
        self.refused = refused

    def apply(self, request: httpx.Request) -> None:
        _, headers, _ = self.client.sign(str(request.url), http_method=request.method)
        request.headers["Authorization"] = headers["Authorization"]

    def refresh(self) -> None:
        # NetSuite answers a wrong token, secret, role or account with 401 INVALID_LOGIN: nothing to renew.
        raise ProviderUnavailable(self.refused())


class ClientCredentialsAuth(Auth):
    """OAuth 2.0 client credentials (machine to machine): a JWT assertion signed with the certificate's private
    key (PS256, `kid` = the certificate id) is exchanged at /services/rest/auth/oauth2/v1/token for an access
    token of about an hour, renewed five minutes early and after a 401."""

    def __init__(self, token_url: str, client_id: str, certificate_id: str, private_key: str,
                 refused: Callable[[str], str], algorithm: str = "PS256"):
        from cryptography.hazmat.primitives.serialization import load_pem_private_key

        try:
            self.key = load_pem_private_key(private_key.encode("utf-8"), password=None)
        except (ValueError, TypeError) as exc:
            raise ProviderError(f"the OAuth 2.0 private key is not a PEM private key without a password "
                                f"({type(exc).__name__})") from None
        self.token_url, self.client_id, self.certificate_id = token_url, client_id, certificate_id
        self.algorithm, self.refused = algorithm, refused
        self.transport: HttpTransport | None = None
        self.token: str | None = None
        self.expires = 0.0
        self._lock = threading.Lock()

    def apply(self, request: httpx.Request) -> None:
        with self._lock:
            if self.token is None or time.time() >= self.expires:
                self._fetch()
            request.headers["Authorization"] = f"Bearer {self.token}"

    def refresh(self) -> None:
        with self._lock:
            self._fetch()

    def _fetch(self) -> None:
        import jwt

        now = int(time.time())
        assertion = jwt.encode({"iss": self.client_id, "scope": ["rest_webservices"], "aud": self.token_url,
                                "iat": now, "exp": now + 3600}, self.key, algorithm=self.algorithm,
                               headers={"kid": self.certificate_id, "typ": "JWT"})
        redact.register(assertion)
        form = urllib.parse.urlencode({"grant_type": "client_credentials",
                                       "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
                                       "client_assertion": assertion})
        assert self.transport is not None
        resp = self.transport.request("POST", TOKEN_PATH, content=form, authenticate=False, idempotent=True,
                                      headers={"Content-Type": "application/x-www-form-urlencoded"},
                                      what="the OAuth 2.0 token request")
        body = _json(resp)
        if resp.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
            reason = (body or {}).get("error") if isinstance(body, dict) else None
            raise ProviderUnavailable(self.refused(f"HTTP {resp.status_code}" + (f" {reason}" if reason else "")))
        self.token = str(body["access_token"])
        redact.register(self.token)
        lifetime = float(body.get("expires_in") or 3600)
        self.expires = time.time() + max(60.0, lifetime - 300)


# --- the provider --------------------------------------------------------------------------------------

def _accounts_section() -> dict[str, Field]:
    return {"receivable": Field("str", None, "the Accounts Receivable account (internal id) journal lines use"),
            "customer_balance": Field("str", None, "the liability account 'Customer balances (Orb)' (internal id)"),
            "balance_adjustments": Field("str", None, "the account of manual customer-balance adjustments")}


class NetSuiteProvider(Provider):
    name: ClassVar[str] = "netsuite"
    OBJECT_TYPES: ClassVar[tuple[str, ...]] = (CUSTOMER, INVOICE, CREDIT_MEMO, PAYMENT, BALANCE_TRANSACTION)
    SETTINGS: ClassVar[dict[str, Field]] = {
        "account_id": Field("str", None, "the NetSuite account id, e.g. 1234567 or 1234567_SB1"),
        "base_url": Field("url", None, "default https://<account>.suitetalk.api.netsuite.com (a sandbox: its URL)"),
        "auth": Field("choice", "tba", choices=("tba", "oauth2")),
        "consumer_key_env": Field("env", "NETSUITE_CONSUMER_KEY", "tba: the integration record's consumer key"),
        "consumer_secret_env": Field("env", "NETSUITE_CONSUMER_SECRET", "tba: the consumer secret"),
        "token_id_env": Field("env", "NETSUITE_TOKEN_ID", "tba: the access token id"),
        "token_secret_env": Field("env", "NETSUITE_TOKEN_SECRET", "tba: the access token secret"),
        "client_id_env": Field("env", "NETSUITE_CLIENT_ID", "oauth2: the integration record's client id"),
        "private_key_env": Field("env", "NETSUITE_PRIVATE_KEY", "oauth2: the certificate's private key (PEM)"),
        "certificate_id": Field("str", None, "oauth2: the certificate id of the M2M mapping (the JWT kid)"),
        "subsidiary": Field("str", None, "the subsidiary of customers and transactions (OneWorld)"),
        "currencies": Field("str_map", {}, "ISO code -> NetSuite currency id (default: looked up by symbol)"),
        "bank_accounts": Field("str_map", {}, "ISO code -> the bank account payments in that currency go to"),
        "accounts": Field("section", fields=_accounts_section()),
        "item_map": Field("str_map", {}, "Orb item id -> NetSuite item (internal id, or external id)"),
        "default_item": Field("str", None, "the NetSuite item of Orb items with no mapping (default: they fail)"),
        "tax_item": Field("str", None, "the item tax lines are booked on (its account: the tax payable)"),
        "adjustment_item": Field("str", None, "the item of invoice-level amounts that are on no Orb line"),
        "customer_balance_item": Field("str", None, "the item whose account is the customer-balance liability"),
        "invoice_number_field": Field("str", None, "where the Orb invoice number goes (tranId, or a custbody field)"),
        "service_start_field": Field("str", "revRecStartDate", "line field of the service start date"),
        "service_end_field": Field("str", "revRecEndDate", "line field of the service end date (inclusive)"),
        "invoice_void": Field("choice", "credit_memo", choices=("credit_memo", "delete")),
        "async": Field("bool", False, "send writes as asynchronous jobs (Prefer: respond-async)"),
        "async_wait": Field("number", 0.0, "seconds to wait for a chunk's jobs before leaving them pending",
                            minimum=0),
        "concurrency": Field("int", 2, "requests in flight at once (below the account's concurrency limit)",
                             minimum=1),
        "batch_size": Field("int", 50, "records per lookup and send chunk", minimum=1),
        "timeout": Field("number", 120.0, minimum=1),
        "retries": Field("int", 6, minimum=0),
        "backoff": Field("number", 1.0, minimum=0),
        "request_log": Field("path", None, "a JSON Lines log of every exchange (secrets redacted)"),
    }

    TBA_KEYS = ("consumer_key", "consumer_secret", "token_id", "token_secret")
    OAUTH2_KEYS = ("client_id", "private_key")

    @classmethod
    def check_settings(cls, settings: Any) -> None:
        where = f"{settings.source or 'settings'}: netsuite"
        if settings.revenue_recognition == "warehouse":
            raise OrbFinanceError(
                f"{settings.source or 'settings'}: revenue_recognition: warehouse is for Beancount and Tryton "
                "(SPEC §5.2); NetSuite recognizes revenue itself from the service dates on invoice lines: set "
                "revenue_recognition: invoice.")
        config = settings.provider_settings
        if not config["account_id"]:
            raise OrbFinanceError(f"{where}: account_id is required (the NetSuite account id, e.g. 1234567 or "
                                  "1234567_SB1: Setup > Company > Company Information)")
        if not re.match(r"^[A-Za-z0-9_-]+$", config["account_id"]):
            raise OrbFinanceError(f"{where}: account_id must look like 1234567 or 1234567_SB1, "
                                  f"got {config['account_id']!r}")
        keys = cls.TBA_KEYS if config["auth"] == "tba" else cls.OAUTH2_KEYS
        import os
        for key in keys:
            var = config.get(f"{key}_env")
            if not var or not os.environ.get(var):
                raise OrbFinanceError(f"{where}: auth {config['auth']} needs the environment variable {var} "
                                      f"(named by {key}_env) to be set.")
        if config["auth"] == "oauth2" and not config.get("certificate_id"):
            raise OrbFinanceError(f"{where}: auth oauth2 needs certificate_id (the certificate id of the "
                                  "integration's OAuth 2.0 client credentials mapping).")

    def __init__(self, settings=None, *, context=None):
        from ..settings import secret_from_env

        super().__init__(settings, context=context)
        c = self.settings
        if not c["account_id"]:
            raise ProviderError("netsuite: account_id is required (e.g. 1234567 or 1234567_SB1)")
        self.account = c["account_id"]
        self.realm = self.account.replace("-", "_").upper()
        base = c["base_url"] or f"https://{self.account.replace('_', '-').lower()}.suitetalk.api.netsuite.com"
        self.base_url = base.rstrip("/")
        self.batch_size = int(c["batch_size"])
        self.concurrency = int(c["concurrency"])
        self.async_mode = bool(c["async"])
        self.async_wait = float(c["async_wait"])
        self.item_map = dict(c["item_map"] or {})
        self.bank_accounts = {k.upper(): v for k, v in (c["bank_accounts"] or {}).items()}
        self._currency_ids = {k.upper(): v for k, v in (c["currencies"] or {}).items()}
        self._currencies_loaded = False
        self._secrets: list[str] = []
        self._lock = threading.Lock()
        service = f"NetSuite account {self.account} at {self.base_url}"
        self.auth_mode = c["auth"]
        if self.auth_mode == "tba":
            values = {k: secret_from_env(c, k, "netsuite") or "" for k in self.TBA_KEYS}
            self._secrets = [v for v in values.values() if v]
            auth: Auth = TokenAuth(self.realm, values["consumer_key"], values["consumer_secret"], values["token_id"],
                                   values["token_secret"], self._tba_refused)
        else:
            values = {k: secret_from_env(c, k, "netsuite") or "" for k in self.OAUTH2_KEYS}
            self._secrets = [v for v in values.values() if v]
            auth = ClientCredentialsAuth(self.base_url + TOKEN_PATH, values["client_id"], c["certificate_id"] or "",
                                         values["private_key"], self._oauth2_refused)
        redact.register(*self._secrets)
        self.transport = HttpTransport(
            self.base_url, service=service, timeout=float(c["timeout"]),
            policy=RetryPolicy(retries=int(c["retries"]), backoff=float(c["backoff"])), auth=auth,
            headers={"Content-Type": "application/json", "Accept": "application/json",
                     "X-NetSuite-PropertyNameValidation": "Error"},
            request_log=c["request_log"], max_in_flight=self.concurrency)
        if isinstance(auth, ClientCredentialsAuth):
            auth.transport = self.transport

    def secrets(self) -> list[str]:
        return list(self._secrets)

    def close(self) -> None:
        self.transport.close()

    # --- messages ----------------------------------------------------------------------------------

    def _tba_refused(self) -> str:
        c = self.settings
        return (f"NetSuite account {self.account} refused the token-based credentials (HTTP 401 {INVALID_LOGIN}): "
                f"check the consumer key and secret ({c['consumer_key_env']}, {c['consumer_secret_env']}) of the "
                f"integration record and the token id and secret ({c['token_id_env']}, {c['token_secret_env']}), "
                f"that the token's role has REST web services permission, and that account_id {self.account} is "
                f"the account the token belongs to (realm {self.realm}); NetSuite's Login Audit Trail says which")

    def _oauth2_refused(self, why: str = f"HTTP 401 {INVALID_LOGIN}") -> str:
        c = self.settings
        return (f"NetSuite account {self.account} refused the OAuth 2.0 client credentials ({why}): check the "
                f"client id ({c['client_id_env']}), certificate_id {c['certificate_id']!r} and the private key of "
                f"that certificate ({c['private_key_env']}), and that the mapping's role has REST web services "
                "permission")

    def _refused(self) -> str:
        return self._tba_refused() if self.auth_mode == "tba" else self._oauth2_refused()

    # --- requests ------------------------------------------------------------------------------------

    def _send(self, method: str, path: str, *, params: dict | None = None, body: Any = None,
              headers: dict[str, str] | None = None, idempotent: bool | None = None, what: str | None = None
              ) -> httpx.Response:
        content = _dumps(body) if body is not None else None
        resp = self.transport.request(method, path, params=params, content=content, headers=headers,
                                      idempotent=idempotent, what=what)
        if resp.status_code == 401:
            raise ProviderUnavailable(self._refused())
        return resp

    def _details(self, resp: httpx.Response) -> tuple[str, str, str] | None:
        """(code, detail, path) of NetSuite's error envelope, or None when the answer is not one."""
        body = _json(resp)
        if not isinstance(body, dict) or not isinstance(body.get("o:errorDetails"), list) or not body["o:errorDetails"]:
            return None
        first = body["o:errorDetails"][0] if isinstance(body["o:errorDetails"][0], dict) else {}
        return (str(first.get("o:errorCode") or body.get("title") or "ERROR"),
                " ".join(str(first.get("detail") or "").split()), str(first.get("o:errorPath") or ""))

    def _refusal(self, resp: httpx.Response, what: str, on: dt.date | None = None) -> Exception:
        """A NetSuite refusal of one record (ProviderError), or ProviderUnavailable when the answer is not
        NetSuite's error envelope (a wrong base URL, a proxy) or refuses every record (permissions)."""
        details = self._details(resp)
        if details is None:
            return ProviderUnavailable(redact.redact(
                f"NetSuite answered HTTP {resp.status_code} to {what}, not in NetSuite's error format (check "
                f"netsuite.base_url {self.base_url}): {excerpt(resp, 1000)}"))
        code, detail, path = details
        if resp.status_code == 403:
            return ProviderUnavailable(redact.redact(f"NetSuite refused {what} (HTTP 403 {code}): {detail}"))
        if CLOSED_PERIOD.search(detail) and CLOSED_WORDS.search(detail):
            period = self._period_name(on) if on else None
            return ProviderError(redact.redact(
                f"NetSuite accounting period {period or (on.strftime('%b %Y') if on else '?')} is closed"
                + (f" (the transaction is dated {on})" if on else "")
                + f": Action Needed: reopen the period in NetSuite and run `orbfin sync retry`, or book it there by "
                f"hand (NetSuite {code}: {detail})"))
        return ProviderError(redact.redact(f"NetSuite {code}: {detail}" + (f" (at {path})" if path else "")))

    def _period_name(self, on: dt.date) -> str | None:
        try:
            rows = self.suiteql(
                "SELECT periodname FROM accountingperiod WHERE isquarter = 'F' AND isyear = 'F' AND isadjust = 'F' "
                f"AND startdate <= TO_DATE('{_iso(on)}', 'YYYY-MM-DD') AND enddate >= TO_DATE('{_iso(on)}', 'YYYY-MM-DD')")
        except (ProviderError, ProviderUnavailable):
            return None
        return rows[0].get("periodname") if rows else None

    def suiteql(self, query: str) -> list[dict[str, str]]:
        """Every row of a SuiteQL query (pages of 1000), keys in lower case, values as NetSuite sends them (text)."""
        rows: list[dict[str, str]] = []
        offset = 0
        while True:
            resp = self._send("POST", SUITEQL, params={"limit": 1000, "offset": offset}, body={"q": query},
                              headers={"Prefer": "transient"}, idempotent=True, what="a SuiteQL query")
            if resp.status_code != 200:
                err = self._refusal(resp, "a SuiteQL query")
                raise err if isinstance(err, ProviderUnavailable) else ProviderUnavailable(
                    redact.redact(f"NetSuite refused a SuiteQL query ({err}): {query[:200]}"))
            page = _json(resp) or {}
            items = page.get("items") or []
            rows += [{str(k).lower(): v for k, v in item.items() if k != "links"} for item in items]
            if not page.get("hasMore") or not items:
                return rows
            offset += len(items)

    @staticmethod
    def _record_id(resp: httpx.Response) -> str | None:
        location = resp.headers.get("location") or ""
        m = re.search(r"/record/v1/[A-Za-z]+/(\d+)/?$", location)
        return m.group(1) if m else None

    def _get(self, record: str, key: str, fields: str = "id") -> dict | None:
        """A record by internal id or `eid:<external id>` (only `fields`), or None when it does not exist."""
        resp = self._send("GET", f"{RECORD}/{record}/{key}", params={"fields": fields}, idempotent=True,
                          what=f"GET {record} {key}")
        if resp.status_code == 404 and self._details(resp) is not None:
            return None
        if resp.status_code != 200:
            raise ProviderUnavailable(str(self._refusal(resp, f"GET {record} {key}")))
        return _json(resp) or {}

    def _delete(self, record: str, key: str, on: dt.date | None, what: str) -> None:
        """DELETE a record; one that is already gone is fine."""
        resp = self._send("DELETE", f"{RECORD}/{record}/{key}", idempotent=False, what=what)
        if resp.status_code in (200, 204) or (resp.status_code == 404 and self._details(resp) is not None):
            return
        raise self._refusal(resp, what, on)

    def _upsert(self, record: str, eid: str, body: dict, replace: str | None, on: dt.date | None,
                asynchronous: bool = False) -> tuple[str, str]:
        """`PUT /record/v1/<record>/eid:<eid>`: ("id", internal id) once written, or ("job", job id) when sent as
        an asynchronous job. Raises ProviderError with NetSuite's reason. A lost answer is AnswerLost (never
        re-sent blind: the next run looks the record up by its external id)."""
        params = {"replace": replace} if replace else None
        headers = {"Prefer": "respond-async"} if asynchronous else None
        what = f"PUT {record} eid:{eid}"
        resp = self._send("PUT", f"{RECORD}/{record}/eid:{eid}", params=params, body=body, headers=headers,
                          idempotent=False, what=what)
        if asynchronous and resp.status_code == 202:
            m = re.search(r"/async/v1/job/(\d+)", resp.headers.get("location") or "")
            if not m:
                raise ProviderUnavailable(f"NetSuite accepted {what} asynchronously but named no job (Location)")
            return "job", m.group(1)
        if resp.status_code in (200, 201, 204):
            pid = self._record_id(resp)
            if pid is None:
                found = self._get(record, f"eid:{eid}")
                pid = str(found.get("id")) if found and found.get("id") else None
            if pid is None:
                raise ProviderUnavailable(f"NetSuite answered {what} with HTTP {resp.status_code} but the record "
                                          "cannot be found by its external id")
            return "id", pid
        raise self._refusal(resp, what, on)

    # --- lookups -------------------------------------------------------------------------------------

    def find(self, object_type: str, orb_ids: Sequence[str]) -> dict[str, str]:
        eids = {external_id(o): o for o in orb_ids}
        return {eids[e]: pid for e, pid in self._find_eids(object_type, list(eids)).items() if e in eids}

    def _find_eids(self, object_type: str, eids: Sequence[str], *, with_voided: bool = False) -> dict[str, str]:
        """Internal ids by external id. An invoice a credit memo voided (its external id + `--void-<id>`) is not
        live; with_voided: it is listed too (its id prefixed `voided:`)."""
        out: dict[str, str] = {}
        for i in range(0, len(eids), IN_LIST):
            chunk = ", ".join(f"'{e}'" for e in eids[i:i + IN_LIST])
            if object_type == CUSTOMER:
                q = f"SELECT id, externalid FROM customer WHERE externalid IN ({chunk})"
            elif object_type == INVOICE:
                q = ("SELECT i.id, i.externalid, (SELECT COUNT(*) FROM transaction m WHERE m.type = 'CustCred' AND "
                     f"m.externalid = i.externalid || '{VOID}' || i.id) AS voids FROM transaction i "
                     f"WHERE i.type = 'CustInvc' AND i.externalid IN ({chunk})")
            else:
                q = (f"SELECT id, externalid FROM transaction WHERE type = '{TRAN_TYPES[object_type]}' "
                     f"AND externalid IN ({chunk})")
            for row in self.suiteql(q):
                if not row.get("externalid"):
                    continue
                voided = str(row.get("voids") or "0") != "0"
                if not voided:
                    out[row["externalid"]] = str(row["id"])
                elif with_voided:
                    out.setdefault(row["externalid"], "voided:" + str(row["id"]))
        return out

    def check_customer(self, provider_customer_id: str) -> str:
        text = provider_customer_id.strip()
        key = text if text.isdigit() else f"eid:{text[4:] if text.startswith('eid:') else text}"
        found = self._get("customer", key)
        if not found or not found.get("id"):
            raise ProviderError(f"no NetSuite customer with internal id or external id {text!r}")
        return str(found["id"])

    def _currency(self, code: str) -> dict[str, str]:
        code = (code or "").upper()
        with self._lock:
            if code not in self._currency_ids and not self._currencies_loaded:
                self._currencies_loaded = True
                for row in self.suiteql("SELECT id, symbol FROM currency"):
                    self._currency_ids.setdefault(str(row.get("symbol", "")).upper(), str(row["id"]))
        if code not in self._currency_ids:
            raise ProviderError(f"NetSuite has no currency {code} (add it under Lists > Accounting > Currencies, "
                                "or map it with netsuite.currencies)")
        return {"id": self._currency_ids[code]}

    # --- record bodies -------------------------------------------------------------------------------

    def _setting_ref(self, key: str, what: str) -> dict[str, str]:
        value = self.settings.get(key)
        if not value:
            raise ProviderError(f"{what}: set netsuite.{key} (the NetSuite item to book it on)")
        return reference(value)

    def _item(self, line: LinePayload) -> dict[str, str]:
        mapped = self.item_map.get(line.item_id) if line.item_id else None
        if mapped is None:
            mapped = next((eid for name, eid in line.item_connections if name.lower() == "netsuite"), None)
        if mapped is None:
            mapped = self.settings.get("default_item")
        if not mapped:
            item = f"{line.item_id} ({line.item_name})" if line.item_name else str(line.item_id)
            raise ProviderError(f"Orb item {item} has no NetSuite item: map it with netsuite.item_map "
                                f"({line.item_id}: <NetSuite item id>), or give it an external connection named "
                                "netsuite in Orb, or set netsuite.default_item")
        return reference(mapped)

    def _lines(self, lines: Sequence[LinePayload], *, service_dates: bool) -> list[dict]:
        start_field, end_field = self.settings["service_start_field"], self.settings["service_end_field"]
        out = []
        for l in lines:
            v: dict[str, Any] = {"item": self._item(l), "description": (l.description or "")[:4000],
                                 "quantity": l.quantity, "amount": l.amount}
            if service_dates and l.start_date:
                v[start_field] = _iso(l.start_date)
                if l.end_date:   # Orb's end is exclusive, NetSuite's inclusive
                    v[end_field] = _iso(max(l.start_date, l.end_date - dt.timedelta(days=1)))
            out.append(v)
        return out

    def _header(self, eid: str, currency: str, on: dt.date, memo: str) -> dict[str, Any]:
        body: dict[str, Any] = {"externalId": eid, "currency": self._currency(currency), "tranDate": _iso(on),
                                "memo": memo[:999]}
        if self.settings.get("subsidiary"):
            body["subsidiary"] = reference(self.settings["subsidiary"])
        return body

    def _customer_body(self, c: CustomerPayload) -> dict[str, Any]:
        body: dict[str, Any] = {"externalId": external_id(c.orb_id), "companyName": (c.name or c.orb_id)[:83],
                                "isPerson": False}
        if c.email:
            body["email"] = c.email
        if c.currency:
            body["currency"] = self._currency(c.currency)
        if self.settings.get("subsidiary"):
            body["subsidiary"] = reference(self.settings["subsidiary"])
        return body

    def _invoice_body(self, inv: InvoicePayload) -> dict[str, Any]:
        memo = f"Orb invoice {inv.number or inv.orb_id}" + (f": {inv.memo}" if inv.memo else "")
        body = self._header(external_id(inv.orb_id), inv.currency, inv.invoice_date, memo)
        body["entity"] = {"id": inv.customer_provider_id}
        if inv.due_date:
            body["dueDate"] = _iso(inv.due_date)
        field = self.settings.get("invoice_number_field")
        if field and inv.number:
            body[field] = inv.number
        lines = self._lines(inv.lines, service_dates=True)
        if inv.tax:
            lines.append({"item": self._setting_ref("tax_item", "the invoice has tax"), "description": "Tax (Orb)",
                          "amount": inv.tax})
        if inv.adjustment_amount:
            lines.append({"item": self._setting_ref("adjustment_item", "the invoice has an invoice-level amount "
                                                    f"{inv.adjustment_amount} on no line"),
                          "description": "Invoice-level adjustment (Orb)", "amount": inv.adjustment_amount})
        if inv.customer_balance_applied:
            lines.append({"item": self._setting_ref("customer_balance_item", "Orb applied "
                                                    f"{inv.customer_balance_applied} of the customer's balance"),
                          "description": "Customer balance applied (Orb)", "amount": -inv.customer_balance_applied})
        if not lines:
            raise ProviderError("the invoice has no line to send (NetSuite needs at least one)")
        body["item"] = {"items": lines}
        return body

    def _journal(self, eid: str, currency: str, on: dt.date, memo: str,
                 lines: list[tuple[dict[str, str], Decimal, str | None]]) -> dict[str, Any]:
        """A journal entry: (account, amount debit-positive, customer id or None) per line."""
        body = self._header(eid, currency, on, memo)
        items = []
        for account, amount, entity in lines:
            v: dict[str, Any] = {"account": account, "memo": memo[:999]}
            v["debit" if amount > 0 else "credit"] = abs(amount)
            if entity:
                v["entity"] = {"id": entity}
            items.append(v)
        body["line"] = {"items": items}
        return body

    def _account(self, key: str, what: str) -> dict[str, str]:
        value = (self.settings.get("accounts") or {}).get(key)
        if not value:
            raise ProviderError(f"{what}: set netsuite.accounts.{key} (the NetSuite account's internal id)")
        return reference(value)

    def _bank(self, currency: str) -> dict[str, str]:
        account = self.bank_accounts.get((currency or "").upper())
        if not account:
            raise ProviderError(f"no bank account for {currency}: set netsuite.bank_accounts.{currency} (the "
                                "NetSuite bank account payments in that currency are deposited to)")
        return reference(account)

    # --- creates -------------------------------------------------------------------------------------

    def create(self, object_type: str, payloads: Sequence[Any]) -> list[Outcome]:
        payloads = list(payloads)
        if not payloads:
            return []
        blocked = self._free_voided(payloads) if object_type == INVOICE else {}
        write = {CUSTOMER: self._write_customer, INVOICE: self._write_invoice, CREDIT_MEMO: self._write_memo,
                 PAYMENT: self._write_payment, BALANCE_TRANSACTION: self._write_balance}[object_type]

        def one(i: int) -> Outcome:
            p = payloads[i]
            if p.orb_id in blocked:
                return Outcome(p.orb_id, None, blocked[p.orb_id])
            try:
                kind, ref = write(p)
            except ProviderError as exc:
                self._clean_aux(object_type, p)
                return Outcome(p.orb_id, None, str(exc))
            return Outcome(p.orb_id, pending_ref=ref) if kind == "job" else Outcome(p.orb_id, ref)

        outcomes = self._parallel(one, len(payloads))
        if self.async_mode and self.async_wait > 0:
            outcomes = self._await_jobs(object_type, payloads, outcomes)
        return outcomes

    def _parallel(self, fn: Callable[[int], Outcome], n: int) -> list[Outcome]:
        """fn(0..n-1) on `concurrency` threads, in order. When the provider is unreachable (or an answer was lost),
        the others still finish; then the first such error stops the run."""
        if self.concurrency <= 1 or n <= 1:
            return [fn(i) for i in range(n)]
        results: list[Outcome | None] = [None] * n
        errors: list[ProviderUnavailable] = []
        with ThreadPoolExecutor(max_workers=min(self.concurrency, n)) as pool:
            futures = {pool.submit(fn, i): i for i in range(n)}
            for future, i in futures.items():
                try:
                    results[i] = future.result()
                except ProviderUnavailable as exc:
                    errors.append(exc)
        if errors:
            lost = [e for e in errors if isinstance(e, AnswerLost)]
            raise (lost or errors)[0]
        return [r for r in results if r is not None]

    def _main_write(self, object_type: str, eid: str, body: dict, on: dt.date) -> tuple[str, str]:
        return self._upsert(RECORDS[object_type], eid, body, REPLACE.get(object_type), on,
                            asynchronous=self.async_mode)

    def _write_customer(self, c: CustomerPayload) -> tuple[str, str]:
        return self._upsert("customer", external_id(c.orb_id), self._customer_body(c), None, None,
                            asynchronous=self.async_mode)

    def _write_invoice(self, inv: InvoicePayload) -> tuple[str, str]:
        return self._main_write(INVOICE, external_id(inv.orb_id), self._invoice_body(inv), inv.invoice_date)

    def _write_memo(self, m: CreditMemoPayload) -> tuple[str, str]:
        eid = external_id(m.orb_id)
        about = f"Orb credit note {m.number or m.orb_id} on invoice {m.invoice_number or m.invoice_orb_id}"
        body = self._header(eid, m.currency, m.memo_date, about + (f": {m.reason}" if m.reason else ""))
        body["entity"] = {"id": m.customer_provider_id}
        lines = self._lines(m.lines, service_dates=False)
        if m.tax_amount:
            lines.append({"item": self._setting_ref("tax_item", "the credit note has tax"),
                          "description": "Tax (Orb)", "amount": m.tax_amount})
        body["item"] = {"items": lines}
        if m.credit_target == RECEIVABLE:
            # applied to its invoice; NetSuite fills the amount when the memo is written (at most what is still
            # open there), also when an asynchronous job runs after other applications
            applies = [(m.invoice_provider_id, None)]
        else:
            # Orb put the credit in the customer's balance (or paid it out): a journal entry moves it from the
            # receivable to the customer-balance liability (or out of the bank); the memo is applied to it.
            contra = (self._account("customer_balance", "a credit note Orb put in the customer's balance")
                      if m.credit_target == CUSTOMER_BALANCE else self._bank(m.currency))
            journal = self._journal(eid + TRANSFER, m.currency, m.memo_date,
                                    f"{about}: credit moved to the customer "
                                    + ("balance" if m.credit_target == CUSTOMER_BALANCE else "(refunded)"),
                                    [(self._account("receivable", "a credit note moved to the customer balance"),
                                      m.total, m.customer_provider_id),
                                     (contra, -m.total,
                                      m.customer_provider_id if m.credit_target == CUSTOMER_BALANCE else None)])
            _, journal_id = self._upsert("journalEntry", eid + TRANSFER, journal, "line", m.memo_date)
            applies = [(journal_id, m.total)]
        body["apply"] = {"items": [{"doc": {"id": str(doc)}, "apply": True, **({"amount": amount} if amount else {})}
                                   for doc, amount in applies]}
        return self._main_write(CREDIT_MEMO, eid, body, m.memo_date)

    def _write_payment(self, p: PaymentPayload) -> tuple[str, str]:
        eid = external_id(p.orb_id)
        memo = (f"Orb payment {p.orb_id} of invoice {p.invoice_number or p.invoice_orb_id}"
                + (f" ({p.payment_provider} {p.payment_provider_id})" if p.payment_provider_id else ""))
        body = self._header(eid, p.currency, p.payment_date, memo)
        body["customer"] = {"id": p.customer_provider_id}
        if p.settled_from == CUSTOMER_BALANCE:
            # settled from the customer's balance: a journal entry takes it from the liability to the receivable,
            # and a payment of 0 applies that credit to the invoice.
            journal = self._journal(eid + FROM_BALANCE, p.currency, p.payment_date, memo + " from the customer balance",
                                    [(self._account("customer_balance", "an invoice settled from the customer "
                                                    "balance"), p.amount, p.customer_provider_id),
                                     (self._account("receivable", "an invoice settled from the customer balance"),
                                      -p.amount, p.customer_provider_id)])
            _, journal_id = self._upsert("journalEntry", eid + FROM_BALANCE, journal, "line", p.payment_date)
            body.update({"payment": Decimal(0), "undepFunds": True,
                         "credit": {"items": [{"doc": {"id": journal_id}, "apply": True, "amount": p.amount}]}})
        else:
            body.update({"payment": p.amount, "account": self._bank(p.currency)})
        # applied to its invoice; NetSuite fills the amount (at most what is open there: the rest stays unapplied)
        body["apply"] = {"items": [{"doc": {"id": str(p.invoice_provider_id)}, "apply": True}]}
        return self._main_write(PAYMENT, eid, body, p.payment_date)

    def _write_balance(self, b: BalanceTransactionPayload) -> tuple[str, str]:
        what = f"a customer-balance {b.action.replace('_', ' ')}"
        contra = {CASH: lambda: (self._bank(b.currency), None),
                  "adjustments": lambda: (self._account("balance_adjustments", what), None),
                  RECEIVABLE: lambda: (self._account("receivable", what), b.customer_provider_id)}[b.contra]()
        memo = (f"Orb customer balance: {b.action.replace('_', ' ')}" + (f" ({b.description})" if b.description else ""))
        body = self._journal(external_id(b.orb_id), b.currency, b.transaction_date, memo,
                             [(contra[0], b.amount, contra[1]),
                              (self._account("customer_balance", what), -b.amount, b.customer_provider_id)])
        return self._main_write(BALANCE_TRANSACTION, external_id(b.orb_id), body, b.transaction_date)

    def _clean_aux(self, object_type: str, payload: Any) -> None:
        """A memo or payment NetSuite refused: the journal entry written for it first is taken out again."""
        suffix = {CREDIT_MEMO: TRANSFER, PAYMENT: FROM_BALANCE}.get(object_type)
        if suffix is None:
            return
        try:
            self._delete("journalEntry", f"eid:{external_id(payload.orb_id)}{suffix}", None,
                         f"DELETE journalEntry of {payload.orb_id}")
        except ProviderError:
            pass

    # --- asynchronous jobs ---------------------------------------------------------------------------

    def _job(self, job_id: str) -> tuple[str, Any]:
        """The state of one job: ("pending", None), ("done", internal id or None), ("failed", reason) or
        ("unknown", None) when NetSuite does not know the job (any more)."""
        what = f"GET async job {job_id}"
        resp = self._send("GET", f"{ASYNC_JOB}/{job_id}", idempotent=True, what=what)
        if resp.status_code == 404:
            return "unknown", None
        if resp.status_code != 200:
            raise ProviderUnavailable(str(self._refusal(resp, what)))
        job = _json(resp) or {}
        if not job.get("completed"):
            return "pending", None
        tasks = self._send("GET", f"{ASYNC_JOB}/{job_id}/task", idempotent=True, what=what + " tasks")
        items = (_json(tasks) or {}).get("items") or [] if tasks.status_code == 200 else []
        if not items:
            return "unknown", None
        task_id = str(items[0].get("id") or "")
        if not task_id:
            href = next((l.get("href") for l in items[0].get("links") or [] if l.get("rel") == "self"), "") or ""
            task_id = href.rstrip("/").rsplit("/", 1)[-1]
        result = self._send("GET", f"{ASYNC_JOB}/{job_id}/task/{task_id}/result", idempotent=True,
                            what=what + " result")
        if result.status_code in (200, 201, 204):
            body = _json(result)
            pid = self._record_id(result) or (str(body["id"]) if isinstance(body, dict) and body.get("id") else None)
            return "done", pid
        if result.status_code == 404 and self._details(result) is None:
            return "unknown", None
        return "failed", result

    def _job_outcomes(self, object_type: str, items: list[tuple[str, str, dt.date | None]]) -> list[Outcome]:
        """(orb id, job id, date) -> Outcome: synced, failed with the job's error, still pending, or not_found."""
        if self.concurrency > 1 and len(items) > 1:
            with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
                states = list(pool.map(self._job, [job for _, job, _ in items]))
        else:
            states = [self._job(job) for _, job, _ in items]
        lookup = [orb for (orb, _, _), (state, pid) in zip(items, states)
                  if state == "unknown" or (state == "done" and not pid)]
        found = self.find(object_type, lookup) if lookup else {}
        out = []
        for (orb, job, on), (state, value) in zip(items, states):
            if state == "pending":
                out.append(Outcome(orb, pending_ref=job))
            elif state == "done":
                pid = value or found.get(orb)
                out.append(Outcome(orb, pid) if pid else Outcome(orb, not_found=True))
            elif state == "failed":
                err = self._refusal(value, f"the asynchronous job {job}", on)
                if isinstance(err, ProviderUnavailable):
                    raise err
                out.append(Outcome(orb, None, f"{err} (asynchronous job {job})"))
            else:
                out.append(Outcome(orb, found[orb]) if orb in found else Outcome(orb, not_found=True))
        return out

    def _await_jobs(self, object_type: str, payloads: list, outcomes: list[Outcome]) -> list[Outcome]:
        """Wait up to async_wait seconds for the jobs just sent; what completes is settled now, the rest stays
        pending for a later run."""
        deadline = time.monotonic() + self.async_wait
        outcomes = list(outcomes)
        pause = 0.1
        while True:
            waiting = [i for i, o in enumerate(outcomes) if o.pending_ref]
            if not waiting:
                return outcomes
            settled = self._job_outcomes(object_type, [(payloads[i].orb_id, outcomes[i].pending_ref,
                                                        _date_of(payloads[i])) for i in waiting])
            for i, out in zip(waiting, settled):
                if out.not_found:        # the job is gone and so is the record: keep it pending, looked up later
                    continue
                if out.error is not None:
                    self._clean_aux(object_type, payloads[i])
                outcomes[i] = out
            if time.monotonic() >= deadline or not any(o.pending_ref for o in outcomes):
                return outcomes
            time.sleep(min(pause, max(0.05, deadline - time.monotonic())))
            pause = min(2.0, pause * 2)

    def settle(self, object_type: str, pendings: Sequence[Pending]) -> list[Outcome]:
        """Pending writes of an earlier run: a job is polled (synced, failed with its error, or still pending);
        an attempt without a job is looked up by its external id (the base rule)."""
        jobs = [p for p in pendings if p.pending_ref]
        plain = [p for p in pendings if not p.pending_ref]
        by_orb = {}
        if jobs:
            for p, out in zip(jobs, self._job_outcomes(object_type, [(p.orb_id, p.pending_ref, None) for p in jobs])):
                if out.error is not None:
                    self._clean_aux(object_type, _Orb(p.orb_id))
                by_orb[id(p)] = out
        if plain:
            for p, out in zip(plain, super().settle(object_type, plain)):
                by_orb[id(p)] = out
        return [by_orb[id(p)] for p in pendings]

    # --- removals ------------------------------------------------------------------------------------

    def remove(self, object_type: str, removals: Sequence[Removal]) -> list[Outcome]:
        def one(r: Removal) -> str:
            if object_type == INVOICE:
                self._void_invoice(r)
            elif object_type == CREDIT_MEMO:
                self._delete("creditMemo", r.provider_id, r.on_date, f"DELETE creditMemo of {r.orb_id}")
                self._delete("journalEntry", f"eid:{external_id(r.orb_id)}{TRANSFER}", r.on_date,
                             f"DELETE the credit transfer of {r.orb_id}")
            elif object_type == PAYMENT:
                self._delete("customerPayment", r.provider_id, r.on_date, f"DELETE customerPayment of {r.orb_id}")
                self._delete("journalEntry", f"eid:{external_id(r.orb_id)}{FROM_BALANCE}", r.on_date,
                             f"DELETE the balance transfer of {r.orb_id}")
            elif object_type == BALANCE_TRANSACTION:
                self._delete("journalEntry", r.provider_id, r.on_date, f"DELETE journalEntry of {r.orb_id}")
            else:
                raise ProviderError(f"a {object_type} cannot be removed")
            return None  # type: ignore[return-value]

        out = []
        for r in removals:
            try:
                one(r)
                out.append(Outcome(r.orb_id, None))
            except ProviderError as exc:
                out.append(Outcome(r.orb_id, None, str(exc)))
        return out

    def _void_invoice(self, r: Removal) -> None:
        """The REST API has no void: by default a credit memo transformed from the invoice (applied to it, its
        external id the invoice's + `--void-<invoice id>`) reverses it, dated the void (a resync: the invoice's
        own date, so no period changes); with invoice_void: delete, the invoice is deleted (NetSuite refuses
        while something is applied to it). A voided invoice keeps its external id until a new invoice needs it."""
        current = self._get("invoice", r.provider_id, "externalId,tranDate")
        if current is None:
            return                                              # deleted already
        if self.settings["invoice_void"] == "delete":
            self._delete("invoice", r.provider_id, r.on_date, f"DELETE invoice of {r.orb_id}")
            return
        void_eid = f"{current.get('externalId') or external_id(r.orb_id)}{VOID}{r.provider_id}"
        if self._get("creditMemo", f"eid:{void_eid}") is not None:
            return                                              # voided already
        issued = dt.date.fromisoformat(str(current.get("tranDate"))[:10]) if current.get("tranDate") else r.on_date
        on = issued if r.why == "resync" else max(r.on_date, issued)
        what = f"POST invoice {r.provider_id} !transform creditMemo"
        resp = self._send("POST", f"{RECORD}/invoice/{r.provider_id}/!transform/creditMemo",
                          body={"externalId": void_eid, "tranDate": _iso(on),
                                "memo": f"Void of Orb invoice {r.orb_id} ({r.why})"},
                          idempotent=False, what=what)
        if resp.status_code not in (200, 201, 204):
            raise self._refusal(resp, what, on)

    def _free_voided(self, invoices: Sequence[InvoicePayload]) -> dict[str, str]:
        """Before an invoice is created again (a resync, an invoice un-voided), the voided invoice that still holds
        its external id gets `--voided-<id>` appended to it, so the upsert creates a new invoice. Returns
        {orb id: why not} for the ones NetSuite would not rename (a closed period)."""
        held = self._find_eids(INVOICE, [external_id(p.orb_id) for p in invoices], with_voided=True)
        blocked: dict[str, str] = {}
        for eid, pid in held.items():
            if not pid.startswith("voided:"):
                continue
            pid = pid.split(":", 1)[1]
            what = f"PATCH invoice {pid} (a voided invoice holding external id {eid})"
            resp = self._send("PATCH", f"{RECORD}/invoice/{pid}", body={"externalId": f"{eid}{VOIDED}{pid}"},
                              idempotent=True, what=what)
            if resp.status_code not in (200, 204):
                err = self._refusal(resp, what)
                if isinstance(err, ProviderUnavailable):
                    raise err
                blocked[orb_id_of(eid)] = f"{err} ({what})"
        return blocked

    # --- balances (reconcile) ------------------------------------------------------------------------

    def balances(self, as_of: dt.date) -> list[BalanceLine]:
        """Posting lines dated on or before `as_of`, summed per account, transaction type, currency and customer
        (SuiteQL over transactionaccountingline), read back as reconcile's kinds in the transaction currency."""
        day = _iso(as_of)
        rows = self.suiteql(
            "SELECT tal.account AS account, t.type AS type, t.currency AS currency, c.externalid AS customer, "
            f"CASE WHEN t.externalid LIKE '%{VOID}%' THEN 'T' ELSE 'F' END AS isvoid, "
            "SUM(tl.foreignamount) AS amount "
            "FROM transactionaccountingline tal "
            "INNER JOIN transactionline tl ON tl.transaction = tal.transaction AND tl.id = tal.transactionline "
            "INNER JOIN transaction t ON t.id = tal.transaction "
            "LEFT JOIN customer c ON c.id = tl.entity "
            f"WHERE tal.posting = 'T' AND t.trandate <= TO_DATE('{day}', 'YYYY-MM-DD') "
            "GROUP BY tal.account, t.type, t.currency, c.externalid, "
            f"CASE WHEN t.externalid LIKE '%{VOID}%' THEN 'T' ELSE 'F' END")
        currencies = {str(r["id"]): str(r.get("symbol", "")).upper() for r in self.suiteql("SELECT id, symbol FROM currency")}
        kinds = self._account_kinds()
        sums: dict[tuple, Decimal] = {}
        for r in rows:
            account, ttype = str(r.get("account")), str(r.get("type"))
            amount = Decimal(str(r.get("amount") or "0"))
            kind = kinds.get(account)
            if kind is None:
                if ttype == "CustInvc" or (ttype == "CustCred" and r.get("isvoid") == "T"):
                    kind = "revenue"
                elif ttype == "CustCred":
                    kind = "credit_notes"
                else:
                    continue
            customer = orb_id_of(r["customer"]) if kind in ("receivable", "customer_balance") and r.get("customer") \
                else None
            key = (kind, currencies.get(str(r.get("currency")), str(r.get("currency"))), customer)
            sums[key] = sums.get(key, Decimal(0)) + amount
        credit_positive = {"customer_balance", "revenue", "tax", "adjustments"}
        return [BalanceLine(kind, currency, -amount if kind in credit_positive else amount, customer)
                for (kind, currency, customer), amount in sorted(sums.items(), key=lambda kv: tuple(map(str, kv[0])))
                if amount or kind in ("receivable", "customer_balance")]

    def _account_kinds(self) -> dict[str, str]:
        """The account of each balance kind: configured accounts, the accounts of the tax and adjustment items,
        the bank accounts and every Accounts Receivable and Bank account."""
        kinds: dict[str, str] = {}
        items = {k: self.settings.get(k) for k in ("tax_item", "adjustment_item", "customer_balance_item")}
        wanted = [v for v in items.values() if v]
        if wanted:
            ids = [v for v in wanted if str(v).isdigit()]
            eids = [reference(v)["externalId"] for v in wanted if not str(v).isdigit()]
            cond = " OR ".join(filter(None, [f"id IN ({', '.join(ids)})" if ids else "",
                                              "externalid IN ({})".format(", ".join(f"'{e}'" for e in eids))
                                              if eids else ""]))
            rows = self.suiteql(f"SELECT id, externalid, incomeaccount FROM item WHERE {cond}")
            account_of = {}
            for row in rows:
                account_of[str(row["id"])] = str(row.get("incomeaccount"))
                if row.get("externalid"):
                    account_of[str(row["externalid"])] = str(row.get("incomeaccount"))
            for key, kind in (("tax_item", "tax"), ("adjustment_item", "adjustments"),
                              ("customer_balance_item", "customer_balance")):
                value = items.get(key)
                if value:
                    account = account_of.get(str(value)) or account_of.get(reference(value).get("externalId", ""))
                    if account:
                        kinds[account] = kind
        for row in self.suiteql("SELECT id, accttype FROM account WHERE accttype IN ('AcctRec', 'Bank')"):
            kinds.setdefault(str(row["id"]), "receivable" if row.get("accttype") == "AcctRec" else "cash")
        accounts = self.settings.get("accounts") or {}
        for key, kind in (("receivable", "receivable"), ("customer_balance", "customer_balance"),
                          ("balance_adjustments", "balance_adjustments")):
            if accounts.get(key) and str(accounts[key]).isdigit():
                kinds[str(accounts[key])] = kind
        for account in self.bank_accounts.values():
            if str(account).isdigit():
                kinds[str(account)] = "cash"
        return kinds


class _Orb:
    """A stand-in payload carrying only an Orb id (cleaning up after a failed job of an earlier run)."""

    def __init__(self, orb_id: str):
        self.orb_id = orb_id


def _date_of(payload: Any) -> dt.date | None:
    for name in ("invoice_date", "memo_date", "payment_date", "transaction_date"):
        value = getattr(payload, name, None)
        if value is not None:
            return value
    return None


__all__ = ["NetSuiteProvider", "TokenAuth", "ClientCredentialsAuth", "external_id", "orb_id_of", "reference"]
