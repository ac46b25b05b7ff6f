"""The conformance registry: every resource in ``profiles/`` and ``mappings/``, by canonical URL.

Clinicians and integrators change checklists, codes and thresholds by editing those folders; this
module is the only code that reads them. Resources are FHIR JSON (StructureDefinition,
Questionnaire, CodeSystem, ValueSet, ConceptMap, ...), each with ``url`` and ``version``; a
canonical reference ``url|version`` picks one version, a bare ``url`` the newest.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from adapter.fhir.errors import Code, invalid
from adapter.fhir.json_codec import parse_json

_PACKAGE_DATA = Path(__file__).parent / "_data"
_REPO_ROOT = Path(__file__).parent.parent


def default_dirs() -> tuple[Path, Path]:
    """(profiles, mappings): inside an installed wheel, else beside the source checkout."""
    root = _PACKAGE_DATA if (_PACKAGE_DATA / "profiles").is_dir() else _REPO_ROOT
    return root / "profiles", root / "mappings"


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in version.split("."))


@dataclass
class Registry:
    """Conformance resources keyed by canonical URL (and version), plus plain data files."""

    by_url: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    by_id: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    data: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, resource: dict[str, Any], source: str = "") -> None:
        rtype = resource.get("resourceType")
        url = resource.get("url")
        if not isinstance(rtype, str) or not isinstance(url, str):
            # Plain data (thresholds and the like) is keyed by file stem.
            self.data[Path(source).stem] = resource
            return
        version = str(resource.get("version", ""))
        versions = self.by_url.setdefault(url, {})
        if version in versions:
            raise invalid(
                f"Two conformance resources claim {url}|{version} ({source}).",
                forlop_code=Code.PROFILE_UNKNOWN,
            )
        versions[version] = resource
        rid = resource.get("id")
        if isinstance(rid, str):
            self.by_id[(rtype, rid)] = resource

    def get(self, canonical: str) -> dict[str, Any] | None:
        """The resource for ``url`` or ``url|version``; the newest version for a bare URL."""
        url, _, version = canonical.partition("|")
        versions = self.by_url.get(url)
        if not versions:
            return None
        if version:
            return versions.get(version)
        return versions[max(versions, key=_version_key)]

    def require(self, canonical: str, expression: str = "") -> dict[str, Any]:
        found = self.get(canonical)
        if found is None:
            raise invalid(
                f"No conformance resource with canonical URL {canonical} is known to this server.",
                expression=expression,
                forlop_code=Code.PROFILE_UNKNOWN,
                code="not-found",
            )
        return found

    def read(self, resource_type: str, rid: str) -> dict[str, Any] | None:
        return self.by_id.get((resource_type, rid))

    def of_type(self, resource_type: str) -> Iterator[dict[str, Any]]:
        for versions in self.by_url.values():
            for resource in versions.values():
                if resource.get("resourceType") == resource_type:
                    yield resource

    @classmethod
    def load(cls, *dirs: Path) -> Registry:
        registry = cls()
        for directory in dirs:
            for path in sorted(directory.rglob("*.json")):
                registry.add(parse_json(path.read_bytes()), str(path))
        return registry


@cache
def default_registry() -> Registry:
    """The registry of the bundled profiles and mappings, loaded once per process."""
    return Registry.load(*default_dirs())
