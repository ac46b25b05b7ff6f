"""Helpers for the PLO tests: reading stored resources and AppRec receipts."""

from __future__ import annotations

from typing import Any

from lxml import etree

from adapter.plo.apprec import APPREC_NS
from adapter.store.repository import Repository

NS = {"a": APPREC_NS}


def stored(repository: Repository, resource_type: str) -> list[dict[str, Any]]:
    """Every current resource of a type (by its history; the stores keep no deletions here)."""
    found: dict[str, dict[str, Any]] = {}
    with repository.transaction(read_only=True) as tx:
        cursor = None
        while True:
            page = tx.history(resource_type, count=100, cursor=cursor)
            for entry in page.entries:
                found.setdefault(entry.id, entry.resource)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return list(found.values())


def versions(repository: Repository) -> dict[str, int]:
    """Type/id -> current version of everything stored."""
    out: dict[str, int] = {}
    with repository.transaction(read_only=True) as tx:
        cursor = None
        while True:
            page = tx.history(count=100, cursor=cursor)
            for entry in page.entries:
                out.setdefault(f"{entry.resource_type}/{entry.id}", entry.version_id)
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
    return out


def receipt(apprec: bytes) -> tuple[str, list[tuple[str, str, str]]]:
    """(Status V, [(Error V, DN, OT)]) of an AppRec."""
    root = etree.fromstring(apprec)
    status = root.find("a:Status", NS)
    assert status is not None
    errors = [
        (e.get("V", ""), e.get("DN", ""), e.get("OT", "")) for e in root.findall("a:Error", NS)
    ]
    return status.get("V", ""), errors
