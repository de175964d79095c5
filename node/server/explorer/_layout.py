"""What every explorer page shares: the templates, the page frame, and the HTML answers to a
request that cannot be answered (a malformed path or query, a ledger error).

Templates are Jinja2 with autoescaping on for every page, so a value — a hostile certificate
number, a participant's name — is text wherever it lands; nothing is marked safe by hand. The
pages carry no script and no inline style (the node's Content-Security-Policy allows neither):
the stylesheet and the favicon are files under ``node/server/static/``.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined

from node.core.errors import LedgerError
from node.engine.ledger import LedgerNode
from node.server.problems import status_of

TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent.parent / "static"

_ENVIRONMENT = Environment(
    loader=FileSystemLoader(TEMPLATES),
    autoescape=True,  # every template: values are text, never markup
    undefined=StrictUndefined,  # a misspelt name fails the page (and its test), not blanks
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.filters["carats"] = lambda centicarats: (
    "" if centicarats is None else f"{centicarats / 100:,.2f} ct"
)


def node_of(request: Request) -> LedgerNode:
    node: LedgerNode = request.app.state.node
    return node


def page(request: Request, template: str, code: int = 200, /, **context: Any) -> HTMLResponse:
    """Render ``template`` in the page frame: the node, its network and genesis, the search
    field (holding ``query`` when the page answers one)."""
    node = node_of(request)
    genesis = node.genesis()
    context.setdefault("query", "")
    context.setdefault("nav", "")
    body = _ENVIRONMENT.get_template(template).render(
        participant=node.log,
        network=node.settings.network,
        genesis=genesis.hex() if genesis else None,
        **context,
    )
    return HTMLResponse(body, status_code=code)


def refusal(
    request: Request, status: int, heading: str, detail: str, *, query: str = ""
) -> HTMLResponse:
    """The page of a request the explorer cannot answer: what was wrong, in words."""
    return page(
        request,
        "refused.html",
        status,
        heading=heading,
        detail=detail,
        status_code=status,
        query=query,
    )


def _validation_detail(exc: RequestValidationError) -> str:
    parts = []
    for error in exc.errors()[:5]:
        where = str(error.get("loc", ("?",))[-1])
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "; ".join(parts)[:500]


class HtmlRoute(APIRoute):
    """A route whose every answer is a page: a request FastAPI refuses (a query over its
    length, a path parameter out of range) and any ledger error become an HTML page with
    the status the JSON API would give, so that a person never meets a raw problem document.
    The API's own routes keep their problem+json answers."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return refusal(
                    request,
                    400,
                    "This request cannot be answered",
                    _validation_detail(exc),
                    query=_shown_query(request),
                )
            except LedgerError as exc:
                return refusal(
                    request, status_of(exc), "This request cannot be answered", exc.message
                )

        return route


def _shown_query(request: Request) -> str:
    # Echoed into the search field (escaped), cut to the field's own length.
    return request.query_params.get("q", "")[:128]


# The responses every explorer route declares in the OpenAPI document: pages, not problems.
HTML_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "a malformed query or path, as a page", "content": {"text/html": {}}},
    404: {"description": "not on this ledger, as a page", "content": {"text/html": {}}},
}
