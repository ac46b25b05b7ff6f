"""Small TestScripts written by tests: builders for operations, asserts and whole scripts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from adapter.conformance.loader import load_script
from adapter.conformance.model import LoadedScript

OPERATION_CODES = "http://terminology.hl7.org/CodeSystem/testscript-operation-codes"


def operation(code: str | None = None, **elements: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"encodeRequestUrl": elements.pop("encodeRequestUrl", True)}
    if code:
        body["type"] = {"system": OPERATION_CODES, "code": code}
    body.update(elements)
    return {"operation": body}


def check(**elements: Any) -> dict[str, Any]:
    return {"assert": {"warningOnly": False, **elements}}


def build_script(
    tests: list[list[dict[str, Any]]] | None = None, **elements: Any
) -> dict[str, Any]:
    """A TestScript with one test per list of actions, plus any other elements given."""
    data: dict[str, Any] = {
        "resourceType": "TestScript",
        "id": "made-up",
        "url": "http://forlop.no/fhir/TestScript/made-up",
        "version": "1.0.0",
        "name": "MadeUp",
        "status": "active",
    }
    data.update(elements)
    data["test"] = [
        {"name": f"test-{i + 1}", "action": actions} for i, actions in enumerate(tests or [])
    ]
    if not data["test"]:
        del data["test"]
    return data


def write(
    folder: Path, data: dict[str, Any], fixtures: dict[str, Any] | None = None
) -> LoadedScript:
    """Write the script (and fixture files: JSON for dicts, as written for text) and load it."""
    (folder / "fixtures").mkdir(parents=True, exist_ok=True)
    for name, content in (fixtures or {}).items():
        text = content if isinstance(content, str) else json.dumps(content)
        (folder / "fixtures" / name).write_text(text, encoding="utf-8")
    path = folder / f"{data.get('id', 'made-up')}.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return load_script(path, folder.name)


def fixture(fixture_id: str, file: str, **flags: bool) -> dict[str, Any]:
    return {
        "id": fixture_id,
        "autocreate": flags.get("autocreate", False),
        "autodelete": flags.get("autodelete", False),
        "resource": {"reference": f"fixtures/{file}"},
    }
