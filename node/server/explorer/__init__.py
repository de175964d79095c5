"""The web explorer: server-rendered pages for people, beside the JSON API.

``search`` (``GET /``: a certificate number or an entry hash, 303 to its page), ``verify``
(``GET /verify/{entry_hash}``, the target of a certificate's QR code), ``network`` (``GET
/network``) and ``parcel`` (``GET /parcels/{log}/{seq}/{out}``); what they share — the
templates, the page frame, HTML answers to malformed requests — in ``_layout``, the chain's
graph in ``_graph``. The stylesheet and the favicon are files under ``node/server/static/``,
served at ``/static`` (and ``/favicon.ico``): the pages carry no script and no inline style.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

from node.server.explorer import network, parcel, search, verify
from node.server.explorer._layout import STATIC

__all__ = ["install", "network", "parcel", "router", "search", "verify"]

router = APIRouter()
router.include_router(search.router)
router.include_router(verify.router)
router.include_router(network.router)
router.include_router(parcel.router)


@router.get("/favicon.ico", include_in_schema=False)
def _favicon() -> FileResponse:
    """Browsers ask for it whatever the page says; the same SVG as ``/static/favicon.svg``."""
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


def install(app: FastAPI) -> None:
    """Mount the pages and their static files on ``app``."""
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
