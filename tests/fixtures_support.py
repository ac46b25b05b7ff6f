"""The one loader of the synthetic pathway fixtures (``fixtures/pathways/``) and their golden files.

Used by the mapping tests and by the conformance runner, so it depends on nothing but the standard
library and :mod:`adapter.fhir.json_codec`. A pathway is a folder ``fixtures/pathways/<slug>/``
holding ``domain/`` (the plain domain JSON), ``fhir/`` (what systems send) and ``expected/`` (golden
files written by the mapping code). Golden files are compared as parsed JSON, never as text, with a
readable diff on a mismatch; with ``FORLOP_REGENERATE_GOLDEN=1`` they are rewritten instead.
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapter.fhir.json_codec import dump_json, parse_json

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
PATHWAYS = FIXTURES / "pathways"

# Read once at import: tests/conftest.py clears every FORLOP_* variable before each test runs, and
# collection (this import) happens before that.
REGENERATE = os.environ.get("FORLOP_REGENERATE_GOLDEN") == "1"


@dataclass(frozen=True)
class Pathway:
    """One synthetic patient followed from admission to the PSFS reassessment."""

    slug: str
    root: Path

    @property
    def domain(self) -> Path:
        return self.root / "domain"

    @property
    def fhir(self) -> Path:
        return self.root / "fhir"

    @property
    def expected(self) -> Path:
        return self.root / "expected"

    @property
    def psfs(self) -> Path:
        """The PSFS series with its transition plan, in domain JSON."""
        return self.domain / "psfs.json"

    @property
    def baseline_response(self) -> Path:
        return self.fhir / "psfs-baseline.json"

    @property
    def reassessment_response(self) -> Path:
        return self.fhir / "psfs-reassessment.json"

    @property
    def discharge_bundle(self) -> Path:
        return self.fhir / "discharge-bundle.json"

    def checklists(self) -> list[str]:
        """Keys of the filled PaTH checklists (``domain/checklists/<key>.json``), sorted."""
        return sorted(p.stem for p in (self.domain / "checklists").glob("*.json"))

    def checklist(self, key: str) -> Path:
        return self.domain / "checklists" / f"{key}.json"

    def fhir_files(self) -> list[Path]:
        return sorted(self.fhir.glob("*.json"))

    def golden_files(self) -> list[Path]:
        return sorted(self.expected.rglob("*.json"))


def pathways(root: Path = PATHWAYS) -> list[Pathway]:
    """Every pathway folder under ``root``, by slug."""
    return [Pathway(p.name, p) for p in sorted(root.iterdir()) if (p / "domain").is_dir()]


def load(path: Path) -> dict[str, Any]:
    """A fixture file as FHIR JSON is parsed: decimals exact, duplicate keys refused."""
    return parse_json(path.read_bytes())


def render(data: Any) -> bytes:
    """The text form of fixture and golden files: indented JSON with a final newline."""
    return dump_json(data, pretty=True) + b"\n"


def golden_diff(actual: Any, golden: Path) -> str | None:
    """None when ``actual`` equals the golden file as parsed JSON, else a unified diff."""
    if not golden.exists():
        return f"{golden} does not exist; run with FORLOP_REGENERATE_GOLDEN=1 to write it."
    expected = load(golden)
    produced = parse_json(render(actual))
    if produced == expected:
        return None
    diff = difflib.unified_diff(
        render(expected).decode().splitlines(),
        render(produced).decode().splitlines(),
        fromfile=str(golden),
        tofile="produced",
        lineterm="",
    )
    return "\n".join(diff)


def check_golden(actual: Any, golden: Path) -> None:
    """Assert ``actual`` equals the golden file; with FORLOP_REGENERATE_GOLDEN=1, rewrite it."""
    __tracebackhide__ = True  # pytest shows the failing test, not this helper
    if REGENERATE:
        text = render(actual)
        if not golden.exists() or golden.read_bytes() != text:
            golden.parent.mkdir(parents=True, exist_ok=True)
            golden.write_bytes(text)
        return
    diff = golden_diff(actual, golden)
    if diff is not None:
        raise AssertionError(f"differs from the golden file:\n{diff}")
