"""Durability: SIGKILL of ``forlop serve`` in the middle of a stream of transaction pushes.

The promise (DESIGN: a transaction Bundle is one database transaction, acknowledged only after it
commits): after the server process dies without any shutdown code and is started again on the
same database, every Bundle that got its 200 transaction-response is there completely, with the
ids the response named, and every Bundle that got no answer is there completely or not at all,
never in part. Checked on a SQLite file and on PostgreSQL, several kill cycles each.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.rest.servers import (
    FHIR_JSON,
    Server,
    Servers,
    find,
    identifiers,
    servers_on,
    transition_bundle,
)

pytestmark = pytest.mark.slow  # real server processes, seconds each

CYCLES = 3
PUSHERS = 3
# The kill comes after this many acknowledged pushes (drawn per cycle) plus a short random pause.
ACKS_BEFORE_KILL = (2, 10)
PAUSE_BEFORE_KILL_S = (0.0, 0.04)
WAIT_FOR_ACKS_S = 120.0


@pytest.fixture(params=["sqlite", "postgres"])
def servers(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Servers]:
    with servers_on(request.param, request, tmp_path) as started:
        yield started


@dataclass
class Push:
    """One transaction Bundle sent to the server, and what came back (if anything)."""

    bundle: dict[str, Any]
    status: int | None = None
    body: dict[str, Any] | None = None
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.status == 200


@dataclass
class Stream:
    """Pushers sending fresh Bundles back to back until the server stops answering."""

    server: Server
    pushes: list[Push] = field(default_factory=list)
    acks: int = 0
    changed: threading.Condition = field(default_factory=threading.Condition)
    finished: int = 0

    def run(self) -> None:
        try:
            with self.server.client() as http:
                while True:
                    push = Push(transition_bundle(uuid.uuid4().hex))
                    with self.changed:
                        self.pushes.append(push)
                    try:
                        response = http.post("", json=push.bundle, headers=FHIR_JSON)
                    except httpx.TransportError as exc:
                        push.error = repr(exc)
                        return
                    push.status, push.body = response.status_code, response.json()
                    with self.changed:
                        self.acks += push.acknowledged
                        self.changed.notify_all()
        finally:
            with self.changed:
                self.finished += 1
                self.changed.notify_all()


def kill_during_pushes(server: Server, rng: random.Random) -> list[Push]:
    """Push from several clients, SIGKILL the server after a random number of acks."""
    stream = Stream(server)
    threads = [threading.Thread(target=stream.run) for _ in range(PUSHERS)]
    for thread in threads:
        thread.start()
    wanted = rng.randint(*ACKS_BEFORE_KILL)
    try:
        with stream.changed:
            reached = stream.changed.wait_for(
                lambda: stream.acks >= wanted or stream.finished > 0, timeout=WAIT_FOR_ACKS_S
            )
        assert reached and stream.finished == 0, f"pushes stopped early:\n{server.log()}"
        time.sleep(rng.uniform(*PAUSE_BEFORE_KILL_S))
    finally:
        server.kill()
        for thread in threads:
            thread.join()
    return stream.pushes


def stored_ids(http: httpx.Client, bundle: dict[str, Any]) -> list[list[str]]:
    """For each entry of the Bundle, the ids of the resources carrying its identifier."""
    return [
        [str(r["id"]) for r in find(http, rtype, value)] for rtype, value in identifiers(bundle)
    ]


def response_ids(push: Push) -> list[str]:
    assert push.body is not None
    return [e["fullUrl"].rsplit("/", 1)[1] for e in push.body["entry"]]


def check_links(http: httpx.Client, bundle: dict[str, Any], ids: list[str]) -> None:
    """The stored CarePlan and Goals point at the resources stored with them."""
    by_type: dict[str, list[str]] = {}
    for (rtype, _), rid in zip(identifiers(bundle), ids, strict=True):
        by_type.setdefault(rtype, []).append(rid)
    careplan = http.get(f"CarePlan/{by_type['CarePlan'][0]}").json()
    patient = f"Patient/{by_type['Patient'][0]}"
    assert careplan["subject"]["reference"] == patient
    assert careplan["encounter"]["reference"] == f"Encounter/{by_type['Encounter'][0]}"
    assert [g["reference"] for g in careplan["goal"]] == [f"Goal/{g}" for g in by_type["Goal"]]
    for goal_id in by_type["Goal"]:
        assert http.get(f"Goal/{goal_id}").json()["subject"]["reference"] == patient


def verify(server: Server, pushes: list[Push], seed: int) -> None:
    with server.client() as http:
        for push in pushes:
            found = stored_ids(http, push.bundle)
            counts = [len(ids) for ids in found]
            where = f"seed {seed}, bundle {identifiers(push.bundle)[0][1]}"
            if push.acknowledged:
                assert counts == [1] * len(counts), f"acknowledged yet incomplete ({where})"
                ids = [ids[0] for ids in found]
                assert ids == response_ids(push), f"other ids than acknowledged ({where})"
                check_links(http, push.bundle, ids)
            else:
                assert push.status is None, f"answered {push.status}: {push.body} ({where})"
                assert counts in ([0] * len(counts), [1] * len(counts)), (
                    f"unacknowledged Bundle stored in part: {counts} ({where})"
                )
                if counts[0] == 1:
                    check_links(http, push.bundle, [ids[0] for ids in found])


def test_killed_server_keeps_every_acknowledged_bundle_and_no_partial_one(
    servers: Servers,
) -> None:
    seed = random.SystemRandom().randrange(2**32)
    rng = random.Random(seed)
    server = servers.start()
    acknowledged = 0
    for _ in range(CYCLES):
        pushes = kill_during_pushes(server, rng)
        # Every pusher's last Bundle was cut off by the kill: in flight, or not yet sent.
        assert sum(p.error is not None for p in pushes) == PUSHERS, f"seed {seed}"
        server = servers.start()
        verify(server, pushes, seed)
        acknowledged += sum(p.acknowledged for p in pushes)
    assert acknowledged >= CYCLES * ACKS_BEFORE_KILL[0]
    with server.client() as http:
        after = transition_bundle(uuid.uuid4().hex)
        response = http.post("", json=after, headers=FHIR_JSON)
        assert response.status_code == 200, response.text
        assert all(len(ids) == 1 for ids in stored_ids(http, after))
