"""The one loader of conformance TestScripts (FHIR R4 TestScript) and their fixture files.

Both pytest and ``forlop conformance`` read suites through this module. A suite is a folder of
TestScript JSON files (``fixtures/conformance/<suite>/*.json``); each script names its fixture
resources by a path relative to itself (``fixtures/<file>.json``) or as ``#id`` of a contained
resource. A script is first validated as an R4 resource with forlop's validator, then read into
:mod:`adapter.conformance.model` by :mod:`adapter.conformance.subset`, which turns everything
outside the supported subset into a problem of the script: the script is then reported as an
error instead of being run, so a feature the runner does not execute can never pass silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from adapter.conformance.model import Fixture, LoadedScript, Suite
from adapter.conformance.subset import read_testscript
from adapter.fhir.errors import Code, FhirError, Issue, error_issue
from adapter.fhir.json_codec import parse_json
from adapter.fhir.wire import Format, read_resource
from adapter.validation.validator import validate

_PACKAGE_DATA = Path(__file__).resolve().parent.parent / "_data" / "conformance"
_CHECKOUT = Path(__file__).resolve().parents[2] / "fixtures" / "conformance"


class UnknownSuite(ValueError):
    """A suite name that is not a folder of the conformance root."""


def default_root() -> Path:
    """The suites shipped with forlop: inside an installed wheel, else the source checkout."""
    return _PACKAGE_DATA if _PACKAGE_DATA.is_dir() else _CHECKOUT


def suite_names(root: Path | None = None) -> list[str]:
    root = root or default_root()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.json")))


def load_suites(root: Path | None = None, names: Sequence[str] = ()) -> list[Suite]:
    """The named suites (all when ``names`` is empty), in the order asked for."""
    root = root or default_root()
    known = suite_names(root)
    wanted = list(dict.fromkeys(names)) or known
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise UnknownSuite(
            f"No suite {', '.join(unknown)} in {root}; known suites: {', '.join(known) or 'none'}."
        )
    return [load_suite(root / name) for name in wanted]


def load_suite(directory: Path) -> Suite:
    scripts = tuple(load_script(path, directory.name) for path in sorted(directory.glob("*.json")))
    return Suite(directory.name, directory, scripts)


def load_script(path: Path, suite: str = "") -> LoadedScript:
    """One TestScript file, with its fixtures; problems instead of a script when it cannot run."""
    try:
        data = parse_json(path.read_bytes())
    except OSError as exc:
        return LoadedScript(suite, path, None, (_invalid("TestScript", f"{exc.strerror}."),))
    except FhirError as error:
        return LoadedScript(suite, path, None, tuple(error.issues))
    if data.get("resourceType") != "TestScript":
        found = data.get("resourceType")
        problem = _invalid("resourceType", f"{path.name} holds a {found}, not a TestScript.")
        return LoadedScript(suite, path, None, (problem,))
    structural = [i for i in validate(data) if i.is_error]
    if structural:
        return LoadedScript(suite, path, None, tuple(structural))
    script, problems = read_testscript(data, path, load_fixture)
    return LoadedScript(suite, path, script, tuple(problems))


def load_fixture(
    path: Path, fixture_id: str, *, autocreate: bool = False, autodelete: bool = False
) -> Fixture:
    """A fixture file: a FHIR resource when it parses as FHIR JSON or XML, else its raw bytes."""
    body = path.read_bytes()
    fmt = Format.XML if path.suffix.lower() == ".xml" else Format.JSON
    try:
        resource = read_resource(body, fmt)
    except FhirError as error:
        return Fixture(
            fixture_id,
            path.name,
            raw=body,
            media_type=fmt.media_type,
            note=f"not FHIR {fmt.value.upper()}, sent as written: {error}",
            autocreate=autocreate,
            autodelete=autodelete,
        )
    return Fixture(
        fixture_id, path.name, resource=resource, autocreate=autocreate, autodelete=autodelete
    )


def _invalid(where: str, message: str) -> Issue:
    return error_issue("invalid", Code.TESTSCRIPT_INVALID, message, where)
