"""A deliberately wrong FHIR server: a proxy in front of a real forlop that breaks chosen answers.

Each :class:`Fault` names requests (method and path pattern) and what goes wrong with the answer:
a wrong status code, a resource that goes missing, a header left out, a wrong content type, a body
rewritten, or an answer made up without asking forlop at all. Everything else is forwarded as it
is, so a conformance run through the proxy fails exactly where a fault applies. The proxy also
records every request it sees, with its headers.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

import httpx

HOST = "127.0.0.1"
_HOP_BY_HOP = {"connection", "content-length", "transfer-encoding", "keep-alive", "server", "date"}
_FORWARDED = ("accept", "content-type", "prefer", "if-match", "if-none-exist", "authorization")


@dataclass(frozen=True)
class Fault:
    """What goes wrong with the answers to ``method`` requests whose path matches ``path``."""

    name: str
    method: str | None  # None: every method
    path: str  # regular expression over the request path (query excluded)
    status: int | None = None
    drop_headers: tuple[str, ...] = ()
    content_type: str | None = None
    rewrite: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    answer: dict[str, Any] | None = None  # answered without forwarding

    def applies(self, method: str, path: str) -> bool:
        return (self.method in (None, method)) and re.fullmatch(self.path, path) is not None


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class WrongServer:
    """``with WrongServer(upstream_base) as wrong:`` serves ``wrong.base_url`` until the end."""

    upstream: str  # base URL of the real server, e.g. http://127.0.0.1:8123/fhir
    faults: list[Fault] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._client = httpx.Client(timeout=60, trust_env=False)
        self._server = ThreadingHTTPServer((HOST, 0), _handler(self))
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self._server.server_address[1]}/fhir"

    def __enter__(self) -> WrongServer:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()

    def answer(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        path = target.split("?")[0]
        self.seen.append(Seen(method, path, headers))
        faults = [f for f in self.faults if f.applies(method, path)]
        made_up = next((f for f in faults if f.answer is not None), None)
        if made_up is not None:
            status = made_up.status or 200
            return (
                status,
                {"content-type": "application/fhir+json"},
                json.dumps(made_up.answer).encode(),
            )
        upstream = self.upstream.removesuffix("/fhir") + target
        forwarded = {k: v for k, v in headers.items() if k in _FORWARDED}
        reply = self._client.request(method, upstream, headers=forwarded, content=body or None)
        status = reply.status_code
        out = {k.lower(): v for k, v in reply.headers.items() if k.lower() not in _HOP_BY_HOP}
        content = reply.content
        for fault in faults:
            status = fault.status or status
            for name in fault.drop_headers:
                out.pop(name.lower(), None)
            if fault.content_type:
                out["content-type"] = fault.content_type
            if fault.rewrite and content:
                content = json.dumps(fault.rewrite(json.loads(content))).encode()
        return status, out, content


def _handler(owner: WrongServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def handle_one(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, out, content = owner.answer(self.command, self.path, headers, body)
            self.send_response(status)
            for name, value in out.items():
                self.send_header(name, value)
            self.send_header("content-length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = handle_one  # noqa: N815

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib's name
            return

    return Handler


def not_found(diagnostics: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "not-found", "diagnostics": diagnostics}],
    }
