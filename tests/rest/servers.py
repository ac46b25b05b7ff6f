"""Real ``forlop serve`` processes for the durability and concurrency tests.

A :class:`Server` is the command line server started as its own OS process group on a free
loopback port, with a given database URL, and waited for until ``/readyz`` answers. It can be
stopped politely or killed with SIGKILL (the whole group, so ``--workers`` children die too).
:class:`Servers` owns every process it started and stops them all when it closes, whatever the
test did. :func:`servers_on` pairs it with a database of the test's own: a SQLite file or a
PostgreSQL schema, reachable (or skipped, or failed with ``FORLOP_TEST_REQUIRE_POSTGRES=1``)
exactly as in tests/store. :func:`transition_bundle` is the conditional transaction they push.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import psycopg
import pytest

from tests.store.conftest import _postgres_base_url, _with_search_path

HOST = "127.0.0.1"
FHIR_JSON = {"content-type": "application/fhir+json"}
# Generous limits for a loaded machine; they bound waiting, nothing asserts on them.
READY_WITHIN_S = 90.0
REQUEST_TIMEOUT_S = 120.0
STOP_WITHIN_S = 20.0
_START_ATTEMPTS = 3


def free_port() -> int:
    """A loopback port nobody listens on right now (the server binds it a moment later)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def client(base_url: str) -> httpx.Client:
    """An HTTP client for one server that ignores proxy settings of the environment."""
    return httpx.Client(base_url=base_url, timeout=REQUEST_TIMEOUT_S, trust_env=False)


def _environment() -> dict[str, str]:
    # Settings come from the command line only; FORLOP_* of the shell must not leak in.
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORLOP_")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


class ServerFailed(RuntimeError):
    """The server process exited or never became ready."""


class Server:
    """One running ``forlop serve`` process group."""

    def __init__(self, database_url: str, log_path: Path, port: int, workers: int) -> None:
        self.log_path = log_path
        self.port = port
        self.workers = workers
        # PostgreSQL sessions carry the server's name, so that a kill can wait for them to end.
        self.session_name = f"forlop-test-{port}-{uuid.uuid4().hex[:8]}"
        self.postgres = database_url.startswith(("postgres://", "postgresql"))
        if self.postgres:
            separator = "&" if "?" in database_url else "?"
            database_url = f"{database_url}{separator}application_name={self.session_name}"
        self.database_url = database_url
        forlop = Path(sys.executable).with_name("forlop")
        command = [
            str(forlop),
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--database-url",
            database_url,
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--insecure-dev",
        ]
        with log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=_environment(),
                start_new_session=True,
            )

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def fhir(self) -> str:
        return f"{self.url}/fhir"

    def client(self) -> httpx.Client:
        return client(self.fhir)

    def log(self) -> str:
        text = self.log_path.read_text(errors="replace")
        return text[-4000:]

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WITHIN_S
        with client(self.url) as probe:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise ServerFailed(
                        f"forlop serve exited with {self.process.returncode}:\n{self.log()}"
                    )
                try:
                    if probe.get("/readyz", timeout=5).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise ServerFailed(f"forlop serve on port {self.port} never became ready:\n{self.log()}")

    def group(self) -> list[int]:
        """Live process ids of the server's process group (Linux /proc): parent and workers."""
        members = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # "pid (comm) state ppid pgrp ...": comm may hold spaces, so split after ")".
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[2]) == self.process.pid and fields[0] != "Z":
                members.append(int(stat.parent.name))
        return members

    def _signal_group(self, signum: signal.Signals) -> None:
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        """SIGKILL the process and its children at once: no shutdown code runs.

        On PostgreSQL this returns once the server's sessions are gone, that is once the
        database has rolled back (or finished committing) what the dead process had begun.
        """
        self._signal_group(signal.SIGKILL)
        self.process.wait()
        if self.postgres:
            self._wait_sessions_ended()

    def _wait_sessions_ended(self) -> None:
        deadline = time.monotonic() + STOP_WITHIN_S
        with psycopg.connect(self.database_url, autocommit=True) as admin:
            while time.monotonic() < deadline:
                left = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name = %s AND pid <> pg_backend_pid()",
                    (self.session_name,),
                ).fetchone()
                if left is not None and left[0] == 0:
                    return
                time.sleep(0.05)
        raise ServerFailed(f"the sessions of the killed server {self.session_name} never ended")

    def stop(self) -> None:
        """SIGTERM (uvicorn's graceful shutdown), SIGKILL if that does not end it."""
        if self.process.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(timeout=STOP_WITHIN_S)
            except subprocess.TimeoutExpired:
                pass
        # Workers of --workers may outlive their parent for a moment: end the whole group.
        self.kill()


class Servers:
    """Starts servers on one database and stops every one of them on close."""

    def __init__(self, database_url: str, log_dir: Path) -> None:
        self.database_url = database_url
        self.log_dir = log_dir
        self.started: list[Server] = []

    def start(self, *, workers: int = 1) -> Server:
        """A ready server; a lost race for the free port is retried on another one."""
        failure: ServerFailed | None = None
        for _ in range(_START_ATTEMPTS):
            log_path = self.log_dir / f"server-{len(self.started)}.log"
            server = Server(self.database_url, log_path, free_port(), workers)
            self.started.append(server)
            try:
                server.wait_ready()
                return server
            except ServerFailed as exc:
                server.stop()
                failure = exc
                if "address already in use" not in server.log().lower():
                    break
        assert failure is not None
        raise failure

    def start_many(self, count: int) -> list[Server]:
        """``count`` servers started at the same moment (they migrate and seed concurrently)."""
        servers = [
            Server(self.database_url, self.log_dir / f"server-{len(self.started) + i}.log", p, 1)
            for i, p in enumerate(_distinct_ports(count))
        ]
        self.started.extend(servers)
        for server in servers:
            server.wait_ready()
        return servers

    def close(self) -> None:
        """Stop every server, even when stopping one of them fails."""
        failures: list[ServerFailed] = []
        for server in self.started:
            try:
                server.stop()
            except ServerFailed as exc:
                failures.append(exc)
        if failures:
            raise failures[0]

    def __enter__(self) -> Servers:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _distinct_ports(count: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


@contextmanager
def postgres_schema(request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh PostgreSQL schema of its own (dropped afterwards), as a database URL."""
    request.getfixturevalue("postgres_url")  # skips, or fails when PostgreSQL is required
    base = _postgres_base_url()
    schema = f"forlop_serve_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield _with_search_path(base, schema)
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


@contextmanager
def database_url(backend: str, request: pytest.FixtureRequest, directory: Path) -> Iterator[str]:
    """A database of its own for the servers of one test: a SQLite file or a PostgreSQL schema."""
    if backend == "sqlite":
        yield f"sqlite:///{directory / 'forlop.db'}"
        return
    with postgres_schema(request) as url:
        yield url


@contextmanager
def servers_on(backend: str, request: pytest.FixtureRequest, directory: Path) -> Iterator[Servers]:
    """:class:`Servers` on a fresh database of ``backend``; all stopped, database dropped, after."""
    with database_url(backend, request, directory) as url, Servers(url, directory) as servers:
        yield servers


# --- the transaction Bundle the tests push ---------------------------------------------------

TEST_SYSTEM = "http://forlop.no/fhir/sid/rest-test"
GOALS = ("Gå i trapper", "Handle selv", "Dusje uten hjelp")


def _entry(rtype: str, value: str, resource: dict[str, Any], conditional: str) -> dict[str, Any]:
    identifier = {"system": TEST_SYSTEM, "value": value}
    criteria = f"identifier={TEST_SYSTEM}|{value}"
    if conditional == "create":
        request = {"method": "POST", "url": rtype, "ifNoneExist": criteria}
    else:
        request = {"method": "PUT", "url": f"{rtype}?{criteria}"}
    return {
        "fullUrl": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{TEST_SYSTEM}|{value}')}",
        "resource": {"resourceType": rtype, "identifier": [identifier], **resource},
        "request": request,
    }


def transition_bundle(key: str) -> dict[str, Any]:
    """A transaction like a discharge: Patient, Encounter, CarePlan, 3 Goals, 3 Observations.

    Every entry is conditional on its own identifier ``<key>-<part>`` (see :func:`identifiers`);
    references use urn:uuid fullUrls and, for the goals' subject, a conditional reference.
    """
    patient = _entry("Patient", f"{key}-patient", {"name": [{"family": "Testesen"}]}, "create")
    patient_ref = {"reference": str(patient["fullUrl"])}
    encounter = _entry(
        "Encounter",
        f"{key}-encounter",
        {
            "status": "finished",
            "class": {
                "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                "code": "IMP",
            },
            "subject": patient_ref,
        },
        "update",
    )
    goals = [
        _entry(
            "Goal",
            f"{key}-goal-{n}",
            {
                "lifecycleStatus": "active",
                "description": {"text": text},
                "subject": {"reference": f"Patient?identifier={TEST_SYSTEM}|{key}-patient"},
            },
            "create",
        )
        for n, text in enumerate(GOALS)
    ]
    observations = [
        _entry(
            "Observation",
            f"{key}-score-{n}",
            {
                "status": "final",
                "code": {"text": f"PSFS: {text}"},
                "subject": patient_ref,
                "focus": [{"reference": str(goal["fullUrl"])}],
                "valueInteger": n + 3,
            },
            "update",
        )
        for n, (text, goal) in enumerate(zip(GOALS, goals, strict=True))
    ]
    careplan = _entry(
        "CarePlan",
        f"{key}-careplan",
        {
            "status": "active",
            "intent": "plan",
            "subject": patient_ref,
            "encounter": {"reference": str(encounter["fullUrl"])},
            "goal": [{"reference": str(goal["fullUrl"])} for goal in goals],
        },
        "update",
    )
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [patient, encounter, careplan, *goals, *observations],
    }


def identifiers(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    """(resource type, identifier value) of every entry of a :func:`transition_bundle`."""
    entries = bundle["entry"]
    assert isinstance(entries, list)
    return [
        (e["resource"]["resourceType"], e["resource"]["identifier"][0]["value"]) for e in entries
    ]


def find(http: httpx.Client, resource_type: str, value: str) -> list[dict[str, Any]]:
    """The resources of a type carrying ``TEST_SYSTEM|value``."""
    response = http.get(resource_type, params={"identifier": f"{TEST_SYSTEM}|{value}"})
    assert response.status_code == 200, response.text
    entries = response.json().get("entry", [])
    return [e["resource"] for e in entries if e["resource"]["resourceType"] == resource_type]
