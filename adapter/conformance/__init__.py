"""Conformance fixtures and their runner: FHIR R4 TestScripts run against any FHIR R4 server.

Suites live in ``fixtures/conformance/<suite>/`` as TestScript resources with their fixture
resources beside them. :func:`load_suites` reads them (:mod:`.loader`), a :class:`Runner` executes
them over HTTP (:mod:`.runner`, :mod:`.asserts`, :mod:`.variables`) and :mod:`.reports` renders
the :class:`RunResult` for a console, CI (JUnit XML) and people (HTML). ``forlop conformance`` is
the command line (:mod:`.cli`).

The names below are imported on first use, so that mounting the command line in ``forlop`` does
not load the runner, the validator and the HTTP client for every other command.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from adapter.conformance.loader import (
        UnknownSuite,
        default_root,
        load_fixture,
        load_script,
        load_suite,
        load_suites,
        suite_names,
    )
    from adapter.conformance.model import LoadedScript, Suite, TestScript
    from adapter.conformance.reports import (
        ConsoleProgress,
        html_report,
        junit_xml,
        print_summary,
    )
    from adapter.conformance.results import ActionResult, PhaseResult, RunResult, ScriptResult
    from adapter.conformance.runner import Listener, Runner

_HOME = {
    "UnknownSuite": "loader",
    "default_root": "loader",
    "load_fixture": "loader",
    "load_script": "loader",
    "load_suite": "loader",
    "load_suites": "loader",
    "suite_names": "loader",
    "LoadedScript": "model",
    "Suite": "model",
    "TestScript": "model",
    "ConsoleProgress": "reports",
    "html_report": "reports",
    "junit_xml": "reports",
    "print_summary": "reports",
    "ActionResult": "results",
    "PhaseResult": "results",
    "RunResult": "results",
    "ScriptResult": "results",
    "Listener": "runner",
    "Runner": "runner",
}

__all__ = [
    "ActionResult",
    "ConsoleProgress",
    "Listener",
    "LoadedScript",
    "PhaseResult",
    "RunResult",
    "Runner",
    "ScriptResult",
    "Suite",
    "TestScript",
    "UnknownSuite",
    "default_root",
    "html_report",
    "junit_xml",
    "load_fixture",
    "load_script",
    "load_suite",
    "load_suites",
    "print_summary",
    "suite_names",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{home}"), name)
