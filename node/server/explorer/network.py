"""The network page (``GET /network``): who takes part, what each log has adopted and how far
this node holds it, who witnessed it, and what evidence this node holds.

Read from what the API already computes — ``GET /v1/network`` (members, their status, the
charter version each log adopted), ``GET /v1/logs`` (what this node holds of each log) and
``GET /v1/evidence`` — by calling those route functions, so the page and the JSON never
disagree. Its work is one pass over the members: one read of each log's witnessed checkpoint
and its cosignatures, checked against the charter's witness keys.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from node.core import notes
from node.core.charter import Charter
from node.core.errors import LedgerError
from node.engine.replica import quarantined
from node.engine.witness import witnessed
from node.server import reads
from node.server.explorer._layout import HTML_ERRORS, HtmlRoute, node_of, page, refusal

__all__ = ["MAX_EVIDENCE_SHOWN", "LogRow", "network_page", "router"]

MAX_EVIDENCE_SHOWN = 100  # the newest; GET /v1/evidence has them all

router = APIRouter(route_class=HtmlRoute)


@dataclass(frozen=True, slots=True)
class LogRow:
    """One member and its log, as this node holds it."""

    id: str
    name: str
    kind: str
    status: str
    adopted_version: int | None
    behind: bool
    held: int  # entries this node holds of the log
    latest_signed: int  # the size of the newest checkpoint of it this node has seen
    witnessed: int  # the size of its newest witnessed checkpoint here (0: none)
    cosigners: tuple[str, ...]  # who cosigned that checkpoint
    cosigned_at: str | None  # the newest of their cosignatures
    quarantined: bool

    @property
    def lag(self) -> int:
        """Entries of the log signed but not yet held here."""
        return max(0, self.latest_signed - self.held)


def _iso(seconds: int) -> str:
    moment = datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")


@router.get("/network", response_class=HTMLResponse, tags=["explorer"], responses=HTML_ERRORS)
def network_page(request: Request) -> Response:
    """The network: members, charters adopted, logs held, witnesses, evidence."""
    node = node_of(request)
    try:
        described: dict[str, Any] = reads.network(request)
    except LedgerError as exc:
        return refusal(request, 503, "Not ready", exc.message)
    held = {info.log: info for info in reads.logs(request, with_notes=False)}
    evidence = reads.evidence(request)
    charter = node.trusted_charter()
    quorum = described["policy"]["witness_quorum"]
    rows = []
    with node.store.read() as reader:
        for member_id, member in sorted(described["participants"].items()):
            log_reader = reader.log(member_id)
            latest = log_reader.latest_checkpoint()
            size = witnessed(reader, member_id)
            note = log_reader.checkpoint(size) if size else None
            if note is None and latest is not None:
                size, note = latest  # as a bundle does: the newest, if its cosigners suffice
            names = _cosigners(note, charter, member_id)
            if len(names) < quorum:
                size, names = 0, {}
            info = held.get(member_id)
            rows.append(
                LogRow(
                    id=member_id,
                    name=member["name"],
                    kind=member["kind"],
                    status=member["status"],
                    adopted_version=member["adopted_version"],
                    behind=member["behind"],
                    held=0 if info is None else info.size,
                    latest_signed=0 if latest is None else latest[0],
                    witnessed=size,
                    cosigners=tuple(sorted(_member_of(name) for name in names)),
                    cosigned_at=_iso(max(names.values())) if names else None,
                    quarantined=quarantined(reader, member_id),
                )
            )
    newest = sorted(evidence, key=lambda e: e.get("time", 0), reverse=True)
    return page(
        request,
        "network.html",
        nav="network",
        described=described,
        rows=rows,
        evidence=[
            {**item, "found": _iso(int(item.get("time", 0)) // 1000)}
            for item in newest[:MAX_EVIDENCE_SHOWN]
        ],
        evidence_count=len(evidence),
        shown=MAX_EVIDENCE_SHOWN,
    )


def _cosigners(note: str | None, charter: Charter | None, log: str) -> dict[str, int]:
    """Who validly cosigned ``note``, among the charter's witnesses of ``log``."""
    if note is None or charter is None:
        return {}
    try:
        return notes.cosigners(note, charter.cosigner_keys(exclude=log))
    except LedgerError:
        return {}  # a damaged note: witnessed by nobody


def _member_of(cosigner: str) -> str:
    """``kp.example/BW/witness`` → ``BW``."""
    parts = cosigner.split("/")
    return parts[-2] if len(parts) >= 3 else cosigner
