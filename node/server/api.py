"""The HTTP API of a node (DESIGN §10), assembled: routers, error handlers, middleware.

The routes live by concept — node/server/submission.py, reads.py, disclosures.py,
witnessing.py and explorer/; what they answer in schemas.py; errors to statuses in
problems.py; the middleware in middleware.py.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from node.core.errors import (
    EncodingError,
    LedgerError,
    RecordError,
    RuleError,
)
from node.engine.ledger import LedgerNode
from node.server import (
    api_docs,
    disclosures,
    documents,
    explorer,
    reads,
    statistics,
    statistics_page,
    submission,
    witnessing,
)
from node.server.ingress import (
    ClientShares,
    IngressBounds,
)
from node.server.metrics import NodeMetrics
from node.server.middleware import Compression, HeaderLimit, RequestLog, SecurityHeaders
from node.server.problems import status_of
from node.server.schemas import PROBLEM, problem

__all__ = ["install"]

logger = logging.getLogger("kp.api")


def _document_problems(app: FastAPI) -> None:
    """Make the OpenAPI document say what the node answers: every error as problem+json (the
    handlers below turn FastAPI's 422 validation errors into 400 problems), and a ``default``
    problem response on every operation for the statuses any route may meet (413, 431, 500)."""
    problem_content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path_item in schema.get("paths", {}).values():
            for operation in path_item.values():
                responses = operation.setdefault("responses", {})
                if responses.get("422", {}).get("description") == "Validation Error":
                    del responses["422"]
                for status, response in list(responses.items()):
                    if status.isdigit() and int(status) >= 400:
                        content = response.get("content", {})
                        content.pop("application/json", None)
                        content.pop("text/plain", None)
                        response["content"] = {**content, **problem_content}
                responses.setdefault(
                    "400", {"description": "Malformed request", "content": problem_content}
                )
                responses["default"] = {"description": "A problem", "content": problem_content}
        components = schema.get("components", {}).get("schemas", {})
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI, node: LedgerNode, metrics: NodeMetrics) -> None:
    """Mount the routes, the error handlers and the middleware on ``app``."""
    app.state.node = node
    app.state.metrics = metrics
    app.state.ingress_bounds = IngressBounds.from_settings(node.settings)
    app.state.client_shares = ClientShares(
        max_records=node.settings.sequencer_client_max_records,
        max_bytes=node.settings.sequencer_client_max_bytes,
    )
    app.include_router(submission.router)  # first: the hot route, tried before every read
    # Before reads: its /v1/certificates/{log}/{number:path} would take ".../document" whole.
    app.include_router(documents.router)
    app.include_router(reads.router)
    app.include_router(disclosures.router)
    app.include_router(witnessing.router)
    explorer.install(app)
    app.include_router(api_docs.router)  # /docs and /redoc, no CDN (FastAPI's are off)
    app.include_router(statistics.router)
    app.include_router(statistics_page.router)
    _document_problems(app)

    @app.exception_handler(LedgerError)
    async def ledger_error(request: Request, exc: LedgerError) -> JSONResponse:
        status = status_of(exc)
        if status == 503:
            # A state the operator may have to act on (not adopted, restoring, a new log key
            # waiting for a restart, busy), not a fault of this code.
            logger.warning("request refused", extra={"code": exc.code, "detail": exc.message})
        elif status >= 500:
            logger.error("request failed", extra={"code": exc.code, "detail": exc.message})
        elif isinstance(exc, RuleError | RecordError | EncodingError):
            metrics.records_refused.labels(exc.code).inc()
        return problem(status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            for e in exc.errors()
        )
        return problem(400, "request.invalid", details[:2000])

    # Starlette's own (unknown routes, wrong methods), of which FastAPI's is a subclass.
    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "route.unknown", 405: "method.not_allowed"}.get(exc.status_code, "http.error")
        return problem(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unexpected error", extra={"path": request.url.path})
        return problem(500, "internal.error", "the node failed; the failure is logged")

    # Outermost last: the headers go on every answer, a 431 refusal included; the request log
    # times the compression too.
    app.add_middleware(Compression)
    app.add_middleware(RequestLog, metrics=metrics)
    app.add_middleware(HeaderLimit, limit=node.settings.max_header_bytes)
    app.add_middleware(SecurityHeaders)
