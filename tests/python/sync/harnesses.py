"""Provider harnesses for the conformance suite (test_provider_conformance.py): one per provider, saying how to
point the sync at a live instance of it, how to lose the answer of a write, and how to make it echo a request.

Adding a provider to the suite is one Harness subclass here and one entry in HARNESSES.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from orb_finance.sync.providers import AnswerLost


class Harness:
    name = ""
    marks: tuple = ()
    has_secrets = True

    def __init__(self, request):
        self.request = request

    def settings(self) -> dict[str, Any]:
        """The settings mapping (provider and its section) that connect the sync to the live instance."""
        raise NotImplementedError

    def lose_next_answer(self, monkeypatch, object_type: str) -> None:
        """The next create of `object_type` reaches the provider (it is written) but its answer is lost."""
        raise NotImplementedError

    def echoing_settings(self, url: str) -> dict[str, Any]:
        """Settings that point the provider at `url` (a server that echoes every request in an error)."""
        raise NotImplementedError

    def secret(self) -> str:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """Environment variables holding the provider's test credentials."""
        return {}


class BeancountHarness(Harness):
    name = "beancount"
    has_secrets = False

    def settings(self):
        return {"provider": "beancount"}          # SyncSetup.write() adds the ledger path under tmp_path

    def lose_next_answer(self, monkeypatch, object_type):
        from orb_finance.sync.providers.beancount import BeancountProvider

        original = BeancountProvider.create
        state = {"done": False}

        def create(self, otype, payloads):
            outcomes = original(self, otype, payloads)
            if otype == object_type and not state["done"]:
                state["done"] = True
                raise AnswerLost("the answer of the ledger write was lost (test): the record stays pending")
            return outcomes
        monkeypatch.setattr(BeancountProvider, "create", create)


class TrytonHarness(Harness):
    name = "tryton"
    marks = (pytest.mark.tryton,)

    def settings(self):
        from .conftest import tryton_settings
        return tryton_settings(self.request.getfixturevalue("tryton"))

    def lose_next_answer(self, monkeypatch, object_type):
        from orb_finance.sync.providers.tryton import JsonRpc

        method = {"invoice": "model.account.invoice.post"}[object_type]
        original = JsonRpc.call
        state = {"done": False}

        def call(self, name, *params):
            result = original(self, name, *params)
            if name == method and not state["done"]:
                state["done"] = True
                raise AnswerLost(f"no answer from Tryton to {name} (test): the record stays pending")
            return result
        monkeypatch.setattr(JsonRpc, "call", call)

    def secret(self):
        from .conftest import TRYTON_PASSWORD
        return TRYTON_PASSWORD

    def env(self):
        from .conftest import TRYTON_PASSWORD, TRYTON_PASSWORD_ENV
        return {TRYTON_PASSWORD_ENV: TRYTON_PASSWORD}

    def echoing_settings(self, url):
        from .conftest import TRYTON_PASSWORD_ENV
        return {"provider": "tryton", "tryton": {"url": url, "database": "orb", "user": "admin",
                                                 "password_env": TRYTON_PASSWORD_ENV, "retries": 0}}


class QuickBooksHarness(Harness):
    """The local QuickBooks sandbox (orb_finance/sync/sandbox/quickbooks.py), one per test. A lost answer: the
    create is committed and its connection dropped (commit_then_drop), and the lookups the provider makes to settle
    it within the run are dropped too, so the run cannot know and stops with the record pending."""
    name = "quickbooks"

    def sandbox(self):
        return self.request.getfixturevalue("qbo_sandbox")

    def settings(self):
        from .qbo import qbo_settings
        return qbo_settings(self.sandbox())

    def lose_next_answer(self, monkeypatch, object_type):
        from orb_finance.sync.providers.quickbooks import QuickBooksProvider
        from orb_finance.sync.sandbox import Fault

        sandbox, original, state = self.sandbox(), QuickBooksProvider.create, {"done": False}

        def create(provider, otype, payloads):
            if otype == object_type and not state["done"]:
                state["done"] = True
                lost = [Fault(r"^POST /v3/company/\d+/(invoice|batch)$", kind="commit_then_drop"),
                        Fault(r"^GET /v3/company/\d+/query$", kind="drop", count=10)]
                sandbox.faults += lost
                try:
                    return original(provider, otype, payloads)
                finally:            # the network is back for the next run
                    sandbox.faults[:] = [f for f in sandbox.faults if f not in lost]
            return original(provider, otype, payloads)
        monkeypatch.setattr(QuickBooksProvider, "create", create)

    def secret(self):
        return self.sandbox().credentials()["QBO_CLIENT_SECRET"]

    def env(self):
        from .qbo import env_names
        return env_names(self.sandbox())

    def echoing_settings(self, url):
        from .qbo import qbo_settings
        settings = qbo_settings(self.sandbox())
        settings["quickbooks"].update(base_url=url, token_url=f"{url}/oauth2/v1/tokens/bearer", retries=0)
        return settings


class NetSuiteHarness(Harness):
    """A NetSuite sandbox of its own per test (in this process, on a free 127.0.0.1 port), token-based auth."""
    name = "netsuite"

    @property
    def sandbox(self):
        if getattr(self, "_sandbox", None) is None:
            from .netsuite_support import start_sandbox
            self._sandbox = start_sandbox(self.request)
        return self._sandbox

    def settings(self):
        from .netsuite_support import netsuite_settings
        return netsuite_settings(self.sandbox)

    def lose_next_answer(self, monkeypatch, object_type):
        from orb_finance.sync.providers.netsuite import RECORDS
        from orb_finance.sync.sandbox import Fault

        self.sandbox.faults.append(Fault(match=rf"^PUT /services/rest/record/v1/{RECORDS[object_type]}/eid:",
                                         kind="commit_then_drop"))

    def secret(self):
        return self.sandbox.credentials()["NETSUITE_CONSUMER_KEY"]     # sent in every request's OAuth header

    def env(self):
        return self.sandbox.credentials()

    def echoing_settings(self, url):
        from .netsuite_support import netsuite_settings
        raw = netsuite_settings(self.sandbox)
        raw["netsuite"].update(base_url=url, retries=0)
        return raw


HARNESSES = [BeancountHarness, TrytonHarness, QuickBooksHarness, NetSuiteHarness]


class EchoServer:
    """An HTTP server (a misbehaving provider or proxy) that answers every request with an error page quoting
    the request: its headers and body, secrets included."""

    def __init__(self, status: int = 500):
        outer = self
        self.status = status

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _echo(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                page = (f"<html><body><h1>Error</h1><p>Cannot route {self.command} {self.path}: "
                        f"{body.decode('utf-8', 'replace')}</p><pre>{self.headers}</pre></body></html>").encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            do_GET = do_POST = do_PUT = do_DELETE = _echo

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def dump(value: Any) -> str:
    return json.dumps(value, default=str)
