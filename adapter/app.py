"""The FastAPI application: ``create_app(settings)`` wires storage, validation and routes.

Nothing happens at import time. At start-up the store is migrated and the conformance resources
of ``profiles/`` are written into it (idempotently: an unchanged resource keeps its version), so
they can be read and searched like any other resource; the API serves them read-only. Requests
need a bearer token checked against the configured issuer (:mod:`adapter.security`) unless the
app runs with ``--insecure-dev`` on a loopback address.
"""

from __future__ import annotations

import gc
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib.metadata import version
from typing import Any

import anyio.to_thread
from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from adapter.config import Settings
from adapter.registry import Registry, default_registry
from adapter.rest import errors
from adapter.rest.plo import build_plo_router
from adapter.rest.routes import build_router
from adapter.rest.state import AppState
from adapter.router import operations  # noqa: F401  (registers the $operations)
from adapter.router.audit_log import AuditLog
from adapter.router.auditing import OrganisationDirectory
from adapter.router.crud import READ_ONLY_TYPES, Context
from adapter.search.parameters import default_parameters
from adapter.security.settings import AuthSettings
from adapter.security.tokens import TokenVerifier
from adapter.store import open_repository
from adapter.store.repository import Repository, TransientConflict
from adapter.validation.validator import validate, warm_up

log = logging.getLogger("forlop")


def seed_conformance(repository: Repository, registry: Registry) -> None:
    """Write the registry's conformance resources into the store, in one transaction."""
    for attempt in range(5):
        try:
            with repository.transaction() as tx:
                for rtype in sorted(READ_ONLY_TYPES):
                    for resource in registry.of_type(rtype):
                        rid = resource.get("id")
                        if isinstance(rid, str):
                            tx.update(rtype, rid, resource)
            return
        except TransientConflict:
            if attempt == 4:
                raise


def create_app(
    settings: Settings | None = None,
    repository: Repository | None = None,
    auth: AuthSettings | None = None,
) -> FastAPI:
    """The FHIR server. ``auth`` defaults to the ``FORLOP_*`` variables (:meth:`AuthSettings.
    from_env`); settings that would leave the server open or unusable raise
    :class:`AuthConfigError` here, before anything starts (secure by default)."""
    settings = settings or Settings()
    auth = auth if auth is not None else AuthSettings.from_env()
    auth.check(settings.host)
    verifier = TokenVerifier(auth) if auth.enabled else None
    registry = default_registry()

    def checked(resource: dict[str, Any]) -> list[Any]:
        return validate(resource, registry)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if repository is not None:
            repo = repository
        else:
            repo = await anyio.to_thread.run_sync(open_repository, settings.database_url)
        await anyio.to_thread.run_sync(seed_conformance, repo, registry)
        conformance = [r for t in sorted(READ_ONLY_TYPES) for r in registry.of_type(t)]
        await anyio.to_thread.run_sync(warm_up, registry, conformance)
        if verifier is not None and not await anyio.to_thread.run_sync(verifier.keys.refresh):
            log.error(
                "The token issuer's keys cannot be loaded from %s: every request will be "
                "answered 503 until they can.",
                auth.jwks,
            )
        app.state.forlop = AppState(
            repository=repo,
            context=Context(registry, settings, checked),
            parameters=default_parameters(),
            version=version("forlop"),
            auth=auth,
            verifier=verifier,
            observer=f"forlop@{socket.gethostname()}",
            directory=OrganisationDirectory(),
            audit_log=AuditLog(repo),
        )
        # What start-up built (registry, validation tables, models) lives as long as the
        # process. Out of the collector's sight, a full collection costs ~30 ms instead
        # of ~150 ms, a pause every request in flight would otherwise wait out.
        gc.collect()
        gc.freeze()
        log.info("forlop serving %s on %s", settings.base_path, _safe(settings.database_url))
        try:
            yield
        finally:
            if repository is None:
                repo.close()

    app = FastAPI(
        title="forlop",
        summary="FHIR R4 adapter for care transitions: PSFS goals and PaTH checklists.",
        version=version("forlop"),
        lifespan=lifespan,
    )
    errors.install(app)
    app.include_router(build_router(settings.base_path))
    app.include_router(build_plo_router())

    @app.get("/healthz", tags=["operations"], summary="The process is alive")
    async def healthz() -> JSONResponse:
        return JSONResponse({"status": "ok"})

    @app.get("/readyz", tags=["operations"], summary="The store answers")
    async def readyz(request: Request) -> JSONResponse:
        state: AppState = request.app.state.forlop

        def probe() -> None:
            with state.repository.transaction(read_only=True) as tx:
                tx.history(count=1)

        try:
            await anyio.to_thread.run_sync(probe)
        except Exception:  # noqa: BLE001 - any failure means not ready
            log.exception("readiness probe failed")
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    return app


def _safe(url: str) -> str:
    """The database URL without a password, for logs."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest:
        credentials, _, host = rest.rpartition("@")
        user = credentials.split(":")[0]
        return f"{scheme}{sep}{user}@{host}"
    return url


def create_app_from_env() -> FastAPI:
    """Factory for worker processes: settings come from FORLOP_* variables."""
    return create_app(Settings.from_env(), auth=AuthSettings.from_env())
