"""The benchmark in one command: ``python -m bench.run [--quick] [--sizes ...] [--databases ...]``.

For each database (a fresh SQLite file; a PostgreSQL schema of its own, dropped at the end):

1. start ``forlop serve`` on a free loopback port; push discharge Bundles at each concurrency
   (default 1, 8, 32), each phase bounded by a count and a deadline; record the server's peak RSS
   and CPU; then pull every pushed patient's care plan and check it;
2. insert the rows of the same Bundles with the bare driver (the raw-insert ceiling);
3. on a second, fresh database, for each store size: stop the server, fill the store through
   the repository's bulk path, start the server again, pull
   ``CarePlan?patient=...&_include=CarePlan:goal`` for a sample of patients at concurrency 8 and
   check every answer; then the bare-SQL pull ceiling and the same search in process.

Then the in-process micro-benchmarks, and the report (JSON, Markdown, PNG) in ``--out``.
"""

from __future__ import annotations

import argparse
import os
import random
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench import ceilings, driver, micro, profiling, report, server
from bench.preload import PreloadStep, preload
from bench.workload import discharge

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
PUSH_FIRST = 1_500_000  # push discharges never share a patient with preloaded ones
WARMUP_FIRST = 1_900_000


@dataclass
class Plan:
    quick: bool
    sizes: list[int]
    databases: list[str]
    out: Path
    seed: int
    push_count: int
    push_deadline: float
    concurrencies: list[int]
    pull_count: int
    pull_deadline: float
    pull_concurrency: int
    preload_deadline: float
    postgres_url: str
    profile: bool
    workers: int
    notes: list[str] = field(default_factory=list)


def _ints(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str]) -> Plan:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts and sizes (a minute)")
    parser.add_argument("--sizes", type=_ints, help="stored resources to pull at")
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--out", type=Path, default=Path("bench/out"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--push-count", type=int, help="Bundles per concurrency level")
    parser.add_argument("--push-deadline", type=float, help="seconds per concurrency level")
    parser.add_argument("--concurrency", type=_ints, default=[1, 8, 32])
    parser.add_argument("--pull-count", type=int, help="pulls per store size")
    parser.add_argument("--pull-deadline", type=float, help="seconds per store size")
    parser.add_argument("--pull-concurrency", type=int, default=8)
    parser.add_argument(
        "--preload-deadline", type=float, default=1800.0, help="seconds per preload step"
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get(
            "FORLOP_BENCH_POSTGRES_URL",
            os.environ.get("FORLOP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL),
        ),
    )
    parser.add_argument("--profile", action="store_true", help="py-spy profiles of the server")
    parser.add_argument("--workers", type=int, default=1, help="forlop serve --workers")
    args = parser.parse_args(argv)
    quick = bool(args.quick)
    return Plan(
        quick=quick,
        sizes=args.sizes or ([10_000, 30_000] if quick else [10_000, 100_000, 1_000_000]),
        databases=[d.strip() for d in args.databases.split(",") if d.strip()],
        out=args.out,
        seed=args.seed,
        push_count=args.push_count or (40 if quick else 1_000),
        push_deadline=args.push_deadline or (30.0 if quick else 120.0),
        concurrencies=args.concurrency,
        pull_count=args.pull_count or (100 if quick else 1_500),
        pull_deadline=args.pull_deadline or (30.0 if quick else 90.0),
        pull_concurrency=args.pull_concurrency,
        preload_deadline=args.preload_deadline,
        postgres_url=args.postgres_url,
        profile=bool(args.profile),
        workers=args.workers,
    )


def _log(message: str) -> None:
    print(f"[bench {datetime.now().strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _commit() -> str:
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return head + (" (with uncommitted changes)" if dirty else "")


# -- phases -----------------------------------------------------------------------------------


class Counter:
    def __init__(self, first: int) -> None:
        self.next = first

    def take(self, count: int) -> range:
        taken = range(self.next, self.next + count)
        self.next += count
        return taken


def _push_jobs(seed: int, numbers: range) -> list[driver.PushJob]:
    jobs = []
    for n in numbers:
        item = discharge(seed, n)
        jobs.append(driver.PushJob(n, orjson.dumps(item.bundle), item.resources))
    return jobs


def _push_phase(
    plan: Plan, db: server.Database, bodies: list[bytes]
) -> tuple[list[dict[str, Any]], dict[str, Any], dict[str, Any]]:
    """Push at each concurrency, then pull every pushed patient's care plan and check it;
    returns the push figures, the check's figures and the profile summary."""
    figures: list[dict[str, Any]] = []
    patients: list[driver.PullJob] = []
    profiles: dict[str, Any] = {}
    numbers = Counter(PUSH_FIRST)
    logs = plan.out / "logs"
    with server.running(db.url, logs, name=f"{db.kind}-push", workers=plan.workers) as srv:
        driver.push(
            srv.base_url, _push_jobs(plan.seed, range(WARMUP_FIRST, WARMUP_FIRST + 5)), 1, 60
        )
        for concurrency in plan.concurrencies:
            jobs = _push_jobs(plan.seed, numbers.take(plan.push_count))
            bodies.extend(job.body for job in jobs)
            resources = sum(j.entries for j in jobs) / len(jobs)
            _log(f"{db.kind}: push {len(jobs)} Bundles at concurrency {concurrency}")
            profile_file = plan.out / "profiles" / f"{db.kind}-push-c{concurrency}"
            cpu_before = srv.cpu_seconds()
            with profiling.recording(
                srv.worker_pids() if plan.profile and concurrency == 8 else [], profile_file
            ) as files:
                result = driver.push(srv.base_url, jobs, concurrency, plan.push_deadline)
            cpu = srv.cpu_seconds() - cpu_before
            if files:
                profiles[f"{db.kind} push, concurrency {concurrency}"] = profiling.summarize(files)
            goals = {j.number: discharge(plan.seed, j.number).goals for j in jobs}
            patients += [driver.PullJob(pid, goals[n]) for n, pid in result.patients.items()]
            summary = result.timings.summary(per_request_units=resources)
            summary["server_cpu_ms_per_request"] = _per_request(cpu, summary["requests"])
            summary["server_cpu_share"] = round(cpu / max(summary["wall_s"], 1e-9), 2)
            figures.append(
                {
                    "concurrency": concurrency,
                    "http": summary,
                    "jobs": [j.number for j in jobs],
                    "server_peak_rss_mb": round(srv.peak_rss_mb(), 1),
                }
            )
            _log(
                f"{db.kind}: {summary['per_s']} bundles/s, p99 {summary['p99_ms']} ms, "
                f"{summary['errors']} errors"
            )
        _log(f"{db.kind}: pull the care plan of each of the {len(patients)} pushed patients")
        check = driver.pull(srv.base_url, patients, plan.pull_concurrency, plan.pull_deadline)
    summary = check.summary()
    _log(f"{db.kind}: {summary['requests']} complete, {summary['errors']} not")
    return figures, summary, profiles


def _push_ceilings(plan: Plan, db: server.Database, figures: list[dict[str, Any]]) -> None:
    with ceilings.ceiling_tables(db):
        for figure in figures:
            numbers = figure.pop("jobs")
            rows = [ceilings.rows_of(discharge(plan.seed, n)) for n in numbers]
            _log(f"{db.kind}: raw-insert ceiling at concurrency {figure['concurrency']}")
            per_bundle = sum(len(r["resources"]) for r in rows) / max(1, len(rows))
            timings = ceilings.insert_ceiling(db, rows, figure["concurrency"])
            figure["ceiling"] = timings.summary(per_request_units=per_bundle)


def _pull_sample(plan: Plan, preloaded: range) -> list[driver.PullJob]:
    """A fixed random sample of the preloaded patients (the same for every size)."""
    numbers = random.Random(plan.seed).sample(preloaded, min(len(preloaded), plan.pull_count))
    return [
        driver.PullJob(item.patient_id, item.goals)
        for item in (discharge(plan.seed, n) for n in numbers)
    ]


def _pull_phase(plan: Plan, db: server.Database) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    figures: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    first = 0
    for size in plan.sizes:
        _log(f"{db.kind}: preload to {size:,} resources")
        step: PreloadStep = preload(db.url, plan.seed, size, first, plan.preload_deadline)
        _log(
            f"{db.kind}: {step.reached:,} stored, {step.loaded:,} loaded in {step.seconds:.1f} s "
            f"({step.rate:,.0f} resources/s)"
        )
        first = step.discharges.stop
        jobs = _pull_sample(plan, range(0, first))
        warmup = jobs[: min(30, len(jobs))]
        logs = plan.out / "logs"
        with server.running(db.url, logs, name=f"{db.kind}-{size}", workers=plan.workers) as srv:
            driver.pull(srv.base_url, warmup, plan.pull_concurrency, 60)
            _log(f"{db.kind}: pull {len(jobs)} care plans at {step.reached:,} stored")
            largest = size == plan.sizes[-1] or step.stopped_early
            profile_file = plan.out / "profiles" / f"{db.kind}-pull-{size}"
            cpu_before = srv.cpu_seconds()
            with profiling.recording(
                srv.worker_pids() if plan.profile and largest else [], profile_file
            ) as files:
                timings = driver.pull(srv.base_url, jobs, plan.pull_concurrency, plan.pull_deadline)
            cpu = srv.cpu_seconds() - cpu_before
            if files:
                profiles[f"{db.kind} pull at {step.reached:,} stored"] = profiling.summarize(files)
            rss = srv.peak_rss_mb()
        summary = timings.summary()
        summary["server_cpu_ms_per_request"] = _per_request(cpu, summary["requests"])
        summary["server_cpu_share"] = round(cpu / max(summary["wall_s"], 1e-9), 2)
        _log(f"{db.kind}: {summary['per_s']} pulls/s, p99 {summary['p99_ms']} ms")
        ids = [j.patient_id for j in jobs]
        ceiling = ceilings.pull_ceiling(db, ids, plan.pull_concurrency).summary()
        search = micro.one_search(db.url, ids, quick=plan.quick)
        figures.append(
            {
                "target": size,
                "stored": step.reached,
                "concurrency": plan.pull_concurrency,
                "http": summary,
                "ceiling": ceiling,
                "ratio_to_ceiling": report.ratio(summary["per_s"], ceiling["per_s"]),
                "search_in_process": search,
                "server_peak_rss_mb": round(rss, 1),
                "preload": {
                    "loaded": step.loaded,
                    "seconds": round(step.seconds, 1),
                    "rate": round(step.rate, 1),
                    "stopped_early": step.stopped_early,
                },
            }
        )
        if step.stopped_early:
            remaining = size - step.reached
            plan.notes.append(
                f"{db.kind}: the preload to {size:,} stopped at its deadline "
                f"({plan.preload_deadline:.0f} s) with {step.reached:,} stored; at the measured "
                f"bulk rate of {step.rate:,.0f} resources/s the remaining {remaining:,} would "
                f"take {remaining / max(step.rate, 1) / 60:.0f} more minutes."
            )
            break
    return figures, profiles


def run(plan: Plan, argv: list[str]) -> list[Path]:
    started = datetime.now(UTC)
    sample = [discharge(plan.seed, n) for n in range(PUSH_FIRST, PUSH_FIRST + 50)]
    results: dict[str, Any] = {
        "meta": {
            "started": started.strftime("%Y-%m-%d %H:%M UTC"),
            "command": shlex.join(["python", "-m", "bench.run", *argv]),
            "commit": _commit(),
            "machine": server.machine(),
            "load_before": _load(),
            "seed": plan.seed,
            "quick": plan.quick,
            "workers": plan.workers,
            "serve_flags": server.serve_flags(),
            "workload": {
                "resources_per_bundle": round(sum(s.resources for s in sample) / len(sample), 2),
                "bytes_per_bundle": int(
                    sum(len(orjson.dumps(s.bundle)) for s in sample) / len(sample)
                ),
            },
        },
        "databases": {},
        "profiles": {},
        "notes": plan.notes,
    }
    if "postgres" in plan.databases:
        results["meta"]["postgres"] = server.postgres_server_version(plan.postgres_url)
    bodies: list[bytes] = []
    sample_bodies = [orjson.dumps(s.bundle) for s in sample]
    results["json_ceiling"] = ceilings.json_ceiling(sample_bodies)
    results["micro"] = {}
    try:
        for kind in plan.databases:
            with server.database(kind, plan.out / "work", plan.postgres_url) as db:
                push, check, push_profiles = _push_phase(plan, db, bodies)
                _push_ceilings(plan, db, push)
            results["databases"][kind] = {"push": push, "push_check": check, "pull": []}
            results["profiles"].update(push_profiles)
            _ratios(results)
            # The pulls get a store of their own: "10k stored" means 10k, whatever was pushed.
            with server.database(kind, plan.out / "work", plan.postgres_url) as db:
                pull, pull_profiles = _pull_phase(plan, db)
            results["profiles"].update(pull_profiles)
            results["databases"][kind]["pull"] = pull
            report.write(results, plan.out)  # a long run keeps what it has measured so far
        results["json_ceiling"] = ceilings.json_ceiling(bodies or sample_bodies)
        _ratios(results)
        _log("in-process micro-benchmarks")
        results["micro"] = micro.hot_paths(sample[:20], quick=plan.quick)
    except KeyboardInterrupt:
        plan.notes.append("The run was interrupted; the report holds what was measured by then.")
    results["meta"]["load_after"] = _load()
    results["meta"]["seconds"] = round((datetime.now(UTC) - started).total_seconds())
    return report.write(results, plan.out)


def _per_request(cpu_seconds: float, requests: int) -> float | None:
    return round(cpu_seconds * 1000 / requests, 2) if requests else None


def _ratios(results: dict[str, Any]) -> None:
    json_ceiling = results["json_ceiling"]
    for db_results in results["databases"].values():
        for figure in db_results["push"]:
            figure["ratio_to_insert_ceiling"] = report.ratio(
                figure["http"]["per_s"], figure["ceiling"]["per_s"]
            )
            figure["ratio_to_json_ceiling"] = report.ratio(
                figure["http"]["per_s"], json_ceiling["per_s"]
            )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    plan = parse_args(argv)
    began = time.perf_counter()
    written = run(plan, argv)
    _log(f"done in {time.perf_counter() - began:.0f} s: " + ", ".join(map(str, written)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
