"""The report of one run: ``results.json``, ``report.md`` and ``pull-latency.png``.

The JSON holds everything measured; the Markdown shows the tables a reader compares with the
targets (every figure beside its ceiling and the ratio); the plot shows pull latency percentiles
against the number of stored resources, one line per percentile and database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

PUSH_TARGET_BUNDLES = 600.0
PULL_P99_TARGET_MS = 50.0
PULL_GROWTH_LIMIT = 1.5
RSS_TARGET_MB = 400.0
TARGET_CONCURRENCY = 8


def ratio(value: float | None, ceiling: float | None) -> float | None:
    if value is None or not ceiling:
        return None
    return round(value / ceiling, 3)


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Each target of the issue, per database, with the figure measured and whether it holds."""
    out: list[dict[str, Any]] = []
    for name, db in results["databases"].items():
        push = next((p for p in db["push"] if p["concurrency"] == TARGET_CONCURRENCY), None)
        if push is not None:
            value = push["http"]["per_s"]
            out.append(
                {
                    "database": name,
                    "target": f"push >= {PUSH_TARGET_BUNDLES:.0f} bundles/s at concurrency 8",
                    "measured": f"{value} bundles/s ({push['http']['units_per_s']} resources/s)",
                    "met": value >= PUSH_TARGET_BUNDLES,
                }
            )
        pulls = [p for p in db["pull"] if p["http"]["requests"]]
        if not pulls:
            continue
        largest, smallest = pulls[-1], pulls[0]
        p99 = largest["http"]["p99_ms"]
        out.append(
            {
                "database": name,
                "target": f"pull p99 <= {PULL_P99_TARGET_MS:.0f} ms at concurrency 8, 1M stored",
                "measured": f"{p99} ms at {largest['stored']:,} stored",
                "met": p99 is not None
                and p99 <= PULL_P99_TARGET_MS
                and largest["target"] >= 1_000_000,
            }
        )
        growth = ratio(p99, smallest["http"]["p99_ms"])
        out.append(
            {
                "database": name,
                "target": f"pull p99 at 1M <= {PULL_GROWTH_LIMIT} x p99 at 10k",
                "measured": f"{growth} x ({smallest['stored']:,} -> {largest['stored']:,} stored)",
                "met": growth is not None
                and growth <= PULL_GROWTH_LIMIT
                and largest["target"] >= 1_000_000,
            }
        )
        rss = largest["server_peak_rss_mb"]
        out.append(
            {
                "database": name,
                "target": f"server RSS < {RSS_TARGET_MB:.0f} MB at 1M stored",
                "measured": f"{rss:.0f} MB at {largest['stored']:,} stored",
                "met": rss < RSS_TARGET_MB and largest["target"] >= 1_000_000,
            }
        )
    return out


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if 0 < value < 0.01:
            return f"{value:.4f}"  # a ratio far below its ceiling
        return f"{value:,.2f}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def markdown(results: dict[str, Any]) -> str:
    meta = results["meta"]
    lines = [
        f"# forlop benchmark {meta['started']}",
        "",
        f"Command: `{meta['command']}`  ",
        f"Commit: `{meta['commit']}`  ",
        f"Machine: {meta['machine']['cpu']}, {meta['machine']['cores']} cores, "
        f"{meta['machine']['memory_gib']} GiB; Python {meta['machine']['python']}, SQLite "
        f"{meta['machine']['sqlite']}, PostgreSQL {meta.get('postgres', '-')}  ",
        f"Load average before / after: {meta['load_before']} / {meta.get('load_after', '-')} "
        "(the driver and the server share the cores; other processes were not stopped)  ",
        f"Workload: seed {meta['seed']}, {meta['workload']['resources_per_bundle']} resources "
        f"and {meta['workload']['bytes_per_bundle']:,} bytes per Bundle on average",
        "",
        "## Targets",
        "",
        "| database | target | measured | met |",
        "| --- | --- | --- | --- |",
    ]
    for t in results["targets"]:
        lines.append(
            f"| {t['database']} | {t['target']} | {t['measured']} | "
            f"{'yes' if t['met'] else '**no**'} |"
        )
    lines += [
        "",
        "## Push (POST transaction Bundle)",
        "",
        "| database | concurrency | bundles | bundles/s | resources/s | p50 ms | p95 ms | p99 ms "
        "| errors | server CPU ms/bundle | driver CPU ms/bundle | raw-insert ceiling bundles/s "
        "| ratio "
        "| JSON ceiling ratio | server peak RSS MB |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: |",
    ]
    for name, db in results["databases"].items():
        for p in db["push"]:
            h = p["http"]
            lines.append(
                f"| {name} | {p['concurrency']} | {_fmt(h['requests'])} | {_fmt(h['per_s'])} | "
                f"{_fmt(h['units_per_s'])} | {_fmt(h['p50_ms'])} | {_fmt(h['p95_ms'])} | "
                f"{_fmt(h['p99_ms'])} | {h['errors']} | "
                f"{_fmt(h.get('server_cpu_ms_per_request'))} | "
                f"{_fmt(h.get('driver_cpu_ms_per_request'))} | {_fmt(p['ceiling']['per_s'])} | "
                f"{_fmt(p.get('ratio_to_insert_ceiling'))} | "
                f"{_fmt(p.get('ratio_to_json_ceiling'))} | {_fmt(p['server_peak_rss_mb'])} |"
            )
    for name, db in results["databases"].items():
        check = db.get("push_check")
        if check:
            lines += [
                "",
                f"{name}: after the pushes, the care plan of every pushed patient was pulled: "
                f"{check['requests']} complete, {check['errors']} incomplete or failed"
                + (f" (first: {check['first_errors'][0]})" if check["first_errors"] else "")
                + ".",
            ]
    lines += [
        "",
        f"JSON ceiling (orjson loads + dumps of the same Bundles, one thread): "
        f"{_fmt(results['json_ceiling']['per_s'])} bundles/s.",
        "",
        "## Pull (`CarePlan?patient=...&_include=CarePlan:goal`)",
        "",
        "| database | stored resources | concurrency | requests | requests/s | p50 ms | p95 ms "
        "| p99 ms | errors | server CPU ms/request | driver CPU ms/request "
        "| raw-SQL ceiling req/s | ratio "
        "| in-process search ms | server peak RSS MB | preload s (resources/s) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: | ---: | ---: |",
    ]
    for name, db in results["databases"].items():
        for p in db["pull"]:
            h = p["http"]
            pre = p["preload"]
            lines.append(
                f"| {name} | {_fmt(p['stored'])} | {p['concurrency']} | {_fmt(h['requests'])} | "
                f"{_fmt(h['per_s'])} | {_fmt(h['p50_ms'])} | {_fmt(h['p95_ms'])} | "
                f"{_fmt(h['p99_ms'])} | {h['errors']} | "
                f"{_fmt(h.get('server_cpu_ms_per_request'))} | "
                f"{_fmt(h.get('driver_cpu_ms_per_request'))} | {_fmt(p['ceiling']['per_s'])} | "
                f"{_fmt(p['ratio_to_ceiling'])} | {_fmt(p['search_in_process']['best_ms'])} | "
                f"{_fmt(p['server_peak_rss_mb'])} | {_fmt(pre['seconds'])} "
                f"({_fmt(pre['rate'])}) |"
            )
    lines += [
        "",
        "## In-process micro-benchmarks (ms per operation, best / median of repeats)",
        "",
        "| operation | best ms | median ms |",
        "| --- | ---: | ---: |",
    ]
    for op, value in results["micro"].items():
        lines.append(f"| {op} | {value['best_ms']} | {value['median_ms']} |")
    for name, profile in results.get("profiles", {}).items():
        lines += [
            "",
            f"## Profile: {name} (py-spy, share of CPU samples in the server)",
            "",
            "| function | inclusive % | self % |",
            "| --- | ---: | ---: |",
        ]
        for fn, inclusive, own in profile.get("inclusive", [])[:25]:
            lines.append(f"| `{fn}` | {inclusive} | {own} |")
    notes = results.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n"


def plot(results: dict[str, Any], target: Path) -> bool:
    """Pull latency percentiles against stored resources; False when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    figure, axis = plt.subplots(figsize=(8, 5))
    styles = {"p50_ms": ":", "p95_ms": "--", "p99_ms": "-"}
    for number, (name, db) in enumerate(results["databases"].items()):
        pulls = [p for p in db["pull"] if p["http"]["requests"]]
        if not pulls:
            continue
        sizes = [p["stored"] for p in pulls]
        for key, style in styles.items():
            axis.plot(
                sizes,
                [p["http"][key] for p in pulls],
                style,
                color=f"C{number}",
                marker="o",
                label=f"{name} {key.removesuffix('_ms')}",
            )
    axis.axhline(PULL_P99_TARGET_MS, color="grey", linewidth=0.8, label="p99 target")
    axis.set_xscale("log")
    axis.set_xlabel("stored resources")
    axis.set_ylabel("pull latency (ms), concurrency 8")
    axis.set_title("CarePlan?patient=…&_include=CarePlan:goal")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize="small")
    figure.tight_layout()
    figure.savefig(target, dpi=120)
    plt.close(figure)
    return True


def write(results: dict[str, Any], out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    results["targets"] = targets(results)
    written = [out / "results.json", out / "report.md"]
    written[0].write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    written[1].write_text(markdown(results))
    if plot(results, out / "pull-latency.png"):
        written.append(out / "pull-latency.png")
    return written
