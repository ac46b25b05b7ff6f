"""The package's public surface stays complete and importable."""

from __future__ import annotations

import adapter.security as security
from adapter.security.errors import hidden, invalid_token


def test_all_names_exist_and_cover_the_public_surface() -> None:
    for name in security.__all__:
        assert hasattr(security, name), name
    public = {n for n in vars(security) if not n.startswith("_")}
    modules = {"audit", "errors", "keys", "policy", "scopes", "settings", "tokens", "cli"}
    assert public - modules == set(security.__all__)


def test_a_hidden_resource_looks_like_a_missing_one() -> None:
    error = hidden("Patient", "anna")
    assert error.status == 404
    assert str(error) == "Patient/anna is not known."


def test_the_challenge_never_breaks_its_quotes() -> None:
    challenge = invalid_token('The "kid" \\ is odd').www_authenticate()
    assert challenge == (
        'Bearer realm="forlop", error="invalid_token", error_description="The \'kid\'  is odd"'
    )
