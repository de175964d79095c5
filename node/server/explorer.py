"""The web explorer (``GET /``): look up a certificate number or an entry hash, see its chain
and what was checked.

Server-rendered HTML, no script: the node builds the subject's bounded bundle from its own store
(the default depth, decision 0039: its cost does not grow with a hub's history) and verifies it
exactly as an offline verifier would (client/verify.py), against the genesis this node adopted;
the chain starts at the seeded parcels, whose history rests on the witnesses. What it shows is
only as trustworthy as this node; the page says how to verify independently with ``kp verify``.
"""

from __future__ import annotations

import html
import re
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from client.verify import SeededParcel, Verdict, check_bundle
from node.core.errors import LedgerError
from node.core.records import EntryRef, parse_certificate_number
from node.engine.bundling import build_bundle
from node.engine.ledger import LedgerNode

__all__ = ["explorer", "router"]

router = APIRouter()

_HASH = re.compile(r"[0-9a-f]{64}")

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>KP Ledger explorer — {participant}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 72rem; color: #222; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border-bottom: 1px solid #ddd; padding: .35rem .5rem; text-align: left; }}
.valid {{ color: #176f2c; }} .invalid {{ color: #a4161a; }} .stop {{ color: #9a5b00; }}
code {{ font-size: .85em; }}
input[type=text] {{ width: 36rem; padding: .3rem; }}
</style></head><body>
<h1>KP Ledger explorer</h1>
<p>Node of <b>{participant}</b>, network <code>{network}</code>, genesis <code>{genesis}</code></p>
<form method="get" action="/"><input type="text" name="q" value="{query}"
 placeholder="certificate number (BW-2026-0001, BW/2026/0001) or entry hash" aria-label="search">
<button type="submit">Look up</button></form>
{body}
</body></html>"""


@router.get("/", response_class=HTMLResponse, tags=["explorer"], include_in_schema=True)
def explorer(
    request: Request,
    q: str = Query(default="", max_length=128, description="certificate number or entry hash"),
) -> HTMLResponse:
    """Look up a certificate or entry and see its chain and checks."""
    node: LedgerNode = request.app.state.node
    genesis = node.genesis()
    body = _lookup(node, q.strip(), genesis) if q.strip() else "<p>Enter something to look up.</p>"
    page = _PAGE.format(
        participant=html.escape(node.log),
        network=html.escape(node.settings.network),
        genesis=genesis.hex() if genesis else "(no charter adopted yet)",
        query=html.escape(q),
        body=body,
    )
    return HTMLResponse(page)


def _lookup(node: LedgerNode, query: str, genesis: bytes | None) -> str:
    if genesis is None:
        return "<p>This node has adopted no charter yet.</p>"
    try:
        subject = _resolve(node, query)
        if subject is None:
            return _not_found(f"no entry with this hash on the ledger — it may be forged ({query})")
        with node.store.read() as reader:
            bundle = build_bundle(reader, node.settings.network, subject)
    except LedgerError as exc:
        if exc.code in ("certificate.unknown", "certificate.number_invalid"):
            return _not_found(exc.message)
        return f"<p class=invalid>{html.escape(exc.code)}: {html.escape(exc.message)}</p>"
    return _render(check_bundle(bundle, genesis), subject)


def _not_found(reason: str) -> str:
    """The same words as ``kp verify``'s exit 4: what was asked for is no entry of the ledger."""
    return f"<h2 class=invalid>NOT FOUND — {html.escape(reason)}</h2>"


def _resolve(node: LedgerNode, query: str) -> EntryRef | None:
    """An entry hash, or a certificate number (the certificate: its verdict states what became
    of it)."""
    with node.store.read() as reader:
        if _HASH.fullmatch(query):
            position = reader.position(bytes.fromhex(query))
            return None if position is None else EntryRef(*position, bytes.fromhex(query))
    number = parse_certificate_number(query)  # neither hash nor number: the grammar is shown
    with node.state() as state:
        certificate = state.certificate_by_number(number.issuer, number.key)
    if certificate is None:
        raise LedgerError(
            f"no certificate with this number on the ledger — it may be forged ({number.text})",
            code="certificate.unknown",
        )
    return certificate.ref


def _render(verdict: Verdict, subject: EntryRef) -> str:
    status = "invalid" if not verdict.valid else "valid" if verdict.usable is not False else "stop"
    # A bounded bundle's chain starts at its seeds: parcels whose history rests on the
    # witnesses (decision 0039); the full chain is kp verify --deep's.
    seeded = "".join(
        "<tr class=note>"
        + "".join(f"<td>{html.escape(cell)}</td>" for cell in _seed_row(seed))
        + "</tr>"
        for seed in verdict.seeds
    )
    rows = seeded + "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(cell))}</td>" for cell in _row(step)) + "</tr>"
        for step in verdict.chain
    )
    findings = "".join(
        f"<li><code>{html.escape(f.code)}</code> {html.escape(f.detail)}</li>"
        for f in verdict.findings
    )
    origins = ", ".join(verdict.origins) or "none"
    return (
        f"<h2 class={status}>{html.escape(verdict.headline)}</h2>"
        + _certificate(verdict)
        + f"<p>Subject <code>{subject.log}/{subject.seq} {subject.hash.hex()}</code>; mining "
        f"origins: <b>{html.escape(origins)}</b></p>"
        + (f"<h3>Findings</h3><ul>{findings}</ul>" if findings else "")
        + (
            "<h3>Chain, from the seeded parcels</h3>"
            if verdict.seeds
            else "<h3>Chain from the mines</h3>"
        )
        + "<table><tr><th>date</th><th>participant</th>"
        "<th>record</th><th>certificate</th><th>carats</th><th>origins</th><th>witnesses</th>"
        f"<th>entry</th></tr>{rows}</table>"
        f"<p>{html.escape(verdict.replayed_summary)}.</p>"
        "<p>Checked here: charter chain, witnessed checkpoints, inclusion proofs, signatures "
        "and roles, every rule along the replayed steps. To check without trusting this node: "
        f"<code>kp verify {subject.hash.hex()}</code> against several nodes "
        "(<code>--deep</code> replays the whole chain back to the mines).</p>"
    )


def _certificate(verdict: Verdict) -> str:
    status = verdict.certificate
    if status is None:
        return ""
    proven = f"; proven by entry <code>{status.decided_by}</code>" if status.decided_by else ""
    as_of = f"; as of {html.escape(status.as_of)}" if status.as_of else ""
    return (
        f"<p>Certificate <b>{html.escape(status.number)}</b>: {html.escape(status.issuer)} to "
        f"{html.escape(status.importing)}, issued {status.issued_on}, expires "
        f"{status.expires_on}; status <b>{status.state}</b>{proven}{as_of}</p>"
        + "".join(
            f"<p class=note><code>{html.escape(n.code)}</code> {html.escape(n.detail)}</p>"
            for n in verdict.notes
        )
    )


def _seed_row(seed: SeededParcel) -> list[str]:
    return [
        "",
        seed.log,
        "seeded parcel",
        seed.parcel,
        f"{seed.centicarats / 100:,.2f}",
        ", ".join(seed.origins),
        "history rests on the witnesses",
        seed.hash[:16] + "…",
    ]


def _row(step: Any) -> list[str]:
    carats = "" if step.centicarats is None else f"{step.centicarats / 100:,.2f}"
    return [
        step.date,
        step.log,
        step.type,
        " ".join(filter(None, (step.certificate, step.status))),
        carats,
        ", ".join(step.origins),
        str(step.witnesses),
        step.hash[:16] + "…",
    ]
