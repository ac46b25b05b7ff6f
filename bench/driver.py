"""The load driver: pushes discharge Bundles and pulls care plans over HTTP (async httpx).

Every run is bounded twice, by a request count and by a deadline, and only ever addresses the
loopback server it was given. Each answer is checked, not only timed: a push must come back
``200`` with a transaction-response holding one entry per request entry, and a pull
``CarePlan?patient=...&_include=CarePlan:goal`` must hold exactly one matching CarePlan and every
Goal that CarePlan names. A failed check is counted and reported next to the figures; it is never
silently part of a latency.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

from bench.server import LOOPBACK

FHIR_JSON = "application/fhir+json"


@dataclass
class Timings:
    """Per-request latencies (seconds) of one measured phase and the wall time it took."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0  # the driver's own CPU seconds (it shares the machine with the server)
    errors: list[str] = field(default_factory=list)

    def summary(self, per_request_units: float = 1.0) -> dict[str, Any]:
        done = len(self.latencies)
        ordered = sorted(self.latencies)
        return {
            "requests": done,
            "errors": len(self.errors),
            "first_errors": self.errors[:3],
            "wall_s": round(self.wall, 3),
            "per_s": round(done / self.wall, 2) if self.wall else 0.0,
            "units_per_s": round(done * per_request_units / self.wall, 1) if self.wall else 0.0,
            "p50_ms": _ms(percentile(ordered, 50)),
            "p95_ms": _ms(percentile(ordered, 95)),
            "p99_ms": _ms(percentile(ordered, 99)),
            "max_ms": _ms(ordered[-1] if ordered else None),
            "driver_cpu_ms_per_request": round(self.cpu / done * 1000, 2) if done else None,
        }


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value * 1000, 2)


def percentile(ordered: Sequence[float], pct: float) -> float | None:
    """Nearest-rank percentile of an ascending list (None when empty)."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(min(rank, len(ordered))) - 1]


def _check_loopback(base_url: str) -> None:
    host = httpx.URL(base_url).host
    if host not in (LOOPBACK, "localhost", "::1"):
        raise ValueError(f"the load driver only targets loopback, not {host}")


def _run_loop(main: Coroutine[Any, Any, Timings]) -> Timings:
    """Run the driver on uvloop where it is installed (uvicorn[standard] brings it): the driver
    shares the cores with the server, and every CPU millisecond it saves is the server's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)


async def _run(
    jobs: Sequence[Any],
    concurrency: int,
    deadline_s: float,
    one: Callable[[httpx.AsyncClient, Any], Awaitable[str | None]],
    base_url: str,
) -> Timings:
    """Run ``one`` over ``jobs`` with ``concurrency`` in flight; stop taking new jobs at the
    deadline. ``one`` returns an error text or None."""
    _check_loopback(base_url)
    timings = Timings()
    queue = list(reversed(jobs))
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    timeout = httpx.Timeout(120.0)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=timeout) as client:
        start = time.perf_counter()
        cpu_start = time.process_time()
        stop_at = start + deadline_s

        async def worker() -> None:
            while queue and time.perf_counter() < stop_at:
                job = queue.pop()
                began = time.perf_counter()
                try:
                    problem = await one(client, job)
                except httpx.HTTPError as exc:
                    problem = f"{type(exc).__name__}: {exc}"
                if problem is None:
                    timings.latencies.append(time.perf_counter() - began)
                else:
                    timings.errors.append(problem)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        timings.wall = time.perf_counter() - start
        timings.cpu = time.process_time() - cpu_start
    return timings


# -- push -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushJob:
    number: int
    body: bytes
    entries: int


@dataclass
class PushResult:
    timings: Timings
    patients: dict[int, str]  # discharge number -> Patient id the server assigned


def push(base_url: str, jobs: Sequence[PushJob], concurrency: int, deadline_s: float) -> PushResult:
    """POST each Bundle to the base; 200 with one response entry per entry counts as done."""
    patients: dict[int, str] = {}

    async def one(client: httpx.AsyncClient, job: PushJob) -> str | None:
        response = await client.post("", content=job.body, headers={"content-type": FHIR_JSON})
        if response.status_code != 200:
            return f"push {job.number}: HTTP {response.status_code} {response.text[:300]}"
        answer = orjson.loads(response.content)
        entries = answer.get("entry") or []
        if answer.get("type") != "transaction-response" or len(entries) != job.entries:
            return f"push {job.number}: {len(entries)} response entries for {job.entries}"
        location = entries[0].get("response", {}).get("location", "")
        if not location.startswith("Patient/"):
            return f"push {job.number}: first entry is not the Patient ({location!r})"
        patients[job.number] = location.split("/")[1]
        return None

    timings = _run_loop(_run(jobs, concurrency, deadline_s, one, base_url))
    return PushResult(timings, patients)


# -- pull -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PullJob:
    patient_id: str
    goals: int


def pull_url(patient_id: str) -> str:
    return f"CarePlan?patient=Patient/{patient_id}&_include=CarePlan:goal"


def check_pull(answer: dict[str, Any], job: PullJob) -> str | None:
    """None when the searchset holds the one CarePlan and every Goal it names."""
    entries = answer.get("entry") or []
    plans = [e["resource"] for e in entries if e.get("search", {}).get("mode") == "match"]
    goals = {
        f"Goal/{e['resource']['id']}"
        for e in entries
        if e.get("search", {}).get("mode") == "include"
        and e["resource"].get("resourceType") == "Goal"
    }
    if len(plans) != 1 or plans[0].get("resourceType") != "CarePlan":
        return f"pull {job.patient_id}: {len(plans)} CarePlans matched, expected 1"
    named = {g.get("reference") for g in plans[0].get("goal", [])}
    if len(named) != job.goals or not named <= goals:
        return f"pull {job.patient_id}: CarePlan names {len(named)} Goals, {len(goals)} included"
    return None


def pull(base_url: str, jobs: Sequence[PullJob], concurrency: int, deadline_s: float) -> Timings:
    async def one(client: httpx.AsyncClient, job: PullJob) -> str | None:
        response = await client.get(pull_url(job.patient_id), headers={"accept": FHIR_JSON})
        if response.status_code != 200:
            return f"pull {job.patient_id}: HTTP {response.status_code} {response.text[:300]}"
        return check_pull(orjson.loads(response.content), job)

    return _run_loop(_run(jobs, concurrency, deadline_s, one, base_url))
