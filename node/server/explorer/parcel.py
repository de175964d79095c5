"""A parcel's page (``GET /parcels/{log}/{seq}/{out}``): its state as ``GET
/v1/parcels/{log}/{seq}/{out}`` answers it (that route's function, called here), with links to
the entry that made it, each transfer, and the entry that consumed it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from node.core.errors import ApiError
from node.server import reads
from node.server.explorer._layout import HTML_ERRORS, HtmlRoute, node_of, page
from node.server.explorer.search import not_found
from node.server.schemas import LogId

__all__ = ["parcel_page", "router"]

router = APIRouter(route_class=HtmlRoute)


@router.get(
    "/parcels/{log_id}/{seq}/{out}",
    response_class=HTMLResponse,
    tags=["explorer"],
    responses=HTML_ERRORS,
)
def parcel_page(
    request: Request,
    log_id: LogId,
    seq: Annotated[int, Path(ge=0, le=2**63 - 1)],
    out: Annotated[int, Path(ge=0, le=63)],
) -> Response:
    """A parcel: holder, mass, HS code, origins, the entries that made, moved and consumed it."""
    try:
        found = reads.parcel(request, log_id, seq, out)
    except ApiError as exc:
        if exc.status != 404:
            raise
        return not_found(
            request, "", f"No parcel {log_id}/{seq}/{out} is on this node's copy of the ledger."
        )
    node = node_of(request)
    links = []
    with node.state() as state:
        made = state.entry(log_id, seq)
        links.append(("made by", found.ref[2], log_id, seq, made.signed.type if made else "?"))
        for t_log, t_seq, t_hash in found.transfers:
            moved = state.entry(t_log, t_seq)
            links.append(
                ("handed on by", t_hash, t_log, t_seq, moved.signed.type if moved else "?")
            )
        if found.consumed_by is not None:
            c_log, c_seq, c_hash = found.consumed_by
            used = state.entry(c_log, c_seq)
            links.append(("consumed by", c_hash, c_log, c_seq, used.signed.type if used else "?"))
    return page(
        request,
        "parcel.html",
        parcel=found,
        where=f"{log_id}/{seq}/{out}",
        links=links,
    )
