"""One hot path in a loop, to profile it: ``python -m bench.hot validate|search|bulk [--loops N]``.

The before/after profiles of bench/RESULTS.md come from these loops, profiled with pyinstrument
(the measured loop only, not the warm-up) or with py-spy (the whole process)::

    python -m bench.hot validate --pyinstrument validate.txt
    py-spy record --format raw --rate 400 --output search.txt -- python -m bench.hot search
    python -m bench.profiling search.txt

- ``validate``: every entry of unseen discharges through the full validator (what ``prepare``
  does for each entry of a pushed Bundle);
- ``search``: the care-plan pull through the repository (``CarePlan?patient=...&_include=
  CarePlan:goal``) on a SQLite store of 10k resources made on first use;
- ``bulk``: the repository's bulk path into a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from adapter.search.parser import parse_search
from adapter.store.sql import SqlRepository
from adapter.validation.validator import validate
from bench.preload import preload
from bench.workload import discharge, stored_resources


def _validate(loops: int, profile: Path | None) -> float:
    for n in range(1_000_000, 1_000_020):  # warm the tables on other discharges
        for resource in stored_resources(discharge(1, n)):
            validate(resource)
    items = [stored_resources(discharge(1, n)) for n in range(loops)]
    with _profiled(profile):
        started = time.process_time()
        for resources in items:
            for resource in resources:
                validate(resource)
        return (time.process_time() - started) / loops


@contextmanager
def _profiled(target: Path | None) -> Iterator[None]:
    """pyinstrument over the measured loop only (not the warm-up), as text, when asked."""
    if target is None:
        yield
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.0005)
    profiler.start()
    try:
        yield
    finally:
        profiler.stop()
        target.write_text(profiler.output_text(unicode=False, color=False))


def _search(loops: int, work: Path, profile: Path | None) -> float:
    url = f"sqlite:///{work / 'hot-search.db'}"
    preload(url, 1, 10_000, 0, 600)
    repo = SqlRepository.from_url(url)
    patients = [discharge(1, n).patient_id for n in range(500)]
    try:
        with _profiled(profile):
            started = time.process_time()
            for i in range(loops):
                query = parse_search(
                    "CarePlan",
                    [("patient", f"Patient/{patients[i % 500]}"), ("_include", "CarePlan:goal")],
                ).query
                with repo.transaction(read_only=True) as tx:
                    tx.search(query)
            return (time.process_time() - started) / loops
    finally:
        repo.close()


def _bulk(loops: int, work: Path, profile: Path | None) -> float:
    repo = SqlRepository.from_url(f"sqlite:///{work / 'hot-bulk.db'}")
    resources = [r for n in range(loops) for r in stored_resources(discharge(1, n))]
    try:
        with _profiled(profile):
            started = time.process_time()
            repo.bulk_load(resources, batch_size=2000)
            return (time.process_time() - started) / len(resources)
    finally:
        repo.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hot")
    parser.add_argument("path", choices=["validate", "search", "bulk"])
    parser.add_argument("--loops", type=int, default=0)
    parser.add_argument("--pyinstrument", type=Path, help="write a profile of the loop here")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="forlop-hot-"))
    try:
        if args.path == "validate":
            per = _validate(args.loops or 100, args.pyinstrument)
            unit = "Bundle's entries"
        elif args.path == "search":
            per = _search(args.loops or 5000, work, args.pyinstrument)
            unit = "search"
        else:
            per = _bulk(args.loops or 1500, work, args.pyinstrument)
            unit = "resource"
        print(f"{args.path}: {per * 1000:.3f} ms CPU per {unit}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
