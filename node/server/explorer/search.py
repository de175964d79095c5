"""The search page (``GET /``): a certificate number or an entry hash, looked up.

A query that resolves answers 303 to its verification page (``/verify/{entry hash}``), so that
the page a person lands on is the one a QR code leads to; an unknown one answers the not-found
page (404), an invalid or over-long one a page saying what is wrong (400).
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from node.core.errors import RecordError
from node.core.records import parse_certificate_number
from node.server.explorer._layout import HTML_ERRORS, HtmlRoute, node_of, page, refusal

__all__ = ["MAX_QUERY", "router", "search"]

MAX_QUERY = 128
_HASH = re.compile(r"[0-9a-fA-F]{64}")

router = APIRouter(route_class=HtmlRoute)


@router.get(
    "/",
    response_class=HTMLResponse,
    tags=["explorer"],
    responses={303: {"description": "found: its verification page"}, **HTML_ERRORS},
)
def search(
    request: Request,
    q: Annotated[
        str,
        Query(
            max_length=MAX_QUERY,
            description="a certificate number (BW-2026-0001, bw/2026/0001) or an entry hash",
        ),
    ] = "",
) -> Response:
    """Look up a certificate number or an entry hash: 303 to its verification page."""
    query = q.strip()
    if not query:
        return page(request, "search.html", nav="search")
    node = node_of(request)
    if _HASH.fullmatch(query):
        digest = bytes.fromhex(query)
        with node.store.read() as reader:
            found = reader.position(digest) is not None
        if not found:
            return not_found(request, query, "No entry with this hash is on the ledger.")
        return RedirectResponse(f"/verify/{digest.hex()}", status_code=303)
    try:
        number = parse_certificate_number(query)
    except RecordError as exc:
        return refusal(
            request, 400, "Neither a certificate number nor an entry hash", exc.message, query=q
        )
    chain = node.known_chain()
    if chain and number.issuer not in chain[-1].charter.participants:
        # "hello world" parses as a number of issuer HELLO: free text, not a forgery.
        return refusal(
            request,
            400,
            "Neither a certificate number nor an entry hash",
            f"{number.issuer} is no participant of this network: a certificate number begins "
            "with its issuer's code (BW-2026-0001).",
            query=q,
        )
    with node.state() as state:
        certificate = state.certificate_by_number(number.issuer, number.key)
    if certificate is None:
        return not_found(request, query, f"No certificate numbered {number.text} is on the ledger.")
    return RedirectResponse(f"/verify/{certificate.ref.hash.hex()}", status_code=303)


def not_found(request: Request, query: str, reason: str) -> HTMLResponse:
    """The not-found page (404): what was asked for is no entry of this ledger — the words of
    ``kp verify``'s exit 4."""
    return page(request, "not_found.html", 404, query=query, reason=reason)
