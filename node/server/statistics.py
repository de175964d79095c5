"""The statistics reads (decision 0045): the node's movement index, paged, and the digest of a
log's movements up to a size, for a client to compare two nodes. Anonymous and public fields
only: a page costs at most ``MAX_PAGE`` rows, a digest one cursor seek."""

from __future__ import annotations

import base64
import re
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from node.core.errors import ApiError
from node.engine.statistics import digest_at, page
from node.server.requests import node_of
from node.server.schemas import LOG_ID, responses

__all__ = [
    "MAX_PAGE",
    "MovementDigestModel",
    "MovementPageModel",
    "digest",
    "movements",
    "router",
]

router = APIRouter()

MAX_PAGE = 5000
"""Rows a page may hold: a year of 20,000 certificates is about a dozen pages."""
DEFAULT_PAGE = 1000
_CURSOR = re.compile(rf"({LOG_ID.strip('^$')}):([0-9]{{1,19}})")


class MovementPageModel(BaseModel):
    rows: list[str] = Field(
        description="movements in (log, seq) order: base64 of each row's canonical msgpack map "
        "(docs/statistics.md), the bytes the digests hash"
    )
    digests: dict[str, str] = Field(
        description="per log with rows here: hex chain digest of its rows up to the last one here"
    )
    sizes: dict[str, int] = Field(description="every log's size when the page was read")
    next: str | None = Field(description="the cursor of the next page (LOG:SEQ), or null")


class MovementDigestModel(BaseModel):
    log: str
    size: int = Field(description="the rows digested are those of entries below this size")
    digest: str | None = Field(description="hex chain digest, null when there is no row")


def _cursor(text: str | None) -> tuple[str, int] | None:
    if text is None:
        return None
    match = _CURSOR.fullmatch(text)
    if match is None or int(match.group(2)) >= 2**63:
        raise ApiError("after is LOG:SEQ, e.g. BW:41", code="request.invalid", status=400)
    return match.group(1), int(match.group(2))


@router.get(
    "/v1/statistics/movements",
    response_model=MovementPageModel,
    responses=responses({}),
    tags=["statistics"],
)
def movements(
    request: Request,
    after: Annotated[str | None, Query(max_length=40, description="cursor LOG:SEQ")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = DEFAULT_PAGE,
) -> dict[str, Any]:
    """The movements of every log this node holds: productions, exports, imports, rejections
    and voids, one row per entry, public fields only, ``limit`` at a time after ``after``."""
    cursor = _cursor(after)
    with node_of(request).store.read() as reader:
        found = page(reader, cursor, limit)
    return {
        "rows": [base64.b64encode(row).decode("ascii") for row in found.rows],
        "digests": {log: d.hex() for log, d in found.digests.items()},
        "sizes": found.sizes,
        "next": None if found.next is None else f"{found.next[0]}:{found.next[1]}",
    }


@router.get(
    "/v1/statistics/digest",
    response_model=MovementDigestModel,
    responses=responses({}),
    tags=["statistics"],
)
def digest(
    request: Request,
    log: Annotated[str, Query(pattern=LOG_ID)],
    size: Annotated[int, Query(ge=0, le=2**63 - 1)],
) -> dict[str, Any]:
    """The chain digest of ``log``'s movements below ``size`` (clipped to what this node holds):
    equal on every honest node holding that much of the log."""
    with node_of(request).store.read() as reader:
        found = digest_at(reader, log, size)
    return {
        "log": found.log,
        "size": found.size,
        "digest": None if found.digest is None else found.digest.hex(),
    }
