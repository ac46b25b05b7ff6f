"""Executing TestScripts against a FHIR R4 server over HTTP (FHIR R4 TestScript, reported the way
a TestReport would be: every action with its outcome).

For each script: autocreate fixtures, then setup; each test runs when the setup passed; teardown
(and autodelete) always runs. In setup and in a test the first failing action stops the phase:
asserts right after it still run (they describe the same response), later operations and what
follows them are skipped. Teardown runs every operation, and a teardown request the server refuses
is a warning.

A request goes to the URL :mod:`adapter.conformance.exchange` works out; ``targetId`` names a
response, or a fixture this script created (its id, and version for vread). The body is the
``sourceId`` fixture with its variables substituted, in JSON unless ``contentType`` asks for XML;
for an update of a target, its ``id`` becomes the target's. With a token every request carries
``Authorization: Bearer``; reports only ever show it masked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import version
from time import perf_counter
from typing import Any, Literal, Protocol

import httpx

from adapter.conformance.asserts import AssertContext, AssertError, check, header_media_type
from adapter.conformance.exchange import (
    Identity,
    OperationError,
    identity,
    method_of,
    parse_body,
    send,
    url_of,
)
from adapter.conformance.model import (
    Action,
    Assert,
    Fixture,
    LoadedScript,
    Operation,
    Suite,
    TestScript,
)
from adapter.conformance.results import (
    ActionResult,
    Exchange,
    HttpRequest,
    PhaseResult,
    RunResult,
    ScriptResult,
    Source,
    Status,
)
from adapter.conformance.summary import summary_of
from adapter.conformance.variables import VariableError, Variables
from adapter.fhir.wire import Format, format_of, write_resource
from adapter.registry import Registry, default_registry


class Listener(Protocol):
    """Progress of a run, for a console or a test."""

    def script_started(self, loaded: LoadedScript) -> None: ...

    def phase_finished(self, loaded: LoadedScript, phase: PhaseResult) -> None: ...

    def script_finished(self, result: ScriptResult) -> None: ...


class Runner:
    """Runs loaded TestScripts against the FHIR server at ``base_url``."""

    def __init__(
        self,
        base_url: str,
        *,
        token: str | None = None,
        timeout: float = 30.0,
        listener: Listener | None = None,
        registry: Registry | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.listener = listener
        self.registry = registry or default_registry()
        self.transport = transport

    def client(self) -> httpx.Client:
        return httpx.Client(
            timeout=self.timeout,
            transport=self.transport,
            headers={"User-Agent": f"forlop-conformance/{version('forlop')}"},
        )

    def run(self, suites: Sequence[Suite], scripts: Sequence[str] = ()) -> RunResult:
        """Every script of the suites (only those with an id in ``scripts``, when given)."""
        started, clock = datetime.now(UTC), perf_counter()
        result = RunResult(self.base_url, started)
        with self.client() as client:
            for suite in suites:
                for loaded in suite.scripts:
                    if not scripts or loaded.id in scripts:
                        result.scripts.append(self.run_script(loaded, client))
        result.elapsed_s = perf_counter() - clock
        return result

    def run_script(self, loaded: LoadedScript, client: httpx.Client) -> ScriptResult:
        clock = perf_counter()
        if self.listener:
            self.listener.script_started(loaded)
        result = ScriptResult(loaded.suite, loaded.id, loaded.title, loaded.path)
        if loaded.script is None:
            result.problems = loaded.problems
        else:
            result.description = loaded.script.description

            def finished(phase: PhaseResult) -> None:
                result.phases.append(phase)
                if self.listener:
                    self.listener.phase_finished(loaded, phase)

            _ScriptRun(self, client, loaded.script).execute(finished)
        result.elapsed_s = perf_counter() - clock
        if self.listener:
            self.listener.script_finished(result)
        return result


def _fixture_source(fixture: Fixture) -> Source:
    return Source(
        name=f"fixture {fixture.id}",
        resource=fixture.resource,
        content_type=fixture.media_type,
        raw=fixture.raw,
        note=fixture.note,
    )


class _ScriptRun:
    """The state of one script while it runs: fixtures by id, the last exchange, variables."""

    def __init__(self, runner: Runner, client: httpx.Client, script: TestScript) -> None:
        self.runner = runner
        self.client = client
        self.script = script
        self.store: dict[str, Source] = {f.id: _fixture_source(f) for f in script.fixtures.values()}
        self.created: dict[str, Identity] = {}
        self.last: Exchange | None = None
        self.last_response: Source | None = None
        self.variables = Variables(script.variables, self.lookup)

    # -- fixtures ---------------------------------------------------------------------------

    def lookup(self, fixture_id: str | None) -> Source:
        if fixture_id is None:
            if self.last_response is None:
                raise VariableError("No response has come back yet.")
            return self.last_response
        found = self.store.get(fixture_id)
        if found is None:
            raise VariableError(
                f"Fixture {fixture_id} has no value yet: its operation has not run."
            )
        return found

    def source(self, fixture_id: str | None, direction: str) -> Source:
        if fixture_id is None and direction == "request":
            if self.last is None:
                raise VariableError("No request has been sent yet.")
            return self._request_source(self.last.request, "the last request")
        return self.lookup(fixture_id)

    @staticmethod
    def _request_source(request: HttpRequest, name: str) -> Source:
        content_type = next(
            (v for k, v in request.headers.items() if k.lower() == "content-type"), None
        )
        resource, problem = parse_body(request.body or b"", content_type)
        headers = {k.lower(): v for k, v in request.headers.items()}
        return Source(name, resource, headers, None, "", content_type, problem, request)

    def target(self, fixture_id: str) -> Identity:
        if fixture_id in self.created:
            return self.created[fixture_id]
        source = self.lookup(fixture_id)
        found = identity(source.resource, dict(source.headers))
        if found is None:
            raise OperationError(f"{source.name} names no resource: it has no id and no Location.")
        return found

    # -- phases -----------------------------------------------------------------------------

    def execute(self, finished: Callable[[PhaseResult], None]) -> None:
        autocreate = [
            Operation(
                where=f"TestScript.fixture({f.id}).autocreate",
                type="create",
                label=f"autocreate {f.id}",
                source_id=f.id,
            )
            for f in self.script.fixtures.values()
            if f.autocreate
        ]
        setup = PhaseResult("setup", "setup")
        self.run_actions(setup, [*autocreate, *self.script.setup], stop_on_failure=True)
        if setup.actions:
            finished(setup)
        setup_ok = setup.status not in ("fail", "error")
        for test in self.script.tests:
            phase = PhaseResult("test", test.name, test.description)
            if setup_ok:
                self.run_actions(phase, test.actions, stop_on_failure=True)
            else:
                phase.note = "not run: the setup failed"
            finished(phase)
        autodelete = [
            Operation(
                where=f"TestScript.fixture({f.id}).autodelete",
                type="delete",
                label=f"autodelete {f.id}",
                target_id=f.id,
            )
            for f in self.script.fixtures.values()
            if f.autodelete
        ]
        teardown = PhaseResult("teardown", "teardown")
        self.run_actions(teardown, [*self.script.teardown, *autodelete], stop_on_failure=False)
        if teardown.actions:
            finished(teardown)

    def run_actions(
        self, phase: PhaseResult, actions: Sequence[Action], *, stop_on_failure: bool
    ) -> None:
        clock = perf_counter()
        failed = skipping = False
        for action in actions:
            if isinstance(action, Operation) and failed and stop_on_failure:
                skipping = True
            if skipping:
                phase.actions.append(self.skipped(action))
                continue
            if isinstance(action, Operation):
                result = self.operation(action, in_teardown=not stop_on_failure)
            else:
                result = self.assertion(action)
            phase.actions.append(result)
            failed = failed or result.status in ("fail", "error")
        phase.elapsed_s = perf_counter() - clock

    @staticmethod
    def skipped(action: Action) -> ActionResult:
        kind: Literal["operation", "assert"] = (
            "operation" if isinstance(action, Operation) else "assert"
        )
        return ActionResult(
            kind,
            action.title,
            action.where,
            "skip",
            message="skipped: an earlier action failed",
            label=action.label,
        )

    # -- asserts ----------------------------------------------------------------------------

    def assertion(self, action: Assert) -> ActionResult:
        context = AssertContext(
            source=self.source,
            variables=self.variables,
            profiles=self.script.profiles,
            registry=self.runner.registry,
            last_request=self.last.request if self.last else None,
        )
        try:
            verdict = check(action, context)
        except AssertError as exc:
            return ActionResult(
                "assert",
                action.title,
                action.where,
                "error",
                message=f"The assert cannot be evaluated: {exc}",
                label=action.label,
            )
        status: Status = "pass" if verdict.passed else "warning" if action.warning_only else "fail"
        return ActionResult(
            "assert",
            action.title,
            action.where,
            status,
            label=action.label,
            expected=verdict.expected,
            actual=verdict.actual,
        )

    # -- operations -------------------------------------------------------------------------

    def operation(self, op: Operation, *, in_teardown: bool) -> ActionResult:
        try:
            request, headers = self.request(op)
        except (OperationError, VariableError, ValueError) as exc:
            return ActionResult(
                "operation",
                op.title,
                op.where,
                "error",
                message=f"The request cannot be built: {exc}",
                label=op.label,
            )
        exchange = send(self.client, request, headers)
        self.last = exchange
        if op.request_id:
            self.store[op.request_id] = self._request_source(request, f"request {op.request_id}")
        response = exchange.response
        if response is None:
            self.last_response = None
            return ActionResult(
                "operation",
                op.title,
                op.where,
                "error",
                message=f"No response from {request.url}: {exchange.error}",
                label=op.label,
                exchange=exchange,
            )
        name = f"response {op.response_id}" if op.response_id else f"the response to {op.title}"
        source = Source(
            name,
            response.resource,
            response.headers,
            response.status,
            response.reason,
            response.headers.get("content-type"),
            response.parse_error,
            request,
        )
        self.last_response = source
        if op.response_id:
            self.store[op.response_id] = source
        if op.source_id and request.method in ("POST", "PUT") and 200 <= response.status < 300:
            found = identity(response.resource, dict(response.headers))
            if found is not None:
                self.created[op.source_id] = found
        refused = in_teardown and response.status >= 400
        message = (
            f"{request.method} {request.url} → {response.status} {response.reason} "
            f"in {response.elapsed_ms:.0f} ms"
        )
        if response.resource is not None:
            message += f": {summary_of(response.resource)}"
        return ActionResult(
            "operation",
            op.title,
            op.where,
            "warning" if refused else "pass",
            message=message,
            label=op.label,
            exchange=exchange,
        )

    def request(self, op: Operation) -> tuple[HttpRequest, dict[str, str]]:
        """The request for ``op`` (as reported, credentials masked) and the headers to send."""
        method = method_of(op)
        body: bytes | None = None
        note = ""
        content_type: str | None = None
        resource: dict[str, Any] | None = None
        target = self.target(op.target_id) if op.target_id else None
        if op.source_id:
            source = self.lookup(op.source_id)
            if source.resource is None and source.raw is not None:
                body, note, content_type = source.raw, source.note, source.content_type
            elif source.resource is None:
                raise OperationError(f"{source.name} has no body to send.")
            else:
                resource = self.variables.substitute_in(source.resource)
                assert resource is not None
                if (
                    target
                    and method in ("PUT", "PATCH")
                    and target[0] == resource.get("resourceType")
                ):
                    resource["id"] = target[1]
        if op.content_type:
            content_type = header_media_type(op.content_type)
        if resource is not None:
            fmt = Format.XML if format_of(content_type or "") is Format.XML else Format.JSON
            body = write_resource(resource, fmt)
            content_type = content_type or fmt.media_type
        url = url_of(op, self.runner.base_url, self.variables.substitute, target, resource)
        headers = {"Accept": header_media_type(op.accept) if op.accept else "application/fhir+json"}
        if body is not None:
            headers["Content-Type"] = content_type or "application/fhir+json"
        if self.runner.token:
            headers["Authorization"] = f"Bearer {self.runner.token}"
        for field, value in op.request_headers:
            for existing in [k for k in headers if k.lower() == field.lower()]:
                del headers[existing]
            headers[field] = self.variables.substitute(value)
        # Credentials never reach a report, whoever set them.
        shown = {
            k: f"{v.split(' ')[0]} ***" if k.lower() == "authorization" else v
            for k, v in headers.items()
        }
        return HttpRequest(method, url, shown, body, note), headers
