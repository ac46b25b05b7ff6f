"""What a running app holds: the repository, the interaction context, the search tables, and
how callers are authenticated and audited (the :class:`AuditLog` that groups the AuditEvents
written outside a request's own transaction: one per repository, shared by every request)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from adapter.router.audit_log import AuditLog
from adapter.router.auditing import AuditTrail, OrganisationDirectory
from adapter.router.crud import Context
from adapter.search.parameters import SearchParameters
from adapter.security.audit import AuditSource
from adapter.security.settings import AuthSettings
from adapter.security.tokens import Principal, TokenVerifier, insecure_dev_principal
from adapter.store.repository import Repository


@dataclass
class AppState:
    repository: Repository
    context: Context
    parameters: SearchParameters
    version: str
    auth: AuthSettings
    verifier: TokenVerifier | None
    observer: str  # this server's name in AuditEvent.source
    directory: OrganisationDirectory
    audit_log: AuditLog

    def authenticate(self, authorization: str | None) -> Principal:
        """The caller of a request with this ``Authorization`` header (401 without a good
        token); everybody is the unrestricted stand-in under ``--insecure-dev``."""
        if self.verifier is None:
            return insecure_dev_principal()
        return self.verifier.authenticate(authorization)

    def trail(self, method: str, client_address: str | None, base_url: str) -> AuditTrail:
        source = AuditSource(self.observer, base_url)
        return AuditTrail(source, self.directory, method, client_address, datetime.now(UTC))
