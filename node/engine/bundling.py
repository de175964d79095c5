"""Building a provenance bundle (node/core/bundle.py: the format) from a node's store.

Every log the subject's provenance touches contributes its newest witnessed checkpoint that
covers the entries needed, and each entry its inclusion proof to it.
"""

from __future__ import annotations

from node.core.bundle import Bundle, BundleEntry
from node.core.charter import SignedCharter, longest_chain
from node.core.errors import PendingError
from node.core.notes import SignedCheckpoint, TlogProof
from node.core.provenance import DEFAULT_DEPTH, Provenance, provenance
from node.core.records import (
    CertificateConfirm,
    CertificateIssue,
    CertificateReject,
    CertificateVoid,
    EntryRef,
)
from node.core.state import CertificateState, LedgerView
from node.engine.store import StoreReader
from node.engine.witness import witnessed

__all__ = ["build_bundle"]


def build_bundle(
    reader: StoreReader, network: str, subject: EntryRef, depth: int | None = DEFAULT_DEPTH
) -> Bundle:
    """The bundle of ``subject`` from one store snapshot, ``depth`` levels deep (None: the
    whole DAG back to the mines; node/core/provenance.py says what a level is).

    Beside the subject's DAG it carries what its status rests on (DESIGN §9): for a certificate,
    or an entry that confirms, rejects or voids one, the confirmation, rejection and void this
    store holds (each with its own DAG), and a checkpoint of the importer's and the issuer's log,
    so a verifier can say "usable as of" them; every charter adoption of each log up to its
    checkpoint, so each checkpoint is verified with the log key in force at its size; and the
    whole charter chain this store trusts, so entries judged under an older version can be told
    apart from what the network decided since.

    The walks of the subject and of what decided its certificate are bounded alike; their
    seeds are the parcels neither replays the making of, and the entries that made the seeds a
    replayed certificate consumes come along, not replayed (their dates are read).

    Raises:
        PendingError: the store lacks an entry of the DAG, or a log has no checkpoint covering
            the entries the bundle needs.
        RequestTooLargeError: the walk is wider than a bundle may be
            (``provenance.too_large``).
    """
    view = LedgerView(reader, reader)
    dags: list[Provenance] = [provenance(view, subject, depth)]
    first = view.entry(subject.log, 0)
    genesis = first.prev if first is not None else b""  # every log's entry 0 chains to it
    certificate = _certificate_of(view, subject)
    status_logs: set[str] = set()
    if certificate is not None:
        status_logs = {certificate.ref.log, certificate.importing}
        for decided in (certificate.outcome_ref, certificate.voided):
            if decided is not None and decided != subject:
                dags.append(provenance(view, decided, depth))
    replayed = {ref for dag in dags for ref in dag.entries}
    seeds = {seed.ref: seed for dag in dags for seed in dag.seeds if seed.ref.entry not in replayed}
    creators = {ref for dag in dags for ref in dag.creators if ref not in replayed} & {
        ref.entry for ref in seeds
    }
    wanted = replayed | creators
    for dag in dags:
        wanted |= set(dag.operators) | set(dag.adoptions)
    checkpoints: dict[str, tuple[int, str]] = {}
    for log in sorted({r.log for r in wanted} | status_logs):
        needed = max((r.seq for r in wanted if r.log == log), default=-1) + 1
        if log in status_logs and reader.log(log).size() == 0:
            continue  # an importer whose log is not replicated here yet vouches for nothing
        checkpoints[log] = _checkpoint(reader, log, needed)
    for log, (size, _) in checkpoints.items():
        # The adoptions in force up to the checkpoint: its signature is by the key they give.
        wanted |= {a.entry for a in view.adoptions(log) if a.entry.seq < size}
    # Inside each tlog-proof, the checkpoint as its origin signed it (decision 0034).
    bare = {
        log: SignedCheckpoint.parse(note).origin_signed().to_text()
        for log, (_, note) in checkpoints.items()
    }
    entries = []
    for ref in sorted(wanted, key=lambda r: (r.log, r.seq)):
        log_reader = reader.log(ref.log)
        size = checkpoints[ref.log][0]
        proof = TlogProof(ref.seq, tuple(log_reader.inclusion_proof(ref.seq, size)), bare[ref.log])
        entries.append(BundleEntry(ref.log, ref.seq, ref.hash, log_reader.entry(ref.seq), proof))
    published = [SignedCharter.parse(raw) for _, raw in reader.scan("charters", b"")]
    root = next((c for c in published if c.hash == genesis), None)
    chain = [] if root is None else longest_chain(root, published)
    return Bundle(
        network=network,
        genesis=genesis,
        subject=subject.hash,
        charters=tuple(c.encode() for c in chain),
        checkpoints={log: note for log, (_, note) in checkpoints.items()},
        entries=tuple(entries),
        depth=depth,
        seeds=tuple(seeds[ref] for ref in sorted(seeds, key=lambda r: (r.log, r.seq, r.out))),
    )


def _certificate_of(view: LedgerView, subject: EntryRef) -> CertificateState | None:
    """The certificate whose status a verdict on ``subject`` states: the subject itself, or the
    certificate it confirms, rejects or voids."""
    entry = view.entry(subject.log, subject.seq)
    if entry is None:
        return None
    body = entry.signed.body
    if isinstance(body, CertificateConfirm | CertificateReject | CertificateVoid):
        return view.certificate(body.certificate.log, body.certificate.seq)
    if isinstance(body, CertificateIssue):
        return view.certificate(subject.log, subject.seq)
    return None


def _checkpoint(reader: StoreReader, log: str, needed: int) -> tuple[int, str]:
    """The newest witnessed checkpoint of ``log`` covering ``needed`` entries.

    Verifiers trust witnessed checkpoints only (DESIGN §8); the newest signed one is used only
    while none covers the entries yet, and the verdict will say so.
    """
    size = witnessed(reader, log)
    note = reader.log(log).checkpoint(size) if size >= max(needed, 1) else None
    chosen = (size, note) if note is not None else reader.log(log).latest_checkpoint()
    if chosen is None or chosen[0] < needed:
        raise PendingError(f"log {log} has no checkpoint covering its entries yet")
    return chosen
