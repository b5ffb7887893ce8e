"""The Tryton JSON-RPC client's error policy, against a local HTTP server that answers what each test scripts:
transient trouble (503, 429, a locked database) is retried within the run; a refusal is final for the record;
a write whose answer was lost is never sent twice.
"""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from orb_finance.sync.providers import ProviderUnavailable
from orb_finance.sync.providers.tryton import JsonRpc, TrytonError


class Scripted:
    """An HTTP server on 127.0.0.1 whose answers are taken in order from a list; records what it received."""

    def __init__(self, answers):
        self.answers, self.received = list(answers), []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                outer.received.append(body["method"])
                kind, payload = outer.answers.pop(0)
                if kind == "drop":                     # read the request, then hang up without answering
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                data = json.dumps(payload).encode() if kind == 200 else b"busy"
                self.send_response(kind)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True          # a kept-alive client connection never blocks shutdown
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def scripted():
    servers = []

    def make(answers):
        s = Scripted(answers)
        servers.append(s)
        return s
    yield make
    for s in servers:
        s.close()


def client(server) -> JsonRpc:
    return JsonRpc(server.url, "orb", "admin", "pw", retries=3, backoff=0.01, timeout=5)


def test_busy_answers_are_retried_with_backoff(scripted):
    server = scripted([(503, None), (429, None), (200, {"id": 0, "result": [7]})])
    assert client(server).call("model.account.invoice.create", [{}], {}) == [7]
    assert server.received == ["model.account.invoice.create"] * 3


def test_a_locked_database_is_retried(scripted):
    server = scripted([(200, {"id": 0, "error": ["database is locked", ""]}), (200, {"id": 0, "result": True})])
    assert client(server).call("model.account.invoice.post", [1], {}) is True
    assert len(server.received) == 2


def test_a_user_error_is_final_with_trytons_message(scripted):
    server = scripted([(200, {"id": 0, "error": ["UserError", ["The code on party must be unique.", "", None]]})])
    with pytest.raises(TrytonError, match="^The code on party must be unique.$"):
        client(server).call("model.party.party.create", [{}], {})
    assert len(server.received) == 1


def test_a_write_whose_answer_is_lost_is_not_sent_again(scripted):
    server = scripted([("drop", None), (200, {"id": 0, "result": [8]})])
    with pytest.raises(ProviderUnavailable, match="stays pending"):
        client(server).call("model.account.invoice.create", [{}], {})
    assert server.received == ["model.account.invoice.create"]          # once, never twice


def test_a_read_whose_answer_is_lost_is_asked_again(scripted):
    server = scripted([("drop", None), (200, {"id": 0, "result": [{"id": 1}]})])
    assert client(server).call("model.party.party.search_read", [], 0, None, None, ["code"], {}) == [{"id": 1}]
    assert len(server.received) == 2


def test_an_unreachable_server_stops_the_run(scripted):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rpc = JsonRpc(f"http://127.0.0.1:{port}", "orb", "admin", "pw", retries=2, backoff=0.01)
    with pytest.raises(ProviderUnavailable, match=f"cannot reach Tryton at http://127.0.0.1:{port}"):
        rpc.call("model.account.invoice.create", [{}], {})
