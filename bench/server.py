"""The server under test: a real ``forlop serve`` subprocess on a free 127.0.0.1 port.

The harness never talks to anything but loopback. Peak resident memory is read from
``/proc/<pid>/status`` (``VmHWM``, the kernel's high-water mark, so no sample can miss a peak),
summed over the server process and its children (``--workers N`` forks them). PostgreSQL runs
in a schema of the benchmark's own, created here and dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx
import psycopg

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def forlop_command() -> list[str]:
    """``forlop`` of this interpreter's environment (the editable install), else the module."""
    script = Path(sys.executable).with_name("forlop")
    return [str(script)] if script.exists() else [sys.executable, "-m", "adapter.cli"]


def serve_flags() -> list[str]:
    """``--insecure-dev`` when this forlop has it: authentication is on by default once it
    exists, and the benchmark measures the loopback development server."""
    shown = subprocess.run(
        [*forlop_command(), "serve", "--help"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    ).stdout
    return ["--insecure-dev"] if "--insecure-dev" in shown else []


def _status_kb(pid: int, key: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def _children(pid: int) -> list[int]:
    found: list[int] = []
    try:
        tasks = Path(f"/proc/{pid}/task").iterdir()
        for task in tasks:
            text = (task / "children").read_text().split()
            found.extend(int(c) for c in text)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return found


@dataclass
class Server:
    """A running ``forlop serve``; ``peak_rss_mb`` is its high-water mark so far."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path
    workers: int
    pids: set[int] = field(default_factory=set)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/fhir"

    def _tree(self) -> list[int]:
        pids = [self.process.pid]
        for pid in list(pids):
            pids.extend(_children(pid))
        self.pids.update(pids)
        return pids

    def peak_rss_mb(self) -> float:
        """Sum of VmHWM over the server's processes (MiB)."""
        return sum(_status_kb(pid, "VmHWM") for pid in self._tree()) / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU time used so far by the server's processes."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in self._tree():
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError):
                continue
            total += (int(fields[11]) + int(fields[12])) / ticks
        return total

    def worker_pids(self) -> list[int]:
        """The processes that serve requests (the children with ``--workers`` > 1)."""
        tree = self._tree()
        return tree[1:] if self.workers > 1 and len(tree) > 1 else tree[:1]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


@contextmanager
def running(database_url: str, log_dir: Path, *, name: str, workers: int = 1) -> Iterator[Server]:
    """``forlop serve`` on ``database_url`` until the block ends (waits for /readyz)."""
    port = free_port()
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / f"server-{name}.log"
    command = [
        *forlop_command(),
        "serve",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--database-url",
        database_url,
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        *serve_flags(),
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    server = Server(process, port, log, workers)
    try:
        _wait_ready(server, timeout=120)
        yield server
    finally:
        server.stop()


def _wait_ready(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    url = f"http://{LOOPBACK}:{server.port}/readyz"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"forlop serve exited; see {server.log}:\n{server.log.read_text()}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"forlop serve was not ready within {timeout} s; see {server.log}")


# -- databases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Database:
    """One database under test: its forlop URL and how to reach it with a raw driver."""

    kind: str  # "sqlite" or "postgres"
    url: str
    path: Path | None = None  # SQLite file
    admin_url: str | None = None  # PostgreSQL server, for the schema
    schema: str | None = None


def with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}options={quote(f'-csearch_path={schema}')}"


@contextmanager
def database(kind: str, work: Path, postgres_url: str) -> Iterator[Database]:
    """A fresh, empty database of ``kind``, removed when the block ends."""
    if kind == "sqlite":
        directory = work / "sqlite"
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)
        path = directory / "forlop-bench.db"
        try:
            yield Database("sqlite", f"sqlite:///{path}", path=path)
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        return
    if kind != "postgres":
        raise ValueError(f"unknown database {kind!r}: use sqlite or postgres")
    schema = f"forlop_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(postgres_url, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE SCHEMA "{schema}"')
        try:
            yield Database(
                "postgres",
                with_search_path(postgres_url, schema),
                admin_url=postgres_url,
                schema=schema,
            )
        finally:
            admin.execute(f'DROP SCHEMA "{schema}" CASCADE')


def machine() -> dict[str, str]:
    """What the figures were measured on."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    memory_kb = _meminfo_kb("MemTotal")
    import platform

    import sqlalchemy

    sqlite_version = __import__("sqlite3").sqlite_version
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "memory_gib": f"{memory_kb / 1024 / 1024:.1f}",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "sqlite": sqlite_version,
        "sqlalchemy": sqlalchemy.__version__,
        "psycopg": psycopg.__version__,
    }


def _meminfo_kb(key: str) -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def postgres_server_version(url: str) -> str:
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
        sync = conn.execute("SHOW synchronous_commit").fetchone()
        fsync = conn.execute("SHOW fsync").fetchone()
    settings = f"fsync={fsync[0] if fsync else '?'}, synchronous_commit={sync[0] if sync else '?'}"
    return f"{row[0] if row else '?'} ({settings})"
