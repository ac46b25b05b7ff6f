"""The one place where exceptions become HTTP responses: always an OperationOutcome.

``FhirError`` carries its status (a refused token also its RFC 6750 ``WWW-Authenticate``
challenge); FastAPI's own request errors and unknown routes are translated to the same shape;
anything unexpected is logged with its traceback and answered 500 without internals.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from adapter.fhir.errors import Code, FhirError, error_issue, outcome
from adapter.rest.negotiation import fhir_response, rendering
from adapter.security.errors import AuthError

log = logging.getLogger("forlop")

_HTTP_CODES = {
    404: ("not-found", Code.NOT_FOUND),
    405: ("not-supported", Code.METHOD_NOT_ALLOWED),
    413: ("too-costly", Code.TOO_LARGE),
    415: ("not-supported", Code.UNSUPPORTED_MEDIA_TYPE),
}


def _fhir_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, FhirError)
    headers = {"WWW-Authenticate": exc.www_authenticate()} if isinstance(exc, AuthError) else None
    return fhir_response(exc.outcome(), rendering(request), exc.status, headers)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code, forlop_code = _HTTP_CODES.get(exc.status_code, ("processing", Code.NOT_SUPPORTED))
    detail = exc.detail if isinstance(exc.detail, str) else "The request was refused."
    if exc.status_code == 404:
        detail = f"No FHIR interaction is served at {request.url.path}."
    elif exc.status_code == 405:
        detail = f"{request.method} is not allowed on {request.url.path}."
    body = outcome([error_issue(code, forlop_code, detail)])
    return fhir_response(body, rendering(request), exc.status_code, dict(exc.headers or {}))


def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = [
        error_issue(
            "invalid",
            Code.INVALID_VALUE,
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', 'invalid')}",
            str(e.get("loc", [""])[-1]),
        )
        for e in exc.errors()
    ]
    return fhir_response(outcome(issues), rendering(request), 400)


def _unexpected(request: Request, exc: Exception) -> Response:
    log.error("Unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    body = outcome(
        [
            error_issue(
                "exception",
                Code.INTERNAL,
                "The server failed to process the request; it has been logged.",
            )
        ]
    )
    return fhir_response(body, rendering(request), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(FhirError, _fhir_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_error)
    app.add_exception_handler(Exception, _unexpected)
