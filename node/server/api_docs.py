"""The API documentation at ``/docs`` (Swagger UI) and ``/redoc`` (ReDoc), served whole by the
node: no CDN, so they work on a closed network, and no inline script, so they work under the
node's Content-Security-Policy (node/server/middleware.py, decision 0044).

FastAPI's own pages load Swagger UI and ReDoc from a CDN and start Swagger UI with an inline
script. Here the two bundles come from the ``fastapi-offline`` package (read once, through
``importlib.resources``), the Swagger UI initialiser is a static script of ours, and every asset
is under ``/docs/assets/``. An asset is gzipped once, when first asked for, not per request:
the Swagger UI bundle is 1.5 MB, and an anonymous client asking for it again and again must
cost the node a copy, not a compression.
"""

from __future__ import annotations

import functools
import gzip
import html
from dataclasses import dataclass
from importlib import resources

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.exceptions import HTTPException

from node.server.middleware import CONTENT_SECURITY_POLICY

__all__ = ["ASSETS", "asset", "redoc", "router", "swagger_ui"]

router = APIRouter(include_in_schema=False)

_BUNDLED = "fastapi_offline"  # the package whose static/ directory holds both bundles

# Started by a static script, not an inline one; the spec's URL comes from the page (so it holds
# under a root path) and the online validator, a request to a third-party site, is off.
_SWAGGER_INIT = b"""\
"use strict";
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.openapiUrl,
    dom_id: "#swagger-ui",
    layout: "BaseLayout",
    deepLinking: true,
    showExtensions: true,
    showCommonExtensions: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  });
});
"""

_JS = "text/javascript; charset=utf-8"

ASSETS: dict[str, tuple[str, str | bytes]] = {
    # name under /docs/assets/: (media type, a file of the bundled package's static/, or content)
    "swagger-ui.css": ("text/css; charset=utf-8", "swagger-ui.css"),
    "swagger-ui-bundle.js": (_JS, "swagger-ui-bundle.js"),
    "swagger-init.js": (_JS, _SWAGGER_INIT),
    "redoc.standalone.js": (_JS, "redoc.standalone.js"),
}
"""Every asset the two pages load."""

_SWAGGER_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — Swagger UI</title>
<link rel="stylesheet" href="{root}/docs/assets/swagger-ui.css">
</head><body>
<main id="swagger-ui" data-openapi-url="{root}{openapi}"></main>
<script src="{root}/docs/assets/swagger-ui-bundle.js"></script>
<script src="{root}/docs/assets/swagger-init.js"></script>
</body></html>"""

# ReDoc starts itself on the <redoc> element. Its search runs in a Web Worker made from a blob:
# URL, which script-src 'self' refuses, so search is off (the left menu lists every operation;
# the browser's find works). It styles itself by inserting <style> elements at run time
# (styled-components), which style-src 'self' refuses, blanking the page: this one page's policy
# allows inline styles, and nothing else more (decision 0044).
_REDOC_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title} — ReDoc</title>
</head><body>
<redoc spec-url="{root}{openapi}" disable-search></redoc>
<script src="{root}/docs/assets/redoc.standalone.js"></script>
</body></html>"""


_REDOC_POLICY = CONTENT_SECURITY_POLICY.replace(
    "style-src 'self';", "style-src 'self' 'unsafe-inline';"
)
assert _REDOC_POLICY != CONTENT_SECURITY_POLICY  # noqa: S101 - the replacement found its directive


@dataclass(frozen=True, slots=True)
class _Asset:
    media_type: str
    raw: bytes
    gzipped: bytes


@functools.cache
def _asset(name: str) -> _Asset:
    media_type, source = ASSETS[name]
    if isinstance(source, bytes):
        raw = source
    else:
        raw = resources.files(_BUNDLED).joinpath("static", source).read_bytes()
    return _Asset(media_type, raw, gzip.compress(raw, compresslevel=9, mtime=0))


def _page(request: Request, template: str, headers: dict[str, str] | None = None) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    return HTMLResponse(
        template.format(
            title=html.escape(request.app.title),
            root=html.escape(root),
            openapi=html.escape(request.app.openapi_url or "/openapi.json"),
        ),
        headers=headers,
    )


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """The API, browsable and callable (Swagger UI)."""
    return _page(request, _SWAGGER_PAGE)


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """The API as one reference page (ReDoc)."""
    return _page(request, _REDOC_PAGE, {"content-security-policy": _REDOC_POLICY})


@router.get("/docs/assets/{name}")
def asset(name: str, request: Request) -> Response:
    """One asset of the two pages, gzipped when the client accepts it."""
    if name not in ASSETS:
        raise HTTPException(404, f"no documentation asset {name[:64]!r}")  # as any unknown path
    found = _asset(name)
    headers = {"cache-control": "public, max-age=3600", "vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["content-encoding"] = "gzip"  # so the compression middleware leaves it be
        return Response(found.gzipped, media_type=found.media_type, headers=headers)
    return Response(found.raw, media_type=found.media_type, headers=headers)
