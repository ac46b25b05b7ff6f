"""In-process micro-benchmarks of the hot paths (``timeit``, best of several repeats).

Each figure is the time of one operation on the workload's own data, in milliseconds: the best
of ``repeats`` runs of ``number`` operations (the least disturbed by other processes on a shared
machine), with the median beside it.
"""

from __future__ import annotations

import statistics
import timeit
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

from adapter.fhir.json_codec import parse_json
from adapter.mapping.psfs import extract
from adapter.search.parser import parse_search
from adapter.store.indexing import default_indexer
from adapter.store.sql import SqlRepository
from adapter.validation.validator import validate
from bench.workload import Discharge, stored_resources

_PSFS_RESPONSE = (
    Path(__file__).resolve().parent.parent
    / "fixtures"
    / "pathways"
    / "astrid-fjellheim"
    / "fhir"
    / "psfs-baseline.json"
)


def _measure(fn: Callable[[], Any], number: int, repeats: int) -> dict[str, float]:
    fn()  # warm caches (compiled expressions, validator tables)
    runs = timeit.repeat(fn, number=number, repeat=repeats)
    per = [run / number * 1000 for run in runs]
    return {"best_ms": round(min(per), 4), "median_ms": round(statistics.median(per), 4)}


def hot_paths(items: Sequence[Discharge], *, quick: bool) -> dict[str, dict[str, float]]:
    """parse + validate a Bundle, PSFS extraction, index extraction of a Bundle's resources."""
    repeats = 3 if quick else 5
    bodies = [orjson.dumps(item.bundle) for item in items]
    resources = [stored_resources(item) for item in items]
    psfs = orjson.loads(_PSFS_RESPONSE.read_bytes())
    indexer = default_indexer()
    position = {"n": 0}

    def cycle() -> int:
        position["n"] = (position["n"] + 1) % len(items)
        return position["n"]

    def parse_validate() -> None:
        validate(parse_json(bodies[cycle()]))

    def validate_entries() -> None:
        for resource in resources[cycle()]:
            validate(resource)

    def index_bundle() -> None:
        for resource in resources[cycle()]:
            indexer.index(resource)

    n = 3 if quick else 10
    return {
        "parse_json_bundle": _measure(lambda: parse_json(bodies[cycle()]), n * 10, repeats),
        "orjson_loads_bundle": _measure(lambda: orjson.loads(bodies[cycle()]), n * 10, repeats),
        "parse_validate_bundle": _measure(parse_validate, n, repeats),
        "validate_entries_of_bundle": _measure(validate_entries, n, repeats),
        "psfs_extract": _measure(lambda: extract(psfs), n * 5, repeats),
        "index_bundle_resources": _measure(index_bundle, n * 10, repeats),
    }


def one_search(url: str, patient_ids: Sequence[str], *, quick: bool) -> dict[str, float]:
    """``CarePlan?patient=...&_include=CarePlan:goal`` through the repository, no HTTP."""
    repo = SqlRepository.from_url(url)
    position = {"n": 0}

    def search() -> None:
        position["n"] = (position["n"] + 1) % len(patient_ids)
        query = parse_search(
            "CarePlan",
            [("patient", f"Patient/{patient_ids[position['n']]}"), ("_include", "CarePlan:goal")],
        ).query
        with repo.transaction(read_only=True) as tx:
            page = tx.search(query)
        if len(page.matches) != 1:
            raise AssertionError(f"{len(page.matches)} CarePlans for one patient")

    try:
        return _measure(search, 20 if quick else 50, 3 if quick else 5)
    finally:
        repo.close()
