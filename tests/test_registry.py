"""The conformance registry: canonical URLs, versions, plain data files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapter.fhir.errors import Code, FhirError
from adapter.registry import Registry, default_registry


def write(folder: Path, name: str, content: dict) -> None:  # type: ignore[type-arg]
    (folder / name).write_text(json.dumps(content))


def test_newest_version_wins_for_a_bare_url(tmp_path: Path) -> None:
    url = "http://forlop.no/fhir/Questionnaire/q"
    for version in ("1.0.0", "1.10.0", "1.9.2"):
        write(
            tmp_path,
            f"q-{version}.json",
            {"resourceType": "Questionnaire", "url": url, "version": version, "id": f"q{version}"},
        )
    registry = Registry.load(tmp_path)
    assert registry.require(url)["version"] == "1.10.0"
    assert registry.require(f"{url}|1.9.2")["version"] == "1.9.2"
    assert registry.get(f"{url}|2.0.0") is None


def test_duplicate_canonical_is_refused(tmp_path: Path) -> None:
    body = {"resourceType": "CodeSystem", "url": "http://x/cs", "version": "1"}
    write(tmp_path, "a.json", body)
    write(tmp_path, "b.json", body)
    with pytest.raises(FhirError) as caught:
        Registry.load(tmp_path)
    assert caught.value.issues[0].forlop_code is Code.PROFILE_UNKNOWN


def test_unknown_canonical_is_a_not_found_issue_with_its_expression() -> None:
    with pytest.raises(FhirError) as caught:
        Registry().require("http://example.org/nothing", "Goal.meta.profile[0]")
    issue = caught.value.issues[0]
    assert (issue.code, issue.expression) == ("not-found", ("Goal.meta.profile[0]",))


def test_plain_data_is_kept_by_file_stem(tmp_path: Path) -> None:
    write(tmp_path, "psfs.json", {"activityChange": 3})
    assert Registry.load(tmp_path).data["psfs"] == {"activityChange": 3}


def test_bundled_resources_load_and_every_one_has_a_version() -> None:
    registry = default_registry()
    assert registry.get("http://forlop.no/fhir/Questionnaire/psfs") is not None
    for versions in registry.by_url.values():
        for version, resource in versions.items():
            assert version, f"{resource['url']} has no version"
