"""Local stand-ins for vendor accounting APIs (`orbfin sync sandbox <vendor>`): product code users try the sync
against, speaking each vendor's documented shapes and errors. Production code never imports from here.

Owns what every sandbox shares: a threaded HTTP server on 127.0.0.1, a state directory whose JSON store
survives restarts (written atomically after each change), the request log (JSON Lines: method, path,
request_body, status, response_body; secrets redacted), fault injection (a queue of scripted answers, set by
the constructor or by `POST /_sandbox/faults`), and `--settings-out` (a settings file that connects the sync to
the sandbox, plus `FILE.env` with `export` lines for its test credentials). A vendor module subclasses Sandbox
and implements `handle`.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from ... import redact

VENDORS = ("quickbooks", "netsuite")


@dataclass
class Request:
    method: str
    path: str                       # without the query string
    query: dict[str, str]
    headers: dict[str, str]         # lower-case names
    body: bytes
    raw_path: str = ""

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8")) if self.body else None


@dataclass
class Response:
    status: int
    body: Any = None                 # dict/list → JSON; str/bytes → as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body, default=str).encode("utf-8")


@dataclass
class Fault:
    """A scripted answer: the next `count` requests whose "METHOD path" matches `match` (a regex) get `status`
    with `body` (after `delay` seconds); kind "drop" closes the connection without an answer, and
    "commit_then_drop" lets the request through, then drops the answer."""
    match: str = ".*"
    status: int = 500
    body: Any = None
    kind: str = "answer"             # answer | drop | commit_then_drop | slow
    count: int = 1
    delay: float = 0.0
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


class Sandbox:
    vendor = ""

    def __init__(self, directory: str | os.PathLike[str] | None = None, *, request_log: str | None = None,
                 faults: list[Fault] | None = None):
        self.directory = Path(directory) if directory else None
        self.request_log = Path(request_log) if request_log else None
        self.faults: list[Fault] = list(faults or [])
        self.lock = threading.RLock()
        self.server: ThreadingHTTPServer | None = None
        self.state: dict[str, Any] = self.load_state()

    # --- state ------------------------------------------------------------------------------------------

    def initial_state(self) -> dict[str, Any]:
        return {}

    def _state_file(self) -> Path | None:
        return self.directory / f"{self.vendor}-sandbox.json" if self.directory else None

    def load_state(self) -> dict[str, Any]:
        path = self._state_file()
        if path is not None and path.exists():
            return json.loads(path.read_text(encoding="utf-8"))
        return self.initial_state()

    def save_state(self) -> None:
        path = self._state_file()
        if path is None:
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1, default=str), encoding="utf-8")
        os.replace(tmp, path)

    # --- serving ----------------------------------------------------------------------------------------

    def handle(self, request: Request) -> Response:           # pragma: no cover - vendor modules implement it
        raise NotImplementedError

    def start(self, port: int = 0) -> "Sandbox":
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
                req = Request(self.command, urllib.parse.unquote(parts.path), query,
                              {k.lower(): v for k, v in self.headers.items()}, body, self.path)
                resp, drop = sandbox.dispatch(req)
                if drop:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(2)
                    except OSError:
                        pass
                    return
                data = resp.payload()
                self.send_response(resp.status)
                if data:
                    self.send_header("Content-Type", resp.content_type)
                for k, v in resp.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def dispatch(self, req: Request) -> tuple[Response, bool]:
        """Admin endpoints, scripted faults, then the vendor's handler; every exchange logged."""
        if req.path == "/_sandbox/faults" and req.method == "POST":
            with self.lock:
                self.faults.extend(Fault(**f) for f in (req.json() or []))
            return Response(204), False
        fault = self._take_fault(req)
        if fault is not None and fault.delay:
            time.sleep(fault.delay)
        if fault is not None and fault.kind == "answer":
            resp = Response(fault.status, fault.body, dict(fault.headers), fault.content_type)
            self.log(req, resp)
            return resp, False
        if fault is not None and fault.kind == "drop":
            self.log(req, None)
            return Response(0), True
        with self.lock:
            resp = self.handle(req)
        self.log(req, resp)
        return resp, fault is not None and fault.kind == "commit_then_drop"

    def _take_fault(self, req: Request) -> Fault | None:
        with self.lock:
            for f in self.faults:
                if re.search(f.match, f"{req.method} {req.path}"):
                    f.count -= 1
                    if f.count <= 0:
                        self.faults.remove(f)
                    return f
        return None

    def log(self, req: Request, resp: Response | None) -> None:
        if self.request_log is None:
            return
        def body(data: bytes | Any, content_type: str | None) -> Any:
            if isinstance(data, (bytes, bytearray)):
                text = data.decode("utf-8", "replace")
                if not text:
                    return None
                try:
                    return redact.redact_data(json.loads(text))
                except ValueError:
                    return redact.redact(text)
            return redact.redact_data(data)
        entry = {"method": req.method, "path": redact.redact(req.raw_path or req.path),
                 "request_body": body(req.body, req.headers.get("content-type")),
                 "status": resp.status if resp is not None else None,
                 "response_body": body(resp.payload(), resp.content_type) if resp is not None else None}
        with self.lock:
            self.request_log.parent.mkdir(parents=True, exist_ok=True)
            with open(self.request_log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry, ensure_ascii=False, default=str) + "\n")

    # --- trying the sync against it -------------------------------------------------------------------

    def settings(self) -> dict[str, Any]:
        """The settings mapping (provider and its section) that connect the sync to this sandbox."""
        raise NotImplementedError

    def credentials(self) -> dict[str, str]:
        """Environment variables holding this sandbox's test credentials."""
        raise NotImplementedError

    def write_settings(self, path: str | os.PathLike[str]) -> tuple[Path, Path]:
        """`path`: a complete settings file; `path.env`: export lines for the test credentials."""
        target = Path(path).resolve()
        target.parent.mkdir(parents=True, exist_ok=True)
        header = (f"# Settings that connect `orbfin sync run --config {target.name}` to the local {self.vendor} sandbox\n"
                  f"# at {self.url} (written by `orbfin sync sandbox {self.vendor} --settings-out`). First run:\n"
                  f"#   source {target.name}.env\n")
        target.write_text(header + yaml.safe_dump(self.settings(), sort_keys=False), encoding="utf-8")
        env = target.with_name(target.name + ".env")
        env.write_text("".join(f"export {k}={_shell_quote(v)}\n" for k, v in self.credentials().items()),
                       encoding="utf-8")
        env.chmod(0o600)
        return target, env


def _shell_quote(value: str) -> str:
    return "'" + value.replace("'", "'\"'\"'") + "'"


def sandbox_class(vendor: str) -> type[Sandbox]:
    module = importlib.import_module(f"orb_finance.sync.sandbox.{vendor}")
    return module.SANDBOX


def cli(args, console) -> int:
    """`orbfin sync sandbox VENDOR --port P [--dir DIR] [--request-log FILE] [--settings-out FILE]`: serve until
    Ctrl-C."""
    from ... import paths

    cls = sandbox_class(args.vendor)
    sandbox = cls(paths.cli_path(args.dir) if args.dir else None,
                  request_log=str(paths.cli_path(args.request_log)) if args.request_log else None)
    sandbox.start(args.port)
    console.print(f"{args.vendor} sandbox on {sandbox.url}" + (f", state in {sandbox.directory}" if sandbox.directory else "")
                  + (f", request log {sandbox.request_log}" if sandbox.request_log else ""), markup=False)
    if args.settings_out:
        settings, env = sandbox.write_settings(paths.cli_path(args.settings_out))
        console.print(f"settings: {settings}\ncredentials: source {env}\nthen: orbfin sync run --config {settings}",
                      markup=False)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
    return 0
