"""Following parcels forward from one parcel: what consumed it, what that made, and so on.

``kp trace`` asks which entry consumed a parcel and which parcels that entry made — a split's
outputs, a certificate's confirmation at the importer, a void's release — down to the parcels
still live, bounded in depth and in parcels visited (``truncated`` marks where it stopped).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from client.nodes import Nodes
from client.sdk import (
    ClientError,
)
from node.core.encoding import Value
from node.core.records import (
    CertificateConfirm,
    CertificateIssue,
    ParcelTransform,
)
from node.core.rules import entry_date

__all__ = ["Tracer"]


class Tracer:
    """Follows parcels forward: the entry that consumed each, and the parcels that made."""

    def __init__(self, nodes: Nodes, *, max_depth: int, max_parcels: int) -> None:
        self.nodes = nodes
        self.max_depth = max_depth
        self.max_parcels = max_parcels
        self.visited = 0
        self.truncated = False

    def parcel(self, ref: Sequence[Value], depth: int) -> dict[str, Any]:
        log, seq, digest, out = str(ref[0]), int(str(ref[1])), str(ref[2]), int(str(ref[3]))
        state = self.nodes.first(lambda c: c.parcel(log, seq, out))
        self.visited += 1
        node: dict[str, Any] = {
            "ref": f"{log}:{seq}:{digest}:{out}",
            "parcel": state["parcel"],
            "holder": state["holder"],
            "centicarats": state["centicarats"],
            "hs_code": state["hs_code"],
            "origins": state["origins"],
            "live": state["live"],
            "transfers": len(state.get("transfers") or []),
            "next": None,
        }
        if state["ref"][2] != digest:
            raise ClientError(f"parcel {log}/{seq}/{out} has another hash", code="trace.mismatch")
        consumed = state.get("consumed_by")
        if not consumed:
            return node
        if depth >= self.max_depth or self.visited >= self.max_parcels:
            node["truncated"] = self.truncated = True
            return node
        node["next"] = self._step(str(consumed[2]), depth)
        return node

    def _step(self, entry_hash: str, depth: int) -> dict[str, Any]:
        entry = self.nodes.entry(entry_hash)
        body, log = entry.signed.body, entry.signed.log
        step: dict[str, Any] = {
            "entry": f"{log}:{entry.seq}:{entry_hash}",
            "type": entry.signed.type,
            "date": entry_date(entry.time),
            "parcels": [],
        }
        made: list[list[Value]] = []
        if isinstance(body, ParcelTransform):
            step["kind"] = body.kind
            made = [[log, entry.seq, entry_hash, i] for i in range(len(body.outputs))]
        elif isinstance(body, CertificateIssue):
            step.update(certificate=body.number, importing=body.importing)
            certificate = self.nodes.first(lambda c: c.certificate(log, body.number))
            step["status"] = certificate["status"]
            outcome, voided = certificate.get("outcome_ref"), certificate.get("voided")
            if certificate["status"] == "confirmed" and outcome:
                confirmation = self.nodes.entry(str(outcome[2]))
                if not isinstance(confirmation.signed.body, CertificateConfirm):
                    raise ClientError(f"{outcome[2]} is no confirmation", code="trace.mismatch")
                step["confirmation"] = f"{outcome[0]}:{outcome[1]}:{outcome[2]}"
                step["confirmed_on"] = confirmation.signed.body.received_on
                count = len(confirmation.signed.body.parcels)
                made = [[outcome[0], outcome[1], outcome[2], i] for i in range(count)]
            elif voided:
                # A void releases the certificate's parcels to the exporter as new parcels.
                step["void"] = f"{voided[0]}:{voided[1]}:{voided[2]}"
                made = [[voided[0], voided[1], voided[2], i] for i in range(len(body.parcels))]
        for ref in made:
            if self.visited >= self.max_parcels:
                step["truncated"] = self.truncated = True
                break
            step["parcels"].append(self.parcel(ref, depth + 1))
        return step
