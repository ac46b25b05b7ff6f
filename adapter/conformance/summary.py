"""One-line summaries of FHIR bodies and validation issues for conformance reports.

An integrator reading a report wants to see at a glance what came back: which resource and
version, how many entries a Bundle holds and how each transaction entry ended, or what an
OperationOutcome says and where (FHIR R4 OperationOutcome.issue: severity, code, expression).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from adapter.fhir.errors import Issue

_SHOWN = 3


def describe_issues(issues: Sequence[Issue], limit: int = _SHOWN) -> str:
    parts = []
    for issue in issues[:limit]:
        code = issue.forlop_code.value if issue.forlop_code else issue.code
        where = ", ".join(issue.expression)
        if where and where not in issue.diagnostics:  # forlop's diagnostics name it already
            parts.append(f"{where}: {issue.diagnostics} ({code})")
        else:
            parts.append(f"{issue.diagnostics} ({code})")
    more = len(issues) - limit
    count = f"{len(issues)} error{'s' if len(issues) != 1 else ''}"
    return f"{count}: " + "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _outcome_issue(issue: dict[str, Any]) -> str:
    codes = [c.get("code") for c in (issue.get("details") or {}).get("coding") or []]
    where = ", ".join(str(e) for e in issue.get("expression") or [])
    text = issue.get("diagnostics") or (issue.get("details") or {}).get("text") or ""
    label = " ".join(str(p) for p in (issue.get("severity"), issue.get("code"), *codes) if p)
    return f"{label}{' at ' + where if where else ''}: {text}".rstrip(": ")


def summary_of(resource: dict[str, Any]) -> str:
    rtype = str(resource.get("resourceType", "(no resourceType)"))
    if rtype == "OperationOutcome":
        issues = resource.get("issue") or []
        shown = "; ".join(_outcome_issue(i) for i in issues[:_SHOWN] if isinstance(i, dict))
        more = f"; and {len(issues) - _SHOWN} more" if len(issues) > _SHOWN else ""
        return f"OperationOutcome: {shown}{more}"
    if rtype == "Bundle":
        entries = [e for e in resource.get("entry") or [] if isinstance(e, dict)]
        text = f"Bundle ({resource.get('type', 'no type')}) with {len(entries)} entries"
        statuses = Counter(
            str((e.get("response") or {}).get("status")) for e in entries if e.get("response")
        )
        if statuses:
            text += ": " + ", ".join(f"{s} ×{n}" for s, n in sorted(statuses.items()))
        return text
    rid = resource.get("id")
    version = (resource.get("meta") or {}).get("versionId")
    text = f"{rtype}/{rid}" if rid else f"{rtype} without id"
    return text + (f" (version {version})" if version else "")
