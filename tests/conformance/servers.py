"""``forlop serve`` as its own process on a free loopback port, for the conformance tests.

The runner talks HTTP, so the server under test is the real command line server: started with a
SQLite file or a PostgreSQL schema of the test session's own, waited for until ``/readyz``
answers, and stopped (SIGTERM, then SIGKILL) when the session ends.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg
import pytest

HOST = "127.0.0.1"
DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
# Generous bounds for a loaded machine; they bound waiting, nothing asserts on them.
READY_WITHIN_S = 90.0
STOP_WITHIN_S = 15.0


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


class ServerFailed(RuntimeError):
    """The server process exited or never became ready."""


class ForlopServer:
    """One running ``forlop serve`` process."""

    def __init__(self, database_url: str, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        command = [
            str(Path(sys.executable).with_name("forlop")),
            "serve",
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--database-url",
            database_url,
            "--log-level",
            "warning",
            "--insecure-dev",
        ]
        # Settings come from the command line only: FORLOP_* of the shell must not leak in.
        env = {k: v for k, v in os.environ.items() if not k.startswith("FORLOP_")}
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}/fhir"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WITHIN_S
        with httpx.Client(trust_env=False) as probe:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerFailed(f"forlop serve exited:\n{self.log()}")
                try:
                    if probe.get(f"http://{HOST}:{self.port}/readyz", timeout=5).is_success:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise ServerFailed(f"forlop serve never became ready:\n{self.log()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@contextmanager
def running_server(database_url: str, log_dir: Path) -> Iterator[ForlopServer]:
    """A ready server; a port lost to another process in the meantime is retried."""
    for attempt in range(3):
        server = ForlopServer(database_url, log_dir / f"forlop-{attempt}.log")
        try:
            server.wait_ready()
            break
        except ServerFailed:
            server.stop()
            if attempt == 2 or "address already in use" not in server.log().lower():
                raise
    try:
        yield server
    finally:
        server.stop()


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL whose connections work in a fresh schema, dropped afterwards.

    Skips when PostgreSQL cannot be reached, unless ``FORLOP_TEST_REQUIRE_POSTGRES=1``.
    """
    base = os.environ.get("FORLOP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        admin = psycopg.connect(base, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {base} is not reachable ({exc.__class__.__name__})"
        if os.environ.get("FORLOP_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}, and FORLOP_TEST_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(f"{reason}; set FORLOP_TEST_POSTGRES_URL to test on PostgreSQL")
    schema = f"forlop_conformance_{uuid.uuid4().hex[:12]}"
    separator = "&" if "?" in base else "?"
    with admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield f"{base}{separator}options={quote(f'-csearch_path={schema}')}"
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
