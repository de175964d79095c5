"""Provenance bundles (DESIGN §9): everything needed to verify a chain offline.

A bundle is JSON, media type ``application/vnd.kp-ledger.bundle.v1+json``::

    {"media_type": ..., "network": "kp.example", "genesis": <hex>, "subject": <hex entry hash>,
     "charters": [<base64 signed charter>, ...],          # genesis first, each version once
     "checkpoints": {<log>: <checkpoint note>, ...},       # one per log, cosignatures attached
     "entries": [{"log", "seq", "hash": <hex>, "entry": <base64 canonical entry>,
                  "proof": <c2sp.org/tlog-proof text>}]}  # the DAG and what checks it

Every entry's tlog-proof leads to its log's checkpoint in ``checkpoints``. Verifying a bundle
needs only the trusted genesis hash (client/verify.py).
"""

from __future__ import annotations

import base64
from typing import Any

from node.errors import PendingError
from node.notes import TlogProof
from node.provenance import Provenance, provenance
from node.records import EntryRef
from node.state import LedgerView
from node.store import StoreReader
from node.witness import witnessed

__all__ = ["BUNDLE_MEDIA_TYPE", "build_bundle"]

BUNDLE_MEDIA_TYPE = "application/vnd.kp-ledger.bundle.v1+json"


def build_bundle(reader: StoreReader, network: str, subject: EntryRef) -> dict[str, Any]:
    """The bundle of ``subject`` from one store snapshot.

    Raises:
        PendingError: the store lacks an entry of the DAG, or a log has no checkpoint covering
            the entries the bundle needs.
    """
    view = LedgerView(reader, reader)
    dag: Provenance = provenance(view, subject)
    refs = sorted(
        set(dag.entries) | set(dag.operators) | set(dag.adoptions), key=lambda r: (r.log, r.seq)
    )
    checkpoints: dict[str, tuple[int, str]] = {}
    for log in sorted({r.log for r in refs}):
        needed = max(r.seq for r in refs if r.log == log) + 1
        # Verifiers trust witnessed checkpoints only (DESIGN §8); the newest signed one is
        # used only while none covers the entries yet, and the verdict will say so.
        size = witnessed(reader, log)
        note = reader.log(log).checkpoint(size) if size >= needed else None
        chosen = (size, note) if note is not None else reader.log(log).latest_checkpoint()
        if chosen is None or chosen[0] < needed:
            raise PendingError(f"log {log} has no checkpoint covering its entries yet")
        checkpoints[log] = chosen
    entries = []
    for ref in refs:
        log_reader = reader.log(ref.log)
        size, note = checkpoints[ref.log]
        proof = TlogProof(ref.seq, tuple(log_reader.inclusion_proof(ref.seq, size)), note)
        entries.append(
            {
                "log": ref.log,
                "seq": ref.seq,
                "hash": ref.hash.hex(),
                "entry": base64.b64encode(log_reader.entry(ref.seq)).decode(),
                "proof": proof.to_text(),
            }
        )
    charters = []
    for charter_hash in _charter_chain(view, dag):
        signed = view.charter(charter_hash)
        if signed is None:
            raise PendingError(f"charter {charter_hash.hex()} not held", code="charter.unknown")
        charters.append(base64.b64encode(signed.encode()).decode())
    return {
        "media_type": BUNDLE_MEDIA_TYPE,
        "network": network,
        "genesis": dag.charters[0].hex() if dag.charters else "",
        "subject": subject.hash.hex(),
        "charters": charters,
        "checkpoints": {log: note for log, (_, note) in checkpoints.items()},
        "entries": entries,
    }


def _charter_chain(view: LedgerView, dag: Provenance) -> list[bytes]:
    """Every charter version the DAG's logs adopted, by version (each log adopts every version
    in turn, so together they form the chain from the genesis)."""
    by_version: dict[int, bytes] = {}
    for log in sorted({r.log for r in dag.entries}):
        for adoption in view.adoptions(log):
            by_version.setdefault(adoption.version, adoption.charter)
    return [by_version[v] for v in sorted(by_version)]
