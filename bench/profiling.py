"""Sampling profiles of the server under load (py-spy, attached to the running process).

``py-spy record --format raw`` writes collapsed stacks (one ``frame;frame;... count`` line per
stack), which speedscope and flamegraph tools read; :func:`summarize` turns them into the table
the report shows: the share of samples spent inside each function (inclusive) and in the
function's own code (self). Only the thread holding the GIL is sampled (``--gil``): threads
waiting for it, for the database or for the network are left out, so the shares are of the
server's Python CPU time, the resource a single forlop process runs out of.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def py_spy() -> str | None:
    found = Path(sys.executable).with_name("py-spy")
    if found.exists():
        return str(found)
    return shutil.which("py-spy")


@contextmanager
def recording(pids: list[int], out: Path, *, rate: int = 97) -> Iterator[list[Path]]:
    """Sample every pid in ``pids`` while the block runs; yields the raw files being written."""
    tool = py_spy()
    files: list[Path] = []
    processes: list[subprocess.Popen[bytes]] = []
    if tool is None:
        yield files
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    for i, pid in enumerate(pids):
        target = out.with_name(f"{out.stem}{'-' + str(i) if len(pids) > 1 else ''}.txt")
        files.append(target)
        processes.append(
            subprocess.Popen(
                [tool, "record", "--pid", str(pid), "--format", "raw", "--rate", str(rate)]
                + ["--gil", "--nonblocking", "--output", str(target)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
    try:
        yield files
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()


# Frames every request passes through (threads, the event loop, the command line, the ASGI
# middleware chain, whose share ``run_asgi`` of the HTTP server still shows): listing them first
# would push the informative rows out of the table.
_PLUMBING = (
    "(starlette/",
    "(fastapi/",
    "(middleware/",
    "(telemetry/",
    "(threading.py)",
    "(_backends/_asyncio.py)",
    "(asyncio/",
    "(_click/",
    "(typer/",
    "(uvicorn/",
    "(adapter/cli.py)",
    "(forlop)",
    "(anyio/to_thread.py)",
)


def summarize(files: list[Path], top: int = 30) -> dict[str, list[tuple[str, float, float]]]:
    """Top functions by inclusive share (without the plumbing every request passes through),
    with their self share, in percent of samples."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for path in files:
        if not path.exists():
            continue
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit():
                continue
            n = int(count)
            total += n
            frames = [_short(f) for f in stack.split(";")]
            own[frames[-1]] += n
            for frame in set(frames):
                inclusive[frame] += n
    if total == 0:
        return {"inclusive": [], "self": []}
    return {
        "samples": [("total", float(total), 0.0)],
        "inclusive": [
            (name, round(100 * n / total, 1), round(100 * own[name] / total, 1))
            for name, n in inclusive.most_common()
            if not any(part in name for part in _PLUMBING)
        ][:top],
        "self": [
            (name, round(100 * inclusive[name] / total, 1), round(100 * n / total, 1))
            for name, n in own.most_common(top)
        ],
    }


def _short(frame: str) -> str:
    """``func (path/to/file.py:123)`` -> ``func (file.py)``: lines merge, the table stays small."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = path.split("/")
    short = "/".join(parts[-2:]) if len(parts) > 1 else path
    return f"{name} ({short})"


def main() -> None:
    """``python -m bench.profiling FILE...``: the table of collapsed-stack files, as text."""
    files = [Path(arg) for arg in sys.argv[1:]]
    table = summarize(files)
    total = table.get("samples", [("total", 0.0, 0.0)])[0][1]
    print(f"{int(total)} samples; inclusive % / self %")
    for name, inclusive, own in table["inclusive"]:
        print(f"{inclusive:6.1f} {own:6.1f}  {name}")
    print("-- by self time")
    for name, inclusive, own in table["self"][:15]:
        print(f"{inclusive:6.1f} {own:6.1f}  {name}")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
