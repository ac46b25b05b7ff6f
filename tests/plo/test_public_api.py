"""The public surface of :mod:`adapter.plo`: every name in ``__all__`` resolves."""

from __future__ import annotations

import pytest

import adapter.plo as plo


@pytest.mark.parametrize("name", plo.__all__)
def test_every_public_name_resolves(name: str) -> None:
    assert getattr(plo, name) is not None


def test_all_is_sorted_and_unique() -> None:
    assert sorted(set(plo.__all__), key=str.lower) == sorted(plo.__all__, key=str.lower)


def test_unknown_names_are_attribute_errors() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        plo.nothing  # noqa: B018


def test_the_package_imports_nothing_heavy_until_asked() -> None:
    import subprocess
    import sys

    code = "import sys, adapter.plo; print('adapter.router.bundles' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"
