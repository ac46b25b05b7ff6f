"""The benchmark's one command, end to end at toy sizes: a real server, pushes, the check of every
pushed care plan, a preload, pulls, ceilings and the report. Figures are not judged (speed is the
benchmark's to report, not a test's); that every part ran, counted what it was asked to and
wrote its report is."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import psycopg
import pytest

from bench import run
from bench.run import DEFAULT_POSTGRES_URL

PUSHES = 6
PULLS = 20
CONCURRENCY = [1, 4]


def _require_postgres() -> str:
    url = os.environ.get("FORLOP_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL)
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        reason = f"PostgreSQL at {url} is not reachable ({exc.__class__.__name__})"
        if os.environ.get("FORLOP_TEST_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"{reason}, and FORLOP_TEST_REQUIRE_POSTGRES=1 requires it")
        pytest.skip(reason)
    return url


@pytest.mark.parametrize("database", ["sqlite", "postgres"])
def test_the_command_writes_the_whole_report(database: str, tmp_path: Path) -> None:
    out = tmp_path / "out"
    argv = ["--databases", database, "--sizes", "600", "--out", str(out)]
    if database == "postgres":
        argv += ["--postgres-url", _require_postgres()]
    argv += ["--concurrency", ",".join(map(str, CONCURRENCY))]
    argv += ["--push-count", str(PUSHES), "--pull-count", str(PULLS)]
    assert run.main(argv) == 0

    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    figures = results["databases"][database]
    assert [level["concurrency"] for level in figures["push"]] == CONCURRENCY
    for level in figures["push"]:
        assert (level["http"]["requests"], level["http"]["errors"]) == (PUSHES, 0)
        assert level["ceiling"]["requests"] > 0
        assert level["server_peak_rss_mb"] > 0
    check = figures["push_check"]
    assert (check["requests"], check["errors"]) == (PUSHES * len(CONCURRENCY), 0)
    (pull,) = figures["pull"]
    assert pull["stored"] >= 600
    assert (pull["http"]["requests"], pull["http"]["errors"]) == (PULLS, 0)
    assert pull["http"]["p50_ms"] <= pull["http"]["p99_ms"]
    assert results["json_ceiling"]["errors"] == 0
    assert set(results["micro"]) >= {"parse_validate_bundle", "index_bundle_resources"}

    report = (out / "report.md").read_text(encoding="utf-8")
    assert f"| {database} | server RSS < 400 MB at 1M stored |" in report  # the targets table
    for concurrency in CONCURRENCY:
        assert f"| {database} | {concurrency} | {PUSHES} |" in report
    assert f"| {database} | {pull['stored']:,} | 8 | {PULLS} |" in report
    plotted = importlib.util.find_spec("matplotlib") is not None  # the bench extra brings it
    assert (out / "pull-latency.png").exists() == plotted
