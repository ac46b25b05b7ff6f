"""The public surface of adapter.conformance: every name in __all__ resolves, lazily."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import adapter.conformance as conformance


def test_all_names_resolve_to_their_home_modules() -> None:
    assert sorted(conformance.__all__) == conformance.__all__
    for name in conformance.__all__:
        value = getattr(conformance, name)
        home = importlib.import_module(value.__module__)
        assert getattr(home, name) is value, name
    with pytest.raises(AttributeError):
        conformance.no_such_name  # noqa: B018 - the lookup is the test


def test_mounting_the_command_line_loads_no_runner() -> None:
    """``forlop`` imports the sub-app at start-up: the runner, HTTP client and validator wait."""
    code = (
        "import sys, adapter.conformance.cli; "
        "print(sorted(m for m in ('httpx', 'adapter.conformance.runner', "
        "'adapter.validation.validator') if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"
